//! Hostile clients against a running Circles server, while a probe measures
//! what an ordinary peer sees: connections that stall the handshake,
//! subscribers that never read a busy circle (200 posts/s of 4 KB), and connections that flood
//! requests (and reconnect to flood again when cut off). Reports the
//! server's memory before, at its peak during and after the attack, the
//! probe's acknowledgment latency before and during it, and the close codes
//! the offenders got.
//!
//! cargo run --release -p circles-tests --bin hostile -- --url ws://127.0.0.1:7878/v1/ws --server-pid PID

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;

use circles_tests::bench::{Socket, call, connect, rss_kib};

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, default_value = "ws://127.0.0.1:7878/v1/ws")]
    url: String,
    /// The server's pid, to follow its memory (RSS).
    #[arg(long)]
    server_pid: Option<u32>,
    /// TCP connections that send half a request head and stall.
    #[arg(long, default_value_t = 2000)]
    stalled: usize,
    /// Subscribers of the busy circle that never read (with its posters,
    /// within the circle's 50 members).
    #[arg(long, default_value_t = 40)]
    never_read: usize,
    /// Connections that send requests as fast as they can without reading.
    #[arg(long, default_value_t = 20)]
    flooders: usize,
    /// What the flooders send, as fast as they can.
    #[arg(long, default_value = "circle.list")]
    flood_method: String,
    /// Posts per second into the busy circle (4 KB each).
    #[arg(long, default_value_t = 200)]
    busy_rate: u64,
    /// Seconds of attack (after a quiet measurement of the same length).
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// Names accounts and circles, so runs against one server do not collide.
    #[arg(long, default_value = "hostile")]
    prefix: String,
}

/// A connection signed in as a new account `handle`, and its token.
async fn register(url: &str, handle: &str) -> anyhow::Result<(Socket, String)> {
    let mut ws = connect(url).await?;
    let params = json!({"handle": handle, "password": "hostile-password"});
    let result = match call(&mut ws, 1, "auth.register", params.clone()).await {
        Ok(result) => result,
        Err(_) => call(&mut ws, 2, "auth.login", params).await?,
    };
    let token = result["token"].as_str().unwrap_or_default().to_owned();
    Ok((ws, token))
}

async fn signed_in(url: &str, handle: &str) -> anyhow::Result<Socket> {
    Ok(register(url, handle).await?.0)
}

