//! The rule that decides whether a multipart upload's parts make the archive a
//! CompleteMultipartUpload request describes.

use crate::treehash::{Digest, TreeHash, tree_hash_of};
use crate::validate::Invalid;

/// What completion needs to know of one uploaded part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartInfo {
    pub start: u64,
    pub size: u64,
    pub tree_hash: Digest,
}

/// Checks that `parts` (sorted by start) cover `[0, archive_size)` exactly with parts of
/// `part_size` bytes (the last may be shorter), and that their combined tree hash is `tree_hash`.
pub fn check_complete(
    part_size: u64,
    parts: &[PartInfo],
    archive_size: u64,
    tree_hash: &TreeHash,
) -> Result<(), Invalid> {
    if archive_size == 0 {
        return Err(Invalid(
            "Invalid archive size: 0. An archive must hold at least one byte".into(),
        ));
    }
    let expected_parts = archive_size.div_ceil(part_size);
    let mut next = 0u64;
    for (i, p) in parts.iter().enumerate() {
        if p.start != next {
            return Err(Invalid(format!(
                "The upload is missing the part of bytes {next}-{}; archive size {archive_size} needs {expected_parts} parts of {part_size} bytes",
                (next + part_size).min(archive_size) - 1
            )));
        }
        let last = i + 1 == parts.len();
        if !last && p.size != part_size {
            return Err(Invalid(format!(
                "The part at bytes {}-{} is smaller than the part size {part_size} but is not the last part",
                p.start,
                p.start + p.size - 1
            )));
        }
        next = p.start + p.size;
    }
    if next != archive_size {
        return Err(if next < archive_size {
            Invalid(format!(
                "The upload is missing the part of bytes {next}-{}: the parts hold {next} bytes but the archive size is {archive_size}",
                (next + part_size).min(archive_size) - 1
            ))
        } else {
            Invalid(format!(
                "Invalid archive size: {archive_size}: the uploaded parts hold {next} bytes"
            ))
        });
    }
    let hashes: Vec<Digest> = parts.iter().map(|p| p.tree_hash).collect();
    let actual = tree_hash_of(&hashes);
    if actual != *tree_hash {
        return Err(Invalid(format!(
            "The tree hash {tree_hash} does not match the tree hash of the uploaded parts, {actual}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MIB;

    fn parts(sizes: &[u64], part_size: u64) -> (Vec<PartInfo>, TreeHash) {
        let mut out = Vec::new();
        let mut all = Vec::new();
        for (i, s) in sizes.iter().enumerate() {
            let data = vec![i as u8; *s as usize];
            all.extend_from_slice(&data);
            out.push(PartInfo {
                start: i as u64 * part_size,
                size: *s,
                tree_hash: TreeHash::of(&data).0,
            });
        }
        (out, TreeHash::of(&all))
    }

    #[test]
    fn complete_uploads() {
        let (p, h) = parts(&[MIB, MIB, 10], MIB);
        assert_eq!(check_complete(MIB, &p, 2 * MIB + 10, &h), Ok(()));
        assert!(
            check_complete(MIB, &p, 2 * MIB + 11, &h)
                .unwrap_err()
                .0
                .contains("missing")
        );
        assert!(
            check_complete(MIB, &p, 2 * MIB + 9, &h)
                .unwrap_err()
                .0
                .contains("archive size")
        );
        assert!(
            check_complete(MIB, &p, 2 * MIB + 10, &TreeHash::of(b"x"))
                .unwrap_err()
                .0
                .contains("tree hash")
        );
        assert!(
            check_complete(MIB, &[p[0], p[2]], 2 * MIB + 10, &h)
                .unwrap_err()
                .0
                .contains("missing the part of bytes 1048576-2097151")
        );
        assert!(
            check_complete(MIB, &[], 5, &h)
                .unwrap_err()
                .0
                .contains("missing")
        );
        assert!(
            check_complete(MIB, &[], 0, &h)
                .unwrap_err()
                .0
                .contains("at least one byte")
        );
        let (p, h) = parts(&[10, MIB], MIB);
        assert!(
            check_complete(MIB, &p, MIB + 10, &h)
                .unwrap_err()
                .0
                .contains("not the last")
        );
    }
}
