//! Online backup and restore: [`Store::dump`] writes a snapshot of a store
//! that a server may be writing to at the same time, and [`restore`] turns
//! such a snapshot into a fresh data directory.
//!
//! # The format (`circles-backup`, version 1)
//!
//! UTF-8 text, one JSON object per line:
//!
//! 1. a header: `{"format":"circles-backup","version":1,"schema_version":1,"created_at":<ms>}`;
//! 2. one line per record: `{"tree":"handle_account","key":"ana","value":"{…}"}`. A key
//!    or value that is valid UTF-8 is written as a JSON string (`key`, `value`), any
//!    other as lowercase hex (`key_hex`, `value_hex`), so every byte comes back as it
//!    was. Trees come in the order of [`Store::backup_trees`]; each circle's record
//!    (`circleid_circle`) is followed by its whole log (`circleid_seq_event`), seq 1, 2, 3…;
//! 3. a trailer: `{"end":{"records":N,"trees":{"<tree>":<count>,…},"sha256":"<hex>"}}`,
//!    where the checksum is SHA-256 over every byte before the trailer (header and
//!    records, newlines included).
//!
//! Derived trees (slugs, both membership indexes, tokens by handle) are not in the
//! file: [`restore`] rebuilds them, membership by folding each restored log with
//! [`CircleState`], the same fold a circle task loads with.
//!
//! # What a snapshot taken while the server runs guarantees
//!
//! sled has no snapshots: every read sees the store as it is at that moment. So:
//!
//! - **Each circle's log is a contiguous prefix `1..=h` of that circle's log**, where
//!   `h` is its head at the moment the dump reached the circle: every event acknowledged
//!   before the dump started is in it; events appended while the dump runs may or may not
//!   be. An event the server had written but not yet acknowledged (its flush was still
//!   running) can be in the snapshot: it was in the log, and is acknowledged unless that
//!   flush then fails.
//! - One exception, on the side of privacy: a post retracted *while the dump runs*, by a
//!   retraction after `h`, may already have lost its text in the snapshot (a retraction
//!   rewrites earlier events in place). Restore then treats the post as retracted in
//!   full (its own event and its edits erased), so a restored post is never half-erased,
//!   and retracted text never comes back.
//! - Membership is not copied but rebuilt from each restored log, so it always agrees with
//!   it. Read markers are clamped to the restored head.
//! - Circles, invites, read markers, tokens and accounts are each copied as they were at
//!   some moment during the dump (not one moment for all): one created or removed during
//!   the dump may or may not be in it. The trees are dumped in an order where whatever a
//!   record refers to is dumped after it (accounts last), so a snapshot never names an
//!   account or circle it does not hold (nothing here is ever deleted). A circle created
//!   during the dump whose first event is not visible yet is left out.
//! - Circles are not a consistent cut across each other: circle A may be taken before a
//!   post that circle B's snapshot already shows an answer to. Circles never refer to
//!   each other, so nothing breaks.
//!
//! To add a tree to the store, add ONE line to [`Store::backup_trees`] saying how a
//! backup treats it (a test fails until every tree is there).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use circles_protocol::Millis;
use circles_protocol::event::{Event, EventBody};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{
    CircleRecord, SCHEMA_VERSION, Store, StoreError, StoreResult, corrupt, decode, encode,
    event_key, member_key, now_millis, pair_key, seq_of,
};
use crate::circle::state::{CircleState, erase};

/// The `format` of a backup's header.
pub const BACKUP_FORMAT: &str = "circles-backup";
/// The format version this binary writes and reads.
pub const BACKUP_VERSION: u32 = 1;

/// Progress is reported every this many records (and at the end).
const PROGRESS_EVERY: u64 = 1000;

/// How a backup treats one tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Part {
    /// Copied record by record and restored as is.
    Records,
    /// `circleid_circle`: each circle's record, followed by its log.
    Circles,
    /// `circleid_seq_event`: dumped with the circles, checked as a gap-free log on restore.
    Log,
    /// Not in the file: restore rebuilds it from the others.
    Derived,
    /// `meta`: its schema version travels in the header; nothing else is kept.
    Header,
}

