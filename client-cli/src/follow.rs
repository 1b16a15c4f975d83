//! Following a circle live across disconnects: reconnect with backoff, sign
//! in again with the token, and resubscribe with `since` = the last seq seen,
//! so every event arrives exactly once.

use std::time::Duration;

use circles_protocol::Event;
use circles_protocol::methods::{CircleSubscribe, Subscribe};

use crate::client::Notice;
use crate::commands::Ctx;
use crate::error::{CliError, CliResult};
use crate::output;

/// Reconnect delays: from 250 ms, doubling, up to 10 s; reset once connected.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(250);
    const MAX: Duration = Duration::from_secs(10);

    pub fn new() -> Self {
        Backoff { next: Self::FIRST }
    }

    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }

    /// The delay to wait now; the one after is twice as long.
    pub fn step(&mut self) -> Duration {
        let now = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        now
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

/// `circles tail`: prints each event of `slug` once, until interrupted.
pub async fn tail(ctx: &Ctx, slug: &str, since: Option<u64>) -> CliResult<()> {
    let mut last = since;
    let mut backoff = Backoff::new();
    loop {
        let mut connected = false;
        let outcome = follow_once(ctx, slug, &mut last, &mut connected, |event| {
            if ctx.json {
                match serde_json::to_string(event) {
                    Ok(line) => println!("{line}"),
                    Err(err) => eprintln!("circles: cannot print JSON: {err}"),
                }
            } else {
                println!(
                    "{}",
                    output::event_line_for(event, ctx.saved.handle.as_deref())
                );
            }
        })
        .await;
        if connected {
            backoff.reset();
        }
        match outcome {
            // An admin's decision: reconnecting would not undo it.
            Ok(reason) if reason.contains("account suspended") => {
                return Err(CliError::Auth(
                    "your account was suspended; contact the server's operator".into(),
                ));
            }
            Ok(reason) => eprintln!("circles: connection lost ({reason}); reconnecting…"),
            Err(err @ CliError::Unreachable(_)) => eprintln!("circles: {err}; retrying…"),
            Err(err) => return Err(err),
        }
        tokio::time::sleep(backoff.step()).await;
    }
}

/// One connection's worth of following; returns why it ended.
async fn follow_once(
    ctx: &Ctx,
    slug: &str,
    last: &mut Option<u64>,
    connected: &mut bool,
    mut on_event: impl FnMut(&Event),
) -> CliResult<String> {
    let mut connection = ctx.signed_in().await?;
    let params = Subscribe {
        circle: slug.to_owned(),
        since: *last,
    };
    let subscribed = connection.call::<CircleSubscribe>(params).await?;
    *connected = true;
    let mut seen = last.unwrap_or(subscribed.head);
    *last = Some(seen);
    let mut marked = seen;
    while let Some(notice) = connection.next_notice().await {
        if let Notice::CircleDeleted(deleted) = &notice {
            if deleted.circle == slug {
                return Err(CliError::Refused(format!(
                    "{slug} was deleted by an admin of the server"
                )));
            }
        }
        if let Notice::Event(notice) = notice {
            // The server sends each event once; the check keeps a resumed
            // stream honest even so.
            if notice.circle == slug && notice.event.seq > seen {
                on_event(&notice.event);
                seen = notice.event.seq;
                *last = Some(seen);
            }
        }
        if seen > marked && connection.notices.is_empty() {
            // Caught up with what arrived: what was printed has been read.
            crate::commands::mark_read(&connection, slug, seen).await;
            marked = seen;
        }
    }
    Ok(connection.closed().await.unwrap_or_else(|| "closed".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap_and_resets() {
        let mut backoff = Backoff::new();
        let steps: Vec<u128> = (0..8).map(|_| backoff.step().as_millis()).collect();
        assert_eq!(steps, vec![250, 500, 1000, 2000, 4000, 8000, 10000, 10000]);
        backoff.reset();
        assert_eq!(backoff.step(), Duration::from_millis(250));
    }
}
