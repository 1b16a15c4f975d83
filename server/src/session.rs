//! A connection: one task that reads frames, answers requests in order, and
//! writes responses, catch-up pages and live notifications. Notifications
//! reach it through one bounded queue; when a slow reader lets that queue
//! fill, the circle cuts it off rather than buffering without bound.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::SinkExt;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::App;
use crate::circle::{CircleHandle, Command, GoLive, task::event_frame};
use crate::store::TokenHash;

/// Events read from the store per catch-up step.
const CATCH_UP_PAGE: usize = 256;
/// A peer that takes longer than this to accept a write is cut off.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// A frame for the connection, tagged with the subscription it belongs to
/// (frames of a subscription since replaced are dropped).
#[derive(Debug)]
pub struct Outbound {
    pub sub: u64,
    pub frame: Utf8Bytes,
}

/// Why the server closes a connection, and the close frame that says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    Shutdown,
    TooSlow,
    TokenRevoked,
    TooBig,
}

impl CloseReason {
    fn frame(self) -> CloseFrame {
        let (code, reason) = match self {
            CloseReason::Shutdown => (1001, "server shutting down; reconnect and resume"),
            CloseReason::TooSlow => (1008, "too slow: resubscribe with since"),
            CloseReason::TokenRevoked => (1008, "token revoked; sign in again"),
            CloseReason::TooBig => (1009, "frame too big"),
        };
        CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        }
    }
}

/// Ends a connection from elsewhere (a circle, a password change), once.
#[derive(Clone, Debug, Default)]
pub struct Kill {
    token: CancellationToken,
    reason: Arc<OnceLock<CloseReason>>,
}

impl Kill {
    pub fn kill(&self, reason: CloseReason) {
        let _ = self.reason.set(reason);
        self.token.cancel();
    }

    async fn killed(&self) -> CloseReason {
        self.token.cancelled().await;
        self.reason.get().copied().unwrap_or(CloseReason::Shutdown)
    }
}

/// The signed-in account of a connection.
#[derive(Clone, Debug)]
pub struct User {
    pub handle: String,
    /// The token this connection signed in with or was given.
    pub token: TokenHash,
}

/// One subscription of this connection.
#[derive(Debug)]
pub struct Sub {
    pub id: u64,
    pub circle: CircleHandle,
    /// The next seq to send while catching up.
    pub next: u64,
    pub live: bool,
}

/// What request handlers may read and change.
pub struct Session {
    pub id: u64,
    pub app: Arc<App>,
    pub user: Option<User>,
    pub outbound: mpsc::Sender<Outbound>,
    pub kill: Kill,
    pub subs: HashMap<Uuid, Sub>,
    next_sub: u64,
}

impl Session {
    pub fn new_sub_id(&mut self) -> u64 {
        self.next_sub += 1;
        self.next_sub
    }

    fn is_active(&self, sub: u64) -> bool {
        self.subs.values().any(|s| s.id == sub)
    }

    /// Signs the connection in as `user` (signing out whoever it was).
    pub fn sign_in(&mut self, user: User) {
        self.sign_out();
        self.app
            .sign_in(&user.handle, self.id, user.token, self.kill.clone());
        self.user = Some(user);
    }

    /// Leaves every subscription and the online set.
    pub fn sign_out(&mut self) {
        for (_, sub) in self.subs.drain() {
            let _ = sub
                .circle
                .tx
                .try_send(Command::Unsubscribe { session: self.id });
        }
        if let Some(user) = self.user.take() {
            self.app.sign_out(&user.handle, self.id);
        }
    }
}

