//! `vault_tags`, `vault_policies` (the access policy and the lock), `account_settings` (the
//! retrieval policy) and `capacity_units`.

use super::rows::require_vault;
use super::values::*;
use super::vaults::read_vault;
use crate::meta::*;
use crate::{Result, StorageError};
use glacier_core::LockState;
use rusqlite::{OptionalExtension, Transaction, params};
use std::collections::BTreeMap;

/// The vault's lock row. A row that is not a valid lock is an error, never "no lock": a
/// vault's write-once protection must not fall away because a row cannot be read.
pub(super) fn read_lock(tx: &Transaction<'_>, key: &VaultKey) -> Result<Option<VaultLock>> {
    require_vault(tx, key)?;
    let row = tx
        .query_row_cached(
            "SELECT policy, state, lock_id, created_ms, expires_ms FROM vault_policies WHERE account = ?1 AND vault = ?2 AND kind = 'lock'",
            params![key.account, key.name],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                ))
            },
        )
        .optional()?;
    let Some((policy, state, lock_id, created, expires)) = row else {
        return Ok(None);
    };
    let bad = |what: &str| {
        StorageError::backend(format!("the stored lock of vault {} has {what}", key.name))
    };
    let state: LockState = state
        .ok_or_else(|| bad("no state"))?
        .parse()
        .map_err(|e| bad(&format!("an invalid state: {e}")))?;
    Ok(Some(VaultLock {
        policy,
        state,
        lock_id: lock_id
            .filter(|id| !id.is_empty())
            .ok_or_else(|| bad("no lock id"))?,
        created: from_ms(created.ok_or_else(|| bad("no creation date"))?),
        expires: expires.map(from_ms),
    }))
}

pub(super) fn add_tags(
    tx: &Transaction<'_>,
    key: &VaultKey,
    tags: &BTreeMap<String, String>,
    max: usize,
) -> Result<()> {
    require_vault(tx, key)?;
    for (k, v) in tags {
        tx.execute_cached(
            "INSERT OR REPLACE INTO vault_tags (account, vault, key, value) VALUES (?1, ?2, ?3, ?4)",
            params![key.account, key.name, k, v],
        )?;
    }
    let count: i64 = tx.query_row_cached(
        "SELECT COUNT(*) FROM vault_tags WHERE account = ?1 AND vault = ?2",
        params![key.account, key.name],
        |r| r.get(0),
    )?;
    if u(count) as usize > max {
        // The transaction is rolled back: nothing of the request stays.
        return Err(StorageError::LimitExceeded(format!(
            "The vault would have {count} tags; a vault can have at most {max}"
        )));
    }
    Ok(())
}

pub(super) fn remove_tags(tx: &Transaction<'_>, key: &VaultKey, keys: &[String]) -> Result<()> {
    require_vault(tx, key)?;
    for k in keys {
        tx.execute_cached(
            "DELETE FROM vault_tags WHERE account = ?1 AND vault = ?2 AND key = ?3",
            params![key.account, key.name, k],
        )?;
    }
    Ok(())
}

