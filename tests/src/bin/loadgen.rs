//! Load generator: N WebSocket connections over C circles, posting at a
//! given rate, measuring delivery and acknowledgment latency, against a
//! Circles server or the `floor` broadcast server (same workload, so every
//! figure gets a ratio).
//!
//! cargo run --release -p circles-tests --bin loadgen -- --connections 1200 --circles 100 --rate 2000 --duration 20

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use std::sync::{Mutex, PoisonError};
use tokio_tungstenite::tungstenite::Message;

use circles_tests::bench::{Socket, call, connect, rss_kib};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Target {
    /// A Circles server: accounts, circles, durable posts.
    Circles,
    /// The `floor` broadcast server: no auth, no persistence.
    Floor,
}

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, default_value = "ws://127.0.0.1:7878/v1/ws")]
    url: String,
    #[arg(long, value_enum, default_value = "circles")]
    target: Target,
    /// Connections to open (each one subscribes to one circle).
    #[arg(long, default_value_t = 1200)]
    connections: usize,
    /// Circles the connections are spread over (members per circle = connections / circles).
    #[arg(long, default_value_t = 100)]
    circles: usize,
    /// Posts per second, over all circles; 0: each poster posts again as
    /// soon as its last post is acknowledged (closed loop, for throughput).
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Seconds of posting (after connecting).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Bytes of filler in each post body.
    #[arg(long, default_value_t = 100)]
    body_bytes: usize,
    /// The server's pid, to report its memory (RSS) per idle connection.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Names accounts and circles, so runs against one server do not collide.
    #[arg(long, default_value = "lg")]
    prefix: String,
    /// Write the results as JSON here too.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Seconds between progress lines.
    #[arg(long, default_value_t = 1)]
    progress_secs: u64,
    /// Write each progress interval as a JSON line here (latency and server
    /// memory over time, for soak runs).
    #[arg(long)]
    progress_json: Option<std::path::PathBuf>,
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    acked: AtomicU64,
    delivered: AtomicU64,
    errors: AtomicU64,
}

/// Latencies in µs.
struct Latencies {
    delivery: Histogram<u64>,
    ack: Histogram<u64>,
}

impl Latencies {
    fn new() -> Self {
        Latencies {
            delivery: histogram(),
            ack: histogram(),
        }
    }
}

struct Stats {
    counters: Counters,
    /// Each connection keeps its own latencies and merges them into both
    /// about once a second (no lock per delivery).
    total: Mutex<Latencies>,
    /// Since the last progress line.
    interval: Mutex<Latencies>,
}

impl Stats {
    /// Merges a connection's latencies and empties them.
    fn record(&self, delivery: &mut Vec<u64>, ack: &mut Vec<u64>) {
        for latencies in [&self.total, &self.interval] {
            let mut latencies = latencies.lock().unwrap_or_else(PoisonError::into_inner);
            for &micros in delivery.iter() {
                let _ = latencies.delivery.record(micros);
            }
            for &micros in ack.iter() {
                let _ = latencies.ack.record(micros);
            }
        }
        delivery.clear();
        ack.clear();
    }
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

fn histogram() -> Histogram<u64> {
    // 1 µs to 100 s, 3 significant digits.
    Histogram::new_with_bounds(1, 100_000_000, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!()))
}

