//! The Amazon Glacier 2012-06-01 API as pure data and rules.
//!
//! Nothing in this crate performs I/O or depends on an async runtime: it is shared by the
//! server, the storage engine and the client, and everything here is unit-testable in isolation.

pub mod archive_name;
pub mod error;
pub mod headers;
pub mod mt2;
pub mod multipart;
pub mod names;
pub mod range;
pub mod retry;
pub mod treehash;
pub mod validate;
pub mod wire;

pub use error::{ErrorCode, ErrorType};
pub use names::{
    InventoryFormat, JobAction, JobStatus, JobType, LockState, Operation, RetrievalStrategy, Tier,
    UnknownName,
};
pub use treehash::{Digest, LeafHasher, LinearHash, MIB, TreeHash, TreeHasher};

/// A vault's ARN, `arn:aws:glacier:REGION:ACCOUNT:vaults/NAME`.
pub fn vault_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:glacier:{region}:{account}:vaults/{name}")
}

/// Formats a timestamp the way Glacier does in JSON bodies: ISO 8601, UTC, milliseconds,
/// e.g. `2012-03-20T17:03:43.221Z`. (Written digit by digit: inventories format one per
/// archive, and `format!` with padding cost more than all the rest of an entry.)
pub fn format_date(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let Some(year) = u32::try_from(t.year()).ok().filter(|y| *y <= 9999) else {
        return format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        );
    };
    let mut out = String::with_capacity(24);
    let mut digits = |value: u32, width: u32, then: char| {
        for place in (0..width).rev() {
            let d = value / 10u32.pow(place) % 10;
            out.push(char::from(b'0' + d as u8));
        }
        out.push(then);
    };
    digits(year, 4, '-');
    digits(u32::from(u8::from(t.month())), 2, '-');
    digits(u32::from(t.day()), 2, 'T');
    digits(u32::from(t.hour()), 2, ':');
    digits(u32::from(t.minute()), 2, ':');
    digits(u32::from(t.second()), 2, '.');
    digits(u32::from(t.millisecond()), 3, 'Z');
    out
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

    /// The digit-by-digit formatting agrees with `time`'s own formatter across the years
    /// (and falls back to it outside 0000–9999).
    #[test]
    fn dates_agree_with_time_formatting() {
        let glacier = time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        );
        let mut ms: i64 = -62_167_219_200_000; // 0000-01-01
        while ms < 253_402_300_800_000 {
            // 10000-01-01
            let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            else {
                panic!("{ms} ms is a timestamp");
            };
            assert_eq!(Some(format_date(t)), t.format(glacier).ok(), "{ms} ms");
            ms += 31_557_654_321; // ~a year and odd hours, minutes and milliseconds
            ms += ms % 997;
        }
    }
}
