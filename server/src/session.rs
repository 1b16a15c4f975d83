//! A connection: one task that reads frames, answers requests in order, and
//! writes responses, catch-up pages and live notifications. Notifications
//! reach it through one bounded queue; when a slow reader lets that queue
//! fill, the circle cuts it off rather than buffering without bound.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::SinkExt;
use governor::clock::Clock;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::App;
use crate::circle::{CircleHandle, Command, GoLive, task::event_frame};
use crate::error::{ApiError, ApiResult};
use crate::metrics::{Closed, Metrics, Rejected};
use crate::store::{StoreResult, TokenHash};

/// Events read from the store per catch-up step, and about how many bytes.
const CATCH_UP_PAGE: usize = 256;
const CATCH_UP_BYTES: usize = 1 << 20;
/// A peer that takes longer than this to accept a write is cut off.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Requests refused for the rate in a row before the connection counts as a
/// flood and is closed: a client that honours `retry_after_ms` never gets here.
const FLOOD_CUTOFF: u32 = 100;

/// A frame for the connection, tagged with the subscription it belongs to
/// (frames of a subscription since replaced are dropped).
#[derive(Debug)]
pub struct Outbound {
    pub sub: u64,
    pub frame: Utf8Bytes,
}

/// The `sub` of frames for the connection's account rather than for a
/// subscription (`mention`): always delivered. Subscription ids start at 1.
pub const UNSUBSCRIBED: u64 = 0;

/// Why the server closes a connection, and the close frame that says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    Shutdown,
    TooSlow,
    TokenRevoked,
    TooBig,
    Unresponsive,
    /// The server failed under this connection's subscription (a store error).
    ServerError,
    /// Kept sending requests while they were refused for the rate.
    Flood,
    /// An admin suspended the account.
    Suspended,
}

impl CloseReason {
    fn code_and_reason(self) -> (u16, &'static str) {
        match self {
            CloseReason::Shutdown => (1001, "server shutting down; reconnect and resume"),
            CloseReason::TooSlow => (1008, "too slow: resubscribe with since"),
            CloseReason::TokenRevoked => (1008, "token revoked; sign in again"),
            CloseReason::TooBig => (1009, "frame too big"),
            CloseReason::Unresponsive => (1001, "no answer to pings; reconnect and resume"),
            CloseReason::ServerError => (1011, "server error; reconnect and resume"),
            CloseReason::Flood => (1008, "too many requests; honour retry_after_ms"),
            CloseReason::Suspended => (1008, "account suspended"),
        }
    }

    fn frame(self) -> CloseFrame {
        let (code, reason) = self.code_and_reason();
        CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        }
    }
}

/// Ends a connection from elsewhere (a circle, a password change), once.
#[derive(Clone, Debug)]
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
    /// The last seq it may receive, once its circle ended it.
    pub ends_at: Arc<AtomicU64>,
}

/// What request handlers may read and change.
pub struct Session {
    pub id: u64,
    pub app: Arc<App>,
    pub user: Option<User>,
    pub outbound: mpsc::Sender<Outbound>,
    pub kill: Kill,
    pub subs: HashMap<Uuid, Sub>,
    /// The peer's address, for login throttling (none on the host's socket).
    pub peer: Option<std::net::IpAddr>,
    /// The host's operator (the control socket): may call every `admin.*`.
    pub operator: bool,
    next_sub: u64,
    budget: Budget,
}

/// The connection's request rate: a token bucket (none when unlimited).
struct Budget {
    bucket: Option<governor::DefaultDirectRateLimiter>,
    refused_in_a_row: u32,
}

impl Budget {
    fn new(per_sec: u32, burst: u32) -> Budget {
        let bucket = std::num::NonZeroU32::new(per_sec).map(|per_sec| {
            let burst = std::num::NonZeroU32::new(burst).unwrap_or(per_sec);
            governor::RateLimiter::direct(governor::Quota::per_second(per_sec).allow_burst(burst))
        });
        Budget {
            bucket,
            refused_in_a_row: 0,
        }
    }
}

