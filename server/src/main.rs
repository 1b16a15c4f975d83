//! `circles-server`: parses flags, sets up logging, and runs the server.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use circles_server::Config;
use circles_server::store::{CommitMode, StoreOptions};
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// glibc's malloc keeps the 19 MiB that each argon2 hash takes once it has
/// freed one (its mmap threshold rises to fit), so every sign-in left the
/// server ~19 MiB bigger per thread that hashed; mimalloc returns it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The Circles server: peer learning circles over WebSockets.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "CIRCLES_LISTEN", default_value = Config::DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Directory for the data (created if missing).
    #[arg(long, env = "CIRCLES_DATA_DIR", default_value = Config::DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    /// Largest WebSocket message accepted, in bytes; bigger ones close the connection (1009).
    #[arg(long, env = "CIRCLES_MAX_FRAME_BYTES", default_value_t = 64 * 1024)]
    max_frame_bytes: usize,
    /// The most members a circle may allow.
    #[arg(long, env = "CIRCLES_MAX_MEMBERS_CAP", default_value_t = 50)]
    max_members_cap: u32,
    /// Frames queued for a connection before it counts as too slow and is cut off.
    #[arg(long, env = "CIRCLES_OUTBOUND_QUEUE", default_value_t = 1024)]
    outbound_queue: usize,
    /// Seconds between pings; a connection silent for two intervals is closed.
    #[arg(long, env = "CIRCLES_PING_INTERVAL_SECS", default_value_t = 30)]
    ping_interval_secs: u64,
    /// Seconds a new connection has to send its WebSocket handshake.
    #[arg(long, env = "CIRCLES_HANDSHAKE_TIMEOUT_SECS", default_value_t = 10)]
    handshake_timeout_secs: u64,
    /// The most WebSocket sessions one IP address may hold (0: no cap).
    #[arg(long, env = "CIRCLES_MAX_SESSIONS_PER_IP", default_value_t = 256)]
    max_sessions_per_ip: u32,
    /// Requests per second one connection may sustain (0: no limit); more are
    /// answered with `rate_limited`, and a connection that keeps going is closed (1008).
    #[arg(long, env = "CIRCLES_REQUESTS_PER_SEC", default_value_t = 50)]
    requests_per_sec: u32,
    /// Requests one connection may make at once after a quiet spell.
    #[arg(long, env = "CIRCLES_REQUEST_BURST", default_value_t = 500)]
    request_burst: u32,
    /// MiB of memory for the store's page cache.
    #[arg(long, env = "CIRCLES_CACHE_MB", default_value_t = 256)]
    cache_mb: u64,
    /// How posts share flushes: `group` (one flush serves every post that
    /// arrived meanwhile) or `per-write` (one flush per post, for benchmarks
    /// that show what group commit buys).
    #[arg(
        long,
        env = "CIRCLES_COMMIT",
        value_enum,
        default_value = "group",
        hide = true
    )]
    commit: Commit,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Commit {
    Group,
    PerWrite,
}

fn main() {
    let args = Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => fail(&anyhow::Error::from(err)),
    };
    if let Err(err) = runtime.block_on(serve(args)) {
        fail(&err);
    }
}

/// One line with the causes, no backtrace: `circles-server: cannot open … : …`.
fn fail(err: &anyhow::Error) -> ! {
    eprintln!("circles-server: {err:#}");
    std::process::exit(1);
}

async fn serve(args: Args) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let config = Config {
        listen: args.listen,
        data_dir: args.data_dir,
        max_frame_bytes: args.max_frame_bytes,
        max_members_cap: args.max_members_cap.max(2),
        outbound_queue: args.outbound_queue.max(16),
        ping_interval: std::time::Duration::from_secs(args.ping_interval_secs.max(1)),
        handshake_timeout: std::time::Duration::from_secs(args.handshake_timeout_secs.max(1)),
        max_sessions_per_ip: args.max_sessions_per_ip,
        requests_per_sec: args.requests_per_sec,
        request_burst: args.request_burst.max(1),
        store: StoreOptions {
            cache_bytes: args.cache_mb.max(16) << 20,
            commit: match args.commit {
                Commit::Group => CommitMode::Group,
                Commit::PerWrite => CommitMode::PerWrite,
            },
        },
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    circles_server::run(config, listener, shutdown_signal()).await
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("shutting down");
}
