//! The Amazon Glacier 2012-06-01 API as pure data and rules.
//!
//! Nothing in this crate performs I/O or depends on an async runtime: it is shared by the
//! server, the storage engine and the client, and everything here is unit-testable in isolation.

pub mod error;
pub mod headers;
pub mod multipart;
pub mod names;
pub mod range;
pub mod retry;
pub mod treehash;
pub mod validate;
pub mod wire;

pub use error::{ErrorCode, ErrorType};
pub use names::{
    InventoryFormat, JobAction, JobStatus, LockState, Operation, RetrievalStrategy, Tier,
    UnknownName,
};
pub use treehash::{Digest, LeafHasher, LinearHash, MIB, TreeHash, TreeHasher};

/// A vault's ARN, `arn:aws:glacier:REGION:ACCOUNT:vaults/NAME`.
pub fn vault_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:glacier:{region}:{account}:vaults/{name}")
}

/// Formats a timestamp the way Glacier does in JSON bodies: ISO 8601, UTC, milliseconds,
/// e.g. `2012-03-20T17:03:43.221Z`.
pub fn format_date(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_look_like_glacier_dates() {
        let t = time::macros::datetime!(2012-03-20 17:03:43.221 UTC);
        assert_eq!(format_date(t), "2012-03-20T17:03:43.221Z");
        let t = time::macros::datetime!(2024-01-02 03:04:05 +02:00);
        assert_eq!(format_date(t), "2024-01-02T01:04:05.000Z");
    }
}
