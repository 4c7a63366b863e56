//! `inventory_snapshots`: each vault's last daily inventory (`--aws-timing`), and what says
//! when one is due — the times archives were added (`archives.created_ms`) and deleted
//! (`deleted_archives.deleted_ms`).

use super::rows::require_vault;
use super::values::*;
use crate::Result;
use crate::blob::BlobKey;
use crate::meta::*;
use deadpool_postgres::Transaction;
use time::OffsetDateTime;

/// Per vault: its last inventory's time, its first write and its last write (ms).
const WRITES: &str = "
SELECT v.account, v.name,
    (SELECT taken_ms FROM inventory_snapshots s WHERE s.account = v.account AND s.vault = v.name),
    LEAST(COALESCE((SELECT MIN(created_ms) FROM archives a WHERE a.account = v.account AND a.vault = v.name), 9223372036854775807),
          COALESCE((SELECT MIN(deleted_ms) FROM deleted_archives d WHERE d.account = v.account AND d.vault = v.name), 9223372036854775807))::BIGINT,
    GREATEST(COALESCE((SELECT MAX(created_ms) FROM archives a WHERE a.account = v.account AND a.vault = v.name), -1),
             COALESCE((SELECT MAX(deleted_ms) FROM deleted_archives d WHERE d.account = v.account AND d.vault = v.name), -1))::BIGINT
FROM vaults v";

pub(super) async fn due(
    tx: &Transaction<'_>,
    now: OffsetDateTime,
    period: std::time::Duration,
) -> Result<Vec<DueInventory>> {
    let period = i64::try_from(period.as_millis()).unwrap_or(i64::MAX);
    let now = to_ms(now);
    let mut due = Vec::new();
    for r in tx.query(&tx.prepare_cached(WRITES).await?, &[]).await? {
        let (taken, first, last) = (col::<Option<i64>>(&r, 2)?, col(&r, 3)?, col(&r, 4)?);
        if crate::meta::inventory_due(taken, first, last, now, period) {
            due.push(DueInventory {
                vault: VaultKey {
                    account: col(&r, 0)?,
                    name: col(&r, 1)?,
                },
                follows: taken.map(from_ms),
            });
        }
    }
    Ok(due)
}

pub(super) async fn last_write(
    tx: &Transaction<'_>,
    key: &VaultKey,
) -> Result<Option<OffsetDateTime>> {
    require_vault(tx, key).await?;
    let row = tx
        .query_one(
            &tx.prepare_cached(
                "SELECT GREATEST(COALESCE((SELECT MAX(created_ms) FROM archives WHERE account = $1 AND vault = $2), -1),
                                 COALESCE((SELECT MAX(deleted_ms) FROM deleted_archives WHERE account = $1 AND vault = $2), -1))::BIGINT",
            )
            .await?,
            &[&key.account, &key.name],
        )
        .await?;
    let ms: i64 = col(&row, 0)?;
    Ok((ms >= 0).then(|| from_ms(ms)))
}

pub(super) async fn record(
    tx: &Transaction<'_>,
    key: &VaultKey,
    snapshot: &InventorySnapshot,
    follows: Option<OffsetDateTime>,
) -> Result<Vec<BlobKey>> {
    require_vault(tx, key).await?;
    let last: Option<i64> = tx
        .query_opt(
            &tx.prepare_cached(
                "SELECT taken_ms FROM inventory_snapshots WHERE account = $1 AND vault = $2",
            )
            .await?,
            &[&key.account, &key.name],
        )
        .await?
        .map(|r| col(&r, 0))
        .transpose()?;
    if last != follows.map(to_ms) {
        // Another node took the same day's and recorded it first: that one stands.
        return super::blobs::unreferenced(tx, vec![snapshot.document.blob.clone()]).await;
    }
    let replaced = delete(tx, key).await?;
    let d = &snapshot.document;
    tx.execute(
        &tx.prepare_cached(
            "INSERT INTO inventory_snapshots (account, vault, taken_ms, blob, size, tree_hash, leaves, archives, bytes)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .await?,
        &[
            &key.account,
            &key.name,
            &to_ms(snapshot.taken),
            &d.blob.0,
            &i(d.size),
            &&d.tree_hash.0[..],
            &leaves_to_blob(&d.leaves),
            &i(snapshot.totals.archives),
            &i(snapshot.totals.bytes),
        ],
    )
    .await?;
    tx.execute(
        &tx.prepare_cached(
            "UPDATE vaults SET last_inventory_ms = $3 WHERE account = $1 AND name = $2",
        )
        .await?,
        &[&key.account, &key.name, &to_ms(snapshot.taken)],
    )
    .await?;
    match replaced {
        Some(blob) => super::blobs::unreferenced(tx, vec![blob]).await,
        None => Ok(Vec::new()),
    }
}

pub(super) async fn get(tx: &Transaction<'_>, key: &VaultKey) -> Result<Option<InventorySnapshot>> {
    require_vault(tx, key).await?;
    let Some(r) = tx
        .query_opt(
            &tx.prepare_cached(
                "SELECT taken_ms, blob, size, tree_hash, leaves, archives, bytes FROM inventory_snapshots
                 WHERE account = $1 AND vault = $2",
            )
            .await?,
            &[&key.account, &key.name],
        )
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(InventorySnapshot {
        taken: from_ms(col(&r, 0)?),
        document: Segment {
            blob: BlobKey(col(&r, 1)?),
            size: u(col(&r, 2)?),
            tree_hash: glacier_core::TreeHash(digest(col(&r, 3)?)?),
            leaves: leaves_from_blob(&col::<Vec<u8>>(&r, 4)?)?,
        },
        totals: InventoryTotals {
            archives: u(col(&r, 5)?),
            bytes: u(col(&r, 6)?),
        },
    }))
}

/// Forgets the vault's inventory; the document's blob, to be discarded if nothing else refers
/// to it.
pub(super) async fn delete(tx: &Transaction<'_>, key: &VaultKey) -> Result<Option<BlobKey>> {
    let row = tx
        .query_opt(
            &tx.prepare_cached(
                "DELETE FROM inventory_snapshots WHERE account = $1 AND vault = $2 RETURNING blob",
            )
            .await?,
            &[&key.account, &key.name],
        )
        .await?;
    row.map(|r| col(&r, 0).map(BlobKey)).transpose()
}
