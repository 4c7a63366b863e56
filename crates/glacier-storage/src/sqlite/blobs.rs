//! Which blobs rows refer to: segments, parts, job output and inventory documents.

use crate::Result;
use crate::blob::BlobKey;
use rusqlite::Transaction;
use std::collections::HashSet;

/// Of `blobs`, those no archive, part or job output refers to.
pub(super) fn unreferenced(tx: &Transaction<'_>, blobs: Vec<BlobKey>) -> Result<Vec<BlobKey>> {
    let mut stmt = tx.prepare_cached(
        "SELECT NOT EXISTS (SELECT 1 FROM segments WHERE blob = ?1)
            AND NOT EXISTS (SELECT 1 FROM job_segments WHERE blob = ?1)
            AND NOT EXISTS (SELECT 1 FROM parts WHERE blob = ?1)
            AND NOT EXISTS (SELECT 1 FROM inventory_snapshots WHERE blob = ?1)",
    )?;
    let mut out = Vec::new();
    for b in blobs {
        if stmt.query_row([&b.0], |r| r.get::<_, bool>(0))? {
            out.push(b);
        }
    }
    Ok(out)
}

pub(super) fn referenced(tx: &Transaction<'_>) -> Result<HashSet<BlobKey>> {
    let mut stmt = tx.prepare_cached(
        "SELECT blob FROM segments UNION SELECT blob FROM parts UNION SELECT blob FROM job_segments
         UNION SELECT blob FROM inventory_snapshots",
    )?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    Ok(rows.map(|r| r.map(BlobKey)).collect::<Result<_, _>>()?)
}
