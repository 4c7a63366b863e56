//! The default metadata store: one SQLite database in WAL mode with `synchronous=FULL`, so a
//! committed transaction is on disk before the call returns.

use crate::blob::BlobKey;
use crate::meta::*;
use crate::{Result, StorageError};
use async_trait::async_trait;
use glacier_core::multipart::{PartInfo, check_complete};
use glacier_core::{Digest, TreeHash};
use glacier_core::{JobStatus, LockState};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

/// The schema, one migration per version: `PRAGMA user_version` is the number of migrations a
/// database has had. Version 1 is the schema of the data directories made before versions were
/// numbered (they read 0 and have every table already, hence `IF NOT EXISTS`).
const MIGRATIONS: &[&str] = &[SCHEMA_1, SCHEMA_2];

/// Vaults keep the region they were created in: their ARN, which policies name, never changes.
const SCHEMA_2: &str = "ALTER TABLE vaults ADD COLUMN region TEXT;";

const SCHEMA_1: &str = "
CREATE TABLE IF NOT EXISTS vaults (
    account TEXT NOT NULL,
    name TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    last_inventory_ms INTEGER,
    archive_count INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL DEFAULT 0,
    sns_topic TEXT,
    events TEXT,
    PRIMARY KEY (account, name)
);
CREATE TABLE IF NOT EXISTS archives (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    vault TEXT NOT NULL,
    description TEXT NOT NULL,
    size INTEGER NOT NULL,
    tree_hash BLOB NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS archives_by_vault ON archives (account, vault, created_ms, id);
CREATE TABLE IF NOT EXISTS segments (
    archive_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    blob TEXT NOT NULL,
    size INTEGER NOT NULL,
    tree_hash BLOB NOT NULL,
    leaves BLOB NOT NULL,
    PRIMARY KEY (archive_id, seq)
);
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    vault TEXT NOT NULL,
    description TEXT,
    part_size INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS uploads_by_vault ON uploads (account, vault, id);
CREATE TABLE IF NOT EXISTS parts (
    upload_id TEXT NOT NULL,
    start INTEGER NOT NULL,
    blob TEXT NOT NULL,
    size INTEGER NOT NULL,
    tree_hash BLOB NOT NULL,
    leaves BLOB NOT NULL,
    PRIMARY KEY (upload_id, start)
);
CREATE INDEX IF NOT EXISTS segments_by_blob ON segments (blob);
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    account TEXT NOT NULL,
    vault TEXT NOT NULL,
    spec TEXT NOT NULL,
    description TEXT,
    sns_topic TEXT,
    created_ms INTEGER NOT NULL,
    due_ms INTEGER NOT NULL,
    status TEXT NOT NULL,
    status_message TEXT,
    completed_ms INTEGER,
    expires_ms INTEGER,
    output_size INTEGER,
    next_marker TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_vault ON jobs (account, vault, seq);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs (status, due_ms);
CREATE INDEX IF NOT EXISTS jobs_expiry ON jobs (expires_ms);
CREATE TABLE IF NOT EXISTS job_segments (
    job_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    blob TEXT NOT NULL,
    size INTEGER NOT NULL,
    tree_hash BLOB NOT NULL,
    leaves BLOB NOT NULL,
    PRIMARY KEY (job_id, seq)
);
CREATE INDEX IF NOT EXISTS job_segments_by_blob ON job_segments (blob);
CREATE TABLE IF NOT EXISTS vault_tags (
    account TEXT NOT NULL,
    vault TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (account, vault, key)
);
CREATE TABLE IF NOT EXISTS vault_policies (
    account TEXT NOT NULL,
    vault TEXT NOT NULL,
    kind TEXT NOT NULL,
    policy TEXT NOT NULL,
    state TEXT,
    lock_id TEXT,
    created_ms INTEGER,
    expires_ms INTEGER,
    PRIMARY KEY (account, vault, kind)
);
CREATE TABLE IF NOT EXISTS account_settings (
    account TEXT PRIMARY KEY,
    retrieval_policy TEXT
);
CREATE TABLE IF NOT EXISTS retrievals (
    account TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    tier TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS retrievals_by_account ON retrievals (account, at_ms);
CREATE TABLE IF NOT EXISTS capacity_units (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS completed_uploads (
    upload_id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    vault TEXT NOT NULL,
    archive_id TEXT NOT NULL,
    archive_size INTEGER NOT NULL,
    tree_hash BLOB NOT NULL,
    completed_ms INTEGER NOT NULL
);
";

pub struct SqliteMetadataStore {
    conn: Arc<Mutex<Connection>>,
}

impl From<rusqlite::Error> for StorageError {
    fn from(e: rusqlite::Error) -> Self {
        StorageError::Backend {
            message: "SQLite".into(),
            source: Some(Box::new(e)),
        }
    }
}

fn to_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Sizes are stored as SQLite's signed 64-bit integers; no archive comes near 2^63 bytes.
fn i(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn u(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn digest(b: Vec<u8>) -> Result<Digest> {
    b.try_into()
        .map_err(|_| StorageError::backend("stored hash is not 32 bytes"))
}

fn leaves_to_blob(leaves: &[Digest]) -> Vec<u8> {
    leaves.concat()
}

fn leaves_from_blob(b: &[u8]) -> Result<Vec<Digest>> {
    if !b.len().is_multiple_of(32) {
        return Err(StorageError::backend(
            "stored leaf hashes are not whole digests",
        ));
    }
    Ok(b.chunks_exact(32)
        .map(|c| {
            let mut d = [0u8; 32];
            d.copy_from_slice(c);
            d
        })
        .collect())
}

fn vault_not_found(key: &VaultKey) -> StorageError {
    StorageError::not_found("vault", key.name.clone())
}

impl SqliteMetadataStore {
    /// Opens (creating if needed) the database at `path`.
    pub async fn open(path: impl AsRef<Path>) -> Result<SqliteMetadataStore> {
        let path = path.as_ref().to_path_buf();
        let conn = tokio::task::spawn_blocking(move || -> Result<Connection> {
            let mut conn = Connection::open(&path)?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "FULL")?;
            conn.busy_timeout(std::time::Duration::from_secs(30))?;
            migrate(&mut conn)?;
            Ok(conn)
        })
        .await
        .map_err(|e| StorageError::backend(format!("open task failed: {e}")))??;
        Ok(SqliteMetadataStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Gives the vaults of a data directory from before vaults kept their region (schema 1)
    /// `region`, the one the server runs with; returns how many there were.
    pub async fn assign_legacy_region(&self, region: &str) -> Result<usize> {
        let region = region.to_owned();
        self.tx(move |tx| {
            Ok(tx.execute(
                "UPDATE vaults SET region = ?1 WHERE region IS NULL",
                [region],
            )?)
        })
        .await
    }

    /// Runs `f` in one transaction on a blocking thread; commits when it returns `Ok`.
    async fn tx<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut conn = conn
                .lock()
                .map_err(|_| StorageError::backend("metadata connection poisoned"))?;
            let tx = conn.transaction()?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
        .map_err(|e| StorageError::backend(format!("metadata task failed: {e}")))?
    }
}

/// Applies the migrations a database has not had, in one transaction; refuses a database of a
/// newer schema than this binary knows.
fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction()?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = MIGRATIONS.len();
    let version = usize::try_from(version).unwrap_or(usize::MAX);
    if version > known {
        return Err(StorageError::backend(format!(
            "the metadata database is at schema version {version}, newer than this glacier knows ({known}); run a newer glacier on it"
        )));
    }
    for m in &MIGRATIONS[version..] {
        tx.execute_batch(m)?;
    }
    tx.pragma_update(None, "user_version", known as i64)?;
    tx.commit()?;
    Ok(())
}

const VAULT_COLUMNS: &str = "name, region, created_ms, last_inventory_ms, archive_count, size";

/// A vault of `account` from a row of [`VAULT_COLUMNS`].
fn vault_from_row(account: &str, r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Vault>> {
    let name: String = r.get(0)?;
    let Some(region) = r.get::<_, Option<String>>(1)? else {
        return Ok(Err(StorageError::backend(format!(
            "vault {name} has no region: the store was opened without assign_legacy_region"
        ))));
    };
    Ok(Ok(Vault {
        key: VaultKey {
            account: account.to_owned(),
            name,
        },
        region,
        created: from_ms(r.get(2)?),
        last_inventory: r.get::<_, Option<i64>>(3)?.map(from_ms),
        archive_count: u(r.get(4)?),
        size: u(r.get(5)?),
    }))
}

fn read_vault(tx: &Transaction<'_>, key: &VaultKey) -> Result<Vault> {
    tx.query_row(
        &format!("SELECT {VAULT_COLUMNS} FROM vaults WHERE account = ?1 AND name = ?2"),
        params![key.account, key.name],
        |r| vault_from_row(&key.account, r),
    )
    .optional()?
    .ok_or_else(|| vault_not_found(key))?
}

fn require_vault(tx: &Transaction<'_>, key: &VaultKey) -> Result<()> {
    read_vault(tx, key).map(|_| ())
}

fn read_upload(tx: &Transaction<'_>, key: &VaultKey, id: &str) -> Result<UploadRecord> {
    require_vault(tx, key)?;
    tx.query_row(
        "SELECT description, part_size, created_ms FROM uploads WHERE id = ?1 AND account = ?2 AND vault = ?3",
        params![id, key.account, key.name],
        |r| {
            Ok(UploadRecord {
                id: id.to_owned(),
                description: r.get(0)?,
                part_size: u(r.get(1)?),
                created: from_ms(r.get(2)?),
            })
        },
    )
    .optional()?
    .ok_or_else(|| StorageError::not_found("multipart upload", id))
}

fn blobs_of(tx: &Transaction<'_>, sql: &str, id: &str) -> Result<Vec<BlobKey>> {
    let mut stmt = tx.prepare(sql)?;
    let rows = stmt.query_map([id], |r| r.get::<_, String>(0))?;
    Ok(rows.map(|r| r.map(BlobKey)).collect::<Result<_, _>>()?)
}

/// The ids a query selects.
fn ids(tx: &Transaction<'_>, sql: &str, args: impl rusqlite::Params) -> Result<Vec<String>> {
    let mut stmt = tx.prepare(sql)?;
    let rows = stmt.query_map(args, |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Deletes an upload and its parts; returns the parts' blobs.
fn delete_upload_rows(tx: &Transaction<'_>, id: &str) -> Result<Vec<BlobKey>> {
    let blobs = blobs_of(tx, "SELECT blob FROM parts WHERE upload_id = ?1", id)?;
    tx.execute("DELETE FROM parts WHERE upload_id = ?1", [id])?;
    tx.execute("DELETE FROM uploads WHERE id = ?1", [id])?;
    Ok(blobs)
}

/// Deletes a job and its output's segment rows; returns their blobs.
fn delete_job_rows(tx: &Transaction<'_>, id: &str) -> Result<Vec<BlobKey>> {
    let blobs = blobs_of(tx, "SELECT blob FROM job_segments WHERE job_id = ?1", id)?;
    tx.execute("DELETE FROM job_segments WHERE job_id = ?1", [id])?;
    tx.execute("DELETE FROM jobs WHERE id = ?1", [id])?;
    Ok(blobs)
}

fn insert_archive_rows(tx: &Transaction<'_>, key: &VaultKey, a: &ArchiveRecord) -> Result<()> {
    tx.execute(
        "INSERT INTO archives (id, account, vault, description, size, tree_hash, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![a.id, key.account, key.name, a.description, i(a.size), &a.tree_hash.0[..], to_ms(a.created)],
    )?;
    for (seq, s) in a.segments.iter().enumerate() {
        tx.execute(
            "INSERT INTO segments (archive_id, seq, blob, size, tree_hash, leaves) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![a.id, i(seq as u64), s.blob.0, i(s.size), &s.tree_hash.0[..], leaves_to_blob(&s.leaves)],
        )?;
    }
    tx.execute(
        "UPDATE vaults SET archive_count = archive_count + 1, size = size + ?3 WHERE account = ?1 AND name = ?2",
        params![key.account, key.name, i(a.size)],
    )?;
    Ok(())
}

/// Of `blobs`, those no archive, part or job output refers to.
fn unreferenced(tx: &Transaction<'_>, blobs: Vec<BlobKey>) -> Result<Vec<BlobKey>> {
    let mut stmt = tx.prepare(
        "SELECT NOT EXISTS (SELECT 1 FROM segments WHERE blob = ?1)
            AND NOT EXISTS (SELECT 1 FROM job_segments WHERE blob = ?1)
            AND NOT EXISTS (SELECT 1 FROM parts WHERE blob = ?1)",
    )?;
    let mut out = Vec::new();
    for b in blobs {
        if stmt.query_row([&b.0], |r| r.get::<_, bool>(0))? {
            out.push(b);
        }
    }
    Ok(out)
}

/// The segments of an archive (`segments`, keyed by `archive_id`) or of a job's output
/// (`job_segments`, keyed by `job_id`), in order.
fn load_segments(tx: &Transaction<'_>, sql: &str, id: &str) -> Result<Vec<Segment>> {
    let mut stmt = tx.prepare(sql)?;
    let rows = stmt.query_map([id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, Vec<u8>>(2)?,
            r.get::<_, Vec<u8>>(3)?,
        ))
    })?;
    let mut segments = Vec::new();
    for row in rows {
        let (blob, size, hash, leaves) = row?;
        segments.push(Segment {
            blob: BlobKey(blob),
            size: u(size),
            tree_hash: TreeHash(digest(hash)?),
            leaves: leaves_from_blob(&leaves)?,
        });
    }
    Ok(segments)
}

const ARCHIVE_SEGMENTS: &str =
    "SELECT blob, size, tree_hash, leaves FROM segments WHERE archive_id = ?1 ORDER BY seq";
const JOB_SEGMENTS: &str =
    "SELECT blob, size, tree_hash, leaves FROM job_segments WHERE job_id = ?1 ORDER BY seq";

fn insert_job_segments(tx: &Transaction<'_>, job_id: &str, segments: &[Segment]) -> Result<()> {
    for (seq, s) in segments.iter().enumerate() {
        tx.execute(
            "INSERT INTO job_segments (job_id, seq, blob, size, tree_hash, leaves) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![job_id, i(seq as u64), s.blob.0, i(s.size), &s.tree_hash.0[..], leaves_to_blob(&s.leaves)],
        )?;
    }
    Ok(())
}

const JOB_COLUMNS: &str = "id, seq, spec, description, sns_topic, created_ms, due_ms, status, status_message, completed_ms, expires_ms, output_size, next_marker";

fn job_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<JobRecord>> {
    let spec: String = r.get(2)?;
    let status: String = r.get(7)?;
    let parsed = serde_json::from_str::<JobSpec>(&spec)
        .map_err(|e| StorageError::backend(format!("stored job spec: {e}")))
        .and_then(|spec| {
            let status = status
                .parse::<JobStatus>()
                .map_err(|e| StorageError::backend(format!("stored job status: {e}")))?;
            Ok((spec, status))
        });
    let (spec, status) = match parsed {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    Ok(Ok(JobRecord {
        id: r.get(0)?,
        seq: u(r.get(1)?),
        spec,
        description: r.get(3)?,
        sns_topic: r.get(4)?,
        created: from_ms(r.get(5)?),
        due: from_ms(r.get(6)?),
        status,
        status_message: r.get(8)?,
        completed: r.get::<_, Option<i64>>(9)?.map(from_ms),
        expires: r.get::<_, Option<i64>>(10)?.map(from_ms),
        output_size: r.get::<_, Option<i64>>(11)?.map(u),
        next_marker: r.get(12)?,
    }))
}

fn read_job(tx: &Transaction<'_>, key: &VaultKey, id: &str) -> Result<JobRecord> {
    require_vault(tx, key)?;
    tx.query_row(
        &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1 AND account = ?2 AND vault = ?3"),
        params![id, key.account, key.name],
        job_from_row,
    )
    .optional()?
    .ok_or_else(|| StorageError::not_found("job", id))?
}

fn query_jobs(
    tx: &Transaction<'_>,
    sql_where: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<Vec<JobRecord>> {
    let mut stmt = tx.prepare(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE {sql_where}"))?;
    let rows = stmt.query_map(args, job_from_row)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row??);
    }
    Ok(out)
}

/// The vault's lock row. A row that is not a valid lock is an error, never "no lock": a
/// vault's write-once protection must not fall away because a row cannot be read.
fn read_lock(tx: &Transaction<'_>, key: &VaultKey) -> Result<Option<VaultLock>> {
    require_vault(tx, key)?;
    let row = tx
        .query_row(
            "SELECT policy, state, lock_id, created_ms, expires_ms FROM vault_policies WHERE account = ?1 AND vault = ?2 AND kind = 'lock'",
            params![key.account, key.name],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                ))
            },
        )
        .optional()?;
    let Some((policy, state, lock_id, created, expires)) = row else {
        return Ok(None);
    };
    let bad = |what: &str| {
        StorageError::backend(format!("the stored lock of vault {} has {what}", key.name))
    };
    let state: LockState = state
        .ok_or_else(|| bad("no state"))?
        .parse()
        .map_err(|e| bad(&format!("an invalid state: {e}")))?;
    Ok(Some(VaultLock {
        policy,
        state,
        lock_id: lock_id
            .filter(|id| !id.is_empty())
            .ok_or_else(|| bad("no lock id"))?,
        created: from_ms(created.ok_or_else(|| bad("no creation date"))?),
        expires: expires.map(from_ms),
    }))
}

#[async_trait]
impl MetadataStore for SqliteMetadataStore {
    async fn create_vault(
        &self,
        key: &VaultKey,
        region: &str,
        now: OffsetDateTime,
        max_vaults: u64,
    ) -> Result<Vault> {
        let key = key.clone();
        let region = region.to_owned();
        self.tx(move |tx| {
            if let Ok(v) = read_vault(tx, &key) {
                return Ok(v);
            }
            let count: i64 = tx.query_row(
                "SELECT COUNT(*) FROM vaults WHERE account = ?1",
                [&key.account],
                |r| r.get(0),
            )?;
            if u(count) >= max_vaults {
                return Err(StorageError::LimitExceeded(format!(
                    "The account already has {count} vaults; the limit is {max_vaults}"
                )));
            }
            tx.execute(
                "INSERT INTO vaults (account, name, region, created_ms) VALUES (?1, ?2, ?3, ?4)",
                params![key.account, key.name, region, to_ms(now)],
            )?;
            read_vault(tx, &key)
        })
        .await
    }

    async fn get_vault(&self, key: &VaultKey) -> Result<Vault> {
        let key = key.clone();
        self.tx(move |tx| read_vault(tx, &key)).await
    }

    async fn list_vaults(
        &self,
        account: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Vault>> {
        let account = account.to_owned();
        let after = after.unwrap_or("").to_owned();
        self.tx(move |tx| {
            let mut stmt = tx.prepare(&format!(
                "SELECT {VAULT_COLUMNS} FROM vaults
                 WHERE account = ?1 AND name > ?2 ORDER BY name LIMIT ?3"
            ))?;
            let rows = stmt.query_map(params![account, after, i(limit as u64 + 1)], |r| {
                vault_from_row(&account, r)
            })?;
            let mut vaults = Vec::new();
            for row in rows {
                vaults.push(row??);
            }
            Ok(Page::from_overfetch(vaults, limit))
        })
        .await
    }

    async fn delete_vault(&self, key: &VaultKey) -> Result<Vec<BlobKey>> {
        let key = key.clone();
        self.tx(move |tx| {
            let v = read_vault(tx, &key)?;
            if v.archive_count > 0 {
                return Err(StorageError::NotEmpty {
                    vault: key.name.clone(),
                    archives: v.archive_count,
                });
            }
            let vault = params![key.account, key.name];
            let mut blobs = Vec::new();
            for id in ids(
                tx,
                "SELECT id FROM uploads WHERE account = ?1 AND vault = ?2",
                vault,
            )? {
                blobs.extend(delete_upload_rows(tx, &id)?);
            }
            for id in ids(
                tx,
                "SELECT id FROM jobs WHERE account = ?1 AND vault = ?2",
                vault,
            )? {
                blobs.extend(delete_job_rows(tx, &id)?);
            }
            let mut blobs = unreferenced(tx, blobs)?;
            blobs.sort();
            blobs.dedup();
            tx.execute(
                "DELETE FROM vault_tags WHERE account = ?1 AND vault = ?2",
                vault,
            )?;
            tx.execute(
                "DELETE FROM vault_policies WHERE account = ?1 AND vault = ?2",
                vault,
            )?;
            tx.execute(
                "DELETE FROM completed_uploads WHERE account = ?1 AND vault = ?2",
                params![key.account, key.name],
            )?;
            tx.execute(
                "DELETE FROM vaults WHERE account = ?1 AND name = ?2",
                params![key.account, key.name],
            )?;
            Ok(blobs)
        })
        .await
    }

    async fn get_notifications(&self, key: &VaultKey) -> Result<Option<Notifications>> {
        let key = key.clone();
        self.tx(move |tx| {
            let (topic, events): (Option<String>, Option<String>) = tx
                .query_row(
                    "SELECT sns_topic, events FROM vaults WHERE account = ?1 AND name = ?2",
                    params![key.account, key.name],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?
                .ok_or_else(|| vault_not_found(&key))?;
            Ok(topic.map(|sns_topic| Notifications {
                sns_topic,
                events: events
                    .unwrap_or_default()
                    .split(',')
                    .filter(|e| !e.is_empty())
                    .map(str::to_owned)
                    .collect(),
            }))
        })
        .await
    }

    async fn set_notifications(&self, key: &VaultKey, config: Option<Notifications>) -> Result<()> {
        let key = key.clone();
        self.tx(move |tx| {
            require_vault(tx, &key)?;
            let (topic, events) = match config {
                Some(c) => (Some(c.sns_topic), Some(c.events.join(","))),
                None => (None, None),
            };
            tx.execute(
                "UPDATE vaults SET sns_topic = ?3, events = ?4 WHERE account = ?1 AND name = ?2",
                params![key.account, key.name, topic, events],
            )?;
            Ok(())
        })
        .await
    }

    async fn insert_archive(&self, key: &VaultKey, archive: ArchiveRecord) -> Result<()> {
        let key = key.clone();
        self.tx(move |tx| {
            require_vault(tx, &key)?;
            insert_archive_rows(tx, &key, &archive)
        })
        .await
    }

    async fn import_archives(&self, key: &VaultKey, archives: Vec<ArchiveRecord>) -> Result<()> {
        let key = key.clone();
        self.tx(move |tx| {
            require_vault(tx, &key)?;
            archives
                .iter()
                .try_for_each(|a| insert_archive_rows(tx, &key, a))
        })
        .await
    }

    async fn get_archive(&self, key: &VaultKey, id: &str) -> Result<ArchiveRecord> {
        let key = key.clone();
        let id = id.to_owned();
        self.tx(move |tx| {
            require_vault(tx, &key)?;
            let (description, size, tree_hash, created): (String, i64, Vec<u8>, i64) = tx
                .query_row(
                    "SELECT description, size, tree_hash, created_ms FROM archives WHERE id = ?1 AND account = ?2 AND vault = ?3",
                    params![id, key.account, key.name],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?
                .ok_or_else(|| StorageError::not_found("archive", id.clone()))?;
            let segments = load_segments(tx, ARCHIVE_SEGMENTS, &id)?;
            Ok(ArchiveRecord {
                id,
                description,
                size: u(size),
                tree_hash: TreeHash(digest(tree_hash)?),
                created: from_ms(created),
                segments,
            })
        })
        .await
    }

    async fn list_archives(
        &self,
        key: &VaultKey,
        query: &ArchiveQuery,
    ) -> Result<Page<ArchiveSummary>> {
        let key = key.clone();
        let q = query.clone();
        self.tx(move |tx| {
            require_vault(tx, &key)?;
            let (after_ms, after_id) = match &q.after {
                Some(c) => (to_ms(c.created), c.id.clone()),
                None => (i64::MIN, String::new()),
            };
            let from = q.created_from.map_or(i64::MIN, to_ms);
            let before = q.created_before.map_or(i64::MAX, to_ms);
            let mut stmt = tx.prepare(
                "SELECT id, description, size, tree_hash, created_ms FROM archives
                 WHERE account = ?1 AND vault = ?2 AND (created_ms, id) > (?3, ?4)
                   AND created_ms >= ?5 AND created_ms < ?6
                 ORDER BY created_ms, id LIMIT ?7",
            )?;
            let rows = stmt.query_map(
                params![
                    key.account,
                    key.name,
                    after_ms,
                    after_id,
                    from,
                    before,
                    i(q.limit as u64 + 1)
                ],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, Vec<u8>>(3)?,
                        r.get::<_, i64>(4)?,
                    ))
                },
            )?;
            let mut items = Vec::new();
            for row in rows {
                let (id, description, size, hash, created) = row?;
                items.push(ArchiveSummary {
                    id,
                    description,
                    size: u(size),
                    tree_hash: TreeHash(digest(hash)?),
                    created: from_ms(created),
                });
            }
            Ok(Page::from_overfetch(items, q.limit))
        })
        .await
    }

    async fn delete_archive(&self, key: &VaultKey, id: &str) -> Result<Vec<BlobKey>> {
        let key = key.clone();
        let id = id.to_owned();
        self.tx(move |tx| {
            require_vault(tx, &key)?;
            let size: i64 = tx
                .query_row(
                    "SELECT size FROM archives WHERE id = ?1 AND account = ?2 AND vault = ?3",
                    params![id, key.account, key.name],
                    |r| r.get(0),
                )
                .optional()?
                .ok_or_else(|| StorageError::not_found("archive", id.clone()))?;
            let blobs = blobs_of(tx, "SELECT blob FROM segments WHERE archive_id = ?1", &id)?;
            tx.execute("DELETE FROM segments WHERE archive_id = ?1", [&id])?;
            tx.execute("DELETE FROM archives WHERE id = ?1", [&id])?;
            let blobs = unreferenced(tx, blobs)?;
            tx.execute(
                "UPDATE vaults SET archive_count = archive_count - 1, size = size - ?3 WHERE account = ?1 AND name = ?2",
                params![key.account, key.name, size],
            )?;
            Ok(blobs)
        })
        .await
    }

    async fn create_upload(&self, key: &VaultKey, upload: UploadRecord) -> Result<()> {
        let key = key.clone();
        self.tx(move |tx| {
            require_vault(tx, &key)?;
            tx.execute(
                "INSERT INTO uploads (id, account, vault, description, part_size, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![upload.id, key.account, key.name, upload.description, i(upload.part_size), to_ms(upload.created)],
            )?;
            Ok(())
        })
        .await
    }

    async fn get_upload(&self, key: &VaultKey, id: &str) -> Result<UploadRecord> {
        let key = key.clone();
        let id = id.to_owned();
        self.tx(move |tx| read_upload(tx, &key, &id)).await
    }

    async fn list_uploads(
        &self,
        key: &VaultKey,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<UploadRecord>> {
        let key = key.clone();
        let after = after.unwrap_or("").to_owned();
        self.tx(move |tx| {
            require_vault(tx, &key)?;
            let mut stmt = tx.prepare(
                "SELECT id, description, part_size, created_ms FROM uploads
                 WHERE account = ?1 AND vault = ?2 AND id > ?3 ORDER BY id LIMIT ?4",
            )?;
            let rows = stmt.query_map(
                params![key.account, key.name, after, i(limit as u64 + 1)],
                |r| {
                    Ok(UploadRecord {
                        id: r.get(0)?,
                        description: r.get(1)?,
                        part_size: u(r.get(2)?),
                        created: from_ms(r.get(3)?),
                    })
                },
            )?;
            Ok(Page::from_overfetch(
                rows.collect::<Result<Vec<_>, _>>()?,
                limit,
            ))
        })
        .await
    }

    async fn put_part(
        &self,
        key: &VaultKey,
        upload_id: &str,
        part: PartRecord,
    ) -> Result<Option<BlobKey>> {
        let key = key.clone();
        let upload_id = upload_id.to_owned();
        self.tx(move |tx| {
            read_upload(tx, &key, &upload_id)?;
            let old: Option<String> = tx
                .query_row(
                    "SELECT blob FROM parts WHERE upload_id = ?1 AND start = ?2",
                    params![upload_id, i(part.start)],
                    |r| r.get(0),
                )
                .optional()?;
            let s = &part.segment;
            tx.execute(
                "INSERT OR REPLACE INTO parts (upload_id, start, blob, size, tree_hash, leaves) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![upload_id, i(part.start), s.blob.0, i(s.size), &s.tree_hash.0[..], leaves_to_blob(&s.leaves)],
            )?;
            Ok(old.map(BlobKey))
        })
        .await
    }

    async fn list_parts(
        &self,
        key: &VaultKey,
        upload_id: &str,
        from: u64,
        limit: usize,
    ) -> Result<Page<PartInfo>> {
        let key = key.clone();
        let upload_id = upload_id.to_owned();
        self.tx(move |tx| {
            read_upload(tx, &key, &upload_id)?;
            let mut stmt = tx.prepare(
                "SELECT start, size, tree_hash FROM parts WHERE upload_id = ?1 AND start >= ?2 ORDER BY start LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![upload_id, i(from), i(limit as u64 + 1)], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, Vec<u8>>(2)?))
            })?;
            let mut items = Vec::new();
            for row in rows {
                let (start, size, hash) = row?;
                items.push(PartInfo { start: u(start), size: u(size), tree_hash: digest(hash)? });
            }
            Ok(Page::from_overfetch(items, limit))
        })
        .await
    }

    async fn complete_upload(
        &self,
        key: &VaultKey,
        upload_id: &str,
        c: Completion,
    ) -> Result<String> {
        let key = key.clone();
        let upload_id = upload_id.to_owned();
        self.tx(move |tx| {
            require_vault(tx, &key)?;
            let done: Option<(String, i64, Vec<u8>)> = tx
                .query_row(
                    "SELECT archive_id, archive_size, tree_hash FROM completed_uploads WHERE upload_id = ?1 AND account = ?2 AND vault = ?3",
                    params![upload_id, key.account, key.name],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            if let Some((archive_id, size, hash)) = done {
                if u(size) == c.archive_size && digest(hash)? == c.tree_hash.0 {
                    return Ok(archive_id);
                }
                return Err(StorageError::Conflict(format!(
                    "The multipart upload {upload_id} was already completed with another archive size or tree hash"
                )));
            }
            let upload = read_upload(tx, &key, &upload_id)?;
            let mut parts = Vec::new();
            {
                let mut stmt = tx.prepare(
                    "SELECT start, blob, size, tree_hash, leaves FROM parts WHERE upload_id = ?1 ORDER BY start",
                )?;
                let rows = stmt.query_map([&upload_id], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, Vec<u8>>(3)?,
                        r.get::<_, Vec<u8>>(4)?,
                    ))
                })?;
                for row in rows {
                    let (start, blob, size, hash, leaves) = row?;
                    parts.push(PartRecord {
                        start: u(start),
                        segment: Segment {
                            blob: BlobKey(blob),
                            size: u(size),
                            tree_hash: TreeHash(digest(hash)?),
                            leaves: leaves_from_blob(&leaves)?,
                        },
                    });
                }
            }
            let infos: Vec<PartInfo> = parts
                .iter()
                .map(|p| PartInfo { start: p.start, size: p.segment.size, tree_hash: p.segment.tree_hash.0 })
                .collect();
            check_complete(upload.part_size, &infos, c.archive_size, &c.tree_hash)
                .map_err(|e| StorageError::Invalid(e.0))?;
            let archive = ArchiveRecord {
                id: c.archive_id.clone(),
                description: upload.description.unwrap_or_default(),
                size: c.archive_size,
                tree_hash: c.tree_hash,
                created: c.now,
                segments: parts.into_iter().map(|p| p.segment).collect(),
            };
            insert_archive_rows(tx, &key, &archive)?;
            tx.execute("DELETE FROM parts WHERE upload_id = ?1", [&upload_id])?;
            tx.execute("DELETE FROM uploads WHERE id = ?1", [&upload_id])?;
            tx.execute(
                "INSERT INTO completed_uploads (upload_id, account, vault, archive_id, archive_size, tree_hash, completed_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![upload_id, key.account, key.name, c.archive_id, i(c.archive_size), &c.tree_hash.0[..], to_ms(c.now)],
            )?;
            Ok(c.archive_id)
        })
        .await
    }

    async fn abort_upload(&self, key: &VaultKey, id: &str) -> Result<Vec<BlobKey>> {
        let key = key.clone();
        let id = id.to_owned();
        self.tx(move |tx| {
            read_upload(tx, &key, &id)?;
            delete_upload_rows(tx, &id)
        })
        .await
    }

    async fn create_job(&self, key: &VaultKey, job: JobRecord) -> Result<JobRecord> {
        let key = key.clone();
        self.tx(move |tx| {
            require_vault(tx, &key)?;
            let spec = serde_json::to_string(&job.spec).map_err(|e| StorageError::Backend { message: "serializing a job spec".into(), source: Some(Box::new(e)) })?;
            tx.execute(
                "INSERT INTO jobs (id, account, vault, spec, description, sns_topic, created_ms, due_ms, status)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    job.id,
                    key.account,
                    key.name,
                    spec,
                    job.description,
                    job.sns_topic,
                    to_ms(job.created),
                    to_ms(job.due),
                    JobStatus::InProgress.as_str()
                ],
            )?;
            if let JobSpec::Archive { range, tier, .. } = &job.spec {
                let at = to_ms(job.created);
                tx.execute(
                    "DELETE FROM retrievals WHERE at_ms < ?1",
                    [at - RETRIEVAL_LEDGER_DAYS * 86_400_000],
                )?;
                tx.execute(
                    "INSERT INTO retrievals (account, at_ms, bytes, tier) VALUES (?1, ?2, ?3, ?4)",
                    params![key.account, at, i(range.1 - range.0 + 1), tier.as_str()],
                )?;
            }
            read_job(tx, &key, &job.id)
        })
        .await
    }

    async fn retrievals_since(
        &self,
        account: &str,
        since: OffsetDateTime,
    ) -> Result<Vec<Retrieval>> {
        let account = account.to_owned();
        self.tx(move |tx| {
            let mut stmt = tx.prepare(
                "SELECT at_ms, bytes, tier FROM retrievals WHERE account = ?1 AND at_ms >= ?2 ORDER BY at_ms",
            )?;
            let rows = stmt.query_map(params![account, to_ms(since)], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (at, bytes, tier) = row?;
                out.push(Retrieval {
                    at: from_ms(at),
                    bytes: u(bytes),
                    tier: tier
                        .parse()
                        .map_err(|e| StorageError::backend(format!("stored retrieval: {e}")))?,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn get_job(&self, key: &VaultKey, id: &str) -> Result<JobRecord> {
        let key = key.clone();
        let id = id.to_owned();
        self.tx(move |tx| read_job(tx, &key, &id)).await
    }

    async fn list_jobs(
        &self,
        key: &VaultKey,
        filter: &JobFilter,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Page<JobRecord>> {
        let key = key.clone();
        let filter = filter.clone();
        self.tx(move |tx| {
            require_vault(tx, &key)?;
            let completed = filter.completed.map(|c| if c { 1 } else { 0 });
            let status = filter.status.map(JobStatus::as_str);
            let items = query_jobs(
                tx,
                "account = ?1 AND vault = ?2 AND seq > ?3
                   AND (?4 IS NULL OR (status != 'InProgress') = ?4)
                   AND (?5 IS NULL OR status = ?5)
                 ORDER BY seq LIMIT ?6",
                &[
                    &key.account,
                    &key.name,
                    &i(after.unwrap_or(0)),
                    &completed,
                    &status,
                    &i(limit as u64 + 1),
                ],
            )?;
            Ok(Page::from_overfetch(items, limit))
        })
        .await
    }

    async fn due_jobs(
        &self,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<(VaultKey, JobRecord)>> {
        self.tx(move |tx| {
            let mut stmt = tx.prepare(
                "SELECT account, vault, id FROM jobs WHERE status = 'InProgress' AND due_ms <= ?1 ORDER BY due_ms LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![to_ms(now), i(limit as u64)], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
            })?;
            let ids = rows.collect::<Result<Vec<_>, _>>()?;
            let mut out = Vec::new();
            for (account, name, id) in ids {
                let key = VaultKey { account, name };
                let job = read_job(tx, &key, &id)?;
                out.push((key, job));
            }
            Ok(out)
        })
        .await
    }

    async fn next_deadline(&self) -> Result<Option<OffsetDateTime>> {
        self.tx(|tx| {
            let ms: Option<i64> = tx.query_row(
                "SELECT MIN(t) FROM (
                    SELECT MIN(due_ms) AS t FROM jobs WHERE status = 'InProgress'
                    UNION ALL SELECT MIN(expires_ms) FROM jobs WHERE expires_ms IS NOT NULL)",
                [],
                |r| r.get(0),
            )?;
            Ok(ms.map(from_ms))
        })
        .await
    }

    async fn finish_job(
        &self,
        key: &VaultKey,
        id: &str,
        finish: JobFinish,
        now: OffsetDateTime,
        expires: OffsetDateTime,
    ) -> Result<JobRecord> {
        let key = key.clone();
        let id = id.to_owned();
        self.tx(move |tx| {
            let job = read_job(tx, &key, &id)?;
            if job.status != JobStatus::InProgress {
                return Err(StorageError::not_found("job in progress", id));
            }
            let (status, message, output_size, next_marker) = match finish {
                JobFinish::Archive => {
                    let JobSpec::Archive { archive_id, range, .. } = &job.spec else {
                        return Err(StorageError::backend(format!("job {id} is not an archive retrieval")));
                    };
                    let exists: bool = tx.query_row(
                        "SELECT EXISTS (SELECT 1 FROM archives WHERE id = ?1 AND account = ?2 AND vault = ?3)",
                        params![archive_id, key.account, key.name],
                        |r| r.get(0),
                    )?;
                    if exists {
                        let segments = load_segments(tx, ARCHIVE_SEGMENTS, archive_id)?;
                        insert_job_segments(tx, &id, &segments)?;
                        (JobStatus::Succeeded, "Succeeded".to_owned(), Some(range.1 - range.0 + 1), None)
                    } else {
                        (
                            JobStatus::Failed,
                            format!("The archive {archive_id} was deleted before the job completed"),
                            None,
                            None,
                        )
                    }
                }
                JobFinish::Inventory { output, next_marker } => {
                    let size = output.size;
                    insert_job_segments(tx, &id, std::slice::from_ref(&output))?;
                    tx.execute(
                        "UPDATE vaults SET last_inventory_ms = ?3 WHERE account = ?1 AND name = ?2",
                        params![key.account, key.name, to_ms(now)],
                    )?;
                    (JobStatus::Succeeded, "Succeeded".to_owned(), Some(size), next_marker)
                }
                JobFinish::Failed { message } => (JobStatus::Failed, message, None, None),
            };
            tx.execute(
                "UPDATE jobs SET status = ?2, status_message = ?3, completed_ms = ?4, expires_ms = ?5, output_size = ?6, next_marker = ?7
                 WHERE id = ?1",
                params![id, status.as_str(), message, to_ms(now), to_ms(expires), output_size.map(i), next_marker],
            )?;
            read_job(tx, &key, &id)
        })
        .await
    }

    async fn job_output(&self, key: &VaultKey, id: &str) -> Result<(JobRecord, Vec<Segment>)> {
        let key = key.clone();
        let id = id.to_owned();
        self.tx(move |tx| {
            let job = read_job(tx, &key, &id)?;
            let segments = load_segments(tx, JOB_SEGMENTS, &id)?;
            Ok((job, segments))
        })
        .await
    }

    async fn expire_jobs(&self, now: OffsetDateTime) -> Result<Vec<BlobKey>> {
        self.tx(move |tx| {
            let mut blobs = Vec::new();
            for id in ids(
                tx,
                "SELECT id FROM jobs WHERE expires_ms <= ?1",
                [to_ms(now)],
            )? {
                blobs.extend(delete_job_rows(tx, &id)?);
            }
            blobs.sort();
            blobs.dedup();
            unreferenced(tx, blobs)
        })
        .await
    }

    async fn add_tags(
        &self,
        key: &VaultKey,
        tags: &BTreeMap<String, String>,
        max: usize,
    ) -> Result<()> {
        let key = key.clone();
        let tags = tags.clone();
        self.tx(move |tx| {
            require_vault(tx, &key)?;
            for (k, v) in &tags {
                tx.execute(
                    "INSERT OR REPLACE INTO vault_tags (account, vault, key, value) VALUES (?1, ?2, ?3, ?4)",
                    params![key.account, key.name, k, v],
                )?;
            }
            let count: i64 = tx.query_row(
                "SELECT COUNT(*) FROM vault_tags WHERE account = ?1 AND vault = ?2",
                params![key.account, key.name],
                |r| r.get(0),
            )?;
            if u(count) as usize > max {
                // The transaction is rolled back: nothing of the request stays.
                return Err(StorageError::LimitExceeded(format!(
                    "The vault would have {count} tags; a vault can have at most {max}"
                )));
            }
            Ok(())
        })
        .await
    }

    async fn remove_tags(&self, key: &VaultKey, keys: &[String]) -> Result<()> {
        let key = key.clone();
        let keys = keys.to_vec();
        self.tx(move |tx| {
            require_vault(tx, &key)?;
            for k in &keys {
                tx.execute(
                    "DELETE FROM vault_tags WHERE account = ?1 AND vault = ?2 AND key = ?3",
                    params![key.account, key.name, k],
                )?;
            }
            Ok(())
        })
        .await
    }

    async fn list_tags(&self, key: &VaultKey) -> Result<BTreeMap<String, String>> {
        let key = key.clone();
        self.tx(move |tx| {
            require_vault(tx, &key)?;
            let mut stmt =
                tx.prepare("SELECT key, value FROM vault_tags WHERE account = ?1 AND vault = ?2")?;
            let rows = stmt.query_map(params![key.account, key.name], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn vault_policies(&self, key: &VaultKey) -> Result<VaultPolicies> {
        let key = key.clone();
        self.tx(move |tx| {
            let vault = read_vault(tx, &key)?;
            let access = tx
                .query_row(
                    "SELECT policy FROM vault_policies WHERE account = ?1 AND vault = ?2 AND kind = 'access'",
                    params![key.account, key.name],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(VaultPolicies {
                region: vault.region,
                access,
                lock: read_lock(tx, &key)?,
            })
        })
        .await
    }

    async fn set_access_policy(&self, key: &VaultKey, policy: Option<String>) -> Result<()> {
        let key = key.clone();
        self.tx(move |tx| {
            require_vault(tx, &key)?;
            tx.execute(
                "DELETE FROM vault_policies WHERE account = ?1 AND vault = ?2 AND kind = 'access'",
                params![key.account, key.name],
            )?;
            if let Some(p) = policy {
                tx.execute(
                    "INSERT INTO vault_policies (account, vault, kind, policy) VALUES (?1, ?2, 'access', ?3)",
                    params![key.account, key.name, p],
                )?;
            }
            Ok(())
        })
        .await
    }

    async fn swap_vault_lock(
        &self,
        key: &VaultKey,
        expected: Option<&VaultLock>,
        new: Option<VaultLock>,
    ) -> Result<LockSwap> {
        let key = key.clone();
        let expected = expected.map(|l| (l.lock_id.clone(), l.state));
        self.tx(move |tx| {
            let current = read_lock(tx, &key)?;
            if current.as_ref().map(|l| (l.lock_id.clone(), l.state)) != expected {
                return Ok(LockSwap::Changed(current));
            }
            tx.execute(
                "DELETE FROM vault_policies WHERE account = ?1 AND vault = ?2 AND kind = 'lock'",
                params![key.account, key.name],
            )?;
            if let Some(l) = new {
                tx.execute(
                    "INSERT INTO vault_policies (account, vault, kind, policy, state, lock_id, created_ms, expires_ms)
                     VALUES (?1, ?2, 'lock', ?3, ?4, ?5, ?6, ?7)",
                    params![key.account, key.name, l.policy, l.state.as_str(), l.lock_id, to_ms(l.created), l.expires.map(to_ms)],
                )?;
            }
            Ok(LockSwap::Swapped)
        })
        .await
    }

    async fn get_retrieval_policy(&self, account: &str) -> Result<Option<String>> {
        let account = account.to_owned();
        self.tx(move |tx| {
            Ok(tx
                .query_row(
                    "SELECT retrieval_policy FROM account_settings WHERE account = ?1",
                    [&account],
                    |r| r.get(0),
                )
                .optional()?
                .flatten())
        })
        .await
    }

    async fn set_retrieval_policy(&self, account: &str, policy: &str) -> Result<()> {
        let (account, policy) = (account.to_owned(), policy.to_owned());
        self.tx(move |tx| {
            tx.execute(
                "INSERT INTO account_settings (account, retrieval_policy) VALUES (?1, ?2)
                 ON CONFLICT (account) DO UPDATE SET retrieval_policy = excluded.retrieval_policy",
                params![account, policy],
            )?;
            Ok(())
        })
        .await
    }

    async fn purchase_capacity(&self, account: &str, unit: CapacityUnit, max: usize) -> Result<()> {
        let account = account.to_owned();
        self.tx(move |tx| {
            let active: i64 = tx.query_row(
                "SELECT COUNT(*) FROM capacity_units WHERE account = ?1 AND expires_ms > ?2",
                params![account, to_ms(unit.start)],
                |r| r.get(0),
            )?;
            if u(active) as usize >= max {
                return Err(StorageError::LimitExceeded(format!(
                    "The account already has {active} active provisioned capacity units; the limit is {max}"
                )));
            }
            tx.execute(
                "INSERT INTO capacity_units (id, account, start_ms, expires_ms) VALUES (?1, ?2, ?3, ?4)",
                params![unit.id, account, to_ms(unit.start), to_ms(unit.expires)],
            )?;
            Ok(())
        })
        .await
    }

    async fn list_capacity(&self, account: &str) -> Result<Vec<CapacityUnit>> {
        let account = account.to_owned();
        self.tx(move |tx| {
            let mut stmt = tx.prepare("SELECT id, start_ms, expires_ms FROM capacity_units WHERE account = ?1 ORDER BY start_ms, rowid")?;
            let rows = stmt.query_map([&account], |r| {
                Ok(CapacityUnit { id: r.get(0)?, start: from_ms(r.get(1)?), expires: from_ms(r.get(2)?) })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn unreferenced_blobs(&self, candidates: Vec<BlobKey>) -> Result<Vec<BlobKey>> {
        self.tx(move |tx| unreferenced(tx, candidates)).await
    }

    async fn referenced_blobs(&self) -> Result<HashSet<BlobKey>> {
        self.tx(|tx| {
            let mut stmt =
                tx.prepare("SELECT blob FROM segments UNION SELECT blob FROM parts UNION SELECT blob FROM job_segments")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            Ok(rows.map(|r| r.map(BlobKey)).collect::<Result<_, _>>()?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conformance() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let store = SqliteMetadataStore::open(dir.path().join("meta.db")).await?;
        crate::conformance::metadata_store(&store).await;
        crate::conformance::jobs(&store).await;
        crate::conformance::governance(&store).await;
        crate::conformance::lock_races(std::sync::Arc::new(store)).await;
        Ok(())
    }

    #[tokio::test]
    async fn state_survives_reopen() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let key = VaultKey {
            account: "111122223333".into(),
            name: "v".into(),
        };
        {
            let store = SqliteMetadataStore::open(dir.path().join("meta.db")).await?;
            store
                .create_vault(&key, "us-east-1", OffsetDateTime::now_utc(), 10)
                .await?;
        }
        let store = SqliteMetadataStore::open(dir.path().join("meta.db")).await?;
        assert_eq!(store.get_vault(&key).await?.key, key);
        Ok(())
    }

    /// A data directory of schema 1 (checked in as SQL) opens, migrates, and keeps every
    /// vault, archive, upload, part, job, lock and setting; its vaults take the region given.
    #[tokio::test]
    async fn schema_1_migrates() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("meta.db");
        Connection::open(&path)?.execute_batch(include_str!("../testdata/schema-1.sql"))?;
        let store = SqliteMetadataStore::open(&path).await?;
        assert_eq!(store.assign_legacy_region("eu-central-1").await?, 2);
        assert_eq!(
            store.assign_legacy_region("us-east-1").await?,
            0,
            "only once"
        );
        let key = VaultKey {
            account: "111122223333".into(),
            name: "photos".into(),
        };
        let v = store.get_vault(&key).await?;
        assert_eq!(
            (v.region.as_str(), v.archive_count, v.size),
            ("eu-central-1", 1, 5)
        );
        let a = store.get_archive(&key, "ARCHIVE1").await?;
        assert_eq!((a.description.as_str(), a.segments.len()), ("a photo", 1));
        assert_eq!(store.get_upload(&key, "UPLOAD1").await?.part_size, 1 << 20);
        assert_eq!(
            store.list_parts(&key, "UPLOAD1", 0, 10).await?.items.len(),
            1
        );
        assert_eq!(
            store.get_job(&key, "JOB1").await?.status,
            JobStatus::InProgress
        );
        let lock = store.vault_policies(&key).await?.lock;
        assert_eq!(
            lock.map(|l| (l.state, l.lock_id)),
            Some((LockState::Locked, "LOCK1".to_owned()))
        );
        assert_eq!(
            store.list_tags(&key).await?.get("team").map(String::as_str),
            Some("a")
        );
        assert!(store.get_retrieval_policy("111122223333").await?.is_some());
        assert_eq!(store.list_capacity("111122223333").await?.len(), 1);
        assert_eq!(
            store
                .retrievals_since("111122223333", from_ms(0))
                .await?
                .len(),
            1
        );
        let again = Completion {
            archive_id: "NEW".into(),
            archive_size: 5,
            tree_hash: a.tree_hash,
            now: OffsetDateTime::now_utc(),
        };
        assert_eq!(
            store.complete_upload(&key, "UPLOAD0", again).await?,
            "ARCHIVE1"
        );
        drop(store);
        let version: i64 =
            Connection::open(&path)?.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        assert_eq!(version, MIGRATIONS.len() as i64);
        Ok(())
    }

    /// A database of a schema newer than the binary's is refused, not guessed at.
    #[tokio::test]
    async fn newer_schema_is_refused() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("meta.db");
        Connection::open(&path)?.pragma_update(None, "user_version", 99)?;
        match SqliteMetadataStore::open(&path).await {
            Err(e) => assert!(e.to_string().contains("newer"), "{e}"),
            Ok(_) => panic!("a schema-99 database opened"),
        }
        Ok(())
    }

    /// A lock row that is not a valid lock is an error, never "no lock": a vault's write-once
    /// protection must not fall away because a row cannot be read.
    #[tokio::test]
    async fn an_unreadable_lock_is_an_error() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("meta.db");
        let store = SqliteMetadataStore::open(&path).await?;
        let key = VaultKey {
            account: "111122223333".into(),
            name: "v".into(),
        };
        store
            .create_vault(&key, "us-east-1", OffsetDateTime::now_utc(), 10)
            .await?;
        for (state, lock_id) in [
            (Some("locked"), Some("L")),
            (None, Some("L")),
            (Some("Locked"), None),
        ] {
            let conn = Connection::open(&path)?;
            conn.execute("DELETE FROM vault_policies", [])?;
            conn.execute(
                "INSERT INTO vault_policies (account, vault, kind, policy, state, lock_id, created_ms)
                 VALUES ('111122223333', 'v', 'lock', '{}', ?1, ?2, 0)",
                params![state, lock_id],
            )?;
            match store.vault_policies(&key).await {
                Err(StorageError::Backend { message, .. }) => {
                    assert!(message.contains("lock"), "{message}")
                }
                other => panic!("state {state:?}, id {lock_id:?}: {other:?}"),
            }
        }
        Ok(())
    }
}