/// Serves one WebSocket until it closes, the peer is too slow, or the server stops.
pub async fn serve(app: Arc<App>, mut ws: WebSocket) {
    let (outbound, mut rx) = mpsc::channel(app.config.outbound_queue);
    let kill = Kill::default();
    let mut session = Session {
        id: app.next_session_id(),
        app: Arc::clone(&app),
        user: None,
        outbound,
        kill: kill.clone(),
        subs: HashMap::new(),
        next_sub: 0,
    };
    let shutdown = app.shutdown.clone();
    tracing::debug!(session = session.id, "connection opened");
    let reason: Option<CloseReason> = loop {
        let catching_up = session.subs.values().any(|s| !s.live);
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break Some(CloseReason::Shutdown),
            reason = kill.killed() => break Some(reason),
            frame = ws.recv() => match frame {
                Some(Ok(Message::Text(text))) => {
                    // Subscriptions replaced by this request may still deliver
                        // queued frames until its response: they precede it.
                    let active: Vec<u64> = session.subs.values().map(|s| s.id).collect();
                    let answer = {
                        let handling = crate::api::handle_text(&mut session, text.as_str());
                        tokio::pin!(handling);
                        // Keep delivering notifications while the request runs.
                        loop {
                            tokio::select! {
                                answer = &mut handling => break Ok(answer),
                                Some(out) = rx.recv() => {
                                    if !active.contains(&out.sub) { continue; }
                                    if let Err(reason) = write(&mut ws, out.frame).await { break Err(reason); }
                                }
                                reason = kill.killed() => break Err(Some(reason)),
                                () = shutdown.cancelled() => break Err(Some(CloseReason::Shutdown)),
                            }
                        }
                    };
                    match answer {
                        Ok(Some(text)) => {
                            if let Err(reason) = write(&mut ws, Utf8Bytes::from(text)).await { break reason; }
                        }
                        Ok(None) => {}
                        Err(reason) => break reason,
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    let text = crate::api::binary_frame_error();
                    if let Err(reason) = write(&mut ws, Utf8Bytes::from(text)).await { break reason; }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | None => break None,
                Some(Err(err)) => break read_error(err),
            },
            Some(out) = rx.recv() => {
                if !session.is_active(out.sub) { continue; }
                if let Err(reason) = write_batch(&mut ws, out.frame, &mut rx, &session).await { break reason; }
            }
            () = std::future::ready(()), if catching_up => {
                if let Err(reason) = catch_up(&mut session, &mut ws).await { break reason; }
            }
        }
    };
    session.sign_out();
    if let Some(reason) = reason {
        // Best effort: a peer that stopped reading will not get it anyway.
        let close = ws.send(Message::Close(Some(reason.frame())));
        let _ = tokio::time::timeout(Duration::from_secs(1), close).await;
    }
    tracing::debug!(session = session.id, ?reason, "connection closed");
}

/// `Some(reason)` to send a close frame, `None` to just drop the socket.
type Closing = Option<CloseReason>;

async fn write(ws: &mut WebSocket, frame: Utf8Bytes) -> Result<(), Closing> {
    match tokio::time::timeout(WRITE_TIMEOUT, ws.send(Message::Text(frame))).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(None),
    }
}

/// Writes `first` and whatever else is queued, with one flush for all.
async fn write_batch(
    ws: &mut WebSocket,
    first: Utf8Bytes,
    rx: &mut mpsc::Receiver<Outbound>,
    session: &Session,
) -> Result<(), Closing> {
    let send = async {
        ws.feed(Message::Text(first)).await?;
        for _ in 0..64 {
            let Ok(out) = rx.try_recv() else { break };
            if session.is_active(out.sub) {
                ws.feed(Message::Text(out.frame)).await?;
            }
        }
        ws.flush().await
    };
    match tokio::time::timeout(WRITE_TIMEOUT, send).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(None),
    }
}

/// One step for the first subscription still catching up: a page of its
/// backlog from the store, or, once it has everything durable, asking its
/// circle to send it live events from there on.
async fn catch_up(session: &mut Session, ws: &mut WebSocket) -> Result<(), Closing> {
    let Some((&circle_id, sub)) = session.subs.iter_mut().find(|(_, s)| !s.live) else {
        return Ok(());
    };
    let head = sub.circle.durable_head();
    if sub.next <= head {
        let page = match session
            .app
            .store
            .events(circle_id, sub.next, head, CATCH_UP_PAGE)
        {
            Ok(page) => page,
            Err(err) => {
                tracing::error!(error = %err, "catch-up read failed");
                return Err(None);
            }
        };
        let send = async {
            for (seq, json) in &page {
                ws.feed(Message::Text(event_frame(&sub.circle.slug, json)))
                    .await?;
                sub.next = seq + 1;
            }
            ws.flush().await
        };
        return match tokio::time::timeout(WRITE_TIMEOUT, send).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(None),
        };
    }
    let (reply, answer) = oneshot::channel();
    let go_live = Command::GoLive {
        session: session.id,
        sub: sub.id,
        delivered: sub.next - 1,
        reply,
    };
    let answer = match sub.circle.tx.send(go_live).await {
        Ok(()) => answer.await.unwrap_or(GoLive::Gone),
        Err(_) => GoLive::Gone,
    };
    match answer {
        GoLive::Live => sub.live = true,
        GoLive::Behind { .. } => {} // the next step reads more
        GoLive::Gone => {
            tracing::warn!(session = session.id, circle = %circle_id, "subscription ended by its circle");
            session.subs.remove(&circle_id);
        }
    }
    Ok(())
}

fn read_error(err: axum::Error) -> Closing {
    use tokio_tungstenite::tungstenite::Error as WsError;
    use tokio_tungstenite::tungstenite::error::CapacityError;
    match err.into_inner().downcast_ref::<WsError>() {
        Some(WsError::Capacity(CapacityError::MessageTooLong { .. })) => Some(CloseReason::TooBig),
        Some(WsError::Capacity(_)) => Some(CloseReason::TooBig),
        _ => None,
    }
}
