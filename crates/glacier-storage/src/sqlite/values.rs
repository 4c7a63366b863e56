//! Rust values in SQLite columns: times as milliseconds, sizes as signed 64-bit integers,
//! hashes as 32-byte blobs, leaf hashes concatenated; and the small query helpers every table
//! family uses.

use crate::blob::BlobKey;
use crate::{Result, StorageError};
use glacier_core::Digest;
use rusqlite::Transaction;
use time::OffsetDateTime;

pub(super) fn to_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

pub(super) fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Sizes are stored as SQLite's signed 64-bit integers; no archive comes near 2^63 bytes.
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
