//! `inventory_snapshots`: each vault's last daily inventory (`--aws-timing`), and what says
//! when one is due — the times archives were added (`archives.created_ms`) and deleted
//! (`deleted_archives.deleted_ms`).

use super::values::*;
use crate::Result;
use crate::blob::BlobKey;
use crate::meta::*;
use rusqlite::{OptionalExtension, Transaction, params};
use time::OffsetDateTime;

/// Per vault: its last inventory's time, its first write and its last write (ms).
const WRITES: &str = "
SELECT v.account, v.name,
    (SELECT taken_ms FROM inventory_snapshots s WHERE s.account = v.account AND s.vault = v.name),
    MIN(COALESCE((SELECT MIN(created_ms) FROM archives a WHERE a.account = v.account AND a.vault = v.name), 9223372036854775807),
        COALESCE((SELECT MIN(deleted_ms) FROM deleted_archives d WHERE d.account = v.account AND d.vault = v.name), 9223372036854775807)),
    MAX(COALESCE((SELECT MAX(created_ms) FROM archives a WHERE a.account = v.account AND a.vault = v.name), -1),
        COALESCE((SELECT MAX(deleted_ms) FROM deleted_archives d WHERE d.account = v.account AND d.vault = v.name), -1))
FROM vaults v";

pub(super) fn due(
    tx: &Transaction<'_>,
    now: OffsetDateTime,
    period: std::time::Duration,
) -> Result<Vec<DueInventory>> {
    let period = i64::try_from(period.as_millis()).unwrap_or(i64::MAX);
    let now = to_ms(now);
    let mut stmt = tx.prepare_cached(WRITES)?;
    let rows = stmt.query_map([], |r| {
        Ok((
            VaultKey {
                account: r.get(0)?,
                name: r.get(1)?,
            },
            r.get::<_, Option<i64>>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, i64>(4)?,
        ))
    })?;
    let mut due = Vec::new();
    for row in rows {
        let (key, taken, first, last) = row?;
        if crate::meta::inventory_due(taken, first, last, now, period) {
            due.push(DueInventory {
                vault: key,
                follows: taken.map(from_ms),
            });
        }
    }
    Ok(due)
}

pub(super) fn last_write(tx: &Transaction<'_>, key: &VaultKey) -> Result<Option<OffsetDateTime>> {
    super::rows::require_vault(tx, key)?;
    let ms: i64 = tx.query_row_cached(
        "SELECT MAX(COALESCE((SELECT MAX(created_ms) FROM archives WHERE account = ?1 AND vault = ?2), -1),
                    COALESCE((SELECT MAX(deleted_ms) FROM deleted_archives WHERE account = ?1 AND vault = ?2), -1))",
        params![key.account, key.name],
        |r| r.get(0),
    )?;
    Ok((ms >= 0).then(|| from_ms(ms)))
}

pub(super) fn record(
    tx: &Transaction<'_>,
    key: &VaultKey,
    snapshot: &InventorySnapshot,
    follows: Option<OffsetDateTime>,
) -> Result<Vec<BlobKey>> {
    super::rows::require_vault(tx, key)?;
    let last: Option<i64> = tx
        .query_row_cached(
            "SELECT taken_ms FROM inventory_snapshots WHERE account = ?1 AND vault = ?2",
            params![key.account, key.name],
            |r| r.get(0),
        )
        .optional()?;
    if last != follows.map(to_ms) {
        // Another node took the same day's and recorded it first: that one stands.
        return super::blobs::unreferenced(tx, vec![snapshot.document.blob.clone()]);
    }
    let replaced = delete(tx, key)?;
    let d = &snapshot.document;
    tx.execute_cached(
        "INSERT INTO inventory_snapshots (account, vault, taken_ms, blob, size, tree_hash, leaves, archives, bytes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            key.account,
            key.name,
            to_ms(snapshot.taken),
            d.blob.0,
            i(d.size),
            &d.tree_hash.0[..],
            leaves_to_blob(&d.leaves),
            i(snapshot.totals.archives),
            i(snapshot.totals.bytes)
        ],
    )?;
    tx.execute_cached(
        "UPDATE vaults SET last_inventory_ms = ?3 WHERE account = ?1 AND name = ?2",
        params![key.account, key.name, to_ms(snapshot.taken)],
    )?;
    match replaced {
        Some(blob) => super::blobs::unreferenced(tx, vec![blob]),
        None => Ok(Vec::new()),
    }
}

pub(super) fn get(tx: &Transaction<'_>, key: &VaultKey) -> Result<Option<InventorySnapshot>> {
    super::rows::require_vault(tx, key)?;
    let row = tx
        .query_row_cached(
            "SELECT taken_ms, blob, size, tree_hash, leaves, archives, bytes FROM inventory_snapshots
             WHERE account = ?1 AND vault = ?2",
            params![key.account, key.name],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Vec<u8>>(3)?,
                    r.get::<_, Vec<u8>>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, i64>(6)?,
                ))
            },
        )
        .optional()?;
    let Some((taken, blob, size, tree_hash, leaves, archives, bytes)) = row else {
        return Ok(None);
    };
    Ok(Some(InventorySnapshot {
        taken: from_ms(taken),
        document: Segment {
            blob: BlobKey(blob),
            size: u(size),
            tree_hash: glacier_core::TreeHash(digest(tree_hash)?),
            leaves: leaves_from_blob(&leaves)?,
        },
        totals: InventoryTotals {
            archives: u(archives),
            bytes: u(bytes),
        },
    }))
}

/// Forgets the vault's inventory; the document's blob, to be discarded if nothing else refers
/// to it.
pub(super) fn delete(tx: &Transaction<'_>, key: &VaultKey) -> Result<Option<BlobKey>> {
    let blob: Option<String> = tx
        .query_row_cached(
            "DELETE FROM inventory_snapshots WHERE account = ?1 AND vault = ?2 RETURNING blob",
            params![key.account, key.name],
            |r| r.get(0),
        )
        .optional()?;
    Ok(blob.map(BlobKey))
}
