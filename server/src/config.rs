//! Server settings: what the operator may change, with defaults that serve
//! someone who just runs `circles-server`.
//!
//! This type is the one source of the defaults. The binary layers, lowest
//! first: these defaults, a TOML file (`--config`), `CIRCLES_*` environment
//! variables, then flags. A TOML key, an environment variable and a flag
//! share their name: `max_post_bytes`, `CIRCLES_MAX_POST_BYTES`,
//! `--max-post-bytes`.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::store::{CommitMode, StoreOptions};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where to listen (the binary binds it; tests pass their own listener).
    pub listen: SocketAddr,
    /// sled's directory; created when missing.
    pub data_dir: PathBuf,
    /// Who may create an account.
    pub registration: Registration,
    /// Origins (`https://host[:port]`) whose pages may open WebSockets; `*`
    /// allows any. Empty: only pages served from this server's own address.
    /// Clients that send no Origin (not browsers) are always let in.
    pub allowed_origins: Vec<String>,
    /// Reverse proxies whose `X-Forwarded-For` names the client: a
    /// connection from one of them counts as coming from that client (for
    /// sessions per address, login throttling and logs).
    pub trusted_proxies: Vec<IpAddr>,
    /// Largest WebSocket message accepted; a bigger one closes the connection with 1009.
    pub max_frame_bytes: usize,
    /// Largest post body (problem, critique, note, edit), in bytes.
    pub max_post_bytes: usize,
    /// The most members any circle may allow (`max_members` is capped by it).
    pub max_members_cap: u32,
    /// Frames queued for one connection before it counts as too slow and is cut off.
    pub outbound_queue: usize,
    /// How often connections are pinged; one silent for two intervals is closed.
    #[serde(rename = "ping_interval_secs", with = "secs")]
    pub ping_interval: Duration,
    /// A connection must send its HTTP request head (the WebSocket handshake) within this.
    #[serde(rename = "handshake_timeout_secs", with = "secs")]
    pub handshake_timeout: Duration,
    /// An open problem with no critique from anyone but its author counts
    /// as unanswered in `circle.stats` once it is this old.
    #[serde(rename = "unanswered_after_secs", with = "secs")]
    pub unanswered_after: Duration,
    /// The most WebSocket sessions one IP address may hold at once (0: no cap).
    pub max_sessions_per_ip: u32,
    /// Requests one connection may make per second, sustained (0: no limit)…
    pub requests_per_sec: u32,
    /// …and at once, after a quiet spell (the token bucket's size).
    pub request_burst: u32,
    /// Requests one account may make per second over all its connections (0: no limit)…
    pub account_requests_per_sec: u32,
    /// …and at once.
    pub account_request_burst: u32,
    /// Failed sign-ins for one handle (or five times as many from one
    /// address) before each further attempt must wait, doubling from 1 s.
    pub login_attempts: u32,
    /// MiB of memory for the store's page cache.
    pub cache_mb: u64,
    /// A PEM certificate chain: with `tls_key`, serve wss:// and https:// directly.
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key for `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// How log lines look.
    pub log_format: LogFormat,
    /// When set, `/metrics` asks for `Authorization: Bearer <token>`.
    pub metrics_token: Option<String>,
    /// How writes share flushes (benchmarks only; not in the file).
    #[serde(skip)]
    pub commit: CommitMode,
}

/// Who may create an account with `auth.register`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    /// Anyone who reaches the server.
    #[default]
    Open,
    /// Whoever has a registration invite from an admin.
    Invite,
    /// Nobody; admins still create accounts on the host.
    Closed,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

impl Config {
    /// The defaults, storing data in `data_dir`.
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 7878)),
            data_dir: data_dir.into(),
            registration: Registration::Open,
            allowed_origins: Vec::new(),
            trusted_proxies: vec![
                IpAddr::from([127, 0, 0, 1]),
                IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
            ],
            max_frame_bytes: 64 * 1024,
            max_post_bytes: 16 * 1024,
            max_members_cap: 50,
            outbound_queue: 1024,
            ping_interval: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            unanswered_after: Duration::from_secs(48 * 3600),
            max_sessions_per_ip: 256,
            requests_per_sec: 50,
            request_burst: 500,
            account_requests_per_sec: 100,
            account_request_burst: 1000,
            login_attempts: 5,
            cache_mb: crate::store::DEFAULT_CACHE_BYTES >> 20,
            tls_cert: None,
            tls_key: None,
            log_format: LogFormat::Human,
            metrics_token: None,
            commit: CommitMode::Group,
        }
    }

    /// The defaults overlaid with the TOML file at `path`.
    pub fn from_file(path: &Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
        Config::from_toml(&text).map_err(|err| format!("{}: {err}", path.display()))
    }

    /// The defaults overlaid with TOML text.
    pub fn from_toml(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|err| {
            // "line 3 (`registration = \"sometimes\"`): unknown variant …"
            let Some(span) = err.span() else {
                return err.message().to_owned();
            };
            let start = span.start.min(text.len());
            let number = text[..start].matches('\n').count() + 1;
            let line = text.lines().nth(number - 1).unwrap_or_default().trim();
            format!("line {number} (`{line}`): {}", err.message())
        })
    }

    /// Every setting that cannot work, in words that say what to change.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut need = |ok: bool, problem: String| {
            if !ok {
                problems.push(problem);
            }
        };
        need(
            self.max_members_cap >= 2,
            "max_members_cap must be at least 2".into(),
        );
        need(
            self.outbound_queue >= 16,
            "outbound_queue must be at least 16".into(),
        );
        need(
            self.ping_interval >= Duration::from_secs(1),
            "ping_interval_secs must be at least 1".into(),
        );
        need(
            self.handshake_timeout >= Duration::from_secs(1),
            "handshake_timeout_secs must be at least 1".into(),
        );
        need(
            self.requests_per_sec == 0 || self.request_burst >= 1,
            "request_burst must be at least 1".into(),
        );
        need(
            self.account_requests_per_sec == 0 || self.account_request_burst >= 1,
            "account_request_burst must be at least 1".into(),
        );
        need(self.cache_mb >= 16, "cache_mb must be at least 16".into());
        need(
            self.max_frame_bytes >= 4096,
            "max_frame_bytes must be at least 4096".into(),
        );
        need(
            (1024..=self.max_frame_bytes.saturating_sub(1024)).contains(&self.max_post_bytes),
            format!(
                "max_post_bytes must be at least 1024 and leave 1 KiB of the frame for the rest of the request (at most {} with max_frame_bytes = {})",
                self.max_frame_bytes.saturating_sub(1024),
                self.max_frame_bytes
            ),
        );
        need(
            self.tls_cert.is_some() == self.tls_key.is_some(),
            "tls_cert and tls_key go together: set both or neither".into(),
        );
        for path in [&self.tls_cert, &self.tls_key].into_iter().flatten() {
            // Opened, not just looked at: a key only root may read is the usual mistake.
            if let Err(err) = std::fs::File::open(path) {
                need(false, format!("cannot read {}: {err}", path.display()));
            }
        }
        for origin in &self.allowed_origins {
            need(
                origin == "*" || valid_origin(origin),
                format!(
                    "allowed_origins: {origin:?} is not an origin; write scheme://host[:port] with no path, e.g. \"https://circles.example.org\""
                ),
            );
        }
        need(
            self.metrics_token.as_ref().is_none_or(|t| t.len() >= 16),
            "metrics_token must be at least 16 characters".into(),
        );
        problems
    }

    /// The effective settings as TOML, secrets redacted, unset options
    /// shown as comments.
    pub fn to_redacted_toml(&self) -> String {
        let mut shown = self.clone();
        if shown.metrics_token.is_some() {
            shown.metrics_token = Some("<redacted>".into());
        }
        let mut text = toml::to_string(&shown).unwrap_or_default();
        for (key, set) in [
            ("tls_cert", shown.tls_cert.is_some()),
            ("tls_key", shown.tls_key.is_some()),
            ("metrics_token", shown.metrics_token.is_some()),
        ] {
            if !set {
                text.push_str(&format!("# {key}: not set\n"));
            }
        }
        text
    }

    pub fn store_options(&self) -> StoreOptions {
        StoreOptions {
            cache_bytes: self.cache_mb << 20,
            commit: self.commit,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::with_data_dir("circles-data")
    }
}

