//! SQLite columns (see `crate::columns` for how values sit in them) and the small query
//! helpers every table family uses.

use crate::Result;
use crate::blob::BlobKey;
use rusqlite::Transaction;

pub(super) use crate::columns::{digest, from_ms, i, leaves_from_blob, leaves_to_blob, to_ms, u};

pub(super) fn blobs_of(tx: &Transaction<'_>, sql: &str, id: &str) -> Result<Vec<BlobKey>> {
    let mut stmt = tx.prepare(sql)?;
    let rows = stmt.query_map([id], |r| r.get::<_, String>(0))?;
    Ok(rows.map(|r| r.map(BlobKey)).collect::<Result<_, _>>()?)
}

/// The ids a query selects.
pub(super) fn ids(
    tx: &Transaction<'_>,
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<String>> {
    let mut stmt = tx.prepare(sql)?;
    let rows = stmt.query_map(args, |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
