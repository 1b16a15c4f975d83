//! Reading a circle: subscribe and unsubscribe, history pages, read markers,
//! and the problem views folded from the log.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use circles_protocol::Event;
use circles_protocol::methods::{
    CircleRef, DigestParams, Empty, Events, History, ListProblems, MarkRead, ProblemRef,
    ProblemResult, Problems, ReadMarker, Subscribe, Subscribed,
};
use circles_protocol::model::Digest;

use super::signed_in;
use crate::circle::{Command, Subscriber};
use crate::error::{ApiError, ApiResult};
use crate::session::{Session, Sub};
use crate::store::now_millis;
use crate::validate::{HISTORY_DEFAULT, HISTORY_MAX};

/// Registers the subscription; the session then streams the backlog after
/// this response and switches to live events when it has caught up.
pub async fn subscribe(s: &mut Session, p: Subscribe) -> ApiResult<Subscribed> {
    let handle = signed_in(s)?.handle.clone();
    let circle = s.app.circles.by_slug(&p.circle)?;
    let sub = s.new_sub_id();
    let ends_at = Arc::new(AtomicU64::new(u64::MAX));
    let subscriber = Subscriber {
        session: s.id,
        sub,
        handle,
        outbound: s.outbound.clone(),
        kill: s.kill.clone(),
        ends_at: Arc::clone(&ends_at),
    };
    let since = p.since;
    let head = s
        .app
        .circles
        .call(circle.id, |reply| Command::Subscribe {
            subscriber: subscriber.clone(),
            since,
            reply,
        })
        .await??;
    let next = since.unwrap_or(head) + 1;
    // The circle task may have been reloaded by `call`: keep the handle it answered on.
    let circle = s.app.circles.get(circle.id)?;
    s.subs.insert(
        circle.id,
        Sub {
            id: sub,
            circle,
            next,
            live: false,
            ends_at,
        },
    );
    Ok(Subscribed { head })
}

pub async fn unsubscribe(s: &mut Session, p: CircleRef) -> ApiResult<Empty> {
    signed_in(s)?;
    let id = s
        .app
        .store
        .circle_id(&p.circle)?
        .ok_or_else(|| ApiError::not_found(format!("no circle named \"{}\"", p.circle)))?;
    if let Some(sub) = s.subs.remove(&id) {
        let _ = sub
            .circle
            .tx
            .send(Command::Unsubscribe { session: s.id })
            .await;
    }
    Ok(Empty {})
}

pub async fn history(s: &mut Session, p: History) -> ApiResult<Events> {
    let handle = signed_in(s)?.handle.clone();
    let limit = p.limit.unwrap_or(HISTORY_DEFAULT);
    if !(1..=HISTORY_MAX).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "limit must be between 1 and {HISTORY_MAX}"
        )));
    }
    let circle = s.app.circles.by_slug(&p.circle)?;
    s.app
        .circles
        .inspect(circle.id, move |state| state.check_read(&handle))
        .await??;
    // Only what is durable: nobody may see an event that a crash could undo.
    let before = p.before.unwrap_or(u64::MAX).min(circle.durable_head() + 1);
    let page = s
        .app
        .store
        .events_before(circle.id, before, limit as usize)?;
    let more = page.first().is_some_and(|(seq, _)| *seq > 1);
    let events = page
        .iter()
        .map(|(_, json)| serde_json::from_slice::<Event>(json))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| {
            tracing::error!(error = %err, circle = %circle.id, "unreadable event");
            ApiError::internal()
        })?;
    Ok(Events { events, more })
}

pub async fn read(s: &mut Session, p: MarkRead) -> ApiResult<ReadMarker> {
    let handle = signed_in(s)?.handle.clone();
    let circle = s.app.circles.by_slug(&p.circle)?;
    let who = handle.clone();
    let is_member = s.app.circles.inspect(circle.id, move |state| {
        state.check_read(&who).map(|()| state.is_member(&who))
    });
    if !is_member.await?? {
        return Err(ApiError::forbidden(format!(
            "join {} to keep a read marker in it",
            p.circle
        )));
    }
    let head = circle.durable_head();
    if p.seq > head {
        return Err(ApiError::invalid(format!(
            "seq {} is beyond the circle's latest seq {head}",
            p.seq
        )));
    }
    let read = s.app.store.advance_read_marker(&handle, circle.id, p.seq)?;
    let unread = head.saturating_sub(read);
    let mentions = if unread > 0 {
        super::circles::unread_mentions(&s.app, circle.id, &handle, read, head).await?
    } else {
        0
    };
    Ok(ReadMarker {
        read,
        unread,
        mentions,
    })
}

pub async fn problems(s: &mut Session, p: ListProblems) -> ApiResult<Problems> {
    let handle = signed_in(s)?.handle.clone();
    let circle = s.app.circles.by_slug(&p.circle)?;
    let status = p.status;
    let problems = s
        .app
        .circles
        .inspect(circle.id, move |state| {
            state
                .check_read(&handle)
                .map(|()| state.problem_summaries(status))
        })
        .await??;
    Ok(Problems { problems })
}

pub async fn problem(s: &mut Session, p: ProblemRef) -> ApiResult<ProblemResult> {
    let handle = signed_in(s)?.handle.clone();
    let circle = s.app.circles.by_slug(&p.circle)?;
    let id = p.problem;
    let problem = s
        .app
        .circles
        .inspect(circle.id, move |state| {
            state
                .check_read(&handle)
                .and_then(|()| state.problem_thread(id))
        })
        .await??;
    Ok(ProblemResult { problem })
}

pub async fn digest(s: &mut Session, p: DigestParams) -> ApiResult<Digest> {
    let handle = signed_in(s)?.handle.clone();
    let circle = s.app.circles.by_slug(&p.circle)?;
    let (since, now) = (p.since, now_millis());
    s.app
        .circles
        .inspect(circle.id, move |state| {
            state.check_read(&handle).map(|()| state.digest(since, now))
        })
        .await?
}
