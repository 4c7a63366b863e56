//! Which blobs rows refer to: segments, parts, job output and inventory documents.

use super::values::*;
use crate::Result;
use crate::blob::BlobKey;
use deadpool_postgres::Transaction;
use std::collections::HashSet;

/// Of `blobs`, those no archive, part or job output refers to.
pub(super) async fn unreferenced(
    tx: &Transaction<'_>,
    blobs: Vec<BlobKey>,
) -> Result<Vec<BlobKey>> {
    let keys: Vec<String> = blobs.into_iter().map(|b| b.0).collect();
    let rows = tx
        .query(
            &tx.prepare_cached(
                "SELECT k FROM unnest($1::TEXT[]) WITH ORDINALITY AS t(k, n)
             WHERE NOT EXISTS (SELECT 1 FROM segments WHERE blob = k)
               AND NOT EXISTS (SELECT 1 FROM job_segments WHERE blob = k)
               AND NOT EXISTS (SELECT 1 FROM parts WHERE blob = k)
               AND NOT EXISTS (SELECT 1 FROM inventory_snapshots WHERE blob = k)
             ORDER BY n",
            )
            .await?,
            &[&keys],
        )
        .await?;
    rows.iter().map(|r| col(r, 0).map(BlobKey)).collect()
}

pub(super) async fn referenced(tx: &Transaction<'_>) -> Result<HashSet<BlobKey>> {
    let rows = tx
        .query(
            &tx.prepare_cached("SELECT blob FROM segments UNION SELECT blob FROM parts UNION SELECT blob FROM job_segments UNION SELECT blob FROM inventory_snapshots").await?,
            &[],
        )
        .await?;
    rows.iter().map(|r| col(r, 0).map(BlobKey)).collect()
}
