//! `vaults`: vaults with their live counts, region and notification configuration.

use super::blobs::unreferenced;
use super::rows::{delete_job_rows, delete_upload_rows};
use super::rows::{require_vault, vault_not_found};
use super::values::*;
use crate::blob::BlobKey;
use crate::meta::*;
use crate::{Result, StorageError};
use deadpool_postgres::{GenericClient, Transaction};
use time::OffsetDateTime;
use tokio_postgres::Row;

/// `vaults` with each vault's shard counts (see `schema::SCHEMA_2`) summed beside it as `c`
/// and its last inventory's totals as `s`: joined rather than read by correlated subqueries,
/// so a vault is three index lookups, not five.
macro_rules! vaults_from {
    () => {
        "vaults LEFT JOIN LATERAL (SELECT SUM(archives) AS archives, SUM(bytes) AS bytes FROM vault_counts
            WHERE vault_counts.account = vaults.account AND vault_counts.vault = vaults.name) c ON true
         LEFT JOIN inventory_snapshots s ON s.account = vaults.account AND s.vault = vaults.name"
    };
}

/// A vault's counts, its shards' added, as columns `a` (archives) and `b` (bytes), of a row of
/// [`vaults_from`].
macro_rules! vault_counts {
    () => {
        "vaults.archive_count + COALESCE(c.archives, 0)::BIGINT AS a, vaults.size + COALESCE(c.bytes, 0)::BIGINT AS b"
    };
}

/// A vault's columns, with its counts, of a row of [`vaults_from`] (macros, so that statements
/// can be `concat!`ed at compile time).
macro_rules! vault_columns {
    () => {
        concat!(
            "vaults.name, vaults.region, vaults.created_ms, vaults.last_inventory_ms, ",
            $crate::postgres::vaults::vault_counts!(),
            ", s.archives, s.bytes"
        )
    };
}
pub(super) use {vault_columns, vault_counts, vaults_from};
/// How many columns [`vault_columns`] are.
pub(super) const VAULT_COLUMN_COUNT: usize = 8;

/// A vault of `account` from a row that starts with [`vault_columns`].
pub(super) fn vault_from_row(account: &str, r: &Row) -> Result<Vault> {
    Ok(Vault {
        key: VaultKey {
            account: account.to_owned(),
            name: col(r, 0)?,
        },
        region: col(r, 1)?,
        created: from_ms(col(r, 2)?),
        last_inventory: col::<Option<i64>>(r, 3)?.map(from_ms),
        archive_count: u(col(r, 4)?),
        size: u(col(r, 5)?),
        inventoried: match (col::<Option<i64>>(r, 6)?, col::<Option<i64>>(r, 7)?) {
            (Some(archives), Some(bytes)) => Some(InventoryTotals {
                archives: u(archives),
                bytes: u(bytes),
            }),
            _ => None,
        },
    })
}

/// One statement: in a transaction, or alone on a client (its own snapshot).
pub(super) async fn read_vault<C: GenericClient>(c: &C, key: &VaultKey) -> Result<Vault> {
    let row = c
        .query_opt(
            &c.prepare_cached(concat!(
                "SELECT ",
                vault_columns!(),
                " FROM ",
                vaults_from!(),
                " WHERE vaults.account = $1 AND vaults.name = $2"
            ))
            .await?,
            &[&key.account, &key.name],
        )
        .await?
        .ok_or_else(|| vault_not_found(key))?;
    vault_from_row(&key.account, &row)
}

pub(super) async fn create(
    tx: &Transaction<'_>,
    key: &VaultKey,
    region: &str,
    now: OffsetDateTime,
    max_vaults: u64,
) -> Result<Vault> {
    if let Ok(v) = read_vault(tx, key).await {
        return Ok(v);
    }
    let count: i64 = col(
        &tx.query_one(
            &tx.prepare_cached("SELECT COUNT(*) FROM vaults WHERE account = $1")
                .await?,
            &[&key.account],
        )
        .await?,
        0,
    )?;
    if u(count) >= max_vaults {
        return Err(StorageError::LimitExceeded(format!(
            "The account already has {count} vaults; the limit is {max_vaults}"
        )));
    }
    tx.execute(
        &tx.prepare_cached(
            "INSERT INTO vaults (account, name, region, created_ms) VALUES ($1, $2, $3, $4)",
        )
        .await?,
        &[&key.account, &key.name, &region, &to_ms(now)],
    )
    .await?;
    read_vault(tx, key).await
}

