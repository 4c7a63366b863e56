//! `vaults`: vaults with their live counts, region and notification configuration.

use super::blobs::unreferenced;
use super::rows::{delete_job_rows, delete_upload_rows};
use super::rows::{require_vault, vault_not_found};
use super::values::*;
use crate::blob::BlobKey;
use crate::meta::*;
use crate::{Result, StorageError};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use time::OffsetDateTime;

/// A vault's columns (a macro, so that statements can be `concat!`ed at compile time).
macro_rules! vault_columns {
    () => {
        "name, region, created_ms, last_inventory_ms, archive_count, size,
    (SELECT archives FROM inventory_snapshots s WHERE s.account = vaults.account AND s.vault = vaults.name),
    (SELECT bytes FROM inventory_snapshots s WHERE s.account = vaults.account AND s.vault = vaults.name)"
    };
}
pub(super) const VAULT_COLUMNS: &str = vault_columns!();

/// A vault of `account` from a row of [`VAULT_COLUMNS`].
pub(super) fn vault_from_row(
    account: &str,
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<Result<Vault>> {
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
        inventoried: match (r.get::<_, Option<i64>>(6)?, r.get::<_, Option<i64>>(7)?) {
            (Some(archives), Some(bytes)) => Some(InventoryTotals {
                archives: u(archives),
                bytes: u(bytes),
            }),
            _ => None,
        },
    }))
}

/// The vault (one statement: it needs no transaction of its own).
pub(super) fn read_vault(c: &Connection, key: &VaultKey) -> Result<Vault> {
    const SQL: &str = concat!(
        "SELECT ",
        vault_columns!(),
        " FROM vaults WHERE account = ?1 AND name = ?2"
    );
    c.query_row_cached(SQL, params![key.account, key.name], |r| {
        vault_from_row(&key.account, r)
    })
    .optional()?
    .ok_or_else(|| vault_not_found(key))?
}

pub(super) fn create(
    tx: &Transaction<'_>,
    key: &VaultKey,
    region: &str,
    now: OffsetDateTime,
    max_vaults: u64,
) -> Result<Vault> {
    if let Ok(v) = read_vault(tx, key) {
        return Ok(v);
    }
    let count: i64 = tx.query_row_cached(
        "SELECT COUNT(*) FROM vaults WHERE account = ?1",
        [&key.account],
        |r| r.get(0),
    )?;
    if u(count) >= max_vaults {
        return Err(StorageError::LimitExceeded(format!(
            "The account already has {count} vaults; the limit is {max_vaults}"
        )));
    }
    tx.execute_cached(
        "INSERT INTO vaults (account, name, region, created_ms) VALUES (?1, ?2, ?3, ?4)",
        params![key.account, key.name, region, to_ms(now)],
    )?;
    read_vault(tx, key)
}

/// Each account's vaults, archives and bytes: what [`usage`] reports and [`sample_usage`]
/// keeps.
macro_rules! account_totals {
    () => {
        "SELECT account, COUNT(*) AS vaults, SUM(archive_count) AS archives, SUM(size) AS bytes FROM vaults GROUP BY account"
    };
}

