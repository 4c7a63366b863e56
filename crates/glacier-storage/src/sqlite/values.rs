//! SQLite columns (see `crate::columns` for how values sit in them) and the small query
//! helpers every table family uses.

use crate::Result;
use crate::blob::BlobKey;
use rusqlite::Transaction;

pub(super) use crate::columns::{digest, from_ms, i, leaves_from_blob, leaves_to_blob, to_ms, u};

pub(super) fn blobs_of(tx: &Transaction<'_>, sql: &str, id: &str) -> Result<Vec<BlobKey>> {
    let mut stmt = tx.prepare_cached(sql)?;
    let rows = stmt.query_map([id], |r| r.get::<_, String>(0))?;
    Ok(rows.map(|r| r.map(BlobKey)).collect::<Result<_, _>>()?)
}

/// The ids a query selects.
pub(super) fn ids(
    tx: &Transaction<'_>,
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<String>> {
    let mut stmt = tx.prepare_cached(sql)?;
    let rows = stmt.query_map(args, |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// `execute` and `query_row` through the connection's prepared-statement cache: a request's
/// statements are parsed and planned once per connection, not on every call.
pub(super) trait Cached {
    fn execute_cached(&self, sql: &str, args: impl rusqlite::Params) -> rusqlite::Result<usize>;
    fn query_row_cached<T>(
        &self,
        sql: &str,
        args: impl rusqlite::Params,
        f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T>;
}

impl Cached for rusqlite::Connection {
    fn execute_cached(&self, sql: &str, args: impl rusqlite::Params) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(args)
    }

    fn query_row_cached<T>(
        &self,
        sql: &str,
        args: impl rusqlite::Params,
        f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.prepare_cached(sql)?.query_row(args, f)
    }
}
