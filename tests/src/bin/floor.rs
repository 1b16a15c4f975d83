//! The floor: a minimal broadcast server with the loadgen's workload and
//! nothing else (no auth, no persistence, no JSON-RPC). A connection's first
//! frame `{"room": NAME}` puts it in a room; every later frame is broadcast,
//! as one shared buffer, to everyone in that room.
//!
//! cargo run --release -p circles-tests --bin floor -- 127.0.0.1:7879

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

type Tx = mpsc::Sender<Message>;
type Rooms = Arc<Mutex<HashMap<String, Vec<Tx>>>>;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7879".into());
    let listener = TcpListener::bind(&addr).await?;
    eprintln!("floor listening on {}", listener.local_addr()?);
    let rooms: Rooms = Arc::default();
    loop {
        let (stream, _) = listener.accept().await?;
        let rooms = Arc::clone(&rooms);
        tokio::spawn(async move {
            // The same small buffers the Circles server uses.
            let config = WebSocketConfig::default()
                .read_buffer_size(4096)
                .write_buffer_size(0);
            let Ok(ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await
            else {
                return;
            };
            let (mut sink, mut stream) = ws.split();
            let Some(Ok(Message::Text(first))) = stream.next().await else {
                return;
            };
            let room = serde_json::from_str::<serde_json::Value>(&first)
                .ok()
                .and_then(|v| v["room"].as_str().map(str::to_owned))
                .unwrap_or_default();
            let (tx, mut rx) = mpsc::channel::<Message>(1024);
            rooms
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(room.clone())
                .or_default()
                .push(tx);
            let writer = tokio::spawn(async move {
                while let Some(message) = rx.recv().await {
                    if sink.send(message).await.is_err() {
                        break;
                    }
                }
            });
            while let Some(Ok(Message::Text(text))) = stream.next().await {
                let message = Message::Text(text);
                let members = rooms
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(&room)
                    .cloned()
                    .unwrap_or_default();
                for member in members {
                    let _ = member.try_send(message.clone());
                }
            }
            writer.abort();
        });
    }
}
