//! The store: the one module that touches sled. Trees, key layout, encoding,
//! the schema version and the durable point all live here, behind a small API,
//! so the backend can be swapped (conduit had to leave sled; we may too).
//!
//! Trees (named `key_value`):
//! - `meta`: `schema_version` -> u32 BE
//! - `handle_account`: handle -> [`Account`] (JSON)
//! - `tokenhash_handle`: SHA-256 of a token -> handle
//! - `handle_tokenhash`: handle ++ 0 ++ token hash -> () (to revoke a user's tokens)
//! - `circleid_circle`: circle id -> [`CircleRecord`] (JSON)
//! - `slug_circleid`: slug -> circle id
//! - `circleid_seq_event`: circle id ++ seq (u64 BE) -> the event's wire JSON
//! - `circleid_handle_role` / `handle_circleid_role`: membership, both ways
//! - `handle_circleid_read`: handle ++ 0 ++ circle id -> read marker (u64 BE)
//! - `invite_circle`: invite code -> [`InviteRecord`] (JSON)
//! - `registration_invite`: code -> [`RegistrationInviteRecord`] (JSON)
//! - `audit`: id (u64 BE, increasing) -> [`AuditEntry`] (JSON, without its id)
//!
//! Writes return a [`Ticket`]; the write is durable once the ticket resolves.

pub mod backup;
mod commit;

use std::fs::OpenOptions;
use std::path::Path;

use circles_protocol::Millis;
use circles_protocol::model::{AuditEntry, Role, Suspension, Visibility};
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use uuid::Uuid;

pub use backup::{DumpSummary, RestoreError, RestoreSummary, restore};
pub use commit::{CommitMode, Ticket};

/// The on-disk layout this binary reads and writes.
pub const SCHEMA_VERSION: u32 = 2;

/// A step from one schema version to the next, run once at open.
struct Migration {
    to: u32,
    what: &'static str,
    run: fn(&sled::Db) -> StoreResult<()>,
}

/// Every step from version 1 on, in order. A step that changes nothing on
/// disk still bumps the version: it is what makes an older binary refuse a
/// store whose records it would misread.
const MIGRATIONS: &[Migration] = &[Migration {
    to: 2,
    what: "accounts may be admins or suspended (absent means neither); an older binary would let suspended accounts in",
    run: |_| Ok(()),
}];

const SEGMENT_SIZE: usize = 4 << 20;

/// sled's page cache, unless the operator says otherwise.
pub const DEFAULT_CACHE_BYTES: u64 = 256 << 20;

/// How the store is opened.
#[derive(Clone, Copy, Debug)]
pub struct StoreOptions {
    /// The most memory sled's page cache may take (sled's own default is 1 GiB).
    pub cache_bytes: u64,
    pub commit: CommitMode,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            cache_bytes: DEFAULT_CACHE_BYTES,
            commit: CommitMode::Group,
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("corrupt record in {tree}: {reason}")]
    Corrupt { tree: &'static str, reason: String },
    #[error("flush failed: {0}")]
    Flush(String),
    #[error("the store is closed")]
    Closed,
    #[error(
        "the data directory has schema version {found}, newer than this binary's {SCHEMA_VERSION}; run a newer circles-server"
    )]
    TooNew { found: u32 },
    /// The key is taken (a handle, a slug).
    #[error("already exists")]
    Exists,
    /// Another store (another server, or one still closing) holds the directory.
    #[error("the data directory is in use by another circles-server")]
    Locked,
    #[error(
        "the data directory holds a restore that did not finish: delete the directory and run the restore again"
    )]
    IncompleteRestore,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Account {
    pub handle: String,
    pub display_name: String,
    /// argon2id, in PHC string form.
    pub password_hash: String,
    pub created_at: Millis,
    /// May call `admin.*`.
    #[serde(default)]
    pub admin: bool,
    /// Set while the account may not sign in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended: Option<Suspension>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CircleRecord {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub purpose: String,
    pub visibility: Visibility,
    pub max_members: u32,
    pub created_by: String,
    pub created_at: Millis,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InviteRecord {
    pub circle: Uuid,
    pub created_by: String,
    pub expires_at: Millis,
}

/// An invite to create an account, for servers whose registration is `invite`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RegistrationInviteRecord {
    pub created_by: String,
    pub expires_at: Millis,
    pub uses_left: u32,
}

/// What taking one use of a registration invite found.
#[derive(Debug, PartialEq, Eq)]
pub enum InviteUse {
    Taken,
    Unknown,
    Expired,
    UsedUp,
}

