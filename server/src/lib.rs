//! The Circles server: peer learning circles over JSON-RPC on WebSockets.
//!
//! Layout:
//! - [`config`]: settings and their defaults.
//! - [`listener`]: the accept loop, handshake deadline, sessions per address.
//! - [`tls`]: the certificate and key, loaded once, for wss:// and https://.
//! - [`http`]: the one port (`/v1/ws`, `/healthz`, `/readyz`, `/metrics`).
//! - [`metrics`]: the counters, gauges and histograms `/metrics` serves.
//! - [`session`]: a task per connection; [`api`] parses and dispatches its requests.
//! - [`circle`]: a task per active circle that owns its log, seq and subscribers.
//! - [`search`]: the full-text index of problems and critiques, fed from the logs.
//! - [`store`]: sled behind a small API, with group commit for durability;
//!   `store::backup` dumps and restores it, [`export`] renders one circle's history.
//! - [`presence`], [`credentials`], [`validate`], [`error`]: the pieces they share.
//! - `harness`: the request path without a socket, for the fuzz target and its corpus test.
#![forbid(unsafe_code)]

mod api;
pub mod circle;
pub mod config;
pub mod control;
mod credentials;
mod error;
pub mod export;
#[doc(hidden)]
pub mod harness;
mod http;
mod listener;
pub mod metrics;
mod presence;
pub mod search;
pub mod session;
pub mod store;
mod throttle;
mod tls;
mod validate;
mod web;

pub use config::Config;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use circle::Circles;
use store::{Store, StoreOptions};

/// How long connections and circles get to finish when the server stops.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How long a new server waits for the data directory's lock.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// What every connection and circle shares.
#[derive(Debug)]
pub struct App {
    pub config: Config,
    pub store: Arc<Store>,
    pub circles: Arc<Circles>,
    /// Open only in a serving server ([`run`] starts it).
    pub search: Arc<search::Search>,
    /// Cancelled when the server stops.
    pub shutdown: CancellationToken,
    /// Connections and circle tasks, awaited at shutdown.
    pub tracker: TaskTracker,
    /// argon2 needs ~19 MiB and a core per hash: a few at a time.
    pub hashing: Semaphore,
    online: presence::Online,
    /// WebSocket sessions per peer address.
    pub peers: listener::Peers,
    /// Failed sign-ins, per handle and per address.
    pub logins: throttle::LoginThrottle,
    /// Each account's request budget over all its connections.
    pub account_budgets: Option<governor::DefaultKeyedRateLimiter<String>>,
    pub metrics: Arc<metrics::Metrics>,
    next_session: AtomicU64,
}

impl App {
    /// Everything a server shares, over an open store.
    pub fn new(config: Config, store: Arc<Store>) -> Arc<App> {
        let stop = CancellationToken::new();
        let tracker = TaskTracker::new();
        let metrics = Arc::new(metrics::Metrics::default());
        let search = Arc::new(search::Search::new(config.data_dir.join("search")));
        Arc::new(App {
            circles: Circles::new(
                Arc::clone(&store),
                Arc::clone(&search),
                Arc::clone(&metrics),
                tracker.clone(),
                stop.clone(),
            ),
            store,
            search,
            shutdown: stop,
            tracker,
            hashing: Semaphore::new(4),
            online: presence::Online::default(),
            peers: listener::Peers::new(config.max_sessions_per_ip),
            logins: throttle::LoginThrottle::new(config.login_attempts),
            account_budgets: std::num::NonZeroU32::new(config.account_requests_per_sec).map(
                |per_sec| {
                    let burst =
                        std::num::NonZeroU32::new(config.account_request_burst).unwrap_or(per_sec);
                    governor::RateLimiter::keyed(
                        governor::Quota::per_second(per_sec).allow_burst(burst),
                    )
                },
            ),
            metrics,
            next_session: AtomicU64::new(0),
            config,
        })
    }

    pub fn next_session_id(&self) -> u64 {
        self.next_session.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The account's display name, or its handle if it has none.
    pub fn display_name(&self, handle: &str) -> String {
        match self.store.account(handle) {
            Ok(Some(account)) => account.display_name,
            _ => handle.to_owned(),
        }
    }
}

/// Opens the store, waiting a little for its lock: a server that is still
/// closing on the same directory (a restart) releases it shortly.
async fn open_store(dir: &std::path::Path, options: StoreOptions) -> anyhow::Result<Store> {
    let deadline = tokio::time::Instant::now() + LOCK_WAIT;
    let mut warned = false;
    loop {
        match Store::open_with(dir, options) {
            Err(store::StoreError::Locked) if tokio::time::Instant::now() < deadline => {
                if !warned {
                    tracing::warn!(
                        "{} is locked; waiting for the server using it to stop",
                        dir.display()
                    );
                    warned = true;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            result => {
                return result
                    .with_context(|| format!("cannot open the store in {}", dir.display()));
            }
        }
    }
}

/// Serves Circles on `listener` until `shutdown` completes, then closes every
/// connection with 1001, makes everything durable and returns (releasing the
/// data directory).
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Before the store: a bad certificate fails fast, without taking the lock.
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(tls::acceptor(cert, key)?),
        (None, None) => None,
        _ => anyhow::bail!("tls_cert and tls_key go together: set both or neither"),
    };
    let store = open_store(&config.data_dir, config.store_options()).await?;
    let store = Arc::new(store);
    let addr = listener
        .local_addr()
        .context("reading the listening address")?;
    let app = App::new(config, store);
    app.search
        .start(Arc::clone(&app.store), &app.tracker, app.shutdown.clone())
        .await?;
    control::listen(&app);
    // Only now: a supervisor waiting for this line may rely on the store
    // being open and the control socket taking commands.
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    tracing::info!(
        "listening on {addr} ({scheme}://{addr}{}), data in {} (schema version {})",
        circles_protocol::WS_PATH,
        app.config.data_dir.display(),
        store::SCHEMA_VERSION
    );
    let stop = app.shutdown.clone();
    let tracker = app.tracker.clone();

    let signal = stop.clone();
    tokio::spawn(async move {
        shutdown.await;
        signal.cancel();
    });
    listener::serve(
        Arc::clone(&app),
        listener,
        http::router(Arc::clone(&app)),
        tls,
    )
    .await;

    tracker.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("some connections did not close in time");
    }
    app.store.flush().await.context("final flush")?;
    tracing::info!("stopped; everything acknowledged is on disk");
    Ok(())
}
