//! The Circles server. (Being written.)
#![forbid(unsafe_code)]

pub mod config;

pub use config::Config;

use std::future::Future;
use tokio::net::TcpListener;

/// Serves Circles on `listener` until `shutdown` completes, then closes every
/// connection with 1001, flushes the store and returns.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let _ = (config, listener);
    shutdown.await;
    Ok(())
}
