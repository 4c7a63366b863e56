//! Rust values in PostgreSQL columns: times as milliseconds (`BIGINT`), sizes as `BIGINT`,
//! hashes as 32-byte `BYTEA`, leaf hashes concatenated; and reading columns without panics.

use crate::{Result, StorageError};
use glacier_core::Digest;
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::FromSql;

pub(super) fn to_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

pub(super) fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Sizes are `BIGINT`s; no archive comes near 2^63 bytes.
pub(super) fn i(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(super) fn u(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

pub(super) fn digest(b: Vec<u8>) -> Result<Digest> {
    b.try_into()
        .map_err(|_| StorageError::backend("stored hash is not 32 bytes"))
}

pub(super) fn leaves_to_blob(leaves: &[Digest]) -> Vec<u8> {
    leaves.concat()
}

pub(super) fn leaves_from_blob(b: &[u8]) -> Result<Vec<Digest>> {
    if !b.len().is_multiple_of(32) {
        return Err(StorageError::backend(
            "stored leaf hashes are not whole digests",
        ));
    }
    Ok(b.chunks_exact(32)
        .map(|c| {
            let mut d = [0u8; 32];
            d.copy_from_slice(c);
            d
        })
        .collect())
}

/// Column `idx` of a row, as `T`; a column of another type is an error, not a panic.
pub(super) fn col<'a, T: FromSql<'a>>(row: &'a Row, idx: usize) -> Result<T> {
    Ok(row.try_get(idx)?)
}

/// The first column of every row a query selects, as text.
pub(super) async fn ids(
    tx: &tokio_postgres::Transaction<'_>,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<String>> {
    tx.query(sql, params)
        .await?
        .iter()
        .map(|r| col(r, 0))
        .collect()
}

/// The blobs a query selects (first column) for one id.
pub(super) async fn blobs_of(
    tx: &tokio_postgres::Transaction<'_>,
    sql: &str,
    id: &str,
) -> Result<Vec<crate::blob::BlobKey>> {
    Ok(ids(tx, sql, &[&id])
        .await?
        .into_iter()
        .map(crate::blob::BlobKey)
        .collect())
}
