//! PostgreSQL columns (`BIGINT` times and sizes, `BYTEA` hashes: see `crate::columns`) and
//! reading them without panics.

use crate::Result;
use tokio_postgres::Row;
use tokio_postgres::types::FromSql;

pub(super) use crate::columns::{digest, from_ms, i, leaves_from_blob, leaves_to_blob, to_ms, u};

/// Column `idx` of a row, as `T`; a column of another type is an error, not a panic.
pub(super) fn col<'a, T: FromSql<'a>>(row: &'a Row, idx: usize) -> Result<T> {
    Ok(row.try_get(idx)?)
}

/// The first column of every row a query selects, as text.
pub(super) async fn ids(
    tx: &deadpool_postgres::Transaction<'_>,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<String>> {
    tx.query(&tx.prepare_cached(sql).await?, params)
        .await?
        .iter()
        .map(|r| col(r, 0))
        .collect()
}

/// The blobs a query selects (first column) for one id.
pub(super) async fn blobs_of(
    tx: &deadpool_postgres::Transaction<'_>,
    sql: &str,
    id: &str,
) -> Result<Vec<crate::blob::BlobKey>> {
    Ok(ids(tx, sql, &[&id])
        .await?
        .into_iter()
        .map(crate::blob::BlobKey)
        .collect())
}
