//! Circles in memory: a [`CircleTask`] per active circle, reached through a
//! [`CircleHandle`]; the [`Circles`] registry loads them on first use and
//! forgets them when they unload.

pub mod mentions;
pub mod state;
pub mod stats;
pub mod task;

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::metrics::Metrics;
use crate::search::Search;
use crate::store::Store;
pub use state::{CircleState, Draft};
use task::CircleTask;
pub use task::{CircleHandle, Command, GoLive, Services, Subscriber};

/// Commands queued for one circle before senders wait.
const INBOX: usize = 256;
/// A call is retried this often when its circle unloaded under it.
const ATTEMPTS: usize = 3;

#[derive(Debug)]
pub struct Circles {
    store: Arc<Store>,
    search: Arc<Search>,
    metrics: Arc<Metrics>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
    // A std Mutex: only held to look up or insert, never across an await.
    loaded: Mutex<HashMap<Uuid, CircleHandle>>,
}

impl Circles {
    pub fn new(
        store: Arc<Store>,
        search: Arc<Search>,
        metrics: Arc<Metrics>,
        tracker: TaskTracker,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        Arc::new(Circles {
            store,
            search,
            metrics,
            tracker,
            shutdown,
            loaded: Mutex::new(HashMap::new()),
        })
    }

    /// The circle named `slug`, loading it if needed.
    pub fn by_slug(self: &Arc<Self>, slug: &str) -> ApiResult<CircleHandle> {
        let id = self
            .store
            .circle_id(slug)?
            .ok_or_else(|| ApiError::not_found(format!("no circle named \"{slug}\"")))?;
        self.get(id)
    }

    /// The circle with `id`, loading it if needed.
    pub fn get(self: &Arc<Self>, id: Uuid) -> ApiResult<CircleHandle> {
        if self.shutdown.is_cancelled() {
            return Err(ApiError::unavailable(
                "the server is shutting down; try again shortly",
            ));
        }
        if let Some(handle) = self.loaded(id) {
            return Ok(handle);
        }
        // Read before locking: the registry is not held across disk reads.
        let record = self
            .store
            .circle(id)?
            .ok_or_else(|| ApiError::not_found(format!("no circle with id {id}")))?;
        let mut loaded = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(handle) = loaded.get(&id).filter(|h| !h.tx.is_closed()) {
            return Ok(handle.clone()); // loaded by someone else meanwhile
        }
        let (tx, rx) = mpsc::channel(INBOX);
        let handle = CircleHandle {
            id,
            slug: record.slug.as_str().into(),
            tx,
            durable: Arc::new(AtomicU64::new(0)),
        };
        loaded.insert(id, handle.clone());
        let registry = Arc::downgrade(self);
        let own_tx = handle.tx.clone();
        let unload = move || {
            let Some(registry) = registry.upgrade() else {
                return true;
            };
            let mut loaded = registry
                .loaded
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if loaded.get(&id).is_some_and(|h| h.tx.same_channel(&own_tx)) {
                loaded.remove(&id);
            }
            true
        };
        let task = CircleTask::run(
            record,
            Services {
                store: Arc::clone(&self.store),
                search: Arc::clone(&self.search),
                metrics: Arc::clone(&self.metrics),
            },
            handle.clone(),
            rx,
            unload,
            self.shutdown.clone(),
        );
        self.tracker.spawn(task);
        Ok(handle)
    }

    /// The circle if it is loaded right now (presence only matters to those).
    pub fn loaded(&self, id: Uuid) -> Option<CircleHandle> {
        let loaded = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        loaded.get(&id).filter(|h| !h.tx.is_closed()).cloned()
    }

    /// How many circles are loaded (their tasks running).
    pub fn loaded_count(&self) -> usize {
        let loaded = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        loaded.values().filter(|h| !h.tx.is_closed()).count()
    }

    /// Sends a command built by `make` and waits for its answer, retrying
    /// on a fresh task if the circle unloaded in between.
    pub async fn call<R>(
        self: &Arc<Self>,
        id: Uuid,
        make: impl Fn(oneshot::Sender<R>) -> Command,
    ) -> ApiResult<R> {
        for _ in 0..ATTEMPTS {
            let handle = self.get(id)?;
            let (reply, answer) = oneshot::channel();
            if handle.tx.send(make(reply)).await.is_err() {
                continue;
            }
            if let Ok(answer) = answer.await {
                return Ok(answer);
            }
        }
        tracing::error!(circle = %id, "circle task did not answer");
        Err(ApiError::internal())
    }

    /// Runs `query` on the circle's state inside its task.
    pub async fn inspect<T: Send + 'static>(
        self: &Arc<Self>,
        id: Uuid,
        query: impl Fn(&CircleState) -> T + Clone + Send + 'static,
    ) -> ApiResult<T> {
        self.call(id, |reply| {
            let query = query.clone();
            Command::Inspect(Box::new(move |state| {
                let _ = reply.send(query(state));
            }))
        })
        .await
    }

    /// Appends `draft` by `author`; answers once the event is durable.
    pub async fn append(
        self: &Arc<Self>,
        id: Uuid,
        author: &str,
        draft: Draft,
    ) -> ApiResult<circles_protocol::Event> {
        self.call(id, |reply| Command::Append {
            author: author.to_owned(),
            draft: draft.clone(),
            reply,
        })
        .await?
    }
}