/// One statement: in a transaction, or alone on a client (its own snapshot).
pub(super) async fn list<C: GenericClient>(
    c: &C,
    account: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Page<Vault>> {
    let rows = c
        .query(
            &c.prepare_cached(concat!(
                "SELECT ",
                vault_columns!(),
                " FROM ",
                vaults_from!(),
                " WHERE vaults.account = $1 AND vaults.name > $2 ORDER BY vaults.name LIMIT $3"
            ))
            .await?,
            &[&account, &after.unwrap_or(""), &i(limit as u64 + 1)],
        )
        .await?;
    let vaults = rows
        .iter()
        .map(|r| vault_from_row(account, r))
        .collect::<Result<Vec<_>>>()?;
    Ok(Page::from_overfetch(vaults, limit))
}

/// Each account's vaults, archives and bytes: what [`usage`] reports and [`sample_usage`]
/// keeps.
macro_rules! account_totals {
    () => {
        concat!(
            "SELECT account, COUNT(*)::BIGINT AS vaults, SUM(a)::BIGINT AS archives, SUM(b)::BIGINT AS bytes FROM (SELECT vaults.account, ",
            vault_counts!(),
            " FROM ",
            vaults_from!(),
            ") AS v GROUP BY account"
        )
    };
}

pub(super) async fn usage(tx: &Transaction<'_>) -> Result<Usage> {
    let rows = tx
        .query(
            &tx.prepare_cached(concat!(account_totals!(), " ORDER BY account"))
                .await?,
            &[],
        )
        .await?;
    let accounts = rows
        .iter()
        .map(|r| {
            Ok(AccountUsage {
                account: col(r, 0)?,
                vaults: u(col(r, 1)?),
                archives: u(col(r, 2)?),
                bytes: u(col(r, 3)?),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let jobs = tx
        .query_one(
            &tx.prepare_cached("SELECT COUNT(*) FROM jobs WHERE status = 'InProgress'")
                .await?,
            &[],
        )
        .await?;
    Ok(Usage {
        accounts,
        jobs_in_progress: u(col(&jobs, 0)?),
    })
}

pub(super) async fn sample_usage(
    tx: &Transaction<'_>,
    at: OffsetDateTime,
    forget_before: OffsetDateTime,
) -> Result<()> {
    tx.execute(
        &tx.prepare_cached(concat!(
            "INSERT INTO usage_samples (account, vaults, archives, bytes, at_ms) SELECT t.*, $1::BIGINT FROM (",
            account_totals!(),
            ") AS t ON CONFLICT (account, at_ms) DO NOTHING"
        ))
        .await?,
        &[&to_ms(at)],
    )
    .await?;
    tx.execute(
        &tx.prepare_cached("DELETE FROM usage_samples WHERE at_ms < $1")
            .await?,
        &[&to_ms(forget_before)],
    )
    .await?;
    Ok(())
}

pub(super) async fn usage_history(
    tx: &Transaction<'_>,
    account: &str,
    since: OffsetDateTime,
) -> Result<Vec<UsageSample>> {
    let rows = tx
        .query(
            &tx.prepare_cached(
                "SELECT at_ms, vaults, archives, bytes FROM usage_samples
                 WHERE account = $1 AND at_ms >= $2 ORDER BY at_ms",
            )
            .await?,
            &[&account, &to_ms(since)],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(UsageSample {
                at: from_ms(col(r, 0)?),
                vaults: u(col(r, 1)?),
                archives: u(col(r, 2)?),
                bytes: u(col(r, 3)?),
            })
        })
        .collect()
}

pub(super) async fn delete(tx: &Transaction<'_>, key: &VaultKey) -> Result<Vec<BlobKey>> {
    let v = read_vault(tx, key).await?;
    if v.archive_count > 0 {
        return Err(StorageError::NotEmpty {
            vault: key.name.clone(),
            archives: v.archive_count,
        });
    }
    let vault: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&key.account, &key.name];
    let mut blobs = Vec::new();
    for id in ids(
        tx,
        "SELECT id FROM uploads WHERE account = $1 AND vault = $2",
        &vault,
    )
    .await?
    {
        blobs.extend(delete_upload_rows(tx, &id).await?);
    }
    for id in ids(
        tx,
        "SELECT id FROM jobs WHERE account = $1 AND vault = $2",
        &vault,
    )
    .await?
    {
        blobs.extend(delete_job_rows(tx, &id).await?);
    }
    let mut blobs = unreferenced(tx, blobs).await?;
    blobs.sort();
    blobs.dedup();
    for table in [
        "vault_tags",
        "vault_policies",
        "completed_uploads",
        "vault_counts",
        "deleted_archives",
    ] {
        tx.execute(
            &tx.prepare_cached(&format!(
                "DELETE FROM {table} WHERE account = $1 AND vault = $2"
            ))
            .await?,
            &vault,
        )
        .await?;
    }
    if let Some(blob) = super::inventories::delete(tx, key).await? {
        blobs.extend(unreferenced(tx, vec![blob]).await?);
    }
    tx.execute(
        &tx.prepare_cached("DELETE FROM vaults WHERE account = $1 AND name = $2")
            .await?,
        &vault,
    )
    .await?;
    Ok(blobs)
}

pub(super) async fn get_notifications(
    tx: &Transaction<'_>,
    key: &VaultKey,
) -> Result<Option<Notifications>> {
    let row = tx
        .query_opt(
            &tx.prepare_cached(
                "SELECT sns_topic, events FROM vaults WHERE account = $1 AND name = $2",
            )
            .await?,
            &[&key.account, &key.name],
        )
        .await?
        .ok_or_else(|| vault_not_found(key))?;
    let topic: Option<String> = col(&row, 0)?;
    let events: Option<String> = col(&row, 1)?;
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

pub(super) async fn set_notifications(
    tx: &Transaction<'_>,
    key: &VaultKey,
    config: Option<Notifications>,
) -> Result<()> {
    require_vault(tx, key).await?;
    let (topic, events) = match config {
        Some(c) => (Some(c.sns_topic), Some(c.events.join(","))),
        None => (None, None),
    };
    tx.execute(
        &tx.prepare_cached(
            "UPDATE vaults SET sns_topic = $3, events = $4 WHERE account = $1 AND name = $2",
        )
        .await?,
        &[&key.account, &key.name, &topic, &events],
    )
    .await?;
    Ok(())
}
