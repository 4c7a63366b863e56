//! `archives` and their `segments`.

use super::blobs::unreferenced;
use super::rows::require_vault;
use super::values::*;
use crate::blob::BlobKey;
use crate::columns::Segments;
use crate::meta::*;
use crate::{Result, StorageError};
use glacier_core::TreeHash;
use rusqlite::{OptionalExtension, Transaction, params};

pub(super) fn insert_archive_rows(
    tx: &Transaction<'_>,
    key: &VaultKey,
    a: &ArchiveRecord,
) -> Result<()> {
    tx.execute_cached(
        "INSERT INTO archives (id, account, vault, description, size, tree_hash, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![a.id, key.account, key.name, a.description, i(a.size), &a.tree_hash.0[..], to_ms(a.created)],
    )?;
    insert_segments(tx, Segments::Archive, &a.id, &a.segments)?;
    tx.execute_cached(
        "UPDATE vaults SET archive_count = archive_count + 1, size = size + ?3 WHERE account = ?1 AND name = ?2",
        params![key.account, key.name, i(a.size)],
    )?;
    Ok(())
}

/// Inserts the segment rows of an archive or a job's output, in order.
pub(super) fn insert_segments(
    tx: &Transaction<'_>,
    of: Segments,
    id: &str,
    segments: &[Segment],
) -> Result<()> {
    let sql = match of {
        Segments::Archive => {
            "INSERT INTO segments (archive_id, seq, blob, size, tree_hash, leaves) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
        }
        Segments::Job => {
            "INSERT INTO job_segments (job_id, seq, blob, size, tree_hash, leaves) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
        }
    };
    for (seq, s) in segments.iter().enumerate() {
        tx.execute_cached(
            sql,
            params![
                id,
                i(seq as u64),
                s.blob.0,
                i(s.size),
                &s.tree_hash.0[..],
                leaves_to_blob(&s.leaves)
            ],
        )?;
    }
    Ok(())
}

/// The segments of an archive or of a job's output, in order.
pub(super) fn load_segments(tx: &Transaction<'_>, of: Segments, id: &str) -> Result<Vec<Segment>> {
    let sql = match of {
        Segments::Archive => {
            "SELECT blob, size, tree_hash, leaves FROM segments WHERE archive_id = ?1 ORDER BY seq"
        }
        Segments::Job => {
            "SELECT blob, size, tree_hash, leaves FROM job_segments WHERE job_id = ?1 ORDER BY seq"
        }
    };
    let mut stmt = tx.prepare_cached(sql)?;
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

pub(super) fn insert(tx: &Transaction<'_>, key: &VaultKey, archive: &ArchiveRecord) -> Result<()> {
    require_vault(tx, key)?;
    insert_archive_rows(tx, key, archive)
}

pub(super) fn import(
    tx: &Transaction<'_>,
    key: &VaultKey,
    archives: &[ArchiveRecord],
) -> Result<()> {
    require_vault(tx, key)?;
    archives
        .iter()
        .try_for_each(|a| insert_archive_rows(tx, key, a))
}

pub(super) fn get(tx: &Transaction<'_>, key: &VaultKey, id: &str) -> Result<ArchiveRecord> {
    let a = summary(tx, key, id)?;
    Ok(ArchiveRecord {
        segments: load_segments(tx, Segments::Archive, id)?,
        id: a.id,
        description: a.description,
        size: a.size,
        tree_hash: a.tree_hash,
        created: a.created,
    })
}

pub(super) fn summary(tx: &Transaction<'_>, key: &VaultKey, id: &str) -> Result<ArchiveSummary> {
    require_vault(tx, key)?;
    let (description, size, tree_hash, created): (String, i64, Vec<u8>, i64) = tx
        .query_row_cached(
            "SELECT description, size, tree_hash, created_ms FROM archives WHERE id = ?1 AND account = ?2 AND vault = ?3",
            params![id, key.account, key.name],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?
        .ok_or_else(|| StorageError::not_found(crate::Resource::Archive, id))?;
    Ok(ArchiveSummary {
        id: id.to_owned(),
        description,
        size: u(size),
        tree_hash: TreeHash(digest(tree_hash)?),
        created: from_ms(created),
    })
}

pub(super) fn list(
    tx: &Transaction<'_>,
    key: &VaultKey,
    q: &ArchiveQuery,
) -> Result<Page<ArchiveSummary>> {
    require_vault(tx, key)?;
    let (after_ms, after_id) = match &q.after {
        Some(c) => (to_ms(c.created), c.id.clone()),
        None => (i64::MIN, String::new()),
    };
    let from = q.created_from.map_or(i64::MIN, to_ms);
    let before = q.created_before.map_or(i64::MAX, to_ms);
    let mut stmt = tx.prepare_cached(
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
}

pub(super) fn delete(
    tx: &Transaction<'_>,
    key: &VaultKey,
    id: &str,
    now: time::OffsetDateTime,
) -> Result<Vec<BlobKey>> {
    require_vault(tx, key)?;
    let size: Option<i64> = tx
        .query_row_cached(
            "SELECT size FROM archives WHERE id = ?1 AND account = ?2 AND vault = ?3",
            params![id, key.account, key.name],
            |r| r.get(0),
        )
        .optional()?;
    let Some(size) = size else {
        let deleted = tx
            .query_row_cached(
                "SELECT 1 FROM deleted_archives WHERE id = ?1 AND account = ?2 AND vault = ?3",
                params![id, key.account, key.name],
                |_| Ok(()),
            )
            .optional()?;
        return match deleted {
            Some(()) => Ok(Vec::new()),
            None => Err(StorageError::not_found(crate::Resource::Archive, id)),
        };
    };
    let blobs = blobs_of(tx, "SELECT blob FROM segments WHERE archive_id = ?1", id)?;
    tx.execute_cached("DELETE FROM segments WHERE archive_id = ?1", [id])?;
    tx.execute_cached("DELETE FROM archives WHERE id = ?1", [id])?;
    tx.execute_cached(
        "INSERT OR IGNORE INTO deleted_archives (id, account, vault, deleted_ms) VALUES (?1, ?2, ?3, ?4)",
        params![id, key.account, key.name, to_ms(now)],
    )?;
    let blobs = unreferenced(tx, blobs)?;
    tx.execute_cached(
        "UPDATE vaults SET archive_count = archive_count - 1, size = size - ?3 WHERE account = ?1 AND name = ?2",
        params![key.account, key.name, size],
    )?;
    Ok(blobs)
}
