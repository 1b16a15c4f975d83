//! Who is online: the signed-in connections of each account. Used for the
//! `online` flag of members, for `presence` notifications, to reach every
//! connection of an account (`mention` notifications), and to end the other
//! sessions of an account when its password changes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::App;
use axum::extract::ws::Utf8Bytes;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use crate::circle::Command;
use crate::session::{CloseReason, Kill, Outbound, UNSUBSCRIBED};
use crate::store::TokenHash;

#[derive(Debug, Default)]
pub struct Online {
    // A std Mutex: held only to update the map, never across an await.
    by_handle: Mutex<HashMap<String, Vec<Connection>>>,
    /// Numbers presence changes in the order they happened.
    order: AtomicU64,
}

#[derive(Debug)]
struct Connection {
    session: u64,
    token: TokenHash,
    kill: Kill,
    outbound: mpsc::Sender<Outbound>,
}

impl App {
    /// Records a signed-in connection; the first one makes the account online.
    pub fn sign_in(
        &self,
        handle: &str,
        session: u64,
        token: TokenHash,
        kill: Kill,
        outbound: mpsc::Sender<Outbound>,
    ) {
        let first = {
            let mut map = self
                .online
                .by_handle
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let connections = map.entry(handle.to_owned()).or_default();
            connections.push(Connection {
                session,
                token,
                kill,
                outbound,
            });
            connections.len() == 1
        };
        if first {
            self.announce(handle, true);
        }
    }

    /// Forgets a connection; the last one makes the account offline.
    pub fn sign_out(&self, handle: &str, session: u64) {
        let last = {
            let mut map = self
                .online
                .by_handle
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let Some(connections) = map.get_mut(handle) else {
                return;
            };
            connections.retain(|c| c.session != session);
            let last = connections.is_empty();
            if last {
                map.remove(handle);
            }
            last
        };
        if last {
            self.announce(handle, false);
        }
    }

    pub fn is_online(&self, handle: &str) -> bool {
        let map = self
            .online
            .by_handle
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.contains_key(handle)
    }

    /// Connections signed in, over every account.
    pub fn signed_in_connections(&self) -> usize {
        let map = self
            .online
            .by_handle
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.values().map(Vec::len).sum()
    }

    /// Queues `frame` on every connection of the account, whatever it is
    /// subscribed to. A connection whose queue is full is cut off, as a slow
    /// subscriber is.
    pub fn notify(&self, handle: &str, frame: &Utf8Bytes) {
        let map = self
            .online
            .by_handle
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for connection in map.get(handle).into_iter().flatten() {
            let out = Outbound {
                sub: UNSUBSCRIBED,
                frame: frame.clone(),
            };
            if let Err(TrySendError::Full(_)) = connection.outbound.try_send(out) {
                tracing::info!(
                    session = connection.session,
                    "connection too slow for a notification, disconnecting"
                );
                connection.kill.kill(CloseReason::TooSlow);
            }
        }
    }

    /// Closes the account's connections whose token was revoked, but `except`.
    pub fn revoke_sessions(&self, handle: &str, revoked: impl Fn(&TokenHash) -> bool, except: u64) {
        self.close_sessions(handle, CloseReason::TokenRevoked, |c| {
            c.session != except && revoked(&c.token)
        });
    }

    /// Closes every connection of the account, saying why.
    pub fn end_sessions(&self, handle: &str, reason: CloseReason) {
        self.close_sessions(handle, reason, |_| true);
    }

    fn close_sessions(
        &self,
        handle: &str,
        reason: CloseReason,
        which: impl Fn(&Connection) -> bool,
    ) {
        let map = self
            .online
            .by_handle
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for connection in map.get(handle).into_iter().flatten().filter(|c| which(c)) {
            connection.kill.kill(reason);
        }
    }

    /// Tells the loaded circles of `handle` (nobody listens to the others).
    fn announce(&self, handle: &str, online: bool) {
        let memberships = match self.store.memberships(handle) {
            Ok(memberships) => memberships,
            Err(err) => {
                tracing::warn!(error = %err, "presence not announced");
                return;
            }
        };
        // Queued at once where there is room, so a notice is not delayed past
        // what follows it; a busy circle still gets it (an offline notice must
        // not be lost), later, and `order` keeps it from undoing a newer one.
        let order = self.online.order.fetch_add(1, Ordering::Relaxed) + 1;
        let mut busy = Vec::new();
        for (circle, _) in memberships {
            let Some(circle) = self.circles.loaded(circle) else {
                continue;
            };
            let presence = Command::Presence {
                handle: handle.to_owned(),
                online,
                order,
            };
            if let Err(TrySendError::Full(presence)) = circle.tx.try_send(presence) {
                busy.push((circle, presence));
            }
        }
        if !busy.is_empty() {
            tokio::spawn(async move {
                for (circle, presence) in busy {
                    let _ = circle.tx.send(presence).await;
                }
            });
        }
    }
}