/// What [`Store::dump`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DumpSummary {
    /// Record lines (header and trailer not counted).
    pub records: u64,
    /// Bytes written, header and trailer included.
    pub bytes: u64,
    pub circles: u64,
    pub events: u64,
    /// Circles created during the dump whose log was not visible yet: left out.
    pub skipped_circles: u64,
    /// Record lines per tree, as in the trailer.
    pub trees: BTreeMap<String, u64>,
}

/// What [`restore`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RestoreSummary {
    pub records: u64,
    pub circles: u64,
    pub events: u64,
    /// The schema version of the backup (now that of the restored store).
    pub schema_version: u32,
    /// When the backup was made.
    pub created_at: Millis,
    /// Posts erased in full because part of them was erased in the snapshot
    /// (retracted while the dump ran; see the module doc).
    pub erased_posts: u64,
}

/// Why a restore was refused. The directory is left empty (as it was found).
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("{} is not empty: restore only into a new or empty directory", .0.display())]
    NotEmpty(PathBuf),
    #[error("line {line} of the backup: {reason}")]
    Invalid { line: u64, reason: String },
    #[error(
        "the backup ends after line {line} without its trailer: the file is truncated (an interrupted copy or a full disk?)"
    )]
    Truncated { line: u64 },
    #[error(
        "the backup's SHA-256 ({found}) differs from the one in its trailer on line {line} ({expected}): the file is corrupted"
    )]
    Checksum {
        line: u64,
        expected: String,
        found: String,
    },
    #[error(
        "the backup has schema version {found}, newer than this binary's {SCHEMA_VERSION}; restore it with a newer circles-server"
    )]
    TooNew { found: u32 },
    #[error("cannot read the backup: {0}")]
    Read(#[source] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type RestoreResult<T> = Result<T, RestoreError>;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    format: String,
    version: u32,
    schema_version: u32,
    created_at: Millis,
}

/// A record line, or (with `end` alone) the trailer.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tree: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_hex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value_hex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end: Option<Trailer>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Trailer {
    records: u64,
    trees: BTreeMap<String, u64>,
    sha256: String,
}

impl Store {
    /// Every tree of the store and how a backup treats it, in dump order:
    /// whatever a record refers to comes after it (an invite names a circle,
    /// a circle's log names accounts), so nothing in a snapshot dangles.
    /// Adding a tree to the store is one line here.
    pub(super) fn backup_trees(&self) -> Vec<(&'static str, &sled::Tree, Part)> {
        vec![
            ("meta", &self.meta, Part::Header),
            ("invite_circle", &self.invite_circle, Part::Records),
            (
                "registration_invite",
                &self.registration_invite,
                Part::Records,
            ),
            ("audit", &self.audit, Part::Records),
            (
                "handle_circleid_read",
                &self.handle_circleid_read,
                Part::Records,
            ),
            ("tokenhash_handle", &self.tokenhash_handle, Part::Records),
            ("circleid_circle", &self.circleid_circle, Part::Circles),
            ("circleid_seq_event", &self.circleid_seq_event, Part::Log),
            ("handle_account", &self.handle_account, Part::Records),
            ("slug_circleid", &self.slug_circleid, Part::Derived),
            ("handle_tokenhash", &self.handle_tokenhash, Part::Derived),
            // The search index is rebuilt from the logs when the server starts.
            (
                "circleid_indexedseq",
                &self.circleid_indexedseq,
                Part::Derived,
            ),
            (
                "circleid_handle_role",
                &self.circleid_handle_role,
                Part::Derived,
            ),
            (
                "handle_circleid_role",
                &self.handle_circleid_role,
                Part::Derived,
            ),
        ]
    }

