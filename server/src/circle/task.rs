//! `CircleTask`: the one owner of a loaded circle. It holds the circle's
//! state and next seq, appends events, waits for them to be durable, and
//! fans each one out to subscribers as a frame serialized once for all.
//! Ordering within a circle comes from this single owner, not from locks.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use circles_protocol::event::{Event, EventBody};
use circles_protocol::model::Visibility;
use circles_protocol::notify::{CircleDeletedNotice, Notice, PresenceNotice};
use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use uuid::Uuid;

use super::state::{CircleState, Draft, erase};
use crate::error::{ApiError, ApiResult};
use crate::metrics::Metrics;
use crate::search::Search;
use crate::session::{Kill, Outbound};
use crate::store::{Append, CircleRecord, Store, StoreResult, now_millis};

/// Frames kept for subscribers that are almost caught up.
const RECENT_FRAMES: usize = 512;
/// An idle circle (no subscribers, nothing in flight) is unloaded after this.
const IDLE_UNLOAD: Duration = Duration::from_secs(60);

/// A connection's subscription, as the circle sees it.
#[derive(Clone, Debug)]
pub struct Subscriber {
    pub session: u64,
    /// Distinguishes this subscription from an earlier one of the same session.
    pub sub: u64,
    pub handle: String,
    pub outbound: mpsc::Sender<Outbound>,
    pub kill: Kill,
    /// Set by the circle to the last seq this subscription may receive when
    /// it ends (its member left a private circle); `u64::MAX` until then.
    pub ends_at: Arc<AtomicU64>,
}

/// The answer to a caught-up subscriber asking to receive live events.
#[derive(Debug, PartialEq, Eq)]
pub enum GoLive {
    Live,
    /// Read more from the store first: events up to `head` are durable.
    Behind {
        head: u64,
    },
    /// The subscription is no longer registered (replaced or ended).
    Gone,
}

/// What every circle task shares with the rest of the server.
#[derive(Clone, Debug)]
pub struct Services {
    pub store: Arc<Store>,
    pub search: Arc<Search>,
    pub metrics: Arc<Metrics>,
}

pub type Inspect = Box<dyn FnOnce(&CircleState) + Send>;

pub enum Command {
    Append {
        author: String,
        draft: Draft,
        reply: oneshot::Sender<ApiResult<Event>>,
    },
    Inspect(Inspect),
    Subscribe {
        subscriber: Subscriber,
        since: Option<u64>,
        reply: oneshot::Sender<ApiResult<u64>>,
    },
    GoLive {
        session: u64,
        sub: u64,
        delivered: u64,
        reply: oneshot::Sender<GoLive>,
    },
    Unsubscribe {
        session: u64,
    },
    /// Deletes the circle once what is in flight is durable; the task ends.
    Delete {
        reply: oneshot::Sender<ApiResult<()>>,
    },
    /// `order` increases with each change, so a late one cannot undo a newer one.
    Presence {
        handle: String,
        online: bool,
        order: u64,
    },
}

/// How the rest of the server reaches a loaded circle.
#[derive(Clone, Debug)]
pub struct CircleHandle {
    pub id: Uuid,
    pub slug: Arc<str>,
    pub tx: mpsc::Sender<Command>,
    /// The last seq that is durable and fanned out; readers of the store stop here.
    pub durable: Arc<AtomicU64>,
}

impl CircleHandle {
    pub fn durable_head(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }
}

struct Subscription {
    subscriber: Subscriber,
    live: bool,
}

/// An appended event waiting for its durable point.
struct Pending {
    event: Event,
    json: Vec<u8>,
    reply: oneshot::Sender<ApiResult<Event>>,
    /// When the task took the append, for the fan-out latency.
    taken: std::time::Instant,
}

pub struct CircleTask {
    state: CircleState,
    /// Set when the store failed under this task: it stops and is reloaded.
    broken: bool,
    store: Arc<Store>,
    search: Arc<Search>,
    metrics: Arc<Metrics>,
    handle: CircleHandle,
    subscribers: HashMap<u64, Subscription>,
    presence_order: HashMap<String, u64>,
    recent: VecDeque<(u64, Utf8Bytes)>,
}

type Durable =
    std::pin::Pin<Box<dyn std::future::Future<Output = (StoreResult<()>, Pending)> + Send>>;

