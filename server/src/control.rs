//! The host's control socket: `control.sock` in the data directory, where
//! the operator's commands (`circles-server admin …`, `backup`, `export`)
//! reach a running server. Whoever may open it is the operator: it is made
//! readable and writable by the server's user only, so file permissions are
//! its authentication. It speaks the WebSocket protocol's JSON-RPC, one
//! request per line, as an operator session that may call every `admin.*`;
//! `admin.backup` streams a snapshot instead of answering.
//!
//! [`Operator`] is the other end. With no server running it opens the data
//! directory itself and runs the same requests in-process, so every command
//! works on a stopped server too.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use circles_protocol::methods::Method;
use circles_protocol::{Id, Request, Response, ResponsePayload};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;

use crate::session::Session;
use crate::store::{DumpSummary, Store, StoreError};
use crate::{App, Config};

pub const SOCKET_NAME: &str = "control.sock";
/// The request that streams a backup (only here: it writes no answer).
pub const BACKUP: &str = "admin.backup";
/// The longest request line read.
const MAX_LINE: u64 = 1 << 20;

pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_NAME)
}

/// Listens on the data directory's control socket until the server stops.
/// The caller holds the store's lock, so a socket file left there is stale.
pub fn listen(app: &Arc<App>) {
    let path = socket_path(&app.config.data_dir);
    let _ = std::fs::remove_file(&path);
    let listener = match bind_private(&path) {
        Ok(listener) => listener,
        Err(err) => {
            tracing::warn!(
                "no control socket at {} ({err}); admin commands need the server stopped",
                path.display()
            );
            return;
        }
    };
    let accepting = Arc::clone(app);
    app.tracker.spawn(async move {
        loop {
            let accepted = tokio::select! {
                () = accepting.shutdown.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, _)) => {
                    let app = Arc::clone(&accepting);
                    accepting.tracker.spawn(async move {
                        if let Err(err) = serve(app, stream).await {
                            tracing::debug!(error = %err, "control connection ended");
                        }
                    });
                }
                Err(err) => {
                    tracing::warn!(error = %err, "control socket accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
        let _ = std::fs::remove_file(&path);
    });
}

/// Binds with permissions for the owner only, from the first moment.
fn bind_private(path: &Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

async fn serve(app: Arc<App>, stream: UnixStream) -> anyhow::Result<()> {
    let (outbound, _dropped) = mpsc::channel(1);
    let mut session = Session::operator(Arc::clone(&app), outbound);
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut line = String::new();
    loop {
        line.clear();
        let mut limited = (&mut lines).take(MAX_LINE);
        let read = tokio::select! {
            () = app.shutdown.cancelled() => return Ok(()),
            read = limited.read_line(&mut line) => read?,
        };
        if read == 0 {
            return Ok(());
        }
        if is_backup(&line) {
            let stream = lines.into_inner().reunite(write)?;
            return stream_backup(&app, stream).await;
        }
        if let Some(mut answer) = crate::api::handle_text(&mut session, line.trim_end()).await {
            answer.push('\n');
            write.write_all(answer.as_bytes()).await?;
        }
    }
}

fn is_backup(line: &str) -> bool {
    serde_json::from_str::<Value>(line)
        .is_ok_and(|v| v.get("method").and_then(Value::as_str) == Some(BACKUP))
}

/// Writes a snapshot down the socket (see `store::backup` for what it holds).
async fn stream_backup(app: &Arc<App>, stream: UnixStream) -> anyhow::Result<()> {
    audit_backup(app).await?;
    let mut stream = stream.into_std()?;
    stream.set_nonblocking(false)?;
    let store = Arc::clone(&app.store);
    let summary = tokio::task::spawn_blocking(move || store.dump(&mut stream, |_, _| {}))
        .await
        .context("the backup task panicked")??;
    tracing::info!(
        records = summary.records,
        bytes = summary.bytes,
        circles = summary.circles,
        "backup written to the control socket"
    );
    Ok(())
}

/// The server's error answer to an operator's request.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Refused {
    pub kind: circles_protocol::ErrorKind,
    pub message: String,
}

/// A backup holds every password hash: it is recorded like an admin action.
async fn audit_backup(app: &App) -> anyhow::Result<()> {
    let operator = crate::api::OPERATOR;
    crate::api::audit(app, operator, "backup", "", String::new()).await?;
    Ok(())
}

/// The operator's end: a running server's control socket, or the data
/// directory opened in this process.
pub enum Operator {
    Remote {
        lines: BufReader<UnixStream>,
        next_id: i64,
    },
    Local {
        app: Arc<App>,
        session: Box<Session>,
    },
}

impl Operator {
    /// Reaches the server using `config.data_dir`, or opens the directory
    /// when no server runs there. Only `create` makes a new store: anything
    /// else in a directory without one means the operator pointed at the
    /// wrong place, and an invite made there would be lost.
    pub async fn open(config: &Config, create: bool) -> anyhow::Result<Operator> {
        let path = socket_path(&config.data_dir);
        match UnixStream::connect(&path).await {
            Ok(stream) => {
                return Ok(Operator::Remote {
                    lines: BufReader::new(stream),
                    next_id: 0,
                });
            }
            // No server, or one that died and left its socket: open the store.
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                ) => {}
            Err(err) => {
                return Err(err).with_context(|| format!("cannot connect to {}", path.display()));
            }
        }
        // sled keeps its settings in `conf`: without it there is no store here.
        if !create && !config.data_dir.join("conf").is_file() {
            anyhow::bail!(
                "no Circles data in {}: pass the server's --config or --data-dir",
                config.data_dir.display()
            );
        }
        let store = match Store::open_with(&config.data_dir, config.store_options()) {
            Ok(store) => store,
            Err(StoreError::Locked) => anyhow::bail!(
                "a circles-server is using {} but its control socket {} cannot be reached",
                config.data_dir.display(),
                path.display()
            ),
            Err(err) => {
                return Err(err).with_context(|| {
                    format!("cannot open the store in {}", config.data_dir.display())
                });
            }
        };
        let app = App::new(config.clone(), Arc::new(store));
        let (outbound, _dropped) = mpsc::channel(1);
        let session = Box::new(Session::operator(Arc::clone(&app), outbound));
        Ok(Operator::Local { app, session })
    }

    /// Calls `M`; an error answer becomes an error with its message.
    pub async fn call<M: Method>(&mut self, params: M::Params) -> anyhow::Result<M::Result> {
        let result = self
            .call_raw(M::NAME, serde_json::to_value(params)?)
            .await?;
        serde_json::from_value(result).with_context(|| format!("unexpected answer to {}", M::NAME))
    }

    async fn call_raw(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        let id = match self {
            Operator::Remote { next_id, .. } => {
                *next_id += 1;
                *next_id
            }
            Operator::Local { .. } => 1,
        };
        let request = Request {
            jsonrpc: circles_protocol::jsonrpc::V2,
            id: Some(Id::Number(id)),
            method: method.to_owned(),
            params: Some(params),
        };
        let line = serde_json::to_string(&request)?;
        let answer = match self {
            Operator::Remote { lines, .. } => {
                lines
                    .get_mut()
                    .write_all(format!("{line}\n").as_bytes())
                    .await?;
                let mut answer = String::new();
                if lines.read_line(&mut answer).await? == 0 {
                    anyhow::bail!("the server closed the control socket");
                }
                answer
            }
            Operator::Local { session, .. } => crate::api::handle_text(session, &line)
                .await
                .context("no answer")?,
        };
        let response: Response = serde_json::from_str(&answer).context("unreadable answer")?;
        match response.payload {
            ResponsePayload::Result(value) => Ok(value),
            ResponsePayload::Error(error) => Err(Refused {
                kind: error.kind(),
                message: error.message,
            }
            .into()),
        }
    }

    /// Writes a snapshot to `out`, reporting `progress(records, bytes)` as it goes.
    pub async fn backup(
        self,
        out: std::fs::File,
        progress: impl FnMut(u64, u64) + Send + 'static,
    ) -> anyhow::Result<u64> {
        match self {
            Operator::Remote { lines, .. } => {
                remote_backup(lines.into_inner(), out, progress).await
            }
            Operator::Local { app, .. } => {
                audit_backup(&app).await?;
                let store = Arc::clone(&app.store);
                let summary: DumpSummary =
                    tokio::task::spawn_blocking(move || store.dump(out, progress))
                        .await
                        .context("the backup task panicked")??;
                Ok(summary.bytes)
            }
        }
    }

    /// Makes everything durable and lets go of the data directory.
    pub async fn close(self) -> anyhow::Result<()> {
        if let Operator::Local { app, session } = self {
            drop(session);
            app.shutdown.cancel();
            app.tracker.close();
            app.tracker.wait().await;
            app.store.flush().await.context("final flush")?;
        }
        Ok(())
    }
}

/// Copies the streamed snapshot; a server that answers with an error
/// instead of a snapshot says why.
async fn remote_backup(
    mut stream: UnixStream,
    out: std::fs::File,
    mut progress: impl FnMut(u64, u64),
) -> anyhow::Result<u64> {
    let request = format!("{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"{BACKUP}\"}}\n");
    stream.write_all(request.as_bytes()).await?;
    let mut out = tokio::fs::File::from_std(out);
    let mut buffer = vec![0u8; 256 << 10];
    let (mut bytes, mut lines) = (0u64, 0u64);
    loop {
        let n = stream.read(&mut buffer).await?;
        if n == 0 {
            break;
        }
        if bytes == 0 && buffer.starts_with(b"{\"jsonrpc\"") {
            let text = String::from_utf8_lossy(&buffer[..n]);
            anyhow::bail!("the server refused the backup: {}", text.trim());
        }
        out.write_all(&buffer[..n]).await?;
        bytes += n as u64;
        lines += buffer[..n].iter().filter(|b| **b == b'\n').count() as u64;
        progress(lines, bytes);
    }
    out.sync_all().await?;
    Ok(bytes)
}