    /// Writes a snapshot of the store to `out` (the format and what it
    /// guarantees are in the module doc) while the store keeps serving.
    /// `progress(records, bytes)` is called every thousand records, after
    /// each circle and at the end. Synchronous and long: in a server, run it on a blocking thread.
    pub fn dump(
        &self,
        out: impl Write,
        mut progress: impl FnMut(u64, u64),
    ) -> StoreResult<DumpSummary> {
        let mut w = Writer {
            out: std::io::BufWriter::new(out),
            hash: Sha256::new(),
            summary: DumpSummary::default(),
        };
        let header = Header {
            format: BACKUP_FORMAT.into(),
            version: BACKUP_VERSION,
            schema_version: self.schema_version()?,
            created_at: now_millis(),
        };
        w.line(&serde_json::to_vec(&header).map_err(|e| corrupt("meta", e))?)?;
        for (name, tree, part) in self.backup_trees() {
            match part {
                Part::Records => {
                    for entry in tree.iter() {
                        let (key, value) = entry?;
                        w.record(name, &key, &value, &mut progress)?;
                    }
                }
                Part::Circles => self.dump_circles(&mut w, &mut progress)?,
                Part::Log | Part::Derived | Part::Header => {}
            }
        }
        let summary = &w.summary;
        let trailer = Line {
            end: Some(Trailer {
                records: summary.records,
                trees: summary.trees.clone(),
                sha256: hex(&w.hash.clone().finalize()),
            }),
            ..Line::default()
        };
        let trailer = serde_json::to_vec(&trailer).map_err(|e| corrupt("backup", e))?;
        w.line(&trailer)?;
        w.out.flush()?;
        progress(w.summary.records, w.summary.bytes);
        Ok(w.summary)
    }