/// A change to who is in a circle, written with the event that caused it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MembershipChange {
    Set(String, Role),
    Remove(String),
}

/// What one append writes: the event, and what it changes beside the log.
#[derive(Debug, Default)]
pub struct Append<'a> {
    pub seq: u64,
    pub event_json: &'a [u8],
    pub membership: Vec<MembershipChange>,
    /// Earlier events rewritten in place (a retraction erases their text).
    pub rewrites: Vec<(u64, Vec<u8>)>,
}

pub type TokenHash = [u8; 32];

#[derive(Debug)]
pub struct Store {
    meta: sled::Tree,
    handle_account: sled::Tree,
    tokenhash_handle: sled::Tree,
    handle_tokenhash: sled::Tree,
    circleid_circle: sled::Tree,
    slug_circleid: sled::Tree,
    circleid_seq_event: sled::Tree,
    circleid_handle_role: sled::Tree,
    handle_circleid_role: sled::Tree,
    handle_circleid_read: sled::Tree,
    invite_circle: sled::Tree,
    registration_invite: sled::Tree,
    audit: sled::Tree,
    /// How far the search index has read each circle's log (see crate::search).
    circleid_indexedseq: sled::Tree,
    db: sled::Db,
    commit: commit::GroupCommit,
    migrated: Vec<u32>,
}

impl Store {
    /// Opens (or creates) the store in `dir`, checking its schema version.
    pub fn open(dir: &Path) -> StoreResult<Store> {
        Store::open_with(dir, StoreOptions::default())
    }

    /// Opens (or creates) the store in `dir` with `options`.
    pub fn open_with(dir: &Path, options: StoreOptions) -> StoreResult<Store> {
        if dir.join(backup::RESTORE_MARKER).exists() {
            return Err(StoreError::IncompleteRestore);
        }
        Store::open_unguarded(dir, options)
    }

