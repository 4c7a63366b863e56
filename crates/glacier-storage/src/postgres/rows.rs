//! Row helpers every table family shares: that a vault exists, and the rows a vault's
//! deletion takes with its jobs and uploads (returning their blobs). Here, so that the families
//! import this and never one another in a circle.

use super::values::*;
use crate::blob::BlobKey;
use crate::meta::VaultKey;
use crate::{Result, StorageError};
use deadpool_postgres::Transaction;
use tokio_postgres::Row;

/// A statement for the rows `$inner` selects of the vault `$1` (account), `$2` (name), that
/// also tells a missing vault from one with no such rows, in one statement (one round trip,
/// its own snapshot: no transaction needed). `$inner`'s first column must be a TEXT that is
/// never NULL; [`rows_in_vault`] reads the answer.
macro_rules! in_vault {
    ($inner:expr) => {
        concat!(
            "SELECT x.* FROM (SELECT 1 FROM vaults WHERE account = $1 AND name = $2) v LEFT JOIN LATERAL (",
            $inner,
            ") x ON true"
        )
    };
}
pub(super) use in_vault;

/// The rows of an [`in_vault`] statement: none at all is no vault; a row of NULLs, a vault
/// without such rows.
pub(super) fn rows_in_vault(rows: Vec<Row>, key: &VaultKey) -> Result<Vec<Row>> {
    if rows.is_empty() {
        return Err(vault_not_found(key));
    }
    Ok(rows
        .into_iter()
        .filter(|r| r.try_get::<_, Option<&str>>(0).is_ok_and(|c| c.is_some()))
        .collect())
}

pub(super) fn vault_not_found(key: &VaultKey) -> StorageError {
    StorageError::not_found(crate::Resource::Vault, key.name.clone())
}

pub(super) async fn require_vault(tx: &Transaction<'_>, key: &VaultKey) -> Result<()> {
    let found = tx
        .query_opt(
            &tx.prepare_cached("SELECT 1 FROM vaults WHERE account = $1 AND name = $2")
                .await?,
            &[&key.account, &key.name],
        )
        .await?;
    found.map(drop).ok_or_else(|| vault_not_found(key))
}

/// Deletes a job and its output's segment rows; returns their blobs.
pub(super) async fn delete_job_rows(tx: &Transaction<'_>, id: &str) -> Result<Vec<BlobKey>> {
    let blobs = blobs_of(tx, "SELECT blob FROM job_segments WHERE job_id = $1", id).await?;
    tx.execute(
        &tx.prepare_cached("DELETE FROM job_segments WHERE job_id = $1")
            .await?,
        &[&id],
    )
    .await?;
    tx.execute(
        &tx.prepare_cached("DELETE FROM jobs WHERE id = $1").await?,
        &[&id],
    )
    .await?;
    Ok(blobs)
}

/// Deletes an upload and its parts; returns the parts' blobs.
pub(super) async fn delete_upload_rows(tx: &Transaction<'_>, id: &str) -> Result<Vec<BlobKey>> {
    let blobs = blobs_of(tx, "SELECT blob FROM parts WHERE upload_id = $1", id).await?;
    tx.execute(
        &tx.prepare_cached("DELETE FROM parts WHERE upload_id = $1")
            .await?,
        &[&id],
    )
    .await?;
    tx.execute(
        &tx.prepare_cached("DELETE FROM uploads WHERE id = $1")
            .await?,
        &[&id],
    )
    .await?;
    Ok(blobs)
}