    /// Each circle's record, then its log `1..=head` as of when it is reached.
    fn dump_circles(
        &self,
        w: &mut Writer<impl Write>,
        progress: &mut impl FnMut(u64, u64),
    ) -> StoreResult<()> {
        for entry in self.circleid_circle.iter() {
            let (key, record) = entry?;
            let id = Uuid::from_slice(&key).map_err(|e| corrupt("circleid_circle", e))?;
            // The head first: events after it may be appended while we read.
            let head = self.head(id)?;
            if head == 0 || self.circleid_seq_event.get(event_key(id, 1))?.is_none() {
                // Created by a transaction we see half of; not there yet.
                w.summary.skipped_circles += 1;
                continue;
            }
            w.record("circleid_circle", &key, &record, progress)?;
            w.summary.circles += 1;
            let mut expected = 1;
            for entry in self
                .circleid_seq_event
                .range(event_key(id, 1)..=event_key(id, head))
            {
                let (key, event) = entry?;
                let seq = seq_of(&key)?;
                if seq != expected {
                    return Err(corrupt(
                        "circleid_seq_event",
                        format!("circle {id} has no event {expected} (next is {seq})"),
                    ));
                }
                w.record("circleid_seq_event", &key, &event, progress)?;
                w.summary.events += 1;
                expected += 1;
            }
            progress(w.summary.records, w.summary.bytes);
            if expected != head + 1 {
                return Err(corrupt(
                    "circleid_seq_event",
                    format!(
                        "circle {id} ends at {} before its head {head}",
                        expected - 1
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The dump's output, hashed as it is written.
struct Writer<W: Write> {
    out: std::io::BufWriter<W>,
    hash: Sha256,
    summary: DumpSummary,
}

impl<W: Write> Writer<W> {
    fn line(&mut self, json: &[u8]) -> StoreResult<()> {
        self.out.write_all(json)?;
        self.out.write_all(b"\n")?;
        self.hash.update(json);
        self.hash.update(b"\n");
        self.summary.bytes += json.len() as u64 + 1;
        Ok(())
    }

    fn record(
        &mut self,
        tree: &str,
        key: &[u8],
        value: &[u8],
        progress: &mut impl FnMut(u64, u64),
    ) -> StoreResult<()> {
        let mut line = Line {
            tree: Some(tree.to_owned()),
            ..Line::default()
        };
        (line.key, line.key_hex) = text_or_hex(key);
        (line.value, line.value_hex) = text_or_hex(value);
        let json = serde_json::to_vec(&line).map_err(|e| corrupt("backup", e))?;
        self.line(&json)?;
        self.summary.records += 1;
        *self.summary.trees.entry(tree.to_owned()).or_default() += 1;
        if self.summary.records % PROGRESS_EVERY == 0 {
            progress(self.summary.records, self.summary.bytes);
        }
        Ok(())
    }
}

fn text_or_hex(bytes: &[u8]) -> (Option<String>, Option<String>) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (Some(text.to_owned()), None),
        Err(_) => (None, Some(hex(bytes))),
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect()
}

/// Restores the backup read from `input` into `dir`, which must be new or
/// empty: checks the header, every record, the counts and the checksum,
/// rebuilds the derived trees, and makes it all durable before returning.
/// `progress(records, bytes)` is called every thousand records. On any error
/// the directory is emptied again (and removed if this made it).
pub fn restore(
    input: impl BufRead,
    dir: &Path,
    progress: impl FnMut(u64, u64),
) -> RestoreResult<RestoreSummary> {
    let existed = match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(RestoreError::NotEmpty(dir.to_owned()));
            }
            true
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            return Err(RestoreError::NotEmpty(dir.to_owned()));
        }
        Err(e) => return Err(StoreError::Io(e).into()),
    };
    // Until the last file is synced, a marker makes `Store::open` refuse the
    // directory: a killed restore must not be served as if it were whole.
    let marker = dir.join(RESTORE_MARKER);
    let marked = std::fs::create_dir_all(dir)
        .and_then(|()| File::create(&marker)?.sync_all())
        .and_then(|()| File::open(dir)?.sync_all());
    let result = marked
        .map_err(|e| RestoreError::from(StoreError::Io(e)))
        .and_then(|()| restore_into(input, dir, progress))
        .and_then(|summary| {
            std::fs::remove_file(&marker)
                .and_then(|()| File::open(dir)?.sync_all())
                .map_err(|e| StoreError::Io(e).into())
                .map(|()| summary)
        });
    if result.is_err() {
        // Everything in it is ours: it was empty. The store is closed by now.
        let cleaned = if existed {
            std::fs::read_dir(dir).and_then(|entries| {
                entries.into_iter().try_for_each(|entry| {
                    let path = entry?.path();
                    if path.is_dir() {
                        std::fs::remove_dir_all(path)
                    } else {
                        std::fs::remove_file(path)
                    }
                })
            })
        } else {
            std::fs::remove_dir_all(dir)
        };
        if let Err(err) = cleaned {
            tracing::warn!(dir = %dir.display(), error = %err, "could not clean up after a failed restore");
        }
    }
    result
}

fn restore_into(
    mut input: impl BufRead,
    dir: &Path,
    mut progress: impl FnMut(u64, u64),
) -> RestoreResult<RestoreSummary> {
    let store = Store::open_unguarded(dir, super::StoreOptions::default())?;
    let mut r = Restore {
        trees: store
            .backup_trees()
            .into_iter()
            .map(|(name, tree, part)| (name, (tree, part)))
            .collect(),
        store: &store,
        summary: RestoreSummary::default(),
        counts: BTreeMap::new(),
        circle: None,
        heads: HashMap::new(),
        slugs: HashSet::new(),
    };
    let mut hash = Sha256::new();
    let mut bytes = 0u64;
    let mut line_no = 0u64;
    let mut buf = Vec::new();
    let mut trailer = None;
    loop {
        buf.clear();
        let n = input
            .read_until(b'\n', &mut buf)
            .map_err(RestoreError::Read)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let invalid = |reason: String| RestoreError::Invalid {
            line: line_no,
            reason,
        };
        if trailer.is_some() {
            return Err(invalid("more data after the trailer".into()));
        }
        let complete = buf.last() == Some(&b'\n');
        let text = std::str::from_utf8(&buf).map_err(|e| invalid(format!("not UTF-8: {e}")))?;
        let json = text.trim_end_matches('\n');
        if line_no == 1 {
            if !complete {
                return Err(RestoreError::Truncated { line: 0 });
            }
            let header: Header = serde_json::from_str(json).map_err(|e| {
                invalid(format!(
                    "not a circles backup header ({e}); is this a backup file?"
                ))
            })?;
            check_header(&header).map_err(|reason| match reason {
                HeaderProblem::TooNew(found) => RestoreError::TooNew { found },
                HeaderProblem::Other(reason) => invalid(reason),
            })?;
            r.summary.schema_version = header.schema_version;
            r.summary.created_at = header.created_at;
        } else {
            let line: Line = match serde_json::from_str(json) {
                Ok(line) => line,
                Err(_) if !complete => return Err(RestoreError::Truncated { line: line_no - 1 }),
                Err(e) => return Err(invalid(format!("not a backup record: {e}"))),
            };
            if let Some(end) = line.end {
                trailer = Some((line_no, end));
                continue;
            }
            r.record(line).map_err(|e| match e {
                Problem::Invalid(reason) => invalid(reason),
                Problem::Store(e) => RestoreError::Store(e),
            })?;
            r.summary.records += 1;
            if r.summary.records % PROGRESS_EVERY == 0 {
                progress(r.summary.records, bytes + n as u64);
            }
        }
        hash.update(&buf);
        bytes += n as u64;
    }
    let Some((trailer_line, end)) = trailer else {
        return Err(RestoreError::Truncated { line: line_no });
    };
    let found = hex(&hash.finalize());
    if found != end.sha256 {
        return Err(RestoreError::Checksum {
            line: trailer_line,
            expected: end.sha256,
            found,
        });
    }
    if end.records != r.summary.records || end.trees != r.counts {
        return Err(RestoreError::Invalid {
            line: trailer_line,
            reason: format!(
                "the trailer counts {} records ({:?}) but the file holds {} ({:?})",
                end.records, end.trees, r.summary.records, r.counts
            ),
        });
    }
    r.finish_circle().map_err(|e| match e {
        Problem::Invalid(reason) => RestoreError::Invalid {
            line: line_no,
            reason,
        },
        Problem::Store(e) => RestoreError::Store(e),
    })?;
    r.rebuild()?;
    let summary = r.summary;
    store
        .meta
        .insert("schema_version", &summary.schema_version.to_be_bytes()[..])
        .map_err(StoreError::from)?;
    // Everything into sled's files, sled closed, then every file fsynced.
    store.meta.flush().map_err(StoreError::from)?;
    drop(store);
    sync_dir(dir).map_err(StoreError::Io)?;
    progress(summary.records, bytes);
    Ok(summary)
}

enum HeaderProblem {
    TooNew(u32),
    Other(String),
}

fn check_header(header: &Header) -> Result<(), HeaderProblem> {
    if header.format != BACKUP_FORMAT {
        return Err(HeaderProblem::Other(format!(
            "format is \"{}\", not \"{BACKUP_FORMAT}\"",
            header.format
        )));
    }
    if header.version != BACKUP_VERSION {
        return Err(HeaderProblem::Other(format!(
            "backup format version {} (this circles-server reads version {BACKUP_VERSION})",
            header.version
        )));
    }
    if header.schema_version > SCHEMA_VERSION {
        return Err(HeaderProblem::TooNew(header.schema_version));
    }
    Ok(())
}

/// What is wrong with one record (the caller adds the line number).
enum Problem {
    Invalid(String),
    Store(StoreError),
}

impl From<sled::Error> for Problem {
    fn from(e: sled::Error) -> Self {
        Problem::Store(e.into())
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        Problem::Store(e)
    }
}

/// The circle being restored: its log is folded as it is written.
struct Restoring {
    id: Uuid,
    state: CircleState,
    /// Posts whose text was (partly) erased in the snapshot, or retracted.
    erased: HashSet<Uuid>,
}

struct Restore<'a> {
    store: &'a Store,
    trees: HashMap<&'static str, (&'a sled::Tree, Part)>,
    summary: RestoreSummary,
    counts: BTreeMap<String, u64>,
    circle: Option<Restoring>,
    /// Each restored circle's head.
    heads: HashMap<Uuid, u64>,
    slugs: HashSet<String>,
}

impl Restore<'_> {
    fn record(&mut self, line: Line) -> Result<(), Problem> {
        let tree_name = line
            .tree
            .ok_or_else(|| Problem::Invalid("a record without a tree".into()))?;
        let key = bytes_of("key", line.key, line.key_hex)?;
        let value = bytes_of("value", line.value, line.value_hex)?;
        let Some(&(tree, part)) = self.trees.get(tree_name.as_str()) else {
            return Err(Problem::Invalid(format!(
                "unknown tree \"{tree_name}\" (a backup from a newer circles-server?)"
            )));
        };
        match part {
            Part::Records => {
                tree.insert(key, value)?;
            }
            Part::Circles => self.circle_record(tree, &key, &value)?,
            Part::Log => self.event(tree, &key, &value)?,
            Part::Derived | Part::Header => {
                return Err(Problem::Invalid(format!(
                    "tree \"{tree_name}\" is rebuilt on restore, never stored in a backup"
                )));
            }
        }
        *self.counts.entry(tree_name).or_default() += 1;
        Ok(())
    }

