//! `uploads`, their `parts`, and `completed_uploads` (what makes completion idempotent).

use super::archives::insert_archive_rows;
use super::rows::delete_upload_rows;
use super::rows::require_vault;
use super::values::*;
use crate::blob::BlobKey;
use crate::meta::*;
use crate::{Result, StorageError};
use glacier_core::TreeHash;
use glacier_core::multipart::PartInfo;
use rusqlite::{OptionalExtension, Transaction, params};

pub(super) fn read_upload(tx: &Transaction<'_>, key: &VaultKey, id: &str) -> Result<UploadRecord> {
    require_vault(tx, key)?;
    tx.query_row_cached(
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
    .ok_or_else(|| StorageError::not_found(crate::Resource::MultipartUpload, id))
}

pub(super) fn create(tx: &Transaction<'_>, key: &VaultKey, upload: &UploadRecord) -> Result<()> {
    require_vault(tx, key)?;
    tx.execute_cached(
        "INSERT INTO uploads (id, account, vault, description, part_size, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![upload.id, key.account, key.name, upload.description, i(upload.part_size), to_ms(upload.created)],
    )?;
    Ok(())
}

pub(super) fn get(tx: &Transaction<'_>, key: &VaultKey, id: &str) -> Result<UploadRecord> {
    read_upload(tx, key, id)
}

pub(super) fn list(
    tx: &Transaction<'_>,
    key: &VaultKey,
    after: Option<&str>,
    limit: usize,
) -> Result<Page<UploadRecord>> {
    require_vault(tx, key)?;
    let mut stmt = tx.prepare_cached(
        "SELECT id, description, part_size, created_ms FROM uploads
         WHERE account = ?1 AND vault = ?2 AND id > ?3 ORDER BY id LIMIT ?4",
    )?;
    let rows = stmt.query_map(
        params![
            key.account,
            key.name,
            after.unwrap_or(""),
            i(limit as u64 + 1)
        ],
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
}

pub(super) fn put_part(
    tx: &Transaction<'_>,
    key: &VaultKey,
    upload_id: &str,
    part: &PartRecord,
) -> Result<Option<BlobKey>> {
    read_upload(tx, key, upload_id)?;
    let old: Option<String> = tx
        .query_row_cached(
            "SELECT blob FROM parts WHERE upload_id = ?1 AND start = ?2",
            params![upload_id, i(part.start)],
            |r| r.get(0),
        )
        .optional()?;
    let s = &part.segment;
    tx.execute_cached(
        "INSERT OR REPLACE INTO parts (upload_id, start, blob, size, tree_hash, leaves) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![upload_id, i(part.start), s.blob.0, i(s.size), &s.tree_hash.0[..], leaves_to_blob(&s.leaves)],
    )?;
    Ok(old.map(BlobKey))
}

pub(super) fn list_parts(
    tx: &Transaction<'_>,
    key: &VaultKey,
    upload_id: &str,
    from: u64,
    limit: usize,
) -> Result<Page<PartInfo>> {
    read_upload(tx, key, upload_id)?;
    let mut stmt = tx.prepare_cached(
        "SELECT start, size, tree_hash FROM parts WHERE upload_id = ?1 AND start >= ?2 ORDER BY start LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![upload_id, i(from), i(limit as u64 + 1)], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, Vec<u8>>(2)?,
        ))
    })?;
    let mut items = Vec::new();
    for row in rows {
        let (start, size, hash) = row?;
        items.push(PartInfo {
            start: u(start),
            size: u(size),
            tree_hash: digest(hash)?,
        });
    }
    Ok(Page::from_overfetch(items, limit))
}

pub(super) fn complete(
    tx: &Transaction<'_>,
    key: &VaultKey,
    upload_id: &str,
    c: Completion,
) -> Result<String> {
    require_vault(tx, key)?;
    let done: Option<(String, i64, Vec<u8>)> = tx
        .query_row_cached(
            "SELECT archive_id, archive_size, tree_hash FROM completed_uploads WHERE upload_id = ?1 AND account = ?2 AND vault = ?3",
            params![upload_id, key.account, key.name],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    if let Some((archive_id, size, hash)) = done {
        return c.again(upload_id, (archive_id, u(size), TreeHash(digest(hash)?)));
    }
    let upload = read_upload(tx, key, upload_id)?;
    let mut parts = Vec::new();
    {
        let mut stmt = tx.prepare_cached(
            "SELECT start, blob, size, tree_hash, leaves FROM parts WHERE upload_id = ?1 ORDER BY start",
        )?;
        let rows = stmt.query_map([upload_id], |r| {
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
    let archive = c.archive(upload, parts)?;
    insert_archive_rows(tx, key, &archive)?;
    tx.execute_cached("DELETE FROM parts WHERE upload_id = ?1", [upload_id])?;
    tx.execute_cached("DELETE FROM uploads WHERE id = ?1", [upload_id])?;
    tx.execute_cached(
        "INSERT INTO completed_uploads (upload_id, account, vault, archive_id, archive_size, tree_hash, completed_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![upload_id, key.account, key.name, c.archive_id, i(c.archive_size), &c.tree_hash.0[..], to_ms(c.now)],
    )?;
    Ok(c.archive_id)
}

pub(super) fn abort(tx: &Transaction<'_>, key: &VaultKey, id: &str) -> Result<Vec<BlobKey>> {
    read_upload(tx, key, id)?;
    delete_upload_rows(tx, id)
}