impl Session {
    /// A signed-out session whose notifications go to `outbound`; it ends when
    /// the server stops.
    pub fn new(app: Arc<App>, outbound: mpsc::Sender<Outbound>) -> Session {
        // A child of the server's shutdown token: stopping the server kills it too.
        let kill = Kill {
            token: app.shutdown.child_token(),
            reason: Arc::default(),
        };
        let budget = Budget::new(app.config.requests_per_sec, app.config.request_burst);
        Session {
            id: app.next_session_id(),
            app,
            user: None,
            outbound,
            kill,
            subs: HashMap::new(),
            peer: None,
            operator: false,
            next_sub: 0,
            budget,
        }
    }

    /// The host's operator, on the control socket: no request budget.
    pub fn operator(app: Arc<App>, outbound: mpsc::Sender<Outbound>) -> Session {
        let mut session = Session::new(app, outbound);
        session.operator = true;
        session.budget = Budget::new(0, 0);
        session
    }

    /// Takes one request from the connection's budget, or says when to retry;
    /// a connection that keeps going past refusals is closed as a flood.
    pub fn spend(&mut self) -> ApiResult<()> {
        // The account's bucket is only spent from once the connection's allowed it.
        let refused = self
            .connection_wait()
            .map(|w| (w, "too many requests on this connection"));
        let refused = refused.or_else(|| {
            self.account_wait()
                .map(|w| (w, "too many requests from this account"))
        });
        let Some((wait, whose)) = refused else {
            self.budget.refused_in_a_row = 0;
            return Ok(());
        };
        self.app.metrics.rate_limited.inc();
        self.budget.refused_in_a_row += 1;
        if self.budget.refused_in_a_row >= FLOOD_CUTOFF {
            self.kill.kill(CloseReason::Flood);
        }
        Err(ApiError::rate_limited(whose, wait))
    }

    /// Takes from the connection's bucket, or says how long until it can.
    fn connection_wait(&self) -> Option<Duration> {
        let bucket = self.budget.bucket.as_ref()?;
        let not_until = bucket.check().err()?;
        Some(not_until.wait_time_from(bucket.clock().now()))
    }

    /// Takes from the signed-in account's bucket, or says how long until it can.
    fn account_wait(&self) -> Option<Duration> {
        let budgets = self.app.account_budgets.as_ref()?;
        let user = self.user.as_ref()?;
        let not_until = budgets.check_key(&user.handle).err()?;
        Some(not_until.wait_time_from(budgets.clock().now()))
    }

    /// Counts a frame (or a request of a batch) refused before any method.
    pub fn reject(&self, why: Rejected) {
        self.app.metrics.rejected.inc(why);
    }

    pub fn new_sub_id(&mut self) -> u64 {
        self.next_sub += 1;
        self.next_sub
    }

    fn is_active(&self, sub: u64) -> bool {
        sub == UNSUBSCRIBED || self.subs.values().any(|s| s.id == sub)
    }