    fn circle_record(
        &mut self,
        tree: &sled::Tree,
        key: &[u8],
        value: &[u8],
    ) -> Result<(), Problem> {
        self.finish_circle()?;
        let id = Uuid::from_slice(key)
            .map_err(|e| Problem::Invalid(format!("a circle's key is not an id: {e}")))?;
        let record: CircleRecord = serde_json::from_slice(value)
            .map_err(|e| Problem::Invalid(format!("circle {id}: {e}")))?;
        if record.id != id {
            return Err(Problem::Invalid(format!(
                "circle {id}'s record names id {}",
                record.id
            )));
        }
        if self.heads.contains_key(&id) {
            return Err(Problem::Invalid(format!("circle {id} appears twice")));
        }
        if !self.slugs.insert(record.slug.clone()) {
            return Err(Problem::Invalid(format!(
                "two circles are named \"{}\"",
                record.slug
            )));
        }
        tree.insert(key, value)?;
        self.store
            .slug_circleid
            .insert(record.slug.as_bytes(), id.as_bytes())?;
        self.circle = Some(Restoring {
            id,
            state: CircleState::new(record),
            erased: HashSet::new(),
        });
        self.summary.circles += 1;
        Ok(())
    }

    fn event(&mut self, tree: &sled::Tree, key: &[u8], value: &[u8]) -> Result<(), Problem> {
        let (id, seq) = match (key.get(..16), key.len()) {
            (Some(id), 24) => (Uuid::from_slice(id).ok(), seq_of(key).ok()),
            _ => (None, None),
        };
        let (Some(id), Some(seq)) = (id, seq) else {
            return Err(Problem::Invalid(
                "an event key is not a circle id and a seq".into(),
            ));
        };
        let Some(circle) = self.circle.as_mut().filter(|c| c.id == id) else {
            return Err(Problem::Invalid(format!(
                "event {seq} of circle {id} is not right after that circle's record"
            )));
        };
        let expected = circle.state.head + 1;
        if seq != expected {
            return Err(Problem::Invalid(format!(
                "circle {id}: event {seq} where {expected} was expected (the log must have no gap)"
            )));
        }
        let event: Event = serde_json::from_slice(value)
            .map_err(|e| Problem::Invalid(format!("event {seq} of circle {id}: {e}")))?;
        if event.seq != seq {
            return Err(Problem::Invalid(format!(
                "event {seq} of circle {id} says it is seq {}",
                event.seq
            )));
        }
        match &event.body {
            EventBody::Retract { post } => {
                circle.erased.insert(*post);
            }
            EventBody::Edit { post, .. } if event.retracted => {
                circle.erased.insert(*post);
            }
            EventBody::Problem { .. } | EventBody::Critique { .. } | EventBody::Note { .. }
                if event.retracted =>
            {
                circle.erased.insert(event.id);
            }
            _ => {}
        }
        circle.state.apply(&event);
        tree.insert(key, value)?;
        self.summary.events += 1;
        Ok(())
    }

