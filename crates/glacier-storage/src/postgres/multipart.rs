//! `uploads`, their `parts`, and `completed_uploads` (what makes completion idempotent).

use super::archives::{count_archives, insert_archive_rows};
use super::rows::delete_upload_rows;
use super::rows::require_vault;
use super::values::*;
use crate::blob::BlobKey;
use crate::meta::*;
use crate::{Result, StorageError};
use deadpool_postgres::Transaction;
use glacier_core::TreeHash;
use glacier_core::multipart::PartInfo;
use tokio_postgres::Row;

fn upload_from_row(r: &Row) -> Result<UploadRecord> {
    Ok(UploadRecord {
        id: col(r, 0)?,
        description: col(r, 1)?,
        part_size: u(col(r, 2)?),
        created: from_ms(col(r, 3)?),
    })
}

pub(super) async fn read_upload(
    tx: &Transaction<'_>,
    key: &VaultKey,
    id: &str,
) -> Result<UploadRecord> {
    require_vault(tx, key).await?;
    let row = tx
        .query_opt(
            &tx.prepare_cached("SELECT id, description, part_size, created_ms FROM uploads WHERE id = $1 AND account = $2 AND vault = $3").await?,
            &[&id, &key.account, &key.name],
        )
        .await?
        .ok_or_else(|| StorageError::not_found(crate::Resource::MultipartUpload, id))?;
    upload_from_row(&row)
}

pub(super) async fn create(
    tx: &Transaction<'_>,
    key: &VaultKey,
    upload: &UploadRecord,
) -> Result<()> {
    require_vault(tx, key).await?;
    tx.execute(
        &tx.prepare_cached("INSERT INTO uploads (id, account, vault, description, part_size, created_ms) VALUES ($1, $2, $3, $4, $5, $6)").await?,
        &[&upload.id, &key.account, &key.name, &upload.description, &i(upload.part_size), &to_ms(upload.created)],
    )
    .await?;
    Ok(())
}

pub(super) async fn list(
    tx: &Transaction<'_>,
    key: &VaultKey,
    after: Option<&str>,
    limit: usize,
) -> Result<Page<UploadRecord>> {
    require_vault(tx, key).await?;
    let rows = tx
        .query(
            &tx.prepare_cached(
                "SELECT id, description, part_size, created_ms FROM uploads
             WHERE account = $1 AND vault = $2 AND id > $3 ORDER BY id LIMIT $4",
            )
            .await?,
            &[
                &key.account,
                &key.name,
                &after.unwrap_or(""),
                &i(limit as u64 + 1),
            ],
        )
        .await?;
    let items = rows
        .iter()
        .map(upload_from_row)
        .collect::<Result<Vec<_>>>()?;
    Ok(Page::from_overfetch(items, limit))
}

pub(super) async fn put_part(
    tx: &Transaction<'_>,
    key: &VaultKey,
    upload_id: &str,
    part: &PartRecord,
) -> Result<Option<BlobKey>> {
    read_upload(tx, key, upload_id).await?;
    let old = tx
        .query_opt(
            &tx.prepare_cached("SELECT blob FROM parts WHERE upload_id = $1 AND start = $2")
                .await?,
            &[&upload_id, &i(part.start)],
        )
        .await?
        .map(|r| col::<String>(&r, 0))
        .transpose()?;
    let s = &part.segment;
    tx.execute(
        &tx.prepare_cached("INSERT INTO parts (upload_id, start, blob, size, tree_hash, leaves) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (upload_id, start) DO UPDATE SET
             blob = excluded.blob, size = excluded.size, tree_hash = excluded.tree_hash, leaves = excluded.leaves").await?,
        &[&upload_id, &i(part.start), &s.blob.0, &i(s.size), &&s.tree_hash.0[..], &leaves_to_blob(&s.leaves)],
    )
    .await?;
    Ok(old.map(BlobKey))
}

pub(super) async fn list_parts(
    tx: &Transaction<'_>,
    key: &VaultKey,
    upload_id: &str,
    from: u64,
    limit: usize,
) -> Result<Page<PartInfo>> {
    read_upload(tx, key, upload_id).await?;
    let rows = tx
        .query(
            &tx.prepare_cached("SELECT start, size, tree_hash FROM parts WHERE upload_id = $1 AND start >= $2 ORDER BY start LIMIT $3").await?,
            &[&upload_id, &i(from), &i(limit as u64 + 1)],
        )
        .await?;
    let items = rows
        .iter()
        .map(|r| {
            Ok(PartInfo {
                start: u(col(r, 0)?),
                size: u(col(r, 1)?),
                tree_hash: digest(col(r, 2)?)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Page::from_overfetch(items, limit))
}

pub(super) async fn complete(
    tx: &Transaction<'_>,
    key: &VaultKey,
    upload_id: &str,
    c: Completion,
) -> Result<String> {
    require_vault(tx, key).await?;
    let done = tx
        .query_opt(
            &tx.prepare_cached("SELECT archive_id, archive_size, tree_hash FROM completed_uploads WHERE upload_id = $1 AND account = $2 AND vault = $3").await?,
            &[&upload_id, &key.account, &key.name],
        )
        .await?;
    if let Some(r) = done {
        let (archive_id, size, hash): (String, i64, Vec<u8>) =
            (col(&r, 0)?, col(&r, 1)?, col(&r, 2)?);
        return c.again(upload_id, (archive_id, u(size), TreeHash(digest(hash)?)));
    }
    count_archives(tx, key, 1, i(c.archive_size)).await?;
    let upload = read_upload(tx, key, upload_id).await?;
    let rows = tx
        .query(
            &tx.prepare_cached("SELECT start, blob, size, tree_hash, leaves FROM parts WHERE upload_id = $1 ORDER BY start").await?,
            &[&upload_id],
        )
        .await?;
    let parts = rows
        .iter()
        .map(|r| {
            Ok(PartRecord {
                start: u(col(r, 0)?),
                segment: Segment {
                    blob: BlobKey(col(r, 1)?),
                    size: u(col(r, 2)?),
                    tree_hash: TreeHash(digest(col(r, 3)?)?),
                    leaves: leaves_from_blob(&col::<Vec<u8>>(r, 4)?)?,
                },
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let archive = c.archive(upload, parts)?;
    insert_archive_rows(tx, key, &archive).await?;
    tx.execute(
        &tx.prepare_cached("DELETE FROM parts WHERE upload_id = $1")
            .await?,
        &[&upload_id],
    )
    .await?;
    tx.execute(
        &tx.prepare_cached("DELETE FROM uploads WHERE id = $1")
            .await?,
        &[&upload_id],
    )
    .await?;
    tx.execute(
        &tx.prepare_cached("INSERT INTO completed_uploads (upload_id, account, vault, archive_id, archive_size, tree_hash, completed_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7)").await?,
        &[&upload_id, &key.account, &key.name, &c.archive_id, &i(c.archive_size), &&c.tree_hash.0[..], &to_ms(c.now)],
    )
    .await?;
    Ok(c.archive_id)
}

pub(super) async fn abort(tx: &Transaction<'_>, key: &VaultKey, id: &str) -> Result<Vec<BlobKey>> {
    read_upload(tx, key, id).await?;
    delete_upload_rows(tx, id).await
}
