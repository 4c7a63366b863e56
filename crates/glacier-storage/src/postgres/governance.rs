//! `vault_tags`, `vault_policies` (the access policy and the lock), `account_settings` (the
//! retrieval policy) and `capacity_units`.

use super::rows::{in_vault, require_vault, rows_in_vault};
use super::values::*;
use super::vaults::{VAULT_COLUMN_COUNT, vault_columns, vault_from_row, vaults_from};
use crate::meta::*;
use crate::{Result, StorageError};
use deadpool_postgres::{GenericClient, Transaction};
use glacier_core::LockState;
use std::collections::BTreeMap;

/// The vault's lock row. A row that is not a valid lock is an error, never "no lock": a
/// vault's write-once protection must not fall away because a row cannot be read.
async fn read_lock(tx: &Transaction<'_>, key: &VaultKey) -> Result<Option<VaultLock>> {
    require_vault(tx, key).await?;
    let row = tx
        .query_opt(
            &tx.prepare_cached("SELECT kind, policy, state, lock_id, created_ms, expires_ms FROM vault_policies WHERE account = $1 AND vault = $2 AND kind = 'lock'").await?,
            &[&key.account, &key.name],
        )
        .await?;
    match row {
        Some(row) => lock_from(&row, 0, key),
        None => Ok(None),
    }
}

/// The lock in columns `at..at + 6` of `row` (kind, policy, state, lock id, created,
/// expires): none when the kind is NULL (a left join that found no lock row).
fn lock_from(row: &tokio_postgres::Row, at: usize, key: &VaultKey) -> Result<Option<VaultLock>> {
    if col::<Option<String>>(row, at)?.is_none() {
        return Ok(None);
    }
    let at = at + 1;
    let bad = |what: &str| {
        StorageError::backend(format!("the stored lock of vault {} has {what}", key.name))
    };
    let state: LockState = col::<Option<String>>(row, at + 1)?
        .ok_or_else(|| bad("no state"))?
        .parse()
        .map_err(|e| bad(&format!("an invalid state: {e}")))?;
    Ok(Some(VaultLock {
        policy: col(row, at)?,
        state,
        lock_id: col::<Option<String>>(row, at + 2)?
            .filter(|id| !id.is_empty())
            .ok_or_else(|| bad("no lock id"))?,
        created: from_ms(col::<Option<i64>>(row, at + 3)?.ok_or_else(|| bad("no creation date"))?),
        expires: col::<Option<i64>>(row, at + 4)?.map(from_ms),
    }))
}

pub(super) async fn add_tags(
    tx: &Transaction<'_>,
    key: &VaultKey,
    tags: &BTreeMap<String, String>,
    max: usize,
) -> Result<()> {
    require_vault(tx, key).await?;
    for (k, v) in tags {
        tx.execute(
            &tx.prepare_cached(
                "INSERT INTO vault_tags (account, vault, key, value) VALUES ($1, $2, $3, $4)
             ON CONFLICT (account, vault, key) DO UPDATE SET value = excluded.value",
            )
            .await?,
            &[&key.account, &key.name, k, v],
        )
        .await?;
    }
    let count: i64 = col(
        &tx.query_one(
            &tx.prepare_cached("SELECT COUNT(*) FROM vault_tags WHERE account = $1 AND vault = $2")
                .await?,
            &[&key.account, &key.name],
        )
        .await?,
        0,
    )?;
    if u(count) as usize > max {
        // The transaction is rolled back: nothing of the request stays.
        return Err(StorageError::LimitExceeded(format!(
            "The vault would have {count} tags; a vault can have at most {max}"
        )));
    }
    Ok(())
}

pub(super) async fn remove_tags(
    tx: &Transaction<'_>,
    key: &VaultKey,
    keys: &[String],
) -> Result<()> {
    require_vault(tx, key).await?;
    tx.execute(
        &tx.prepare_cached(
            "DELETE FROM vault_tags WHERE account = $1 AND vault = $2 AND key = ANY($3)",
        )
        .await?,
        &[&key.account, &key.name, &keys],
    )
    .await?;
    Ok(())
}

/// One statement (see [`in_vault`]).
pub(super) async fn list_tags<C: GenericClient>(
    c: &C,
    key: &VaultKey,
) -> Result<BTreeMap<String, String>> {
    let rows = c
        .query(
            &c.prepare_cached(in_vault!(
                "SELECT key, value FROM vault_tags WHERE account = $1 AND vault = $2"
            ))
            .await?,
            &[&key.account, &key.name],
        )
        .await?;
    rows_in_vault(rows, key)?
        .iter()
        .map(|r| Ok((col(r, 0)?, col(r, 1)?)))
        .collect()
}

