//! `archives` and their `segments`.

use super::blobs::unreferenced;
use super::rows::require_vault;
use super::values::*;
use crate::blob::BlobKey;
use crate::columns::Segments;
use crate::meta::*;
use crate::{Result, StorageError};
use deadpool_postgres::Transaction;
use glacier_core::TreeHash;
use tokio_postgres::Row;

/// How many rows a vault's counts are spread over (see `schema::SCHEMA_2`).
pub(super) const COUNT_SHARDS: u32 = 32;

/// Adds `count` archives of `size` bytes in all to the vault's counts (negative to take them
/// away), in a random one of its shards; the vault must exist.
pub(super) async fn count_archives(
    tx: &Transaction<'_>,
    key: &VaultKey,
    count: i64,
    size: i64,
) -> Result<()> {
    require_vault(tx, key).await?;
    let shard = i32::try_from(rand::random::<u32>() % COUNT_SHARDS).unwrap_or(0);
    tx.execute(
        &tx.prepare_cached(
            "INSERT INTO vault_counts (account, vault, shard, archives, bytes) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (account, vault, shard) DO UPDATE
             SET archives = vault_counts.archives + EXCLUDED.archives, bytes = vault_counts.bytes + EXCLUDED.bytes",
        )
        .await?,
        &[&key.account, &key.name, &shard, &count, &size],
    )
    .await?;
    Ok(())
}

/// The rows of an archive; the caller counts it ([`count_archives`]).
pub(super) async fn insert_archive_rows(
    tx: &Transaction<'_>,
    key: &VaultKey,
    a: &ArchiveRecord,
) -> Result<()> {
    tx.execute(
        &tx.prepare_cached("INSERT INTO archives (id, account, vault, description, size, tree_hash, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)").await?,
        &[&a.id, &key.account, &key.name, &a.description, &i(a.size), &&a.tree_hash.0[..], &to_ms(a.created)],
    )
    .await?;
    insert_segments(tx, Segments::Archive, &a.id, &a.segments).await
}

/// Inserts the segment rows of an archive or a job's output, in order.
pub(super) async fn insert_segments(
    tx: &Transaction<'_>,
    of: Segments,
    id: &str,
    segments: &[Segment],
) -> Result<()> {
    let sql = match of {
        Segments::Archive => {
            "INSERT INTO segments (archive_id, seq, blob, size, tree_hash, leaves) VALUES ($1, $2, $3, $4, $5, $6)"
        }
        Segments::Job => {
            "INSERT INTO job_segments (job_id, seq, blob, size, tree_hash, leaves) VALUES ($1, $2, $3, $4, $5, $6)"
        }
    };
    for (seq, s) in segments.iter().enumerate() {
        tx.execute(
            &tx.prepare_cached(sql).await?,
            &[
                &id,
                &i(seq as u64),
                &s.blob.0,
                &i(s.size),
                &&s.tree_hash.0[..],
                &leaves_to_blob(&s.leaves),
            ],
        )
        .await?;
    }
    Ok(())
}

/// The segments of an archive or of a job's output, in order.
pub(super) async fn load_segments(
    tx: &Transaction<'_>,
    of: Segments,
    id: &str,
) -> Result<Vec<Segment>> {
    let sql = match of {
        Segments::Archive => {
            "SELECT blob, size, tree_hash, leaves FROM segments WHERE archive_id = $1 ORDER BY seq"
        }
        Segments::Job => {
            "SELECT blob, size, tree_hash, leaves FROM job_segments WHERE job_id = $1 ORDER BY seq"
        }
    };
    let rows = tx.query(&tx.prepare_cached(sql).await?, &[&id]).await?;
    rows.iter()
        .map(|r| {
            Ok(Segment {
                blob: BlobKey(col(r, 0)?),
                size: u(col(r, 1)?),
                tree_hash: TreeHash(digest(col(r, 2)?)?),
                leaves: leaves_from_blob(&col::<Vec<u8>>(r, 3)?)?,
            })
        })
        .collect()
}

pub(super) async fn insert(
    tx: &Transaction<'_>,
    key: &VaultKey,
    archive: &ArchiveRecord,
) -> Result<()> {
    count_archives(tx, key, 1, i(archive.size)).await?;
    insert_archive_rows(tx, key, archive).await
}

pub(super) async fn import(
    tx: &Transaction<'_>,
    key: &VaultKey,
    archives: &[ArchiveRecord],
) -> Result<()> {
    let size = archives.iter().map(|a| i(a.size)).sum();
    count_archives(tx, key, archives.len() as i64, size).await?;
    for a in archives {
        insert_archive_rows(tx, key, a).await?;
    }
    Ok(())
}

