//! Row helpers every table family shares: that a vault exists, and the rows a vault's
//! deletion takes with its jobs and uploads (returning their blobs). Here, so that the families
//! import this and never one another in a circle.

use super::values::*;
use crate::blob::BlobKey;
use crate::meta::VaultKey;
use crate::{Result, StorageError};
use deadpool_postgres::Transaction;

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