pub(super) fn usage(tx: &Transaction<'_>) -> Result<Usage> {
    let mut statement = tx.prepare_cached(concat!(account_totals!(), " ORDER BY account"))?;
    let accounts = statement
        .query_map([], |r| {
            Ok(AccountUsage {
                account: r.get(0)?,
                vaults: u(r.get(1)?),
                archives: u(r.get(2)?),
                bytes: u(r.get(3)?),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let jobs: i64 = tx.query_row_cached(
        "SELECT COUNT(*) FROM jobs WHERE status = 'InProgress'",
        [],
        |r| r.get(0),
    )?;
    Ok(Usage {
        accounts,
        jobs_in_progress: u(jobs),
    })
}

pub(super) fn sample_usage(
    tx: &Transaction<'_>,
    at: OffsetDateTime,
    forget_before: OffsetDateTime,
) -> Result<()> {
    tx.execute_cached(
        concat!(
            "INSERT OR IGNORE INTO usage_samples (account, vaults, archives, bytes, at_ms) SELECT t.*, ?1 FROM (",
            account_totals!(),
            ") AS t"
        ),
        params![to_ms(at)],
    )?;
    tx.execute_cached(
        "DELETE FROM usage_samples WHERE at_ms < ?1",
        params![to_ms(forget_before)],
    )?;
    Ok(())
}

pub(super) fn usage_history(
    tx: &Transaction<'_>,
    account: &str,
    since: OffsetDateTime,
) -> Result<Vec<UsageSample>> {
    let mut stmt = tx.prepare_cached(
        "SELECT at_ms, vaults, archives, bytes FROM usage_samples
         WHERE account = ?1 AND at_ms >= ?2 ORDER BY at_ms",
    )?;
    let rows = stmt.query_map(params![account, to_ms(since)], |r| {
        Ok(UsageSample {
            at: from_ms(r.get(0)?),
            vaults: u(r.get(1)?),
            archives: u(r.get(2)?),
            bytes: u(r.get(3)?),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

pub(super) fn list(
    tx: &Transaction<'_>,
    account: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Page<Vault>> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {VAULT_COLUMNS} FROM vaults
         WHERE account = ?1 AND name > ?2 ORDER BY name LIMIT ?3"
    ))?;
    let rows = stmt.query_map(
        params![account, after.unwrap_or(""), i(limit as u64 + 1)],
        |r| vault_from_row(account, r),
    )?;
    let mut vaults = Vec::new();
    for row in rows {
        vaults.push(row??);
    }
    Ok(Page::from_overfetch(vaults, limit))
}

pub(super) fn delete(tx: &Transaction<'_>, key: &VaultKey) -> Result<Vec<BlobKey>> {
    let v = read_vault(tx, key)?;
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
    tx.execute_cached(
        "DELETE FROM vault_tags WHERE account = ?1 AND vault = ?2",
        vault,
    )?;
    tx.execute_cached(
        "DELETE FROM vault_policies WHERE account = ?1 AND vault = ?2",
        vault,
    )?;
    tx.execute_cached(
        "DELETE FROM completed_uploads WHERE account = ?1 AND vault = ?2",
        params![key.account, key.name],
    )?;
    tx.execute_cached(
        "DELETE FROM deleted_archives WHERE account = ?1 AND vault = ?2",
        params![key.account, key.name],
    )?;
    if let Some(blob) = super::inventories::delete(tx, key)? {
        blobs.extend(unreferenced(tx, vec![blob])?);
    }
    tx.execute_cached(
        "DELETE FROM vaults WHERE account = ?1 AND name = ?2",
        params![key.account, key.name],
    )?;
    Ok(blobs)
}

/// The vault's notification configuration (one statement).
pub(super) fn get_notifications(c: &Connection, key: &VaultKey) -> Result<Option<Notifications>> {
    let (topic, events): (Option<String>, Option<String>) = c
        .query_row_cached(
            "SELECT sns_topic, events FROM vaults WHERE account = ?1 AND name = ?2",
            params![key.account, key.name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .ok_or_else(|| vault_not_found(key))?;
    Ok(topic.map(|sns_topic| Notifications {
        sns_topic,
        events: events
            .unwrap_or_default()
            .split(',')
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
            .collect(),
    }))
}

pub(super) fn set_notifications(
    tx: &Transaction<'_>,
    key: &VaultKey,
    config: Option<Notifications>,
) -> Result<()> {
    require_vault(tx, key)?;
    let (topic, events) = match config {
        Some(c) => (Some(c.sns_topic), Some(c.events.join(","))),
        None => (None, None),
    };
    tx.execute_cached(
        "UPDATE vaults SET sns_topic = ?3, events = ?4 WHERE account = ?1 AND name = ?2",
        params![key.account, key.name, topic, events],
    )?;
    Ok(())
}