    /// Signs the connection in as `user` (signing out whoever it was).
    pub fn sign_in(&mut self, user: User) {
        self.sign_out();
        self.app.sign_in(
            &user.handle,
            self.id,
            user.token,
            self.kill.clone(),
            self.outbound.clone(),
        );
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
pub async fn serve(app: Arc<App>, mut ws: WebSocket, peer: std::net::SocketAddr) {
    let (outbound, mut rx) = mpsc::channel(app.config.outbound_queue);
    let mut session = Session::new(Arc::clone(&app), outbound);
    session.peer = Some(peer.ip());
    let kill = session.kill.clone();
    let _open = app.metrics.connections.track();
    tracing::info!(session = session.id, %peer, "connection opened");
    // Heartbeat: a ping every interval; a peer silent for two intervals
    // (not even a pong) is gone, whatever TCP believes.
    let every = app.config.ping_interval;
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_heard = tokio::time::Instant::now();
    let reason: Closing = loop {
        let catching_up = session.catching_up();
        let step = tokio::select! {
            biased;
            reason = kill.killed() => Err(Some(reason)),
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > every * 2 {
                    Err(Some(CloseReason::Unresponsive))
                } else {
                    ping(&mut ws, &kill).await
                }
            }
            frame = ws.recv() => {
                last_heard = tokio::time::Instant::now();
                match frame {
                    // Boxed, like catch-up below: an idle connection's task
                    // then holds a pointer instead of the largest request's state.
                    Some(Ok(Message::Text(text))) => Box::pin(request(&mut session, &mut ws, &mut rx, text.as_str())).await,
                    Some(Ok(Message::Binary(_))) => {
                        let text = crate::api::binary_frame_error(&mut session);
                        write(&mut ws, &kill, [Utf8Bytes::from(text)]).await
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => Ok(()),
                    Some(Ok(Message::Close(_))) | None => Err(None),
                    Some(Err(err)) => Err(read_error(err, &app.metrics)),
                }
            }
            Some(out) = rx.recv() => {
                // Whatever else is queued goes out with it, in one flush.
                let mut frames = vec![out];
                while frames.len() < 64 {
                    let Ok(out) = rx.try_recv() else { break };
                    frames.push(out);
                }
                let frames = frames.into_iter().filter(|o| session.is_active(o.sub)).map(|o| o.frame);
                write(&mut ws, &kill, frames).await
            }
            () = std::future::ready(()), if catching_up => Box::pin(catch_up(&mut session, &mut ws)).await,
        };
        if let Err(reason) = step {
            break reason;
        }
    };
    let handle = session.user.as_ref().map(|u| u.handle.clone());
    session.sign_out();
    app.metrics.closed.inc(Closed::from(reason));
    if let Some(reason) = reason {
        let goodbye = async {
            ws.send(Message::Close(Some(reason.frame()))).await?;
            // Read what the peer still sends until its own close: a socket
            // dropped with unread data is reset, and the peer may lose the
            // close frame (and its reason) with it.
            while let Some(Ok(_)) = ws.recv().await {}
            Ok::<_, axum::Error>(())
        };
        // Best effort: a peer that stopped reading will not get it anyway.
        let _ = tokio::time::timeout(Duration::from_secs(1), goodbye).await;
    }
    let why = match reason {
        Some(reason) => reason.code_and_reason().1,
        None => "closed by the peer or the network",
    };
    let handle = handle.as_deref().unwrap_or("-");
    tracing::info!(session = session.id, %peer, handle, "connection closed: {why}");
}

/// Handles one request frame and writes its answer, delivering
/// notifications meanwhile so a slow request does not stall them.
async fn request(
    session: &mut Session,
    ws: &mut WebSocket,
    rx: &mut mpsc::Receiver<Outbound>,
    text: &str,
) -> Result<(), Closing> {
    let kill = session.kill.clone();
    // Subscriptions replaced by this request may still deliver queued
    // frames until its response: they precede it.
    let active: Vec<u64> = session
        .subs
        .values()
        .map(|s| s.id)
        .chain([UNSUBSCRIBED])
        .collect();
    let handling = crate::api::handle_text(session, text);
    tokio::pin!(handling);
    let answer = loop {
        tokio::select! {
            answer = &mut handling => break answer,
            Some(out) = rx.recv() => {
                if active.contains(&out.sub) {
                    write(ws, &kill, [out.frame]).await?;
                }
            }
            reason = kill.killed() => return Err(Some(reason)),
        }
    };
    match answer {
        Some(text) => write(ws, &kill, [Utf8Bytes::from(text)]).await,
        None => Ok(()),
    }
}

/// `Some(reason)` to send a close frame, `None` to just drop the socket.
type Closing = Option<CloseReason>;

/// Sends a ping, under the same limits as any write.
async fn ping(ws: &mut WebSocket, kill: &Kill) -> Result<(), Closing> {
    tokio::select! {
        sent = tokio::time::timeout(WRITE_TIMEOUT, ws.send(Message::Ping(Default::default()))) => match sent {
            Ok(Ok(())) => Ok(()),
            _ => Err(None),
        },
        reason = kill.killed() => Err(Some(reason)),
    }
}

/// Writes frames with one flush. Gives up when the peer takes too long to
/// accept them, or at once when the connection is killed (a peer that
/// stopped reading must not hold its session until the timeout).
async fn write(
    ws: &mut WebSocket,
    kill: &Kill,
    frames: impl IntoIterator<Item = Utf8Bytes>,
) -> Result<(), Closing> {
    let send = async {
        for frame in frames {
            ws.feed(Message::Text(frame)).await?;
        }
        ws.flush().await
    };
    tokio::select! {
        sent = tokio::time::timeout(WRITE_TIMEOUT, send) => match sent {
            Ok(Ok(())) => Ok(()),
            _ => Err(None),
        },
        reason = kill.killed() => Err(Some(reason)),
    }
}

/// One catch-up step in the connection's loop: the frames it yields are
/// written; a store that cannot be read ends the connection (it resumes).
async fn catch_up(session: &mut Session, ws: &mut WebSocket) -> Result<(), Closing> {
    let frames = match session.catch_up_step().await {
        Ok(frames) => frames,
        Err(err) => {
            tracing::error!(error = %err, "catch-up read failed");
            return Err(None);
        }
    };
    let kill = session.kill.clone();
    write(ws, &kill, frames).await
}

impl Session {
    /// Whether a subscription is still reading its backlog.
    pub fn catching_up(&self) -> bool {
        self.subs.values().any(|s| !s.live)
    }

    /// One step for the first subscription still catching up: a page of its
    /// backlog from the store (the frames to send), or, once it has
    /// everything durable, asking its circle to send it live events from
    /// there on (no frames).
    pub async fn catch_up_step(&mut self) -> StoreResult<Vec<Utf8Bytes>> {
        let Some((&circle_id, sub)) = self.subs.iter_mut().find(|(_, s)| !s.live) else {
            return Ok(Vec::new());
        };
        // A subscription its circle ended (its member left) reads up to that seq.
        let ends_at = sub.ends_at.load(Ordering::Acquire);
        if sub.next > ends_at {
            self.subs.remove(&circle_id);
            return Ok(Vec::new());
        }
        let head = sub.circle.durable_head().min(ends_at);
        if sub.next <= head {
            let page =
                self.app
                    .store
                    .events(circle_id, sub.next, head, CATCH_UP_PAGE, CATCH_UP_BYTES)?;
            if let Some((last, _)) = page.last() {
                sub.next = last + 1;
            }
            let slug = &sub.circle.slug;
            return Ok(page
                .iter()
                .map(|(_, json)| event_frame(slug, json))
                .collect());
        }
        let (reply, answer) = oneshot::channel();
        let go_live = Command::GoLive {
            session: self.id,
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
                tracing::warn!(session = self.id, circle = %circle_id, "subscription ended by its circle");
                self.subs.remove(&circle_id);
            }
        }
        Ok(Vec::new())
    }
}

fn read_error(err: axum::Error, metrics: &Metrics) -> Closing {
    use tokio_tungstenite::tungstenite::Error as WsError;
    use tokio_tungstenite::tungstenite::error::CapacityError;
    let closing = match err.into_inner().downcast_ref::<WsError>() {
        Some(WsError::Capacity(CapacityError::MessageTooLong { .. })) => Some(CloseReason::TooBig),
        Some(WsError::Capacity(_)) => Some(CloseReason::TooBig),
        _ => None,
    };
    if closing == Some(CloseReason::TooBig) {
        metrics.rejected.inc(Rejected::TooBig);
    }
    closing
}
