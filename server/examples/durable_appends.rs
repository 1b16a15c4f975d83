//! How many durable appends per second the store takes, and at what latency:
//! `W` writers each append to a circle of their own and wait for the durable
//! point (sled flush + fdatasync, shared by group commit, or one per append
//! with `per-write`).
//!
//! cargo run --release -p circles-server --example durable_appends -- [WRITERS] [SECONDS] [group|per-write]

use std::sync::Arc;
use std::time::{Duration, Instant};

use circles_protocol::model::Visibility;
use circles_server::store::{Append, CircleRecord, CommitMode, Store, StoreOptions};
use uuid::Uuid;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let writers: usize = args.next().map_or(Ok(64), |a| a.parse())?;
    let seconds: u64 = args.next().map_or(Ok(5), |a| a.parse())?;
    let commit = match args.next().as_deref() {
        None | Some("group") => CommitMode::Group,
        Some("per-write") => CommitMode::PerWrite,
        Some(other) => anyhow::bail!("unknown commit mode {other:?}: group or per-write"),
    };
    let dir = tempfile::tempdir()?;
    let options = StoreOptions {
        commit,
        ..StoreOptions::default()
    };
    let store = Arc::new(Store::open_with(dir.path(), options)?);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let body = vec![b'x'; 200];

    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = Arc::clone(&store);
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let circle = CircleRecord {
                id: Uuid::now_v7(),
                slug: format!("bench-{w}"),
                name: "bench".into(),
                purpose: String::new(),
                visibility: Visibility::Public,
                max_members: 12,
                created_by: "bench".into(),
                created_at: 0,
            };
            store.create_circle(&circle, &body)?.durable().await?;
            let mut latencies = Vec::new();
            let mut seq = 1;
            while Instant::now() < deadline {
                seq += 1;
                let began = Instant::now();
                let append = Append {
                    seq,
                    event_json: &body,
                    ..Append::default()
                };
                store.append(circle.id, &append)?.durable().await?;
                latencies.push(began.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "writers {writers}, {commit:?} commit: {} durable appends in {seconds}s = {:.0}/s; latency p50 {:?} p99 {:?}",
        latencies.len(),
        latencies.len() as f64 / seconds as f64,
        pct(0.5),
        pct(0.99)
    );
    Ok(())
}