/// `scheme://host[:port]`, as browsers send it in `Origin`.
fn valid_origin(origin: &str) -> bool {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return false;
    };
    !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-')
        && !rest.is_empty()
        && !rest.contains(['/', '?', '#', '@', ' '])
}

/// Durations as whole seconds in the file.
mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(duration.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_overrides_only_what_it_names() {
        let config = Config::from_toml("max_post_bytes = 8192\nregistration = \"invite\"\n")
            .expect("parses");
        assert_eq!(config.max_post_bytes, 8192);
        assert_eq!(config.registration, Registration::Invite);
        assert_eq!(config.max_frame_bytes, Config::default().max_frame_bytes);
        assert!(config.problems().is_empty(), "{:?}", config.problems());
    }

    #[test]
    fn unknown_keys_and_wrong_types_name_the_key() {
        let err = Config::from_toml("listen = \"127.0.0.1:1\"\n\nmax_post_byte = 1\n")
            .expect_err("unknown key");
        assert!(
            err.starts_with("line 3 (`max_post_byte = 1`): unknown field `max_post_byte`"),
            "{err}"
        );
        let err = Config::from_toml("registration = \"sometimes\"\n").expect_err("bad mode");
        assert!(err.contains("registration"), "{err}");
    }

    #[test]
    fn the_example_file_is_the_defaults() {
        let text = include_str!("../../circles.example.toml");
        let example = Config::from_toml(text).expect("the example parses");
        assert_eq!(
            example.to_redacted_toml(),
            Config::default().to_redacted_toml(),
            "circles.example.toml must show the defaults"
        );
    }

    #[test]
    fn the_effective_config_round_trips_and_hides_secrets() {
        let config = Config {
            metrics_token: Some("a-secret-that-is-long".into()),
            ..Config::default()
        };
        let text = config.to_redacted_toml();
        assert!(!text.contains("a-secret"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
        assert!(text.contains("# tls_cert: not set"), "{text}");
        let back = Config::from_toml(&text).expect("reparses");
        assert_eq!(back.listen, config.listen);
    }

    #[test]
    fn impossible_settings_are_each_named() {
        let config = Config {
            max_members_cap: 1,
            max_post_bytes: 64 * 1024,
            tls_cert: Some("/nonexistent/cert.pem".into()),
            allowed_origins: vec!["https://ok.example".into(), "example.org/path".into()],
            ..Config::default()
        };
        let problems = config.problems().join("\n");
        assert!(problems.contains("max_members_cap"), "{problems}");
        assert!(problems.contains("max_post_bytes"), "{problems}");
        assert!(problems.contains("tls_cert and tls_key"), "{problems}");
        assert!(problems.contains("example.org/path"), "{problems}");
        assert!(!problems.contains("ok.example"), "{problems}");
    }
}
