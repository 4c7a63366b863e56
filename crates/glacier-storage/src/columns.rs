//! How values sit in database columns, the same in SQLite and PostgreSQL: times as
//! milliseconds since the epoch, sizes as signed 64-bit integers, hashes as 32-byte blobs, leaf
//! hashes concatenated. Each backend's `values.rs` adds what its driver needs.

use crate::{Result, StorageError};
use glacier_core::Digest;
use time::OffsetDateTime;

pub(crate) fn to_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

pub(crate) fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Sizes are stored as SQLite's signed 64-bit integers; no archive comes near 2^63 bytes.
pub(crate) fn i(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) fn u(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

pub(crate) fn digest(b: Vec<u8>) -> Result<Digest> {
    b.try_into()
        .map_err(|_| StorageError::backend("stored hash is not 32 bytes"))
}

pub(crate) fn leaves_to_blob(leaves: &[Digest]) -> Vec<u8> {
    leaves.concat()
}

pub(crate) fn leaves_from_blob(b: &[u8]) -> Result<Vec<Digest>> {
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

/// Whose segment rows: an archive's (`segments`, keyed by `archive_id`) or a job output's
/// (`job_segments`, keyed by `job_id`). Each backend's statements are chosen by it, never built
/// from table names passed around.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Segments {
    Archive,
    Job,
}