/// Accounts (one per member slot, each a member of every circle) and circles.
async fn setup_circles(args: &Args, members: usize) -> anyhow::Result<Vec<String>> {
    let mut ws = connect(&args.url).await?;
    let mut tokens = Vec::new();
    let mut id = 0;
    for m in 0..members {
        id += 1;
        let handle = format!("{}-u{m}", args.prefix);
        let params = json!({"handle": handle, "password": "loadgen-password"});
        let result = match call(&mut ws, id, "auth.register", params.clone()).await {
            Ok(result) => result,
            Err(_) => call(&mut ws, id + 100_000, "auth.login", params).await?,
        };
        tokens.push(result["token"].as_str().unwrap_or_default().to_owned());
    }
    // Member 0 creates the circles; the others join them.
    let mut member_ws = Vec::new();
    for token in &tokens {
        let mut ws = connect(&args.url).await?;
        id += 1;
        call(&mut ws, id, "auth.token", json!({"token": token})).await?;
        member_ws.push(ws);
    }
    for c in 0..args.circles {
        let slug = format!("{}-c{c}", args.prefix);
        id += 1;
        let created = call(
            &mut member_ws[0],
            id,
            "circle.create",
            json!({"slug": slug, "name": slug, "max_members": members.max(2)}),
        )
        .await;
        if created.is_ok() {
            for ws in member_ws.iter_mut().skip(1) {
                id += 1;
                call(ws, id, "circle.join", json!({"circle": slug})).await?;
            }
        }
    }
    Ok(tokens)
}

/// Opens connection `i`, signs it in and subscribes it to its circle.
async fn open(args: &Args, tokens: &[String], members: usize, i: usize) -> anyhow::Result<Socket> {
    let mut ws = connect(&args.url).await?;
    let circle = format!("{}-c{}", args.prefix, (i / members) % args.circles);
    match args.target {
        Target::Circles => {
            call(
                &mut ws,
                1,
                "auth.token",
                json!({"token": tokens[i % members]}),
            )
            .await?;
            call(&mut ws, 2, "circle.subscribe", json!({"circle": circle})).await?;
        }
        Target::Floor => {
            ws.send(Message::text(json!({"room": circle}).to_string()))
                .await?;
        }
    }
    Ok(ws)
}

