//! Group commit: one flush serves every write that arrived while the last
//! one ran, so durability does not cost one fsync per post.
//!
//! sled's `flush()` writes its buffers with `pwrite` + `sync_file_range` but
//! does not fsync (only its background thread does, every `flush_every_ms`),
//! so after each flush we `fdatasync` sled's data file ourselves: fsync works
//! per inode, so our own handle on the file serves. That pair is the store's
//! durable point.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::Instant;

use tokio::sync::watch;

use super::{StoreError, StoreResult};
use crate::metrics::DurablePoints;

/// A durable point slower than this is logged: posts wait on it.
const SLOW_DURABLE_POINT: std::time::Duration = std::time::Duration::from_millis(100);

/// How writes share durable points.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CommitMode {
    /// One flush serves every write that arrived while the last one ran.
    #[default]
    Group,
    /// One flush per write, one after another: only to measure what group
    /// commit buys.
    PerWrite,
}

/// Hands out tickets and runs flushes on a thread of its own (flushes block).
#[derive(Debug)]
pub struct GroupCommit {
    shared: Arc<Shared>,
    done: watch::Receiver<Flushed>,
    /// Joined on drop, so sled's lock is released when the store is.
    thread: Option<thread::JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    mode: CommitMode,
    // A std Mutex: held for a few instructions, never across an await.
    state: Mutex<State>,
    wake: Condvar,
    durable: DurablePoints,
}

#[derive(Debug, Default)]
struct State {
    /// The highest ticket handed out.
    requested: u64,
    /// The ticket of the flush running or last run.
    started: u64,
    /// Tickets handed out since the last flush started (one per write).
    waiting: u64,
    stopping: bool,
}

/// What the flush thread publishes after each flush.
#[derive(Clone, Debug, Default)]
struct Flushed {
    /// Every ticket up to this one is durable.
    ticket: u64,
    /// Flushes done so far.
    flushes: u64,
    /// Set once a flush failed: nothing after it can be promised.
    failure: Option<Arc<str>>,
}

/// A write's claim on a flush that starts after the write.
#[derive(Debug)]
#[must_use = "a write is durable only once its ticket is awaited"]
pub struct Ticket {
    ticket: u64,
    done: watch::Receiver<Flushed>,
}

impl Ticket {
    /// Resolves once a flush that covers the write has finished.
    pub async fn durable(mut self) -> StoreResult<()> {
        let ticket = self.ticket;
        let flushed = self
            .done
            .wait_for(|f| f.ticket >= ticket || f.failure.is_some())
            .await
            .map_err(|_| StoreError::Closed)?;
        match &flushed.failure {
            Some(reason) if flushed.ticket < ticket => Err(StoreError::Flush(reason.to_string())),
            _ => Ok(()),
        }
    }
}

/// Starts the flush thread for `db`, fdatasyncing `data_file` after each flush.
pub fn spawn(
    db: sled::Db,
    data_file: File,
    blob_dir: PathBuf,
    mode: CommitMode,
) -> StoreResult<GroupCommit> {
    let shared = Arc::new(Shared {
        mode,
        state: Mutex::new(State::default()),
        wake: Condvar::new(),
        durable: DurablePoints::default(),
    });
    let (tx, done) = watch::channel(Flushed::default());
    let thread_shared = Arc::clone(&shared);
    let thread = thread::Builder::new()
        .name("circles-flush".into())
        .spawn(move || {
            let blobs = BlobSync {
                dir: blob_dir,
                synced: HashSet::new(),
            };
            flush_loop(&thread_shared, &db, &data_file, blobs, &tx)
        })
        .map_err(StoreError::Io)?;
    Ok(GroupCommit {
        shared,
        done,
        thread: Some(thread),
    })
}

impl GroupCommit {
    /// Why durability failed, once it has (it does not recover: restart).
    pub fn failure(&self) -> Option<Arc<str>> {
        self.done.borrow().failure.clone()
    }

    /// Flushes done so far.
    pub fn flushes(&self) -> u64 {
        self.done.borrow().flushes
    }

    /// Latency and batch sizes of the durable points so far.
    pub fn durable_points(&self) -> &DurablePoints {
        &self.shared.durable
    }

    /// Call after a write: the ticket resolves once the write is durable.
    pub fn ticket(&self) -> Ticket {
        let mut state = self
            .shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let ticket = match self.shared.mode {
            // The running flush may have started before this write: take the next one.
            CommitMode::Group => state.started + 1,
            // A flush of its own, after every one already asked for.
            CommitMode::PerWrite => state.requested + 1,
        };
        state.requested = state.requested.max(ticket);
        state.waiting += 1;
        drop(state);
        self.shared.wake.notify_one();
        Ticket {
            ticket,
            done: self.done.clone(),
        }
    }

    /// Asks the flush thread to finish what was requested and stop.
    pub fn stop(&self) {
        let mut state = self
            .shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        state.stopping = true;
        drop(state);
        self.shared.wake.notify_one();
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        self.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn flush_loop(
    shared: &Shared,
    db: &sled::Db,
    data_file: &File,
    mut blobs: BlobSync,
    done: &watch::Sender<Flushed>,
) {
    loop {
        let (ticket, batch) = {
            let mut state = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
            while state.requested <= state.started && !state.stopping {
                state = shared
                    .wake
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if state.requested <= state.started {
                return; // stopping, and nothing is waiting
            }
            // Group: every write so far has a ticket this flush covers.
            let batch = match shared.mode {
                CommitMode::Group => state.waiting,
                CommitMode::PerWrite => 1,
            };
            state.waiting = state.waiting.saturating_sub(batch);
            state.started = match shared.mode {
                CommitMode::Group => state.requested,
                CommitMode::PerWrite => state.started + 1,
            };
            (state.started, batch)
        };
        let began = Instant::now();
        let mut flushed = began;
        let result = db
            .flush()
            .map_err(|e| e.to_string())
            .and_then(|_| {
                flushed = Instant::now();
                data_file.sync_data().map_err(|e| e.to_string())
            })
            .and_then(|()| blobs.sync_new().map_err(|e| e.to_string()));
        match result {
            Ok(()) => {
                let elapsed = began.elapsed();
                shared.durable.flush.observe_duration(elapsed);
                shared.durable.batch.observe(batch);
                if elapsed >= SLOW_DURABLE_POINT {
                    tracing::warn!(
                        flush = ?(flushed - began),
                        sync = ?(began + elapsed - flushed),
                        "slow durable point: every post waiting on it waited as long"
                    );
                }
                tracing::trace!(ticket, ?elapsed, "group commit");
                done.send_modify(|f| {
                    f.ticket = ticket;
                    f.flushes += 1;
                });
            }
            Err(reason) => {
                tracing::error!(%reason, "flush failed: the store can no longer promise durability");
                done.send_modify(|f| f.failure = Some(reason.into()));
                return;
            }
        }
    }
}

/// sled writes log items too big for a segment to files of their own under
/// `blobs/`, and never syncs them. Each is synced once, after the flush that
/// wrote it, with the directory that names it.
#[derive(Debug)]
struct BlobSync {
    dir: PathBuf,
    synced: HashSet<OsString>,
}

impl BlobSync {
    fn sync_new(&mut self) -> std::io::Result<()> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut present = HashSet::new();
        let mut new = false;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            if !self.synced.contains(&name) {
                match File::open(entry.path()) {
                    Ok(file) => file.sync_all()?,
                    // Garbage-collected by sled in the meantime.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
                new = true;
            }
            present.insert(name);
        }
        if new {
            File::open(&self.dir)?.sync_all()?;
        }
        self.synced = present;
        Ok(())
    }
}