    /// [`Store::open_with`] without the check for an unfinished restore (for restore itself).
    fn open_unguarded(dir: &Path, options: StoreOptions) -> StoreResult<Store> {
        std::fs::create_dir_all(dir)?;
        // Items over a quarter of a segment go to blob files of their own;
        // 4 MiB segments keep leaves of 16 KiB posts inline (see commit.rs for
        // the blobs that still happen). sled refuses to change this later.
        let db = sled::Config::new()
            .path(dir)
            .segment_size(SEGMENT_SIZE)
            .cache_capacity(options.cache_bytes)
            .open()
            .map_err(|e| match e {
                sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
                    StoreError::Locked
                }
                other => StoreError::Sled(other),
            })?;
        let meta = db.open_tree("meta")?;
        let migrated = check_schema(&db, &meta)?;
        // sled keeps its log in `db`; fdatasync on our own handle covers it.
        let data_file = OpenOptions::new().write(true).open(dir.join("db"))?;
        let commit = commit::spawn(db.clone(), data_file, dir.join("blobs"), options.commit)?;
        Ok(Store {
            meta,
            handle_account: db.open_tree("handle_account")?,
            tokenhash_handle: db.open_tree("tokenhash_handle")?,
            handle_tokenhash: db.open_tree("handle_tokenhash")?,
            circleid_circle: db.open_tree("circleid_circle")?,
            slug_circleid: db.open_tree("slug_circleid")?,
            circleid_seq_event: db.open_tree("circleid_seq_event")?,
            circleid_handle_role: db.open_tree("circleid_handle_role")?,
            handle_circleid_role: db.open_tree("handle_circleid_role")?,
            handle_circleid_read: db.open_tree("handle_circleid_read")?,
            invite_circle: db.open_tree("invite_circle")?,
            registration_invite: db.open_tree("registration_invite")?,
            audit: db.open_tree("audit")?,
            circleid_indexedseq: db.open_tree("circleid_indexedseq")?,
            db,
            commit,
            migrated,
        })
    }

    /// The schema versions this open migrated to (empty when none were due).
    pub fn migrated(&self) -> &[u32] {
        &self.migrated
    }

    /// Why the store can no longer promise durability, once that happened.
    pub fn failure(&self) -> Option<std::sync::Arc<str>> {
        self.commit.failure()
    }

    /// Durable points reached so far (flushes of the group commit).
    pub fn flushes(&self) -> u64 {
        self.commit.flushes()
    }

    /// The durable points' latency and batch sizes, for `/metrics`.
    pub fn durable_points(&self) -> &crate::metrics::DurablePoints {
        self.commit.durable_points()
    }

    /// A ticket for everything written so far.
    pub fn ticket(&self) -> Ticket {
        self.commit.ticket()
    }

    /// Makes everything written so far durable (used at shutdown).
    pub async fn flush(&self) -> StoreResult<()> {
        self.ticket().durable().await
    }

    /// Whether the store takes writes: a small write made durable.
    pub async fn check_writable(&self) -> StoreResult<()> {
        self.meta
            .insert("last_ready_check", &now_millis().to_be_bytes()[..])?;
        self.flush().await
    }

    pub fn schema_version(&self) -> StoreResult<u32> {
        read_schema(&self.meta).map(|v| v.unwrap_or(SCHEMA_VERSION))
    }

    // ---- accounts ----

    pub fn create_account(&self, account: &Account) -> StoreResult<Ticket> {
        let value = encode(account);
        self.handle_account
            .compare_and_swap(
                account.handle.as_bytes(),
                None as Option<&[u8]>,
                Some(value),
            )?
            .map_err(|_| StoreError::Exists)?;
        Ok(self.ticket())
    }

    pub fn account(&self, handle: &str) -> StoreResult<Option<Account>> {
        get_record(&self.handle_account, "handle_account", handle.as_bytes())
    }

    pub fn put_account(&self, account: &Account) -> StoreResult<Ticket> {
        self.handle_account
            .insert(account.handle.as_bytes(), encode(account))?;
        Ok(self.ticket())
    }

    /// Accounts after `after` in handle order, at most `limit`.
    pub fn accounts(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<Account>> {
        let start = match after {
            // The smallest key after `after`.
            Some(after) => std::ops::Bound::Excluded(after.as_bytes().to_vec()),
            None => std::ops::Bound::Unbounded,
        };
        self.handle_account
            .range::<Vec<u8>, _>((start, std::ops::Bound::Unbounded))
            .take(limit)
            .map(|entry| decode("handle_account", &entry?.1))
            .collect()
    }

    pub fn add_token(&self, handle: &str, token: &TokenHash) -> StoreResult<Ticket> {
        self.tokenhash_handle.insert(token, handle.as_bytes())?;
        self.handle_tokenhash
            .insert(pair_key(handle, token), &[] as &[u8])?;
        Ok(self.ticket())
    }

    pub fn token_handle(&self, token: &TokenHash) -> StoreResult<Option<String>> {
        self.tokenhash_handle
            .get(token)?
            .map(|v| decode_str("tokenhash_handle", &v))
            .transpose()
    }

    pub fn revoke_token(&self, token: &TokenHash) -> StoreResult<Ticket> {
        if let Some(handle) = self.tokenhash_handle.remove(token)? {
            let handle = decode_str("tokenhash_handle", &handle)?;
            self.handle_tokenhash.remove(pair_key(&handle, token))?;
        }
        Ok(self.ticket())
    }

    /// Revokes every token of `handle` but `keep`.
    pub fn revoke_tokens_except(
        &self,
        handle: &str,
        keep: Option<&TokenHash>,
    ) -> StoreResult<Ticket> {
        let prefix = prefix_key(handle);
        for entry in self.handle_tokenhash.scan_prefix(&prefix) {
            let (key, _) = entry?;
            let token = &key[prefix.len()..];
            if keep.is_some_and(|k| k[..] == *token) {
                continue;
            }
            self.tokenhash_handle.remove(token)?;
            self.handle_tokenhash.remove(&key)?;
        }
        Ok(self.ticket())
    }

    // ---- circles ----

    /// Creates the circle with its first event (the creator's join), all at
    /// once: nobody can see the slug before the log has its first event.
    pub fn create_circle(&self, circle: &CircleRecord, first_event: &[u8]) -> StoreResult<Ticket> {
        let trees = (
            &self.slug_circleid,
            &self.circleid_circle,
            &self.circleid_seq_event,
            &self.circleid_handle_role,
            &self.handle_circleid_role,
        );
        let role = encode(&Role::Facilitator);
        let creator = &circle.created_by;
        trees
            .transaction(|(slugs, circles, events, by_circle, by_handle)| {
                if slugs.get(circle.slug.as_bytes())?.is_some() {
                    return Err(ConflictableTransactionError::Abort(StoreError::Exists));
                }
                slugs.insert(circle.slug.as_bytes(), circle.id.as_bytes())?;
                circles.insert(circle.id.as_bytes(), encode(circle))?;
                events.insert(&event_key(circle.id, 1)[..], first_event)?;
                by_circle.insert(member_key(circle.id, creator), role.as_slice())?;
                by_handle.insert(pair_key(creator, circle.id.as_bytes()), role.as_slice())?;
                Ok(())
            })
            .map_err(from_transaction)?;
        Ok(self.ticket())
    }

    pub fn circle(&self, id: Uuid) -> StoreResult<Option<CircleRecord>> {
        get_record(&self.circleid_circle, "circleid_circle", id.as_bytes())
    }

    pub fn circle_id(&self, slug: &str) -> StoreResult<Option<Uuid>> {
        self.slug_circleid
            .get(slug.as_bytes())?
            .map(|v| Uuid::from_slice(&v).map_err(|e| corrupt("slug_circleid", e)))
            .transpose()
    }

    /// Every circle, in slug order.
    pub fn circles(&self) -> StoreResult<Vec<CircleRecord>> {
        let mut circles = Vec::new();
        for entry in self.slug_circleid.iter() {
            let (_, id) = entry?;
            let id = Uuid::from_slice(&id).map_err(|e| corrupt("slug_circleid", e))?;
            if let Some(circle) = self.circle(id)? {
                circles.push(circle);
            }
        }
        Ok(circles)
    }

    /// The circles `handle` is a member of, with their role.
    pub fn memberships(&self, handle: &str) -> StoreResult<Vec<(Uuid, Role)>> {
        let prefix = prefix_key(handle);
        self.handle_circleid_role
            .scan_prefix(&prefix)
            .map(|entry| {
                let (key, role) = entry?;
                let id = Uuid::from_slice(&key[prefix.len()..])
                    .map_err(|e| corrupt("handle_circleid_role", e))?;
                Ok((id, decode("handle_circleid_role", &role)?))
            })
            .collect()
    }

    pub fn member_count(&self, circle: Uuid) -> StoreResult<u32> {
        let count = self
            .circleid_handle_role
            .scan_prefix(circle.as_bytes())
            .count();
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    // ---- the circle log ----

    /// The seq of the circle's last event (0 for none).
    pub fn head(&self, circle: Uuid) -> StoreResult<u64> {
        match self
            .circleid_seq_event
            .scan_prefix(circle.as_bytes())
            .next_back()
        {
            Some(entry) => seq_of(&entry?.0),
            None => Ok(0),
        }
    }

    /// Appends one event, with its membership changes and rewrites, atomically.
    pub fn append(&self, circle: Uuid, append: &Append<'_>) -> StoreResult<Ticket> {
        if append.membership.is_empty() && append.rewrites.is_empty() {
            // Most events are one key: no transaction needed. Never overwrite
            // an event: a seq already taken means the caller's state is stale.
            self.circleid_seq_event
                .compare_and_swap(
                    &event_key(circle, append.seq)[..],
                    None as Option<&[u8]>,
                    Some(append.event_json),
                )?
                .map_err(|_| {
                    corrupt("circleid_seq_event", format!("seq {} is taken", append.seq))
                })?;
            return Ok(self.ticket());
        }
        let trees = (
            &self.circleid_seq_event,
            &self.circleid_handle_role,
            &self.handle_circleid_role,
        );
        trees
            .transaction(|(events, by_circle, by_handle)| {
                let key = event_key(circle, append.seq);
                if events.get(&key[..])?.is_some() {
                    return Err(ConflictableTransactionError::Abort(corrupt(
                        "circleid_seq_event",
                        format!("seq {} is taken", append.seq),
                    )));
                }
                events.insert(&key[..], append.event_json)?;
                for (seq, json) in &append.rewrites {
                    events.insert(&event_key(circle, *seq)[..], json.as_slice())?;
                }
                for change in &append.membership {
                    match change {
                        MembershipChange::Set(handle, role) => {
                            by_circle.insert(member_key(circle, handle), encode(role))?;
                            by_handle.insert(pair_key(handle, circle.as_bytes()), encode(role))?;
                        }
                        MembershipChange::Remove(handle) => {
                            by_circle.remove(member_key(circle, handle))?;
                            by_handle.remove(pair_key(handle, circle.as_bytes()))?;
                        }
                    }
                }
                Ok(())
            })
            .map_err(from_transaction)?;
        Ok(self.ticket())
    }

    /// Events `from..=to`, ascending, as wire JSON: at most `limit` of them,
    /// and no more once `max_bytes` are reached (but always one).
    pub fn events(
        &self,
        circle: Uuid,
        from: u64,
        to: u64,
        limit: usize,
        max_bytes: usize,
    ) -> StoreResult<Vec<(u64, Vec<u8>)>> {
        let mut page = Vec::new();
        if from > to {
            return Ok(page);
        }
        let mut bytes = 0;
        for entry in self
            .circleid_seq_event
            .range(event_key(circle, from)..=event_key(circle, to))
            .take(limit)
        {
            let (key, value) = entry?;
            bytes += value.len();
            page.push((seq_of(&key)?, value.to_vec()));
            if bytes >= max_bytes {
                break;
            }
        }
        Ok(page)
    }

    // ---- how far the search index has read ----

    /// Every circle the search index has read, with the last seq it read.
    pub fn indexed_seqs(&self) -> StoreResult<Vec<(Uuid, u64)>> {
        self.circleid_indexedseq
            .iter()
            .map(|entry| {
                let (key, value) = entry?;
                let id = Uuid::from_slice(&key)
                    .map_err(|_| corrupt("circleid_indexedseq", "a key is not a circle id"))?;
                Ok((id, seq_of(&value)?))
            })
            .collect()
    }

    /// Records that the search index holds `circle`'s log up to `seq`
    /// (`None`: nothing of it, the circle is gone). Not flushed: after a
    /// crash the index reads a little again, which it may.
    pub fn set_indexed_seq(&self, circle: Uuid, seq: Option<u64>) -> StoreResult<()> {
        match seq {
            Some(seq) => self
                .circleid_indexedseq
                .insert(circle.as_bytes(), &seq.to_be_bytes())?,
            None => self.circleid_indexedseq.remove(circle.as_bytes())?,
        };
        Ok(())
    }

    /// Forgets how far the index read: it is being rebuilt from scratch.
    pub fn clear_indexed_seqs(&self) -> StoreResult<()> {
        self.circleid_indexedseq.clear()?;
        Ok(())
    }

    /// The last `limit` events before `before`, ascending.
    pub fn events_before(
        &self,
        circle: Uuid,
        before: u64,
        limit: usize,
    ) -> StoreResult<Vec<(u64, Vec<u8>)>> {
        if before <= 1 {
            return Ok(Vec::new());
        }
        let mut page = self
            .circleid_seq_event
            .range(event_key(circle, 1)..event_key(circle, before))
            .rev()
            .take(limit)
            .map(|entry| {
                let (key, value) = entry?;
                Ok((seq_of(&key)?, value.to_vec()))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        page.reverse();
        Ok(page)
    }

    // ---- read markers ----

    pub fn read_marker(&self, handle: &str, circle: Uuid) -> StoreResult<u64> {
        match self
            .handle_circleid_read
            .get(pair_key(handle, circle.as_bytes()))?
        {
            Some(v) => seq_of(&v),
            None => Ok(0),
        }
    }

    /// Moves the marker forward to `seq` (never back); returns the marker.
    pub fn advance_read_marker(&self, handle: &str, circle: Uuid, seq: u64) -> StoreResult<u64> {
        let key = pair_key(handle, circle.as_bytes());
        let marker = self.handle_circleid_read.update_and_fetch(key, |old| {
            let old = old
                .and_then(|v| <[u8; 8]>::try_from(v).ok())
                .map_or(0, u64::from_be_bytes);
            Some(old.max(seq).to_be_bytes().to_vec())
        })?;
        match marker {
            Some(v) => seq_of(&v),
            None => Ok(0),
        }
    }

    // ---- invites ----

    pub fn create_invite(&self, code: &str, invite: &InviteRecord) -> StoreResult<Ticket> {
        self.invite_circle.insert(code.as_bytes(), encode(invite))?;
        Ok(self.ticket())
    }

    pub fn invite(&self, code: &str) -> StoreResult<Option<InviteRecord>> {
        get_record(&self.invite_circle, "invite_circle", code.as_bytes())
    }

    pub fn create_registration_invite(
        &self,
        code: &str,
        invite: &RegistrationInviteRecord,
    ) -> StoreResult<Ticket> {
        self.registration_invite
            .insert(code.as_bytes(), encode(invite))?;
        Ok(self.ticket())
    }

    /// Takes one use of a registration invite, atomically (two people with
    /// the last use cannot both have it); a used-up invite is removed.
    pub fn use_registration_invite(&self, code: &str, now: Millis) -> StoreResult<InviteUse> {
        let mut found = InviteUse::Unknown;
        self.registration_invite
            .update_and_fetch(code.as_bytes(), |old| {
                let record: RegistrationInviteRecord = serde_json::from_slice(old?).ok()?;
                found = if record.expires_at <= now {
                    InviteUse::Expired
                } else if record.uses_left == 0 {
                    InviteUse::UsedUp
                } else {
                    InviteUse::Taken
                };
                match found {
                    InviteUse::Taken if record.uses_left > 1 => {
                        Some(encode(&RegistrationInviteRecord {
                            uses_left: record.uses_left - 1,
                            ..record
                        }))
                    }
                    // Expired and used-up invites are of no more use.
                    _ => None,
                }
            })?;
        Ok(found)
    }

    // ---- the audit log ----

    /// Records an admin action; its id is taken here.
    pub fn add_audit(&self, entry: &AuditEntry) -> StoreResult<Ticket> {
        let id = self.db.generate_id()? + 1;
        let mut value = serde_json::to_value(entry).unwrap_or_default();
        if let Some(object) = value.as_object_mut() {
            object.remove("id");
        }
        self.audit.insert(id.to_be_bytes(), encode(&value))?;
        Ok(self.ticket())
    }

    /// Entries older than `before` (all when `None`), newest first.
    pub fn audit(&self, before: Option<u64>, limit: usize) -> StoreResult<Vec<AuditEntry>> {
        let end = before.unwrap_or(u64::MAX).to_be_bytes();
        self.audit
            .range(..end)
            .rev()
            .take(limit)
            .map(|entry| {
                let (key, value) = entry?;
                let mut value: serde_json::Value = decode("audit", &value)?;
                if let Some(object) = value.as_object_mut() {
                    object.insert("id".into(), seq_of(&key)?.into());
                }
                serde_json::from_value(value).map_err(|e| corrupt("audit", e))
            })
            .collect()
    }

    // ---- deleting a circle ----

    /// Removes a circle and everything of it: its name, record, log,
    /// members, their read markers and its invites. The caller makes sure
    /// nothing appends to it meanwhile (its task does this).
    pub fn delete_circle(&self, circle: &CircleRecord) -> StoreResult<Ticket> {
        let id = circle.id;
        // The name first: from here on nobody finds the circle.
        self.slug_circleid.remove(circle.slug.as_bytes())?;
        self.circleid_circle.remove(id.as_bytes())?;
        for entry in self.circleid_handle_role.scan_prefix(id.as_bytes()) {
            let (key, _) = entry?;
            let handle = decode_str("circleid_handle_role", &key[16..])?;
            self.handle_circleid_role
                .remove(pair_key(&handle, id.as_bytes()))?;
            self.handle_circleid_read
                .remove(pair_key(&handle, id.as_bytes()))?;
            self.circleid_handle_role.remove(&key)?;
        }
        for entry in self.circleid_seq_event.scan_prefix(id.as_bytes()) {
            self.circleid_seq_event.remove(entry?.0)?;
        }
        for entry in self.invite_circle.iter() {
            let (code, value) = entry?;
            let invite: InviteRecord = decode("invite_circle", &value)?;
            if invite.circle == id {
                self.invite_circle.remove(code)?;
            }
        }
        Ok(self.ticket())
    }
}

/// Refuses a store newer than this binary, migrates an older one (each
/// step recorded durably as it completes, so an interrupted upgrade resumes
/// where it stopped), and stamps a new one. Returns the steps run.
fn check_schema(db: &sled::Db, meta: &sled::Tree) -> StoreResult<Vec<u32>> {
    match read_schema(meta)? {
        Some(found) if found > SCHEMA_VERSION => Err(StoreError::TooNew { found }),
        Some(found) => {
            let mut applied = Vec::new();
            for step in MIGRATIONS.iter().filter(|m| m.to > found) {
                tracing::info!(
                    "migrating the store to schema version {}: {}",
                    step.to,
                    step.what
                );
                (step.run)(db)?;
                meta.insert("schema_version", &step.to.to_be_bytes()[..])?;
                db.flush()?;
                applied.push(step.to);
            }
            Ok(applied)
        }
        None => {
            // A new store (or one from before the version key, which never shipped).
            meta.insert("schema_version", &SCHEMA_VERSION.to_be_bytes()[..])?;
            Ok(Vec::new())
        }
    }
}

fn read_schema(meta: &sled::Tree) -> StoreResult<Option<u32>> {
    meta.get("schema_version")?
        .map(|v| {
            <[u8; 4]>::try_from(v.as_ref())
                .map(u32::from_be_bytes)
                .map_err(|e| corrupt("meta", e))
        })
        .transpose()
}

pub fn now_millis() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn event_key(circle: Uuid, seq: u64) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..16].copy_from_slice(circle.as_bytes());
    key[16..].copy_from_slice(&seq.to_be_bytes());
    key
}

fn member_key(circle: Uuid, handle: &str) -> Vec<u8> {
    let mut key = circle.as_bytes().to_vec();
    key.extend_from_slice(handle.as_bytes());
    key
}

/// `handle ++ 0`: handles never contain a 0 byte, so no handle's prefix is another's.
fn prefix_key(handle: &str) -> Vec<u8> {
    let mut key = handle.as_bytes().to_vec();
    key.push(0);
    key
}

fn pair_key(handle: &str, rest: &[u8]) -> Vec<u8> {
    let mut key = prefix_key(handle);
    key.extend_from_slice(rest);
    key
}

fn seq_of(bytes: &[u8]) -> StoreResult<u64> {
    let tail = bytes.len().checked_sub(8).map(|start| &bytes[start..]);
    tail.and_then(|t| <[u8; 8]>::try_from(t).ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| corrupt("circleid_seq_event", "key shorter than 8 bytes"))
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Our own record types always serialize.
    serde_json::to_vec(value).unwrap_or_default()
}

fn from_transaction(err: TransactionError<StoreError>) -> StoreError {
    match err {
        TransactionError::Storage(e) => StoreError::Sled(e),
        TransactionError::Abort(e) => e,
    }
}

/// A JSON record by key.
fn get_record<T: for<'de> Deserialize<'de>>(
    tree: &sled::Tree,
    name: &'static str,
    key: &[u8],
) -> StoreResult<Option<T>> {
    tree.get(key)?.map(|v| decode(name, &v)).transpose()
}

fn decode<T: for<'de> Deserialize<'de>>(tree: &'static str, bytes: &[u8]) -> StoreResult<T> {
    serde_json::from_slice(bytes).map_err(|e| corrupt(tree, e))
}

fn decode_str(tree: &'static str, bytes: &[u8]) -> StoreResult<String> {
    String::from_utf8(bytes.to_vec()).map_err(|e| corrupt(tree, e))
}

fn corrupt(tree: &'static str, reason: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        tree,
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Opens a store just dropped: sled lets go of its lock a moment after
    /// the last handle goes (the server's `open_store` waits the same way).
    fn reopen_result(dir: &Path) -> StoreResult<Store> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match Store::open(dir) {
                Err(StoreError::Locked) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                result => return result,
            }
        }
    }

    fn reopen(dir: &Path) -> Store {
        reopen_result(dir).unwrap()
    }

    fn circle(slug: &str) -> CircleRecord {
        CircleRecord {
            id: Uuid::now_v7(),
            slug: slug.into(),
            name: "Name".into(),
            purpose: String::new(),
            visibility: Visibility::Public,
            max_members: 12,
            created_by: "ana".into(),
            created_at: 1,
        }
    }

    #[tokio::test]
    async fn events_survive_reopen_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let c = circle("c");
        {
            let store = Store::open(dir.path()).unwrap();
            store
                .create_circle(&c, b"{\"seq\":1}")
                .unwrap()
                .durable()
                .await
                .unwrap();
            for seq in 2..=300u64 {
                let json = format!("{{\"seq\":{seq}}}");
                let append = Append {
                    seq,
                    event_json: json.as_bytes(),
                    ..Append::default()
                };
                store
                    .append(c.id, &append)
                    .unwrap()
                    .durable()
                    .await
                    .unwrap();
            }
        }
        let store = reopen(dir.path());
        assert_eq!(store.head(c.id).unwrap(), 300);
        let page = store.events(c.id, 255, 300, 10, usize::MAX).unwrap();
        assert_eq!(store.events(c.id, 1, 300, 10, 1).unwrap().len(), 1);
        assert_eq!(
            page.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            (255..265).collect::<Vec<_>>()
        );
        let before = store.events_before(c.id, 4, 10).unwrap();
        assert_eq!(
            before.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert_eq!(
            store.memberships("ana").unwrap(),
            vec![(c.id, Role::Facilitator)]
        );
        assert_eq!(store.member_count(c.id).unwrap(), 1);
    }

    /// Writes made together, each awaited: durable either way, sharing
    /// flushes under group commit and one flush each under per-write.
    async fn concurrent_appends(commit: CommitMode) -> (Store, u64) {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions {
            commit,
            ..StoreOptions::default()
        };
        let store = Store::open_with(dir.path(), options).unwrap();
        let c = circle("c");
        store
            .create_circle(&c, b"{}")
            .unwrap()
            .durable()
            .await
            .unwrap();
        let before = store.flushes();
        let mut tickets = Vec::new();
        for seq in 2..=41u64 {
            let append = Append {
                seq,
                event_json: b"{}",
                ..Append::default()
            };
            tickets.push(store.append(c.id, &append).unwrap());
        }
        for ticket in tickets {
            ticket.durable().await.unwrap();
        }
        assert_eq!(store.head(c.id).unwrap(), 41);
        let flushes = store.flushes() - before;
        (store, flushes)
    }

    #[tokio::test]
    async fn per_write_commit_flushes_once_per_write() {
        let (_store, flushes) = concurrent_appends(CommitMode::PerWrite).await;
        assert_eq!(flushes, 40);
    }

    #[tokio::test]
    async fn group_commit_flushes_at_most_once_per_write() {
        // How many writes a flush serves depends on timing (the benchmark
        // measures it); that a flush never runs without a write waiting does not.
        let (_store, flushes) = concurrent_appends(CommitMode::Group).await;
        assert!(
            (1..=40).contains(&flushes),
            "{flushes} flushes for 40 writes"
        );
    }

    #[tokio::test]
    async fn slugs_and_handles_are_unique() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let _ = store.create_circle(&circle("c"), b"{}").unwrap();
        assert!(matches!(
            store.create_circle(&circle("c"), b"{}"),
            Err(StoreError::Exists)
        ));
        let account = Account {
            handle: "ana".into(),
            display_name: "Ana".into(),
            password_hash: "x".into(),
            created_at: 1,
            admin: false,
            suspended: None,
        };
        let _ = store.create_account(&account).unwrap();
        assert!(matches!(
            store.create_account(&account),
            Err(StoreError::Exists)
        ));
    }

    #[tokio::test]
    async fn revoking_keeps_the_one_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (a, b, c) = ([1u8; 32], [2u8; 32], [3u8; 32]);
        let _ = store.add_token("ana", &a).unwrap();
        let _ = store.add_token("ana", &b).unwrap();
        let _ = store.add_token("anb", &c).unwrap();
        store
            .revoke_tokens_except("ana", Some(&b))
            .unwrap()
            .durable()
            .await
            .unwrap();
        assert_eq!(store.token_handle(&a).unwrap(), None);
        assert_eq!(store.token_handle(&b).unwrap().as_deref(), Some("ana"));
        assert_eq!(store.token_handle(&c).unwrap().as_deref(), Some("anb"));
    }

    #[tokio::test]
    async fn read_markers_only_move_forward() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let id = Uuid::now_v7();
        assert_eq!(store.advance_read_marker("ana", id, 5).unwrap(), 5);
        assert_eq!(store.advance_read_marker("ana", id, 3).unwrap(), 5);
        assert_eq!(store.read_marker("ana", id).unwrap(), 5);
        assert_eq!(store.read_marker("ben", id).unwrap(), 0);
    }

    #[tokio::test]
    async fn an_older_store_is_migrated_once_and_keeps_its_records() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            // A version 1 account record, as that binary wrote it.
            let v1 = br#"{"handle":"ana","display_name":"Ana","password_hash":"x","created_at":1}"#;
            store.handle_account.insert("ana", &v1[..]).unwrap();
            store
                .meta
                .insert("schema_version", &1u32.to_be_bytes()[..])
                .unwrap();
            store.flush().await.unwrap();
        }
        let store = reopen(dir.path());
        assert_eq!(store.migrated(), &[2]);
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        let ana = store.account("ana").unwrap().unwrap();
        assert!(!ana.admin && ana.suspended.is_none());
        drop(store);
        let store = reopen(dir.path());
        assert!(store.migrated().is_empty(), "it ran once");
        assert!(MIGRATIONS.windows(2).all(|w| w[0].to < w[1].to));
        assert_eq!(MIGRATIONS.last().map(|m| m.to), Some(SCHEMA_VERSION));
    }

    #[tokio::test]
    async fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store
                .meta
                .insert("schema_version", &(SCHEMA_VERSION + 1).to_be_bytes()[..])
                .unwrap();
            store.flush().await.unwrap();
        }
        let err = reopen_result(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::TooNew { .. }), "{err}");
    }
}