impl CircleTask {
    /// Loads the circle by folding its log, then serves commands until it has
    /// been idle for a while and `unload` agrees it may go.
    pub async fn run(
        record: CircleRecord,
        Services {
            store,
            search,
            metrics,
        }: Services,
        handle: CircleHandle,
        mut rx: mpsc::Receiver<Command>,
        unload: impl Fn() -> bool + Send,
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        let id = record.id;
        let fold_store = Arc::clone(&store);
        let state = match tokio::task::spawn_blocking(move || fold(record, &fold_store)).await {
            Ok(Ok(state)) => state,
            Ok(Err(err)) => {
                tracing::error!(circle = %id, error = %err, "cannot load circle");
                return; // commands waiting get no answer: callers see an error
            }
            Err(err) => {
                tracing::error!(circle = %id, error = %err, "circle loader panicked");
                return;
            }
        };
        handle.durable.store(state.head, Ordering::Release);
        let mut task = CircleTask {
            state,
            broken: false,
            store,
            search,
            metrics,
            handle,
            subscribers: HashMap::new(),
            presence_order: HashMap::new(),
            recent: VecDeque::with_capacity(RECENT_FRAMES),
        };
        let mut pending: FuturesOrdered<Durable> = FuturesOrdered::new();
        let mut idle_since = Instant::now();
        while !task.broken {
            tokio::select! {
                () = shutdown.cancelled() => {
                    // Answer what is in flight, then stop.
                    while let Some((result, done)) = pending.next().await {
                        task.finish(result, done);
                    }
                    break;
                }
                command = rx.recv() => match command {
                    Some(Command::Delete { reply }) => {
                        while let Some((result, done)) = pending.next().await {
                            task.finish(result, done);
                        }
                        let result = task.delete().await;
                        let deleted = result.is_ok();
                        let _ = reply.send(result);
                        if deleted {
                            // Whatever is queued is refused; its callers find no circle.
                            let _ = unload();
                            rx.close();
                            while rx.recv().await.is_some() {}
                            break;
                        }
                    }
                    Some(command) => {
                        if let Some(waiting) = task.handle_command(command) {
                            pending.push_back(waiting);
                        }
                        idle_since = Instant::now();
                    }
                    None => break,
                },
                Some((result, done)) = pending.next(), if !pending.is_empty() => {
                    task.finish(result, done);
                    idle_since = Instant::now();
                }
                () = tokio::time::sleep_until(idle_since + IDLE_UNLOAD) => {
                    // Connections that ended without unsubscribing count for nothing.
                    task.subscribers.retain(|_, s| !s.subscriber.outbound.is_closed());
                    if task.subscribers.is_empty() && pending.is_empty() && unload() {
                        // Out of the registry first, so new callers load a fresh
                        // task; what is already queued is refused and retried there.
                        rx.close();
                        while rx.recv().await.is_some() {}
                        break;
                    }
                    idle_since = Instant::now();
                }
            }
        }
        if task.broken {
            tracing::error!(circle = %task.state.record.slug, "store failed under this circle; it will be reloaded");
            let _ = unload();
            while let Some((result, done)) = pending.next().await {
                task.finish(result, done);
            }
            // Their subscriptions end with this task: they reconnect and
            // resume from the reloaded circle.
            for (_, s) in task.subscribers.drain() {
                s.subscriber
                    .kill
                    .kill(crate::session::CloseReason::ServerError);
            }
        }
        tracing::debug!(circle = %task.state.record.slug, "circle unloaded");
    }

    /// Removes the circle from the store, then ends every subscription with
    /// a `circle_deleted` notice.
    async fn delete(&mut self) -> ApiResult<()> {
        self.store
            .delete_circle(&self.state.record)?
            .durable()
            .await?;
        self.search.grew(self.handle.id, 0);
        let frame = notice_frame(Notice::CircleDeleted(CircleDeletedNotice {
            circle: self.state.record.slug.clone(),
        }));
        let head = self.handle.durable_head();
        for (_, s) in self.subscribers.drain() {
            s.subscriber.ends_at.store(head, Ordering::Release);
            let _ = s.subscriber.outbound.try_send(Outbound {
                sub: s.subscriber.sub,
                frame: frame.clone(),
            });
        }
        tracing::info!(circle = %self.state.record.slug, "circle deleted");
        Ok(())
    }

