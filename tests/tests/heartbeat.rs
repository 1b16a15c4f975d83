//! Heartbeats: the server pings every connection; one that answers stays,
//! one that stays silent for two intervals is closed, so a vanished peer does
//! not stay "online" or keep its subscriptions forever.

use std::time::Duration;

use circles_tests::{TestServer, within};
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

const PING: Duration = Duration::from_millis(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_answers_pings_stays_connected() {
    let server = TestServer::start_with(|config| config.ping_interval = PING).await;
    let url = format!("ws://{}/v1/ws", server.addr);
    let (mut ws, _) = within("connect", tokio_tungstenite::connect_async(url.as_str()))
        .await
        .unwrap();
    // tungstenite answers each ping with a pong while we read.
    let mut pings = 0;
    while pings < 5 {
        match within("a ping", ws.next()).await {
            Some(Ok(Message::Ping(_))) => pings += 1,
            other => panic!("expected pings, got {other:?}"),
        }
    }
    // Five intervals later, the connection still answers requests.
    let request = r#"{"jsonrpc":"2.0","id":1,"method":"circle.list"}"#;
    futures_util::SinkExt::send(&mut ws, Message::text(request))
        .await
        .unwrap();
    loop {
        match within("the answer", ws.next()).await {
            Some(Ok(Message::Text(text))) => {
                assert!(text.contains("unauthenticated"), "{text}");
                break;
            }
            Some(Ok(Message::Ping(_))) => {}
            other => panic!("expected the answer, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_peer_is_closed_after_two_intervals() {
    let server = TestServer::start_with(|config| config.ping_interval = PING).await;
    // A raw socket: after the handshake it never answers anything, like a
    // peer whose network vanished.
    let mut tcp = within("connect", TcpStream::connect(server.addr))
        .await
        .unwrap();
    let handshake = format!(
        "GET /v1/ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        server.addr
    );
    tcp.write_all(handshake.as_bytes()).await.unwrap();
    // Read (without answering) until the server closes the socket.
    let mut received = Vec::new();
    let mut buf = [0u8; 1024];
    within("the server to close a silent connection", async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 101"), "{text}");
    // Its close frame says why: 1001 (0x03 0xE9) and the reason.
    assert!(text.contains("no answer to pings"), "{text:?}");
}