/// A vault (its row), its access policy and lock in one statement (one round trip, its own
/// snapshot: no transaction needed); `NotFound` for no vault.
pub(super) async fn vault_policies<C: GenericClient>(
    c: &C,
    key: &VaultKey,
) -> Result<VaultPolicies> {
    let row = c
        .query_opt(
            &c.prepare_cached(
                concat!("SELECT ", vault_columns!(), ",
                    a.policy, l.kind, l.policy, l.state, l.lock_id, l.created_ms, l.expires_ms
                 FROM ", vaults_from!(), "
                 LEFT JOIN vault_policies a ON a.account = vaults.account AND a.vault = vaults.name AND a.kind = 'access'
                 LEFT JOIN vault_policies l ON l.account = vaults.account AND l.vault = vaults.name AND l.kind = 'lock'
                 WHERE vaults.account = $1 AND vaults.name = $2"),
            )
            .await?,
            &[&key.account, &key.name],
        )
        .await?
        .ok_or_else(|| super::rows::vault_not_found(key))?;
    let vault = vault_from_row(&key.account, &row)?;
    Ok(VaultPolicies {
        region: vault.region.clone(),
        access: col(&row, VAULT_COLUMN_COUNT)?,
        lock: lock_from(&row, VAULT_COLUMN_COUNT + 1, key)?,
        vault: Some(vault),
    })
}

pub(super) async fn set_access_policy(
    tx: &Transaction<'_>,
    key: &VaultKey,
    policy: Option<String>,
) -> Result<()> {
    require_vault(tx, key).await?;
    tx.execute(
        &tx.prepare_cached(
            "DELETE FROM vault_policies WHERE account = $1 AND vault = $2 AND kind = 'access'",
        )
        .await?,
        &[&key.account, &key.name],
    )
    .await?;
    if let Some(p) = policy {
        tx.execute(
            &tx.prepare_cached("INSERT INTO vault_policies (account, vault, kind, policy) VALUES ($1, $2, 'access', $3)").await?,
            &[&key.account, &key.name, &p],
        )
        .await?;
    }
    Ok(())
}

pub(super) async fn swap_vault_lock(
    tx: &Transaction<'_>,
    key: &VaultKey,
    expected: Option<(String, LockState)>,
    new: Option<VaultLock>,
) -> Result<LockSwap> {
    let current = read_lock(tx, key).await?;
    if current.as_ref().map(|l| (l.lock_id.clone(), l.state)) != expected {
        return Ok(LockSwap::Changed(current));
    }
    tx.execute(
        &tx.prepare_cached(
            "DELETE FROM vault_policies WHERE account = $1 AND vault = $2 AND kind = 'lock'",
        )
        .await?,
        &[&key.account, &key.name],
    )
    .await?;
    if let Some(l) = new {
        tx.execute(
            &tx.prepare_cached("INSERT INTO vault_policies (account, vault, kind, policy, state, lock_id, created_ms, expires_ms)
             VALUES ($1, $2, 'lock', $3, $4, $5, $6, $7)").await?,
            &[&key.account, &key.name, &l.policy, &l.state.as_str(), &l.lock_id, &to_ms(l.created), &l.expires.map(to_ms)],
        )
        .await?;
    }
    Ok(LockSwap::Swapped)
}

pub(super) async fn get_retrieval_policy(
    tx: &Transaction<'_>,
    account: &str,
) -> Result<Option<String>> {
    Ok(tx
        .query_opt(
            &tx.prepare_cached("SELECT retrieval_policy FROM account_settings WHERE account = $1")
                .await?,
            &[&account],
        )
        .await?
        .map(|r| col::<Option<String>>(&r, 0))
        .transpose()?
        .flatten())
}

pub(super) async fn set_retrieval_policy(
    tx: &Transaction<'_>,
    account: &str,
    policy: &str,
) -> Result<()> {
    tx.execute(
        &tx.prepare_cached(
            "INSERT INTO account_settings (account, retrieval_policy) VALUES ($1, $2)
         ON CONFLICT (account) DO UPDATE SET retrieval_policy = excluded.retrieval_policy",
        )
        .await?,
        &[&account, &policy],
    )
    .await?;
    Ok(())
}

pub(super) async fn purchase_capacity(
    tx: &Transaction<'_>,
    account: &str,
    unit: &CapacityUnit,
    max: usize,
) -> Result<()> {
    let active: i64 = col(
        &tx.query_one(
            &tx.prepare_cached(
                "SELECT COUNT(*) FROM capacity_units WHERE account = $1 AND expires_ms > $2",
            )
            .await?,
            &[&account, &to_ms(unit.start)],
        )
        .await?,
        0,
    )?;
    if u(active) as usize >= max {
        return Err(StorageError::LimitExceeded(format!(
            "The account already has {active} active provisioned capacity units; the limit is {max}"
        )));
    }
    tx.execute(
        &tx.prepare_cached("INSERT INTO capacity_units (id, account, start_ms, expires_ms) VALUES ($1, $2, $3, $4)").await?,
        &[&unit.id, &account, &to_ms(unit.start), &to_ms(unit.expires)],
    )
    .await?;
    Ok(())
}

pub(super) async fn list_capacity(
    tx: &Transaction<'_>,
    account: &str,
) -> Result<Vec<CapacityUnit>> {
    let rows = tx
        .query(
            &tx.prepare_cached("SELECT id, start_ms, expires_ms FROM capacity_units WHERE account = $1 ORDER BY start_ms, seq").await?,
            &[&account],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(CapacityUnit {
                id: col(r, 0)?,
                start: from_ms(col(r, 1)?),
                expires: from_ms(col(r, 2)?),
            })
        })
        .collect()
}
