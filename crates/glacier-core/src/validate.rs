//! The service's rules for names, descriptions, sizes and list parameters.
//!
//! Every check returns [`Invalid`] with a message that names the value and the rule, which the
//! server answers as `InvalidParameterValueException`.

use crate::range::Span;
use crate::treehash::MIB;

/// A value broke a rule; the message says which and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

fn invalid<T>(msg: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid(msg.into()))
}

/// The largest part and the largest single-request archive: 4 GiB.
pub const MAX_PART_SIZE: u64 = 4096 * MIB;
/// The most parts one multipart upload may have.
pub const MAX_PARTS: u64 = 10_000;
/// The largest archive a multipart upload can make.
pub const MAX_ARCHIVE_SIZE: u64 = MAX_PART_SIZE * MAX_PARTS;
/// The longest archive description.
pub const MAX_DESCRIPTION_LEN: usize = 1024;
/// Vaults one account may have.
pub const MAX_VAULTS_PER_ACCOUNT: u64 = 1000;
/// The largest `limit` of the list operations, and their default.
pub const MAX_LIST_LIMIT: usize = 1000;

/// Vault names: 1 to 255 characters of `a-z A-Z 0-9 _ - .`.
pub fn vault_name(name: &str) -> Result<(), Invalid> {
    if name.is_empty() || name.len() > 255 {
        return invalid(format!(
            "Invalid vault name: {name:?}: a vault name must be 1 to 255 characters long"
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return invalid(format!(
            "Invalid vault name: {name:?}: the character {c:?} is not allowed (use a-z, A-Z, 0-9, '_', '-' and '.')"
        ));
    }
    // "." and ".." are path segments no URL can carry as themselves; all-dot names are
    // refused so that no vault is reachable only through a path that normalizes away.
    if name.bytes().all(|b| b == b'.') {
        return invalid(format!(
            "Invalid vault name: {name:?}: a vault name cannot consist of dots only"
        ));
    }
    Ok(())
}

/// Archive descriptions: at most 1024 characters of printable ASCII (0x20 to 0x7E).
pub fn archive_description(d: &str) -> Result<(), Invalid> {
    if d.len() > MAX_DESCRIPTION_LEN {
        return invalid(format!(
            "Invalid archive description: it is {} bytes long; the limit is {MAX_DESCRIPTION_LEN}",
            d.len()
        ));
    }
    if let Some((i, b)) = d
        .bytes()
        .enumerate()
        .find(|(_, b)| !(0x20..=0x7e).contains(b))
    {
        return invalid(format!(
            "Invalid archive description: byte {i} (0x{b:02x}) is not printable ASCII (0x20-0x7E)"
        ));
    }
    Ok(())
}

/// Part sizes: 1 MiB × 2^n, from 1 MiB to 4 GiB.
/// Checks an UploadMultipartPart: its `Content-Range` `range` against the upload's part size
/// `part_size` and the body's `Content-Length`. A part starts at a multiple of the part size,
/// is at most one part size long (only the last part is shorter, which completion checks),
/// is among the first [`MAX_PARTS`], and its body is exactly as long as its range.
pub fn part_range(range: Span, part_size: u64, content_length: u64) -> Result<(), Invalid> {
    let ps = part_size;
    if ps == 0 || !range.start.is_multiple_of(ps) {
        return invalid(format!(
            "Invalid Content-Range: bytes {range}/*: a part must start at a multiple of the part size {ps}"
        ));
    }
    if range.len() > ps {
        return invalid(format!(
            "Invalid Content-Range: bytes {range}/*: the part is {} bytes, larger than the part size {ps}",
            range.len()
        ));
    }
    if range.start / ps >= MAX_PARTS {
        return invalid(format!(
            "Invalid Content-Range: bytes {range}/*: an upload has at most {MAX_PARTS} parts"
        ));
    }
    if content_length != range.len() {
        return invalid(format!(
            "Content-Length {content_length} does not match the length of Content-Range bytes {range}/* ({} bytes)",
            range.len()
        ));
    }
    Ok(())
}

pub fn part_size(raw: &str) -> Result<u64, Invalid> {
    let size: u64 = raw.trim().parse().or_else(|_| {
        invalid(format!(
            "Invalid part size: {raw:?} is not a whole number of bytes"
        ))
    })?;
    if !is_part_size(size) {
        return invalid(format!(
            "Invalid part size: {size}. Part size must not be null, must be a power of two and be between 1048576 and 4294967296 bytes."
        ));
    }
    Ok(size)
}

/// Whether `size` is a valid part size: 1 MiB × 2^n, at most 4 GiB. Chunks of such sizes are
/// also the ones whose tree hashes combine into the whole's.
pub fn is_part_size(size: u64) -> bool {
    (MIB..=MAX_PART_SIZE).contains(&size)
        && size.is_multiple_of(MIB)
        && (size / MIB).is_power_of_two()
}

/// The account in a path: `-` (the caller's own) or a 12-digit account id.
pub fn account_id(id: &str) -> Result<(), Invalid> {
    if id == "-" || (id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())) {
        Ok(())
    } else {
        invalid(format!(
            "Invalid account id: {id:?}: use '-' for your own account or a 12-digit account id"
        ))
    }
}

/// The `limit` query parameter of the list operations: 1 to 1000, default 1000.
pub fn list_limit(raw: Option<&str>) -> Result<usize, Invalid> {
    let Some(raw) = raw else {
        return Ok(MAX_LIST_LIMIT);
    };
    match raw.parse::<usize>() {
        Ok(n) if (1..=MAX_LIST_LIMIT).contains(&n) => Ok(n),
        _ => invalid(format!(
            "Invalid limit: {raw:?}: it must be a whole number from 1 to {MAX_LIST_LIMIT}"
        )),
    }
}

/// The smallest part size (1 MiB × 2^n) that uploads `archive_size` bytes in at most 10,000
/// parts, never below `default_part_size`; as `boto.glacier.utils.minimum_part_size`.
pub fn minimum_part_size(archive_size: u64, default_part_size: u64) -> Result<u64, Invalid> {
    if archive_size > MAX_ARCHIVE_SIZE {
        return invalid(format!(
            "File size too large: {archive_size} bytes; the largest archive is {MAX_ARCHIVE_SIZE} bytes"
        ));
    }
    if default_part_size.saturating_mul(MAX_PARTS) >= archive_size {
        return Ok(default_part_size);
    }
    let needed = archive_size.div_ceil(MAX_PARTS);
    Ok(needed.next_power_of_two().max(MIB))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_names() {
        for ok in ["a", "my-vault_1.x", ".a", "a..", &"v".repeat(255)] {
            assert_eq!(vault_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "sp ace",
            "slash/",
            "ü",
            ".",
            "..",
            "...",
            &"v".repeat(256),
        ] {
            let e = vault_name(bad).unwrap_err();
            assert!(e.0.contains("vault name"), "{e}");
        }
    }

    #[test]
    fn descriptions() {
        assert!(archive_description("").is_ok());
        assert!(archive_description(&"d".repeat(1024)).is_ok());
        assert!(archive_description(" ~ all printable").is_ok());
        assert!(
            archive_description(&"d".repeat(1025))
                .unwrap_err()
                .0
                .contains("1025")
        );
        assert!(
            archive_description("tab\there")
                .unwrap_err()
                .0
                .contains("0x09")
        );
        assert!(archive_description("é").is_err());
    }

    #[test]
    fn part_sizes() {
        assert_eq!(part_size("1048576"), Ok(MIB));
        assert_eq!(part_size("4294967296"), Ok(4096 * MIB));
        for bad in ["0", "524288", "3145728", "8589934592", "x", "-1", ""] {
            assert!(part_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn accounts_and_limits() {
        assert!(account_id("-").is_ok());
        assert!(account_id("123456789012").is_ok());
        assert!(account_id("12345").is_err());
        assert_eq!(list_limit(None), Ok(1000));
        assert_eq!(list_limit(Some("7")), Ok(7));
        for bad in ["0", "1001", "x", "-3"] {
            assert!(list_limit(Some(bad)).is_err(), "{bad}");
        }
    }

    /// The cases of boto's own unit tests for `minimum_part_size`.
    #[test]
    fn minimum_part_sizes_as_boto() {
        let d = 4 * MIB;
        assert_eq!(minimum_part_size(1, d), Ok(d));
        assert_eq!(minimum_part_size(8 * MIB * 10_000, d), Ok(8 * MIB));
        assert_eq!(minimum_part_size(4 * MIB * MIB, d), Ok(512 * MIB));
        assert_eq!(minimum_part_size(40_000 * MIB, d), Ok(d));
        assert_eq!(minimum_part_size(40_000 * MIB + 1, d), Ok(8 * MIB));
        assert_eq!(minimum_part_size(MAX_ARCHIVE_SIZE, d), Ok(MAX_PART_SIZE));
        assert!(minimum_part_size(MAX_ARCHIVE_SIZE + 1, d).is_err());
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            /// Whatever `part_range` accepts is a part of the upload's layout whose body is
            /// its range: the overflowing `bytes 0-18446744073709551615/*` with an empty body
            /// never is.
            #[test]
            fn accepted_parts_fit_the_layout(
                start in prop_oneof![any::<u64>(), Just(0u64), (0u64..20).prop_map(|n| n * MIB)],
                len in prop_oneof![any::<u64>(), Just(0u64), Just(MIB), 1u64..(2 * MIB)],
                ps_exp in 0u32..13,
                content_length in prop_oneof![any::<u64>(), Just(0u64), Just(MIB)],
            ) {
                let ps = MIB << ps_exp;
                let Some(end) = start.checked_add(len.max(1) - 1).filter(|e| *e < u64::MAX) else {
                    return Ok(());
                };
                let range = Span { start, end };
                if part_range(range, ps, content_length).is_ok() {
                    prop_assert_eq!(start % ps, 0);
                    prop_assert!(range.len() <= ps && content_length != 0);
                    prop_assert_eq!(range.len(), content_length);
                    prop_assert!(start / ps < MAX_PARTS);
                }
            }
        }
    }
}
