//! Search under load: writers fill public circles with problems and
//! critiques (closed loop), then one reader searches. Reports what a problem
//! costs to post (its answer lists similar problems) against a critique,
//! how far the index lags the last acknowledged post, and query latency.
//!
//! cargo run --release -p circles-tests --bin searchbench -- --posts 20000 --writers 16

use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use hdrhistogram::Histogram;
use serde_json::{Value, json};

use circles_tests::bench::{Socket, call, connect, rss_kib};

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, default_value = "ws://127.0.0.1:7878/v1/ws")]
    url: String,
    /// Posts in all: each problem gets three critiques.
    #[arg(long, default_value_t = 20_000)]
    posts: usize,
    /// Writers, each in a circle of its own, posting as fast as acknowledged.
    #[arg(long, default_value_t = 16)]
    writers: usize,
    /// Searches the reader makes, one after another.
    #[arg(long, default_value_t = 1_000)]
    queries: usize,
    /// Names accounts and circles, so runs against one server do not collide.
    #[arg(long, default_value = "sb")]
    prefix: String,
    /// The server's pid, to report its memory (RSS) before and after.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Only fill the circles (no searches): to compare with a server that
    /// has no search, for what indexing costs the writers.
    #[arg(long)]
    fill_only: bool,
}

/// A small deterministic generator (xorshift64*): the same words every run.
struct Words(u64);

impl Words {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A made-up word; low numbers far more often (roughly Zipf), as in text.
    fn word(&mut self) -> String {
        const SYLLABLES: [&str; 16] = [
            "ka", "lo", "mi", "ne", "ru", "ta", "vi", "so", "pe", "du", "ga", "hi", "jo", "be",
            "fu", "ze",
        ];
        let rank = 1 + (self.next() % 4000) * (self.next() % 4000) / 4000;
        let mut n = rank as usize;
        let mut word = String::new();
        loop {
            word.push_str(SYLLABLES[n % 16]);
            n /= 16;
            if n == 0 {
                break;
            }
        }
        word
    }

    fn text(&mut self, words: usize) -> String {
        (0..words)
            .map(|_| self.word())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds")
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

async fn signed_in(url: &str, handle: &str) -> anyhow::Result<Socket> {
    let mut ws = connect(url).await?;
    let params = json!({"handle": handle, "password": "correct horse battery staple"});
    call(&mut ws, 1, "auth.register", params).await?;
    Ok(ws)
}

/// One writer: a circle of its own, `posts` posts; returns the ack latency
/// of its problems and of its critiques (µs).
async fn write(
    url: String,
    prefix: String,
    n: usize,
    posts: usize,
) -> anyhow::Result<(Histogram<u64>, Histogram<u64>)> {
    let mut ws = signed_in(&url, &format!("{prefix}w{n}")).await?;
    let circle = format!("{prefix}-c{n}");
    call(
        &mut ws,
        2,
        "circle.create",
        json!({"slug": circle, "name": circle, "max_members": 2}),
    )
    .await?;
    let mut words = Words(0x9E37_79B9_7F4A_7C15 ^ (n as u64 + 1));
    let (mut problems, mut critiques) = (histogram(), histogram());
    let mut problem = Value::Null;
    for i in 0..posts {
        let id = 10 + i as u64;
        let started = Instant::now();
        if i % 4 == 0 {
            let params = json!({"circle": circle, "title": words.text(6), "body": words.text(60)});
            let result = call(&mut ws, id, "post.problem", params).await?;
            problem = result["event"]["id"].clone();
            problems.record(started.elapsed().as_micros() as u64)?;
        } else {
            let params = json!({"circle": circle, "problem": problem, "body": words.text(40)});
            call(&mut ws, id, "post.critique", params).await?;
            critiques.record(started.elapsed().as_micros() as u64)?;
        }
    }
    Ok((problems, critiques))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rss_before = args.server_pid.and_then(rss_kib);
    let per_writer = args.posts / args.writers;
    let started = Instant::now();
    let mut writers = Vec::new();
    for n in 0..args.writers {
        writers.push(tokio::spawn(write(
            args.url.clone(),
            args.prefix.clone(),
            n,
            per_writer,
        )));
    }
    let (mut problems, mut critiques) = (histogram(), histogram());
    for writer in writers {
        let (p, c) = writer.await.context("a writer panicked")??;
        problems.add(p)?;
        critiques.add(c)?;
    }
    let filled = started.elapsed();
    let posted = per_writer * args.writers;
    let fill = json!({
        "posts": posted,
        "fill_secs": filled.as_secs_f64(),
        "posts_per_sec": posted as f64 / filled.as_secs_f64(),
        "problem_ack_ms": {"p50": ms(&problems, 0.5), "p99": ms(&problems, 0.99)},
        "critique_ack_ms": {"p50": ms(&critiques, 0.5), "p99": ms(&critiques, 0.99)},
        "rss_kib": {"before": rss_before, "after": args.server_pid.and_then(rss_kib)},
    });
    if args.fill_only {
        println!("{}", serde_json::to_string_pretty(&fill)?);
        return Ok(());
    }

    // The last post is acknowledged: how long until a search finds it?
    let mut reader = signed_in(&args.url, &format!("{}r", args.prefix)).await?;
    let marker = format!("zzmarker{}", args.prefix);
    let circle = format!("{}-c0", args.prefix);
    let params = json!({"circle": circle, "title": marker, "body": ""});
    call(&mut reader, 2, "circle.join", json!({"circle": circle})).await?;
    call(&mut reader, 3, "post.problem", params).await?;
    let asked = Instant::now();
    let found = call(&mut reader, 4, "search", json!({"query": marker})).await?;
    let lag = asked.elapsed();
    anyhow::ensure!(
        found["hits"].as_array().map(Vec::len) == Some(1),
        "the marker was not found: {found}"
    );

    let mut words = Words(42);
    let mut queries = histogram();
    let mut hits = 0;
    for q in 0..args.queries {
        let query = words.text(1 + q % 3);
        let asked = Instant::now();
        let result = call(
            &mut reader,
            100 + q as u64,
            "search",
            json!({"query": query}),
        )
        .await?;
        queries.record(asked.elapsed().as_micros() as u64)?;
        hits += result["hits"].as_array().map_or(0, Vec::len);
    }
    let rss_after = args.server_pid.and_then(rss_kib);

    let result = json!({
        "fill": fill,
        "search_after_post_ms": lag.as_secs_f64() * 1000.0,
        "query_ms": {"p50": ms(&queries, 0.5), "p99": ms(&queries, 0.99)},
        "hits_per_query": hits as f64 / args.queries.max(1) as f64,
        "rss_kib_after_queries": rss_after,
    });
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(())
}