pub(super) async fn get(tx: &Transaction<'_>, key: &VaultKey, id: &str) -> Result<ArchiveRecord> {
    let a = summary(tx, key, id).await?;
    Ok(ArchiveRecord {
        segments: load_segments(tx, Segments::Archive, id).await?,
        id: a.id,
        description: a.description,
        size: a.size,
        tree_hash: a.tree_hash,
        created: a.created,
    })
}

fn summary_from_row(r: &Row) -> Result<ArchiveSummary> {
    Ok(ArchiveSummary {
        id: col(r, 0)?,
        description: col(r, 1)?,
        size: u(col(r, 2)?),
        tree_hash: TreeHash(digest(col(r, 3)?)?),
        created: from_ms(col(r, 4)?),
    })
}

pub(super) async fn summary(
    tx: &Transaction<'_>,
    key: &VaultKey,
    id: &str,
) -> Result<ArchiveSummary> {
    require_vault(tx, key).await?;
    let row = tx
        .query_opt(
            &tx.prepare_cached("SELECT id, description, size, tree_hash, created_ms FROM archives WHERE id = $1 AND account = $2 AND vault = $3").await?,
            &[&id, &key.account, &key.name],
        )
        .await?
        .ok_or_else(|| StorageError::not_found(crate::Resource::Archive, id))?;
    summary_from_row(&row)
}

pub(super) async fn list(
    tx: &Transaction<'_>,
    key: &VaultKey,
    q: &ArchiveQuery,
) -> Result<Page<ArchiveSummary>> {
    require_vault(tx, key).await?;
    let (after_ms, after_id) = match &q.after {
        Some(c) => (to_ms(c.created), c.id.clone()),
        None => (i64::MIN, String::new()),
    };
    let from = q.created_from.map_or(i64::MIN, to_ms);
    let before = q.created_before.map_or(i64::MAX, to_ms);
    let rows = tx
        .query(
            &tx.prepare_cached(
                "SELECT id, description, size, tree_hash, created_ms FROM archives
             WHERE account = $1 AND vault = $2 AND (created_ms, id) > ($3, $4)
               AND created_ms >= $5 AND created_ms < $6
             ORDER BY created_ms, id LIMIT $7",
            )
            .await?,
            &[
                &key.account,
                &key.name,
                &after_ms,
                &after_id,
                &from,
                &before,
                &i(q.limit as u64 + 1),
            ],
        )
        .await?;
    let items = rows
        .iter()
        .map(summary_from_row)
        .collect::<Result<Vec<_>>>()?;
    Ok(Page::from_overfetch(items, q.limit))
}

pub(super) async fn delete(
    tx: &Transaction<'_>,
    key: &VaultKey,
    id: &str,
    now: time::OffsetDateTime,
) -> Result<Vec<BlobKey>> {
    require_vault(tx, key).await?;
    let row = tx
        .query_opt(
            &tx.prepare_cached(
                "SELECT size FROM archives WHERE id = $1 AND account = $2 AND vault = $3",
            )
            .await?,
            &[&id, &key.account, &key.name],
        )
        .await?;
    let Some(row) = row else {
        let deleted = tx
            .query_opt(
                &tx.prepare_cached(
                    "SELECT 1 FROM deleted_archives WHERE id = $1 AND account = $2 AND vault = $3",
                )
                .await?,
                &[&id, &key.account, &key.name],
            )
            .await?;
        return match deleted {
            Some(_) => Ok(Vec::new()),
            None => Err(StorageError::not_found(crate::Resource::Archive, id)),
        };
    };
    let size: i64 = col(&row, 0)?;
    count_archives(tx, key, -1, -size).await?;
    let blobs = blobs_of(tx, "SELECT blob FROM segments WHERE archive_id = $1", id).await?;
    tx.execute(
        &tx.prepare_cached("DELETE FROM segments WHERE archive_id = $1")
            .await?,
        &[&id],
    )
    .await?;
    tx.execute(
        &tx.prepare_cached("DELETE FROM archives WHERE id = $1")
            .await?,
        &[&id],
    )
    .await?;
    tx.execute(
        &tx.prepare_cached(
            "INSERT INTO deleted_archives (id, account, vault, deleted_ms) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .await?,
        &[&id, &key.account, &key.name, &to_ms(now)],
    )
    .await?;
    unreferenced(tx, blobs).await
}