/// Ack latencies of one post every 20 ms into the probe's own circle, until `stop`.
async fn probe(ws: &mut Socket, circle: &str, until: Instant) -> anyhow::Result<Vec<f64>> {
    let mut latencies = Vec::new();
    let mut id = 1000;
    while Instant::now() < until {
        id += 1;
        let began = Instant::now();
        call(
            ws,
            id,
            "post.note",
            json!({"circle": circle, "body": "probe"}),
        )
        .await?;
        latencies.push(began.elapsed().as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    latencies.sort_by(f64::total_cmp);
    Ok(latencies)
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

/// How the server ended a connection: its close code, or how it dropped.
fn ending(frame: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>) -> String {
    match frame {
        Some(Ok(Message::Close(Some(close)))) => u16::from(close.code).to_string(),
        Some(Ok(Message::Close(None))) => "close without code".into(),
        Some(Err(err)) => format!("error: {err}"),
        None => "dropped".into(),
        Some(Ok(_)) => "open".into(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let p = &args.prefix;
    let attack = Duration::from_secs(args.seconds);

    // The ordinary peer, the busy circle and its owner.
    let mut prober = signed_in(&args.url, &format!("{p}-probe")).await?;
    let probe_circle = format!("{p}-probe");
    let _ = call(
        &mut prober,
        3,
        "circle.create",
        json!({"slug": probe_circle, "name": "probe"}),
    )
    .await;
    let mut owner = signed_in(&args.url, &format!("{p}-busy")).await?;
    let busy_circle = format!("{p}-busy");
    let _ = call(
        &mut owner,
        3,
        "circle.create",
        json!({"slug": busy_circle, "name": "busy", "max_members": 50}),
    )
    .await;

    eprintln!("quiet: probing for {} s", args.seconds);
    let rss_before = args.server_pid.and_then(rss_kib);
    let quiet = probe(&mut prober, &probe_circle, Instant::now() + attack).await?;

    eprintln!(
        "attack: {} stalled handshakes, {} never-reading subscribers, {} flooders",
        args.stalled, args.never_read, args.flooders
    );
    let endings: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let host = args
        .url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .unwrap_or("127.0.0.1:7878")
        .to_owned();
    let mut stalled = Vec::new();
    for _ in 0..args.stalled {
        let mut tcp = TcpStream::connect(&host).await?;
        tcp.write_all(b"GET /v1/ws HTTP/1.1\r\nHost: circles\r\n")
            .await?;
        stalled.push(tcp);
    }
    let mut never_readers = Vec::new();
    for i in 0..args.never_read {
        let mut ws = signed_in(&args.url, &format!("{p}-nr{i}")).await?;
        let _ = call(&mut ws, 3, "circle.join", json!({"circle": busy_circle})).await;
        call(
            &mut ws,
            4,
            "circle.subscribe",
            json!({"circle": busy_circle}),
        )
        .await?;
        never_readers.push(ws); // and never read again
    }
    let floods = AtomicU64::new(0);
    let floods = Arc::new(floods);
    let mut tasks = Vec::new();
    for i in 0..args.flooders {
        let (url, handle, stop, endings, floods) = (
            args.url.clone(),
            format!("{p}-fl{i}"),
            Arc::clone(&stop),
            Arc::clone(&endings),
            Arc::clone(&floods),
        );
        let (first, token) = register(&args.url, &handle).await?;
        drop(first);
        let method = args.flood_method.clone();
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                // Back with its token (cheap for the server, unlike a password).
                let Ok(mut ws) = connect(&url).await else {
                    continue;
                };
                if call(&mut ws, 1, "auth.token", json!({"token": token}))
                    .await
                    .is_err()
                {
                    continue;
                }
                floods.fetch_add(1, Ordering::Relaxed);
                let frame = json!({"jsonrpc":"2.0","id":7,"method":method}).to_string();
                // Send without reading until the server ends it.
                let end = loop {
                    if stop.load(Ordering::Relaxed) {
                        break None;
                    }
                    if ws.send(Message::text(frame.clone())).await.is_err() {
                        // Read what the server said last.
                        let mut last = None;
                        while let Ok(Some(msg)) =
                            tokio::time::timeout(Duration::from_secs(2), ws.next()).await
                        {
                            let is_close = matches!(msg, Ok(Message::Close(_)));
                            last = Some(msg);
                            if is_close {
                                break;
                            }
                        }
                        break Some(ending(last));
                    }
                };
                if let Some(end) = end {
                    *endings
                        .lock()
                        .await
                        .entry(format!("flooder: {end}"))
                        .or_default() += 1;
                }
            }
        }));
    }
    // The busy circle gets posts fast enough to fill never-readers' queues.
    // Spread over connections of 40 posts/s each, within the default per-connection rate.
    let busy_connections = args.busy_rate.div_ceil(40).max(1);
    let mut busy_tasks = Vec::new();
    for i in 0..busy_connections {
        let mut ws = signed_in(&args.url, &format!("{p}-busy{i}")).await?;
        let _ = call(&mut ws, 3, "circle.join", json!({"circle": busy_circle})).await;
        let (stop, circle) = (Arc::clone(&stop), busy_circle.clone());
        let every = Duration::from_secs_f64(busy_connections as f64 / args.busy_rate.max(1) as f64);
        busy_tasks.push(tokio::spawn(async move {
            let mut id = 100;
            let body = "x".repeat(4000);
            let mut tick = tokio::time::interval(every);
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                id += 1;
                let note = json!({"circle": circle, "body": body});
                if let Err(err) = call(&mut ws, id, "post.note", note).await {
                    eprintln!("busy poster: {err:#}");
                    break;
                }
            }
        }));
    }
    let peak = Arc::new(AtomicU64::new(0));
    let watcher = {
        let (stop, peak, pid) = (Arc::clone(&stop), Arc::clone(&peak), args.server_pid);
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if let Some(kib) = pid.and_then(rss_kib) {
                    peak.fetch_max(kib, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let loud = probe(&mut prober, &probe_circle, Instant::now() + attack).await?;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    for task in busy_tasks {
        let _ = task.await;
    }
    let _ = watcher.await;

    // What became of the stalled and never-reading connections.
    let mut endings = endings.lock().await.clone();
    for mut tcp in stalled {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 256];
        let end = match tokio::time::timeout(Duration::from_millis(200), tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => "dropped",
            Ok(Ok(_)) => "answered",
            Err(_) => "still open",
        };
        *endings
            .entry(format!("stalled handshake: {end}"))
            .or_default() += 1;
    }
    for mut ws in never_readers {
        let mut last = None;
        // Skip the backlog it never read, to the close (if any).
        while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(500), ws.next()).await
        {
            let is_close = matches!(msg, Ok(Message::Close(_)));
            last = Some(msg);
            if is_close {
                break;
            }
        }
        *endings
            .entry(format!("never-reading subscriber: {}", ending(last)))
            .or_default() += 1;
    }
    let rss_after = args.server_pid.and_then(rss_kib);

    println!("| figure | quiet | under attack |\n|---|---|---|");
    println!(
        "| probe ack p50 ms | {:.2} | {:.2} |",
        quantile(&quiet, 0.5),
        quantile(&loud, 0.5)
    );
    println!(
        "| probe ack p99 ms | {:.2} | {:.2} |",
        quantile(&quiet, 0.99),
        quantile(&loud, 0.99)
    );
    println!("| probe posts | {} | {} |", quiet.len(), loud.len());
    let mib = |k: Option<u64>| k.map_or("?".into(), |k| format!("{:.1}", k as f64 / 1024.0));
    println!(
        "| server RSS MiB | {} (before) | {} (peak); {} (after) |",
        mib(rss_before),
        mib(Some(peak.load(Ordering::Relaxed)).filter(|&k| k > 0)),
        mib(rss_after)
    );
    println!(
        "\nflood connections opened: {}",
        floods.load(Ordering::Relaxed)
    );
    for (what, n) in endings {
        println!("- {what}: {n}");
    }
    Ok(())
}
