//! Hostile clients: connections that stall the handshake, one address that
//! opens too many sessions, and a connection that floods requests. Each is
//! cut off or refused with the documented answer while an ordinary peer on
//! the same server keeps being served.

use std::time::Duration;

use circles_protocol::ErrorKind;
use circles_protocol::methods as m;
use circles_tests::*;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads from a raw TCP connection until the server closes it; returns what it sent.
async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut seen = Vec::new();
    within("the server to drop a stalled connection", async {
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_stall_the_handshake_are_dropped() {
    let server = TestServer::start_with(|c| c.handshake_timeout = Duration::from_secs(1)).await;
    // One says nothing at all, one stops halfway through its request head.
    let mut silent = TcpStream::connect(server.addr).await.expect("connect");
    let mut halfway = TcpStream::connect(server.addr).await.expect("connect");
    halfway
        .write_all(b"GET /v1/ws HTTP/1.1\r\nHost: circles\r\nUpgrade: websocket\r\n")
        .await
        .expect("write a partial request head");

    // Meanwhile an ordinary peer is served.
    let mut ana = server.register(&unique_handle("ana")).await;
    ana.create_circle("stalls").await;
    ana.note("stalls", "still here").await;

    read_to_close(&mut silent).await;
    let answer = read_to_close(&mut halfway).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "a stalled request head gets nothing or 408, not {answer:?}"
    );
    ana.note("stalls", "and still here").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_gets_a_limited_number_of_sessions() {
    let server = TestServer::start_with(|c| c.max_sessions_per_ip = 3).await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(server.connect().await);
    }
    let refused = tokio_tungstenite::connect_async(server.url()).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429);
            let body = response.body().as_deref().unwrap_or_default();
            let body = String::from_utf8_lossy(body);
            assert!(body.contains("too many connections"), "{body}");
        }
        other => panic!("a fourth session from one address must get 429, got {other:?}"),
    }

    // A closed session frees its place (the server notices the close on its
    // own time: retry until it has, within the usual bound).
    if let Some(first) = open.pop() {
        first.close().await;
    }
    let admitted = within("a freed place to be given again", async {
        loop {
            if let Ok((ws, _)) = tokio_tungstenite::connect_async(server.url()).await {
                break ws;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    drop(admitted);
    // The sessions that stayed are still served.
    for client in &mut open {
        let answer = client.request_no_params("circle.list").await;
        assert_eq!(error_of(&answer).kind(), ErrorKind::Unauthenticated);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_refused_with_retry_after_then_cut_off_with_1008() {
    const BURST: u32 = 20;
    let server = TestServer::start_with(|c| {
        c.requests_per_sec = 5;
        c.request_burst = BURST;
    })
    .await;
    let mut ana = server.register(&unique_handle("ana")).await;
    ana.create_circle("flood").await;
    let mut bo = server.register(&unique_handle("bo")).await;
    bo.join("flood").await;

    // Hundreds of posts without waiting for a single answer.
    let mut flooder = Client::with_token(server.addr, &ana.token).await;
    for i in 0..400 {
        let frame = json!({"jsonrpc": "2.0", "id": 10_000 + i, "method": "post.note",
            "params": {"circle": "flood", "body": format!("flood {i}")}});
        if flooder.try_send_text(frame.to_string()).await.is_err() {
            break; // already cut off
        }
    }
    let (close, texts) = flooder.read_until_closed().await;
    let (code, reason) = close.expect("a close frame");
    assert_eq!(code, 1008, "{reason}");
    assert!(reason.contains("too many requests"), "{reason}");

    let mut accepted = 0;
    let mut limited = 0;
    for text in &texts {
        let answer: serde_json::Value = serde_json::from_str(text).expect("JSON answers");
        if answer.get("result").is_some() {
            accepted += 1;
        } else if answer.get("error").is_some() {
            let error = error_of(&answer);
            assert_eq!(error.kind(), ErrorKind::RateLimited, "{answer}");
            let retry = error.data.as_ref().and_then(|d| d.retry_after_ms);
            assert!(retry.is_some_and(|ms| ms > 0), "retry_after_ms in {answer}");
            limited += 1;
        }
    }
    // The burst (less the sign-in), plus what the bucket refilled meanwhile.
    assert!(accepted >= BURST - 1, "{accepted} accepted");
    assert!(accepted < 400 - 100, "{accepted} accepted of 400");
    assert!(limited >= 1, "refusals came before the close");

    // The account is not punished, and the circle's other member was served throughout.
    let event = bo.note("flood", "business as usual").await;
    let mut again = Client::with_token(server.addr, &ana.token).await;
    let history = again.history_all("flood").await;
    assert_eq!(history.last().map(|e| e.seq), Some(event.seq));
    assert_eq!(
        history.len() as u32,
        2 + accepted + 1,
        "the creator's join, bo's join, every accepted post and bo's note"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_honours_retry_after_is_never_cut_off() {
    const BURST: u32 = 5;
    let server = TestServer::start_with(|c| {
        c.requests_per_sec = 50;
        c.request_burst = BURST;
    })
    .await;
    let mut ana = server.register(&unique_handle("ana")).await;
    ana.create_circle("patient").await;
    let mut posted = 0;
    let mut refusals = 0;
    while posted < 30 {
        let note = m::NewNote {
            circle: "patient".into(),
            body: format!("patient {posted}"),
        };
        match ana.call::<m::PostNote>(note).await {
            Ok(_) => posted += 1,
            Err(error) => {
                assert_eq!(error.kind(), ErrorKind::RateLimited, "{error}");
                refusals += 1;
                let ms = error.data.and_then(|d| d.retry_after_ms).unwrap_or(1);
                // What the server asked for: the protocol's backoff, not a guess.
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
        }
    }
    assert!(refusals > 0, "30 posts in a row exceed a burst of {BURST}");
    // The budget is the connection's: a fresh one reads at once.
    let mut reader = Client::with_token(server.addr, &ana.token).await;
    assert_eq!(reader.history_all("patient").await.len(), 31);
}