    fn handle_command(&mut self, command: Command) -> Option<Durable> {
        match command {
            Command::Append {
                author,
                draft,
                reply,
            } => match self.append(&author, draft) {
                Ok(waiting) => return Some(waiting(reply)),
                Err(err) => {
                    let _ = reply.send(Err(err));
                }
            },
            Command::Inspect(inspect) => inspect(&self.state),
            Command::Subscribe {
                subscriber,
                since,
                reply,
            } => {
                let _ = reply.send(self.subscribe(subscriber, since));
            }
            Command::GoLive {
                session,
                sub,
                delivered,
                reply,
            } => {
                let _ = reply.send(self.go_live(session, sub, delivered));
            }
            Command::Unsubscribe { session } => {
                self.subscribers.remove(&session);
            }
            Command::Delete { reply } => {
                // The run loop takes deletes itself (it waits for what is in flight).
                let _ = reply.send(Err(ApiError::internal()));
            }
            Command::Presence {
                handle,
                online,
                order,
            } => {
                let last = self.presence_order.entry(handle.clone()).or_default();
                if order <= *last {
                    return None;
                }
                *last = order;
                if self.state.is_member(&handle) {
                    let frame = presence_frame(&self.state.record.slug, &handle, online);
                    self.fan_out(0, &frame);
                }
            }
        }
        None
    }

    /// Checks and appends; the returned closure takes the reply and yields the
    /// future that resolves once the event is durable.
    fn append(
        &mut self,
        author: &str,
        draft: Draft,
    ) -> ApiResult<impl FnOnce(oneshot::Sender<ApiResult<Event>>) -> Durable + use<>> {
        if let Some(reason) = self.store.failure() {
            return Err(ApiError::unavailable(format!(
                "the server cannot store posts right now ({reason}); try again later"
            )));
        }
        let taken = std::time::Instant::now();
        let body = self.state.check(author, draft)?;
        let event = Event {
            seq: self.state.head + 1,
            id: Uuid::now_v7(),
            author: author.to_owned(),
            at: now_millis(),
            retracted: false,
            body,
        };
        let json = serde_json::to_vec(&event).map_err(|_| ApiError::internal())?;
        let rewrites = match &event.body {
            EventBody::Retract { post } => self.erased(*post)?,
            _ => Vec::new(),
        };
        let append = Append {
            seq: event.seq,
            event_json: &json,
            membership: self.state.membership_changes(&event),
            rewrites,
        };
        let ticket = match self.store.append(self.state.record.id, &append) {
            Ok(ticket) => ticket,
            Err(err) => {
                // The store and this state may now disagree: stop, so the
                // next command loads the circle afresh from the store.
                self.broken = true;
                return Err(err.into());
            }
        };
        self.state.apply(&event);
        // What I did myself is not unread for me.
        let _ = self
            .store
            .advance_read_marker(author, self.state.record.id, event.seq);
        Ok(move |reply| {
            let pending = Pending {
                event,
                json,
                reply,
                taken,
            };
            Box::pin(async move { (ticket.durable().await, pending) }) as Durable
        })
    }

    /// The stored events a retraction of `post` rewrites, with their text erased.
    fn erased(&self, post: Uuid) -> ApiResult<Vec<(u64, Vec<u8>)>> {
        let mut rewrites = Vec::new();
        for seq in self.state.seqs_to_erase(post) {
            for (seq, json) in self
                .store
                .events(self.state.record.id, seq, seq, 1, usize::MAX)?
            {
                let event: Event =
                    serde_json::from_slice(&json).map_err(|_| ApiError::internal())?;
                let erased = serde_json::to_vec(&erase(event)).map_err(|_| ApiError::internal())?;
                rewrites.push((seq, erased));
            }
        }
        Ok(rewrites)
    }

    /// The event is durable (or the store failed): answer, then fan out.
    fn finish(&mut self, result: StoreResult<()>, done: Pending) {
        if let Err(err) = result {
            self.broken = true;
            let _ = done.reply.send(Err(err.into()));
            return;
        }
        let seq = done.event.seq;
        self.handle.durable.store(seq, Ordering::Release);
        if crate::search::indexes(&done.event.body) {
            self.search.grew(self.handle.id, seq);
        }
        let frame = event_frame(&self.state.record.slug, &done.json);
        if self.recent.len() == RECENT_FRAMES {
            self.recent.pop_front();
        }
        self.recent.push_back((seq, frame.clone()));
        self.fan_out(seq, &frame);
        self.metrics.events_appended.inc();
        self.metrics.fanout.observe_duration(done.taken.elapsed());
        if self.state.record.visibility == Visibility::Private {
            // Whoever leaves a private circle stops receiving it, right after
            // this event (their subscriptions still catching up stop there too).
            let gone = match &done.event.body {
                EventBody::Leave {} => Some(done.event.author.as_str()),
                EventBody::Remove { member, .. } => Some(member.as_str()),
                _ => None,
            };
            if let Some(gone) = gone {
                self.subscribers.retain(|_, s| {
                    let stays = s.subscriber.handle != gone;
                    if !stays {
                        s.subscriber.ends_at.store(seq, Ordering::Release);
                    }
                    stays
                });
            }
        }
        let _ = done.reply.send(Ok(done.event));
    }