/// The `t=<micros>` a post body starts with.
fn sent_at(text: &str) -> Option<u64> {
    let start = text.find("t=")? + 2;
    let digits: String = text[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.circles == 0 || args.connections < args.circles {
        bail!("need at least one connection per circle");
    }
    let members = args.connections / args.circles;
    let stats = Arc::new(Stats {
        counters: Counters::default(),
        total: Mutex::new(Latencies::new()),
        interval: Mutex::new(Latencies::new()),
    });

    let tokens = match args.target {
        Target::Circles => {
            eprintln!("setup: {members} accounts, {} circles", args.circles);
            setup_circles(&args, members).await?
        }
        Target::Floor => Vec::new(),
    };

    let rss_before = args.server_pid.and_then(rss_kib);
    eprintln!("connecting {} connections…", args.connections);
    let mut sockets = Vec::with_capacity(args.connections);
    for i in 0..args.connections {
        sockets.push(
            open(&args, &tokens, members, i)
                .await
                .with_context(|| format!("connection {i}"))?,
        );
        if i % 1000 == 999 {
            eprintln!("  {} connected", i + 1);
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = args.server_pid.and_then(rss_kib);
    let per_connection = match (rss_before, rss_after) {
        (Some(before), Some(after)) => {
            Some((after.saturating_sub(before)) as f64 / args.connections as f64)
        }
        _ => None,
    };
    if let Some(kib) = per_connection {
        eprintln!("server memory per idle connection: {kib:.1} KiB");
    }

    // One poster per circle: the circle's first connection.
    let per_circle_interval =
        (args.rate > 0).then(|| Duration::from_secs_f64(args.circles as f64 / args.rate as f64));
    let stop_at = Instant::now() + Duration::from_secs(args.duration);
    let filler = "x".repeat(args.body_bytes);
    let mut tasks = Vec::new();
    for (i, ws) in sockets.into_iter().enumerate() {
        let stats = Arc::clone(&stats);
        let poster = i % members == 0;
        let circle = format!("{}-c{}", args.prefix, (i / members) % args.circles);
        let target = args.target;
        let filler = filler.clone();
        let phase = ((i / members) % args.circles) as f64 / args.circles as f64;
        tasks.push(tokio::spawn(async move {
            run_connection(
                ws,
                stats,
                poster,
                circle,
                target,
                per_circle_interval,
                stop_at,
                filler,
                phase,
            )
            .await
        }));
    }

    let started = Instant::now();
    let progress = tokio::spawn(progress(
        Arc::clone(&stats),
        started,
        args.progress_secs.max(1),
        args.server_pid,
        args.progress_json.clone(),
    ));
    for task in tasks {
        if let Ok(Err(err)) = task.await {
            eprintln!("connection error: {err:#}");
            stats.counters.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
    progress.abort();
    let elapsed = started.elapsed().as_secs_f64();
    report(&args, &stats, elapsed, per_connection).await
}

/// A line per interval on stderr (and as JSON with `--progress-json`):
/// counters, the interval's latencies and the server's memory.
async fn progress(
    stats: Arc<Stats>,
    started: Instant,
    every: u64,
    server_pid: Option<u32>,
    json: Option<std::path::PathBuf>,
) {
    use std::io::Write;
    let mut file = json.and_then(|path| std::fs::File::create(path).ok());
    let mut tick = tokio::time::interval(Duration::from_secs(every));
    tick.tick().await;
    let mut last = 0;
    loop {
        tick.tick().await;
        let delivered = stats.counters.delivered.load(Ordering::Relaxed);
        let interval = std::mem::replace(
            &mut *stats
                .interval
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
            Latencies::new(),
        );
        let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        let line = json!({
            "t_s": started.elapsed().as_secs(),
            "sent": stats.counters.sent.load(Ordering::Relaxed),
            "acked": stats.counters.acked.load(Ordering::Relaxed),
            "errors": stats.counters.errors.load(Ordering::Relaxed),
            "delivered_per_s": (delivered - last) as f64 / every as f64,
            "delivery_p50_ms": ms(&interval.delivery, 0.5),
            "delivery_p99_ms": ms(&interval.delivery, 0.99),
            "ack_p50_ms": ms(&interval.ack, 0.5),
            "ack_p99_ms": ms(&interval.ack, 0.99),
            "server_rss_kib": server_pid.and_then(rss_kib),
        });
        eprintln!(
            "  {:>4}s sent {} acked {} delivered/s {:.0} p99 {:.1} ms errors {}",
            line["t_s"],
            line["sent"],
            line["acked"],
            line["delivered_per_s"].as_f64().unwrap_or(0.0),
            line["delivery_p99_ms"].as_f64().unwrap_or(0.0),
            line["errors"],
        );
        if let Some(file) = file.as_mut() {
            let _ = writeln!(file, "{line}");
        }
        last = delivered;
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_connection(
    mut ws: Socket,
    stats: Arc<Stats>,
    poster: bool,
    circle: String,
    target: Target,
    interval: Option<Duration>,
    stop_at: Instant,
    filler: String,
    phase: f64,
) -> anyhow::Result<()> {
    // Posters start spread over one interval, so circles do not post in bursts.
    // Closed loop (no interval): post whenever nothing is in flight.
    let every = interval.unwrap_or(Duration::from_millis(1));
    let mut tick =
        tokio::time::interval_at(tokio::time::Instant::now() + every.mul_f64(phase), every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let closed_loop = interval.is_none();
    let mut next_id: u64 = 100;
    let mut in_flight: std::collections::HashMap<u64, u64> = std::collections::HashMap::new();
    // Keep reading for a little after the last post, for deliveries in flight.
    let drain_until = stop_at + Duration::from_secs(2);
    // Latencies in µs, kept locally and merged about once a second.
    let mut delivery: Vec<u64> = Vec::new();
    let mut ack: Vec<u64> = Vec::new();
    let mut merged_at = Instant::now();
    let result = loop {
        if merged_at.elapsed() >= Duration::from_secs(1) {
            stats.record(&mut delivery, &mut ack);
            merged_at = Instant::now();
        }
        let may_post = poster && Instant::now() < stop_at && (!closed_loop || in_flight.is_empty());
        tokio::select! {
            _ = tick.tick(), if may_post => {
                let t = now_micros();
                let body = format!("t={t} {filler}");
                let frame = match target {
                    Target::Circles => {
                        next_id += 1;
                        in_flight.insert(next_id, t);
                        json!({"jsonrpc":"2.0","id":next_id,"method":"post.note","params":{"circle":circle,"body":body}})
                    }
                    Target::Floor => json!({"room": circle, "body": body}),
                };
                if let Err(err) = ws.send(Message::text(frame.to_string())).await {
                    break Err(err.into());
                }
                stats.counters.sent.fetch_add(1, Ordering::Relaxed);
            }
            () = tokio::time::sleep_until(drain_until.into()) => break Ok(()),
            frame = ws.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(_)) => continue,
                    Some(Err(err)) => break Err(err.into()),
                    None => break Err(anyhow::anyhow!("server closed the connection")),
                };
                let now = now_micros();
                let is_event = match target {
                    Target::Circles => text.starts_with("{\"jsonrpc\":\"2.0\",\"method\":\"event\""),
                    Target::Floor => true,
                };
                if is_event {
                    if let Some(t) = sent_at(&text) {
                        stats.counters.delivered.fetch_add(1, Ordering::Relaxed);
                        delivery.push(now.saturating_sub(t).max(1));
                        if poster && target == Target::Floor {
                            stats.counters.acked.fetch_add(1, Ordering::Relaxed);
                            ack.push(now.saturating_sub(t).max(1));
                        }
                    }
                } else if let Ok(value) = serde_json::from_str::<Value>(&text) {
                    if value.get("error").is_some() {
                        stats.counters.errors.fetch_add(1, Ordering::Relaxed);
                        eprintln!("error: {}", value["error"]);
                    }
                    if let Some(t) = value["id"].as_u64().and_then(|id| in_flight.remove(&id)) {
                        stats.counters.acked.fetch_add(1, Ordering::Relaxed);
                        ack.push(now.saturating_sub(t).max(1));
                    }
                }
            }
        }
    };
    stats.record(&mut delivery, &mut ack);
    result
}

async fn report(
    args: &Args,
    stats: &Stats,
    elapsed: f64,
    per_connection: Option<f64>,
) -> anyhow::Result<()> {
    let total = stats.total.lock().unwrap_or_else(PoisonError::into_inner);
    let (delivery, ack) = (&total.delivery, &total.ack);
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let counters = &stats.counters;
    let delivered = counters.delivered.load(Ordering::Relaxed);
    let acked = counters.acked.load(Ordering::Relaxed);
    let posting_secs = args.duration as f64;
    let result = json!({
        "target": format!("{:?}", args.target).to_lowercase(),
        "connections": args.connections,
        "circles": args.circles,
        "members_per_circle": args.connections / args.circles,
        "rate_requested": args.rate,
        "posts_sent": counters.sent.load(Ordering::Relaxed),
        "posts_acked": acked,
        "acked_per_s": acked as f64 / posting_secs,
        "errors": counters.errors.load(Ordering::Relaxed),
        "delivered": delivered,
        "delivered_per_s": delivered as f64 / posting_secs,
        "server_kib_per_idle_connection": per_connection,
        "delivery_ms": {"p50": ms(delivery, 0.5), "p99": ms(delivery, 0.99), "p999": ms(delivery, 0.999), "max": delivery.max() as f64 / 1000.0},
        "ack_ms": {"p50": ms(ack, 0.5), "p99": ms(ack, 0.99), "p999": ms(ack, 0.999)},
        "elapsed_s": elapsed,
    });
    println!("| figure | value |\n|---|---|");
    for (key, value) in result.as_object().into_iter().flatten() {
        println!("| {key} | {value} |");
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&result)?)?;
    }
    Ok(())
}