    /// The circle's log is complete: erase posts erased in part, write its membership.
    fn finish_circle(&mut self) -> Result<(), Problem> {
        let Some(circle) = self.circle.take() else {
            return Ok(());
        };
        let id = circle.id;
        if circle.state.head == 0 {
            return Err(Problem::Invalid(format!("circle {id} has no events")));
        }
        for post in &circle.erased {
            let mut rewrote = false;
            for seq in circle.state.seqs_to_erase(*post) {
                let key = event_key(id, seq);
                let Some(json) = self.store.circleid_seq_event.get(key)? else {
                    continue;
                };
                let event: Event = decode("circleid_seq_event", &json)?;
                if !event.retracted {
                    let erased = encode(&erase(event));
                    self.store.circleid_seq_event.insert(key, erased)?;
                    rewrote = true;
                }
            }
            if rewrote {
                self.summary.erased_posts += 1;
            }
        }
        for member in circle.state.members() {
            let role = encode(&member.role);
            self.store
                .circleid_handle_role
                .insert(member_key(id, &member.handle), role.as_slice())?;
            self.store
                .handle_circleid_role
                .insert(pair_key(&member.handle, id.as_bytes()), role)?;
        }
        self.heads.insert(id, circle.state.head);
        Ok(())
    }

    /// Derived trees not rebuilt per circle; read markers clamped to the heads.
    fn rebuild(&self) -> StoreResult<()> {
        let store = self.store;
        for entry in store.tokenhash_handle.iter() {
            let (token, handle) = entry?;
            let handle = super::decode_str("tokenhash_handle", &handle)?;
            store
                .handle_tokenhash
                .insert(pair_key(&handle, &token), &[] as &[u8])?;
        }
        for entry in store.handle_circleid_read.iter() {
            let (key, marker) = entry?;
            let id = key
                .len()
                .checked_sub(16)
                .and_then(|start| Uuid::from_slice(&key[start..]).ok());
            match id.and_then(|id| self.heads.get(&id)) {
                Some(&head) => {
                    if seq_of(&marker)? > head {
                        store
                            .handle_circleid_read
                            .insert(key, &head.to_be_bytes()[..])?;
                    }
                }
                // A marker for a circle left out of the snapshot.
                None => {
                    store.handle_circleid_read.remove(key)?;
                }
            }
        }
        Ok(())
    }
}

