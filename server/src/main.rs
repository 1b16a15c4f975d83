//! `circles-server`: runs the server, and the operator's commands beside it
//! (`config check`, `admin …`, `backup`, `restore`, `export`).

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use circles_protocol::methods::ExportFormat;
use circles_server::Config;
use circles_server::config::{LogFormat, Registration};
use circles_server::store::CommitMode;
use clap::{Parser, Subcommand};

mod commands;
use tracing_subscriber::EnvFilter;

/// glibc's malloc keeps the 19 MiB that each argon2 hash takes once it has
/// freed one (its mmap threshold rises to fit), so every sign-in left the
/// server ~19 MiB bigger per thread that hashed; mimalloc returns it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The Circles server: peer learning circles over WebSockets.
///
/// Without a command it serves. Settings come from, lowest first: defaults,
/// the --config file, CIRCLES_* environment variables, flags.
#[derive(Debug, Parser)]
#[command(version, about, long_about, args_conflicts_with_subcommands = true)]
struct Args {
    #[command(flatten)]
    settings: Settings,
    #[command(subcommand)]
    command: Option<Command>,
}

// Parsed once per run: the size of a variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Check the configuration and print it as it takes effect.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Look after accounts and circles (on the host, as the operator).
    Admin {
        #[command(flatten)]
        place: Place,
        #[command(subcommand)]
        command: commands::AdminCommand,
    },
    /// Write a snapshot of the data (each circle a gap-free prefix of its log), while the server runs or not.
    Backup {
        #[command(flatten)]
        place: Place,
        /// The file to write (it appears only once complete).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Restore a snapshot into a new, empty data directory.
    Restore {
        /// A file written by `circles-server backup`.
        file: PathBuf,
        /// The directory to restore into: missing or empty.
        #[arg(long, env = "CIRCLES_DATA_DIR")]
        data_dir: PathBuf,
    },
    /// Write one circle's history (problems, critiques, resolutions) for sharing.
    Export {
        #[command(flatten)]
        place: Place,
        /// The circle's slug.
        slug: String,
        /// markdown (for people) or json (for programs).
        #[arg(long, value_enum, default_value = "markdown")]
        format: Format,
        /// Write to FILE instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

/// Which server: its data directory (from the flag, the environment or the file).
#[derive(Debug, clap::Args)]
struct Place {
    /// The TOML file the server runs with.
    #[arg(long, env = "CIRCLES_CONFIG", value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    /// The server's data directory [default: circles-data].
    #[arg(long, env = "CIRCLES_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
}

impl Place {
    fn resolve(self) -> anyhow::Result<Config> {
        Settings {
            config: self.config,
            data_dir: self.data_dir,
            ..Settings::default()
        }
        .resolve()
    }
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Format {
    Markdown,
    Json,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate the layered settings and print them (secrets redacted).
    Check {
        #[command(flatten)]
        settings: Settings,
    },
}

/// Every setting as a flag (and environment variable); unset ones come from
/// the file or the defaults (see circles.example.toml).
#[derive(Debug, Default, clap::Args)]
struct Settings {
    /// A TOML file of settings (see circles.example.toml).
    #[arg(long, env = "CIRCLES_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free one [default: 127.0.0.1:7878].
    #[arg(long, env = "CIRCLES_LISTEN")]
    listen: Option<SocketAddr>,
    /// Directory for the data, created if missing [default: circles-data].
    #[arg(long, env = "CIRCLES_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Who may register: open, invite (with an admin's registration invite) or closed [default: open].
    #[arg(long, env = "CIRCLES_REGISTRATION", value_enum)]
    registration: Option<Registration>,
    /// Web origins allowed to open WebSockets, comma-separated; `*` for any
    /// [default: none but this server's own].
    #[arg(long, env = "CIRCLES_ALLOWED_ORIGINS", value_delimiter = ',')]
    allowed_origins: Option<Vec<String>>,
    /// Reverse proxies whose X-Forwarded-For names the client, comma-separated
    /// [default: 127.0.0.1,::1].
    #[arg(long, env = "CIRCLES_TRUSTED_PROXIES", value_delimiter = ',')]
    trusted_proxies: Option<Vec<std::net::IpAddr>>,
    /// Largest WebSocket message, in bytes; bigger ones close the connection (1009) [default: 65536].
    #[arg(long, env = "CIRCLES_MAX_FRAME_BYTES")]
    max_frame_bytes: Option<usize>,
    /// Largest post body, in bytes [default: 16384].
    #[arg(long, env = "CIRCLES_MAX_POST_BYTES")]
    max_post_bytes: Option<usize>,
    /// The most members a circle may allow [default: 50].
    #[arg(long, env = "CIRCLES_MAX_MEMBERS_CAP")]
    max_members_cap: Option<u32>,
    /// Frames queued for a connection before it counts as too slow and is cut off [default: 1024].
    #[arg(long, env = "CIRCLES_OUTBOUND_QUEUE")]
    outbound_queue: Option<usize>,
    /// Seconds between pings; a connection silent for two intervals is closed [default: 30].
    #[arg(long, env = "CIRCLES_PING_INTERVAL_SECS")]
    ping_interval_secs: Option<u64>,
    /// Seconds a new connection has to send its WebSocket handshake [default: 10].
    #[arg(long, env = "CIRCLES_HANDSHAKE_TIMEOUT_SECS")]
    handshake_timeout_secs: Option<u64>,
    /// Seconds after which an open problem nobody else has critiqued counts as unanswered [default: 172800].
    #[arg(long, env = "CIRCLES_UNANSWERED_AFTER_SECS")]
    unanswered_after_secs: Option<u64>,
    /// The most WebSocket sessions one IP address may hold; 0: no cap [default: 256].
    #[arg(long, env = "CIRCLES_MAX_SESSIONS_PER_IP")]
    max_sessions_per_ip: Option<u32>,
    /// Requests per second one connection may sustain; 0: no limit. More are
    /// answered with `rate_limited`; a connection that keeps going is closed (1008) [default: 50].
    #[arg(long, env = "CIRCLES_REQUESTS_PER_SEC")]
    requests_per_sec: Option<u32>,
    /// Requests one connection may make at once after a quiet spell [default: 500].
    #[arg(long, env = "CIRCLES_REQUEST_BURST")]
    request_burst: Option<u32>,
    /// Requests per second one account may sustain over all its connections; 0: no limit [default: 100].
    #[arg(long, env = "CIRCLES_ACCOUNT_REQUESTS_PER_SEC")]
    account_requests_per_sec: Option<u32>,
    /// Requests one account may make at once [default: 1000].
    #[arg(long, env = "CIRCLES_ACCOUNT_REQUEST_BURST")]
    account_request_burst: Option<u32>,
    /// Failed sign-ins for a handle before each further try waits, from 1 s doubling [default: 5].
    #[arg(long, env = "CIRCLES_LOGIN_ATTEMPTS")]
    login_attempts: Option<u32>,
    /// MiB of memory for the store's page cache [default: 256].
    #[arg(long, env = "CIRCLES_CACHE_MB")]
    cache_mb: Option<u64>,
    /// PEM certificate chain; with --tls-key, serve wss:// directly.
    #[arg(long, env = "CIRCLES_TLS_CERT", value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "CIRCLES_TLS_KEY", value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// Log lines as human (readable) or json (one object per line) [default: human].
    #[arg(long, env = "CIRCLES_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,
    /// When set (16+ characters), /metrics asks for `Authorization: Bearer <token>`;
    /// prefer the file or the environment: a flag shows in `ps`.
    #[arg(long, env = "CIRCLES_METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,
    /// How posts share flushes: `group` (one flush serves every post that
    /// arrived meanwhile) or `per-write` (one flush per post, for benchmarks
    /// that show what group commit buys).
    #[arg(long, env = "CIRCLES_COMMIT", value_enum, hide = true)]
    commit: Option<Commit>,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Commit {
    Group,
    PerWrite,
}

impl Settings {
    /// Defaults, then the file, then the environment and flags (clap has
    /// already preferred a flag over its variable).
    fn resolve(mut self) -> anyhow::Result<Config> {
        // `a, b` in an environment variable: the spaces are not part of the origins.
        if let Some(origins) = &mut self.allowed_origins {
            for origin in origins.iter_mut() {
                *origin = origin.trim().to_owned();
            }
        }
        let mut config = match &self.config {
            Some(path) => Config::from_file(path).map_err(anyhow::Error::msg)?,
            None => Config::default(),
        };
        macro_rules! overlay {
            ($($field:ident),* $(,)?) => {
                $(if let Some(value) = self.$field { config.$field = value; })*
            };
        }
        overlay!(
            listen,
            data_dir,
            registration,
            allowed_origins,
            trusted_proxies,
            max_frame_bytes,
            max_post_bytes,
            max_members_cap,
            outbound_queue,
            max_sessions_per_ip,
            requests_per_sec,
            request_burst,
            account_requests_per_sec,
            account_request_burst,
            login_attempts,
            cache_mb,
            log_format,
        );
        let secs = std::time::Duration::from_secs;
        if let Some(s) = self.ping_interval_secs {
            config.ping_interval = secs(s);
        }
        if let Some(s) = self.handshake_timeout_secs {
            config.handshake_timeout = secs(s);
        }
        if let Some(s) = self.unanswered_after_secs {
            config.unanswered_after = secs(s);
        }
        if let Some(path) = self.tls_cert {
            config.tls_cert = Some(path);
        }
        if let Some(path) = self.tls_key {
            config.tls_key = Some(path);
        }
        if let Some(token) = self.metrics_token {
            config.metrics_token = Some(token);
        }
        if let Some(commit) = self.commit {
            config.commit = match commit {
                Commit::Group => CommitMode::Group,
                Commit::PerWrite => CommitMode::PerWrite,
            };
        }
        Ok(config)
    }

    /// The layered settings, refused with every problem named.
    fn checked(self) -> anyhow::Result<Config> {
        let config = self.resolve()?;
        let problems = config.problems();
        if problems.is_empty() {
            Ok(config)
        } else {
            anyhow::bail!("invalid configuration: {}", problems.join("; "))
        }
    }
}

fn main() {
    let args = Args::parse();
    let result = match args.command {
        None => args.settings.checked().and_then(serve),
        Some(Command::Config(ConfigCommand::Check { settings })) => settings.checked().map(|c| {
            print!("{}", c.to_redacted_toml());
        }),
        Some(Command::Restore { file, data_dir }) => commands::restore(&file, &data_dir),
        Some(Command::Admin { place, command }) => place
            .resolve()
            .and_then(|config| block_on(commands::admin(&config, command))),
        Some(Command::Backup { place, out }) => place
            .resolve()
            .and_then(|config| block_on(commands::backup(&config, &out))),
        Some(Command::Export {
            place,
            slug,
            format,
            out,
        }) => {
            let format = match format {
                Format::Markdown => ExportFormat::Markdown,
                Format::Json => ExportFormat::Json,
            };
            place.resolve().and_then(|config| {
                block_on(commands::export(&config, slug, format, out.as_deref()))
            })
        }
    };
    if let Err(err) = result {
        fail(&err);
    }
}

/// Runs an operator's command; warnings (a locked store…) go to stderr.
fn block_on(command: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    // A slow disk is the server's business, not the command's.
    let quiet = "warn,circles_server::store::commit=error";
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(quiet));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    tokio::runtime::Runtime::new()
        .context("starting the runtime")?
        .block_on(command)
}

/// One line with the causes, no backtrace: `circles-server: cannot open … : …`.
fn fail(err: &anyhow::Error) -> ! {
    eprintln!("circles-server: {err:#}");
    std::process::exit(1);
}

fn serve(config: Config) -> anyhow::Result<()> {
    init_logging(config.log_format);
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        circles_server::run(config, listener, shutdown_signal()).await
    })
}

/// Logs to stderr at `RUST_LOG` (default info), readable or as JSON lines.
fn init_logging(format: LogFormat) {
    // tantivy logs every commit and merge at info.
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,tantivy=warn"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
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