pub(super) fn list_tags(tx: &Transaction<'_>, key: &VaultKey) -> Result<BTreeMap<String, String>> {
    require_vault(tx, key)?;
    let mut stmt =
        tx.prepare_cached("SELECT key, value FROM vault_tags WHERE account = ?1 AND vault = ?2")?;
    let rows = stmt.query_map(params![key.account, key.name], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn vault_policies(tx: &Transaction<'_>, key: &VaultKey) -> Result<VaultPolicies> {
    let vault = read_vault(tx, key)?;
    let access = tx
        .query_row_cached(
            "SELECT policy FROM vault_policies WHERE account = ?1 AND vault = ?2 AND kind = 'access'",
            params![key.account, key.name],
            |r| r.get(0),
        )
        .optional()?;
    Ok(VaultPolicies {
        region: vault.region,
        access,
        lock: read_lock(tx, key)?,
        vault: None,
    })
}

pub(super) fn set_access_policy(
    tx: &Transaction<'_>,
    key: &VaultKey,
    policy: Option<String>,
) -> Result<()> {
    require_vault(tx, key)?;
    tx.execute_cached(
        "DELETE FROM vault_policies WHERE account = ?1 AND vault = ?2 AND kind = 'access'",
        params![key.account, key.name],
    )?;
    if let Some(p) = policy {
        tx.execute_cached(
            "INSERT INTO vault_policies (account, vault, kind, policy) VALUES (?1, ?2, 'access', ?3)",
            params![key.account, key.name, p],
        )?;
    }
    Ok(())
}

pub(super) fn swap_vault_lock(
    tx: &Transaction<'_>,
    key: &VaultKey,
    expected: Option<(String, LockState)>,
    new: Option<VaultLock>,
) -> Result<LockSwap> {
    let current = read_lock(tx, key)?;
    if current.as_ref().map(|l| (l.lock_id.clone(), l.state)) != expected {
        return Ok(LockSwap::Changed(current));
    }
    tx.execute_cached(
        "DELETE FROM vault_policies WHERE account = ?1 AND vault = ?2 AND kind = 'lock'",
        params![key.account, key.name],
    )?;
    if let Some(l) = new {
        tx.execute_cached(
            "INSERT INTO vault_policies (account, vault, kind, policy, state, lock_id, created_ms, expires_ms)
             VALUES (?1, ?2, 'lock', ?3, ?4, ?5, ?6, ?7)",
            params![key.account, key.name, l.policy, l.state.as_str(), l.lock_id, to_ms(l.created), l.expires.map(to_ms)],
        )?;
    }
    Ok(LockSwap::Swapped)
}

pub(super) fn get_retrieval_policy(tx: &Transaction<'_>, account: &str) -> Result<Option<String>> {
    Ok(tx
        .query_row_cached(
            "SELECT retrieval_policy FROM account_settings WHERE account = ?1",
            [account],
            |r| r.get(0),
        )
        .optional()?
        .flatten())
}

pub(super) fn set_retrieval_policy(
    tx: &Transaction<'_>,
    account: &str,
    policy: &str,
) -> Result<()> {
    tx.execute_cached(
        "INSERT INTO account_settings (account, retrieval_policy) VALUES (?1, ?2)
         ON CONFLICT (account) DO UPDATE SET retrieval_policy = excluded.retrieval_policy",
        params![account, policy],
    )?;
    Ok(())
}

pub(super) fn purchase_capacity(
    tx: &Transaction<'_>,
    account: &str,
    unit: &CapacityUnit,
    max: usize,
) -> Result<()> {
    let active: i64 = tx.query_row_cached(
        "SELECT COUNT(*) FROM capacity_units WHERE account = ?1 AND expires_ms > ?2",
        params![account, to_ms(unit.start)],
        |r| r.get(0),
    )?;
    if u(active) as usize >= max {
        return Err(StorageError::LimitExceeded(format!(
            "The account already has {active} active provisioned capacity units; the limit is {max}"
        )));
    }
    tx.execute_cached(
        "INSERT INTO capacity_units (id, account, start_ms, expires_ms) VALUES (?1, ?2, ?3, ?4)",
        params![unit.id, account, to_ms(unit.start), to_ms(unit.expires)],
    )?;
    Ok(())
}

pub(super) fn list_capacity(tx: &Transaction<'_>, account: &str) -> Result<Vec<CapacityUnit>> {
    let mut stmt = tx.prepare_cached("SELECT id, start_ms, expires_ms FROM capacity_units WHERE account = ?1 ORDER BY start_ms, rowid")?;
    let rows = stmt.query_map([account], |r| {
        Ok(CapacityUnit {
            id: r.get(0)?,
            start: from_ms(r.get(1)?),
            expires: from_ms(r.get(2)?),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
