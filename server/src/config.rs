//! Server settings: what the operator may change, with defaults that serve
//! someone who just runs `circles-server`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Config {
    /// Where to listen (the binary binds it; tests pass their own listener).
    pub listen: SocketAddr,
    /// sled's directory; created when missing.
    pub data_dir: PathBuf,
    /// Largest WebSocket message accepted; a bigger one closes the connection with 1009.
    pub max_frame_bytes: usize,
    /// The most members any circle may allow (`max_members` is capped by it).
    pub max_members_cap: u32,
    /// Frames queued for one connection before it counts as too slow and is cut off.
    pub outbound_queue: usize,
    /// How often connections are pinged; one silent for two intervals is closed.
    pub ping_interval: Duration,
    /// A connection must send its HTTP request head (the WebSocket handshake) within this.
    pub handshake_timeout: Duration,
    /// The most WebSocket sessions one IP address may hold at once (0: no cap).
    pub max_sessions_per_ip: u32,
    /// Requests one connection may make per second, sustained…
    pub requests_per_sec: u32,
    /// …and at once, after a quiet spell (the token bucket's size).
    pub request_burst: u32,
    /// How the store is opened: its page cache, how writes share flushes.
    pub store: crate::store::StoreOptions,
}

impl Config {
    pub const DEFAULT_LISTEN: &'static str = "127.0.0.1:7878";
    pub const DEFAULT_DATA_DIR: &'static str = "circles-data";

    /// The defaults, storing data in `data_dir`.
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 7878)),
            data_dir: data_dir.into(),
            max_frame_bytes: 64 * 1024,
            max_members_cap: 50,
            outbound_queue: 1024,
            ping_interval: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            max_sessions_per_ip: 256,
            requests_per_sec: 50,
            request_burst: 500,
            store: crate::store::StoreOptions::default(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::with_data_dir(Config::DEFAULT_DATA_DIR)
    }
}