    /// Sends a frame to every live subscriber. One that cannot keep up is
    /// cut off: it resumes from its last seq when it reconnects.
    /// Event frames (`seq` > 0, not presence) count as deliveries.
    fn fan_out(&mut self, seq: u64, frame: &Utf8Bytes) {
        let mut queued = 0;
        self.subscribers.retain(|_, s| {
            if !s.live {
                return true;
            }
            let out = Outbound {
                sub: s.subscriber.sub,
                frame: frame.clone(),
            };
            match s.subscriber.outbound.try_send(out) {
                Ok(()) => {
                    queued += 1;
                    true
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::info!(
                        session = s.subscriber.session,
                        seq,
                        "subscriber too slow, disconnecting"
                    );
                    s.subscriber.kill.kill(crate::session::CloseReason::TooSlow);
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
        if seq > 0 {
            self.metrics.deliveries.add(queued);
        }
    }

    fn subscribe(&mut self, subscriber: Subscriber, since: Option<u64>) -> ApiResult<u64> {
        self.state.check_read(&subscriber.handle)?;
        let head = self.handle.durable_head();
        if let Some(since) = since {
            if since > head {
                return Err(ApiError::invalid(format!(
                    "since {since} is beyond the circle's latest seq {head}"
                )));
            }
        }
        self.subscribers.insert(
            subscriber.session,
            Subscription {
                subscriber,
                live: false,
            },
        );
        Ok(head)
    }

    fn go_live(&mut self, session: u64, sub: u64, delivered: u64) -> GoLive {
        let head = self.handle.durable_head();
        let Some(subscription) = self
            .subscribers
            .get_mut(&session)
            .filter(|s| s.subscriber.sub == sub)
        else {
            return GoLive::Gone;
        };
        if delivered < head {
            let covered = self
                .recent
                .front()
                .is_some_and(|(first, _)| *first <= delivered + 1);
            if !covered {
                return GoLive::Behind { head };
            }
            for (_, frame) in self.recent.iter().filter(|(seq, _)| *seq > delivered) {
                let out = Outbound {
                    sub,
                    frame: frame.clone(),
                };
                if subscription.subscriber.outbound.try_send(out).is_err() {
                    subscription
                        .subscriber
                        .kill
                        .kill(crate::session::CloseReason::TooSlow);
                    self.subscribers.remove(&session);
                    return GoLive::Gone;
                }
                self.metrics.deliveries.inc();
            }
        }
        subscription.live = true;
        GoLive::Live
    }
}

/// Folds a circle's whole log into its state.
pub fn fold(record: CircleRecord, store: &Store) -> StoreResult<CircleState> {
    let id = record.id;
    let mut state = CircleState::new(record);
    let mut next = 1;
    loop {
        let page = store.events(id, next, u64::MAX, 1024, usize::MAX)?;
        let Some((last, _)) = page.last() else { break };
        next = last + 1;
        for (seq, json) in &page {
            match serde_json::from_slice::<Event>(json) {
                Ok(event) => state.apply(&event),
                Err(err) => {
                    return Err(crate::store::StoreError::Corrupt {
                        tree: "circleid_seq_event",
                        reason: format!("event {seq} of circle {id}: {err}"),
                    });
                }
            }
        }
    }
    Ok(state)
}

/// `{"jsonrpc":"2.0","method":"event","params":{"circle":…,"event":…}}`, built
/// around the stored JSON so the event is serialized once, at append.
pub fn event_frame(slug: &str, event_json: &[u8]) -> Utf8Bytes {
    let slug = serde_json::to_string(slug).unwrap_or_default();
    let event = String::from_utf8_lossy(event_json);
    Utf8Bytes::from(format!(
        r#"{{"jsonrpc":"2.0","method":"event","params":{{"circle":{slug},"event":{event}}}}}"#
    ))
}

fn presence_frame(slug: &str, handle: &str, online: bool) -> Utf8Bytes {
    notice_frame(Notice::Presence(PresenceNotice {
        circle: slug.to_owned(),
        handle: handle.to_owned(),
        online,
    }))
}

/// A notification as a frame: `{"jsonrpc":"2.0","method":…,"params":…}`.
pub fn notice_frame(notice: Notice) -> Utf8Bytes {
    let mut value = serde_json::to_value(notice).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.insert("jsonrpc".into(), "2.0".into());
    }
    Utf8Bytes::from(value.to_string())
}
