//! The schema, one migration per version, applied at open.

use crate::{Result, StorageError};
use rusqlite::Connection;

/// The schema, one migration per version: `PRAGMA user_version` is the number of migrations a
/// database has had. Version 1 is the schema of the data directories made before versions were
/// numbered (they read 0 and have every table already, hence `IF NOT EXISTS`).
pub(super) const MIGRATIONS: &[&str] =
    &[SCHEMA_1, SCHEMA_2, SCHEMA_3, SCHEMA_4, SCHEMA_5, SCHEMA_6];

/// Daily inventories (`--aws-timing`): when each archive was deleted, and each vault's last
/// inventory — its time, its document's one segment and its totals.
pub(super) const SCHEMA_6: &str = "
ALTER TABLE deleted_archives ADD COLUMN deleted_ms INTEGER;
CREATE TABLE inventory_snapshots (
    account TEXT NOT NULL,
    vault TEXT NOT NULL,
    taken_ms INTEGER NOT NULL,
    blob TEXT NOT NULL,
    size INTEGER NOT NULL,
    tree_hash BLOB NOT NULL,
    leaves BLOB NOT NULL,
    archives INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    PRIMARY KEY (account, vault)
);
CREATE INDEX inventory_snapshots_by_blob ON inventory_snapshots (blob);
";

/// The ids of deleted archives, so that deleting one again answers as the first time did
/// (DeleteArchive is idempotent); kept until their vault is deleted.
pub(super) const SCHEMA_5: &str = "
CREATE TABLE deleted_archives (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    vault TEXT NOT NULL
);
CREATE INDEX deleted_archives_by_vault ON deleted_archives (account, vault);
";

/// The usage history: each account's totals at each sample time (the console's graphs).
pub(super) const SCHEMA_4: &str = "
CREATE TABLE usage_samples (
    account TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    vaults INTEGER NOT NULL,
    archives INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    PRIMARY KEY (account, at_ms)
);
CREATE INDEX usage_samples_by_time ON usage_samples (at_ms);
";

/// Jobs are claimed by one engine at a time, until their lease runs out.
pub(super) const SCHEMA_3: &str = "ALTER TABLE jobs ADD COLUMN lease_until_ms INTEGER;";

/// Vaults keep the region they were created in: their ARN, which policies name, never changes.
pub(super) const SCHEMA_2: &str = "ALTER TABLE vaults ADD COLUMN region TEXT;";

pub(super) const SCHEMA_1: &str = "
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

/// Applies the migrations a database has not had, in one transaction; refuses a database of a
/// newer schema than this binary knows.
pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
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