fn bytes_of(what: &str, text: Option<String>, hex: Option<String>) -> Result<Vec<u8>, Problem> {
    match (text, hex) {
        (Some(text), None) => Ok(text.into_bytes()),
        (None, Some(hex)) => {
            unhex(&hex).ok_or_else(|| Problem::Invalid(format!("{what}_hex is not hexadecimal")))
        }
        _ => Err(Problem::Invalid(format!(
            "a record needs exactly one of {what} and {what}_hex"
        ))),
    }
}

/// Present while a restore is writing the directory.
pub const RESTORE_MARKER: &str = "restore-incomplete";

/// fsyncs every file under `dir`, then the directories that name them.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            sync_dir(&path)?;
        } else {
            File::open(&path)?.sync_all()?;
        }
    }
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restore_that_did_not_finish_is_not_opened() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(RESTORE_MARKER), b"").unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::IncompleteRestore), "{err}");
    }

    #[test]
    fn hex_round_trips() {
        let bytes = [0u8, 1, 0xab, 0xff];
        assert_eq!(hex(&bytes), "0001abff");
        assert_eq!(unhex("0001abff").unwrap(), bytes);
        assert_eq!(unhex("0g"), None);
        assert_eq!(unhex("abc"), None);
    }

    /// Every tree the store opens is in `backup_trees`, so a new one cannot
    /// be left out of backups by accident.
    #[tokio::test]
    async fn every_tree_is_backed_up_or_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let listed: HashSet<&str> = {
            let store = Store::open(dir.path()).unwrap();
            store.backup_trees().iter().map(|(n, _, _)| *n).collect()
        };
        let db = sled::Config::new()
            .path(dir.path())
            .segment_size(super::super::SEGMENT_SIZE)
            .open()
            .unwrap();
        for name in db.tree_names() {
            let name = String::from_utf8(name.to_vec()).unwrap();
            if name == "__sled__default" {
                continue;
            }
            assert!(
                listed.contains(name.as_str()),
                "tree {name} is not in Store::backup_trees: say how a backup treats it"
            );
        }
    }
}
