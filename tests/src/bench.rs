//! What the benchmark binaries (`loadgen`, `hostile`) share: a raw
//! WebSocket, one request answered, the server's memory. Unlike [`Client`](crate::Client)
//! they return errors instead of panicking, since a benchmark counts them.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long a connect or an answer may take.
pub const WAIT: Duration = Duration::from_secs(30);

pub async fn connect(url: &str) -> anyhow::Result<Socket> {
    let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
        .await
        .context("connect timed out")??;
    Ok(ws)
}

/// Sends a request and reads until its answer (skipping everything else).
pub async fn call(ws: &mut Socket, id: u64, method: &str, params: Value) -> anyhow::Result<Value> {
    let request = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    ws.send(Message::text(request.to_string())).await?;
    let deadline = Instant::now() + WAIT;
    loop {
        let frame = tokio::time::timeout_at(deadline.into(), ws.next())
            .await
            .with_context(|| format!("no answer to {method}"))?;
        let Some(frame) = frame else {
            bail!("closed during {method}")
        };
        if let Message::Text(text) = frame? {
            let value: Value = serde_json::from_str(&text)?;
            if value.get("id") == Some(&json!(id)) {
                if let Some(error) = value.get("error") {
                    bail!("{method}: {error}");
                }
                return Ok(value["result"].clone());
            }
        }
    }
}

/// The resident memory of process `pid`, in KiB (Linux).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
