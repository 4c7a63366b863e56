//! The SHA-256 tree hash Glacier uses as the checksum of archives, parts and ranges.
//!
//! The payload is cut into 1 MiB leaves (the last may be shorter); each leaf is hashed with
//! SHA-256, then adjacent hashes are concatenated and hashed pairwise, level by level, an odd
//! hash at the end of a level being carried up unchanged, until one hash remains.
//!
//! Because carrying up is the identity, the tree hash of any run of leaf hashes that starts on a
//! power-of-two boundary is a node of the whole tree: combining the tree hashes of parts whose size
//! is 1 MiB × 2^n (the last part may be shorter) with [`tree_hash_of`] gives the archive's tree
//! hash, and any tree-hash-aligned range's hash comes from its stored leaves without re-reading data.

use sha2::{Digest as _, Sha256};
use std::fmt;
use std::str::FromStr;

/// One mebibyte, the size of a tree-hash leaf.
pub const MIB: u64 = 1 << 20;

/// A raw SHA-256 digest: a leaf, a node or a root of a tree hash.
pub type Digest = [u8; 32];

/// A tree hash (or any SHA-256 digest) that prints and parses as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TreeHash(pub Digest);

impl TreeHash {
    /// The tree hash of a whole in-memory buffer (its leaves only: no linear hash).
    pub fn of(data: &[u8]) -> TreeHash {
        tree_hash_of(&leaf_hashes(data, 1))
    }

    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }
}

/// Lower-case hex of a digest, through a table into a buffer: `hex::encode` goes character
/// by character through an iterator, a tenth of an inventory's cost.
fn to_hex(digest: &Digest) -> String {
    let mut out = [0u8; 64];
    match hex::encode_to_slice(digest, &mut out) {
        Ok(()) => String::from_utf8(out.to_vec()).unwrap_or_else(|_| hex::encode(digest)),
        Err(_) => hex::encode(digest),
    }
}

impl fmt::Display for TreeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for TreeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TreeHash({})", self.to_hex())
    }
}

/// Stored and sent as its 64 hex digits.
impl serde::Serialize for TreeHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for TreeHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A string that is not 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a SHA-256 hex digest (64 hex digits): {0:?}")]
pub struct BadHex(pub String);

impl FromStr for TreeHash {
    type Err = BadHex;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| BadHex(s.to_owned()))?;
        Ok(TreeHash(out))
    }
}

/// The plain SHA-256 of a whole payload (its "linear hash", which `x-amz-content-sha256`
/// carries): a type of its own, so that it cannot be passed where a tree hash is meant.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct LinearHash(pub Digest);

impl LinearHash {
    pub fn of(data: &[u8]) -> LinearHash {
        LinearHash(sha256(data))
    }

    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }
}

impl fmt::Display for LinearHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for LinearHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LinearHash({})", self.to_hex())
    }
}

/// Plain SHA-256 of a buffer (the "linear hash" of `x-amz-content-sha256`).
pub fn sha256(data: &[u8]) -> Digest {
    Sha256::digest(data).into()
}

/// The leaf hashes of `data` (one per MiB; the hash of nothing for empty data), spread over
/// up to `threads` threads: each hashes every `threads`-th leaf, so the cores share the work
/// evenly without copying the data.
pub fn leaf_hashes(data: &[u8], threads: usize) -> Vec<Digest> {
    if data.is_empty() {
        return vec![sha256(&[])];
    }
    let leaves: Vec<&[u8]> = data.chunks(MIB as usize).collect();
    let threads = threads.clamp(1, leaves.len());
    if threads == 1 {
        return leaves.iter().map(|l| sha256(l)).collect();
    }
    let mut out = vec![[0u8; 32]; leaves.len()];
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|w| {
                let leaves = &leaves;
                scope.spawn(move || {
                    (w..leaves.len())
                        .step_by(threads)
                        .map(|i| (i, sha256(leaves[i])))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for worker in workers {
            // Hashing a slice does not panic; if a worker did, so does its caller.
            let hashed = worker
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            for (i, d) in hashed {
                out[i] = d;
            }
        }
    });
    out
}

/// Combines a level of hashes into the root of their tree. An empty list gives the SHA-256 of
/// nothing, which is the tree hash of an empty payload.
pub fn tree_hash_of(hashes: &[Digest]) -> TreeHash {
    let Some(first) = hashes.first() else {
        return TreeHash(sha256(&[]));
    };
    if hashes.len() == 1 {
        return TreeHash(*first);
    }
    let mut level = hashes.to_vec();
    while level.len() > 1 {
        let mut next = 0;
        for i in (0..level.len()).step_by(2) {
            level[next] = match level.get(i + 1) {
                Some(b) => combine(&level[i], b),
                None => level[i],
            };
            next += 1;
        }
        level.truncate(next);
    }
    TreeHash(level[0])
}

fn combine(a: &Digest, b: &Digest) -> Digest {
    let mut h = Sha256::new();
    h.update(a);
    h.update(b);
    h.finalize().into()
}

/// An incremental tree hasher: feed bytes in any chunking, get the tree hash and the leaf hashes.
#[derive(Clone)]
pub struct LeafHasher {
    leaf: Sha256,
    /// Bytes already fed into `leaf`.
    leaf_len: u64,
    leaves: Vec<Digest>,
    total: u64,
}

impl Default for LeafHasher {
    fn default() -> Self {
        Self::new()
    }
}

/// What a [`LeafHasher`] found: the tree hash and the leaf hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tree {
    pub tree: TreeHash,
    pub leaves: Vec<Digest>,
    pub len: u64,
}

impl LeafHasher {
    pub fn new() -> LeafHasher {
        LeafHasher {
            leaf: Sha256::new(),
            leaf_len: 0,
            leaves: Vec::new(),
            total: 0,
        }
    }

    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    pub fn update(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        while !data.is_empty() {
            // The room left in the leaf is at most 1 MiB, so it fits in usize.
            let room = usize::try_from(MIB - self.leaf_len).unwrap_or(usize::MAX);
            let take = room.min(data.len());
            self.leaf.update(&data[..take]);
            self.leaf_len += take as u64;
            data = &data[take..];
            if self.leaf_len == MIB {
                self.leaves.push(self.leaf.finalize_reset().into());
                self.leaf_len = 0;
            }
        }
    }

    /// Finishes, keeping the leaf hashes (one per MiB) for later range hashes.
    pub fn finish(mut self) -> Tree {
        if self.leaf_len > 0 || self.leaves.is_empty() {
            self.leaves.push(self.leaf.finalize().into());
        }
        // An empty payload has one leaf, the hash of nothing; its tree hash is that leaf.
        let tree = tree_hash_of(&self.leaves);
        let leaves = if self.total == 0 {
            Vec::new()
        } else {
            self.leaves
        };
        Tree {
            tree,
            leaves,
            len: self.total,
        }
    }
}

/// A [`LeafHasher`] that also keeps the linear SHA-256 of everything fed, since every upload
/// needs both.
#[derive(Clone, Default)]
pub struct TreeHasher {
    tree: LeafHasher,
    linear: Sha256,
}

/// What a [`TreeHasher`] found: the tree hash, the leaf hashes and the linear hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hashes {
    pub tree: TreeHash,
    pub linear: LinearHash,
    pub leaves: Vec<Digest>,
    pub len: u64,
}

impl TreeHasher {
    pub fn new() -> TreeHasher {
        TreeHasher::default()
    }

    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.tree.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }

    pub fn update(&mut self, data: &[u8]) {
        self.linear.update(data);
        self.tree.update(data);
    }

    /// The tree hash of what has been fed so far, without consuming the hasher.
    pub fn current(&self) -> TreeHash {
        self.tree.clone().finish().tree
    }

    /// Finishes: the tree hash and the linear SHA-256.
    pub fn finish(self) -> (TreeHash, LinearHash) {
        let h = self.finish_with_leaves();
        (h.tree, h.linear)
    }

    /// Finishes, keeping the leaf hashes (one per MiB) for later range hashes.
    pub fn finish_with_leaves(self) -> Hashes {
        let Tree { tree, leaves, len } = self.tree.finish();
        Hashes {
            tree,
            linear: LinearHash(self.linear.finalize().into()),
            leaves,
            len,
        }
    }
}

/// Whether `[start, end]` (inclusive) of an archive of `total` bytes is tree-hash aligned: whether
/// the tree hash of the range alone is a node of the archive's tree, so that Glacier can return it.
pub fn is_tree_hash_aligned(start: u64, end: u64, total: u64) -> bool {
    if end < start || end >= total || !start.is_multiple_of(MIB) {
        return false;
    }
    let len = end - start + 1;
    let leaves = len.div_ceil(MIB);
    let span = leaves.next_power_of_two() * MIB;
    start.is_multiple_of(span) && (len == span || end + 1 == total)
}

/// The tree hash of the aligned range `[start, end]` from the leaf hashes of the whole archive.
/// Returns `None` when the range is not tree-hash aligned or lies outside the leaves.
pub fn range_tree_hash(leaves: &[Digest], start: u64, end: u64, total: u64) -> Option<TreeHash> {
    if !is_tree_hash_aligned(start, end, total) {
        return None;
    }
    let first = usize::try_from(start / MIB).ok()?;
    let last = usize::try_from(end / MIB).ok()?;
    leaves.get(first..=last).map(tree_hash_of)
}

#[cfg(test)]
mod parallel_tests {
    use super::*;

    #[test]
    fn parallel_leaves_match_the_incremental_hasher() {
        for len in [0usize, 1, 1 << 20, (1 << 20) + 1, 5 * (1 << 20) + 17] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut h = LeafHasher::new();
            h.update(&data);
            let expected = h.finish();
            for threads in [1, 2, 3, 8] {
                let leaves = leaf_hashes(&data, threads);
                assert_eq!(
                    tree_hash_of(&leaves),
                    expected.tree,
                    "{len} bytes, {threads} threads"
                );
            }
            assert_eq!(TreeHash::of(&data), expected.tree);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Deterministic test data; the expected hashes of `published_vectors` were computed for this exact data by an
    /// independent Python implementation of the algorithm in the Glacier developer guide
    /// (hashlib.sha256 over 1 MiB leaves, pairwise combination).
    fn data(n: u64) -> Vec<u8> {
        (0..n).map(|i| ((i * 7 + i / MIB) % 256) as u8).collect()
    }

    #[test]
    fn reference_vectors() {
        let cases: &[(u64, &str)] = &[
            (
                0,
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            (
                1,
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            ),
            (
                MIB - 1,
                "1ea68b8770aa4678e84b8e03f20db2b289983dcd940e2d74ef0f486d943330cb",
            ),
            (
                MIB,
                "1d7368ef6f59e0c704a978b815288f1e464037959645bbfd79348d330269480d",
            ),
            (
                MIB + 1,
                "c7bcc9ce0032d0ac85248f89776ea9736d4c88f4fd9372a0e8d24221ff9dd8e8",
            ),
            (
                2 * MIB,
                "310c50b87e637b3bb76f6500249b7c927e8471c8b9af6e70da4cc70431d22a93",
            ),
            (
                3 * MIB,
                "efa8bd4cef64f1221931fd2f6c2aa6c0462b6031d2d12e6dfb824f08c72b6da1",
            ),
            (
                3 * MIB + 5,
                "cd5c9c23cb26ee5baad8e3693526c68d20e81aa3b54186d546d0e049eafb170e",
            ),
            (
                5 * MIB + MIB / 2,
                "1a866008bd91ac2896931345351d0508e22f5623ae1a192b65bfaf305a1e0626",
            ),
            (
                8 * MIB,
                "e954adaf8f42ce99c7f7d294380cef2f7b544a30597e3eb1aa47730e0dc112e8",
            ),
        ];
        for (n, want) in cases {
            let d = data(*n);
            assert_eq!(TreeHash::of(&d).to_hex(), *want, "size {n}");
            // The same through odd-sized chunks.
            let mut h = TreeHasher::new();
            for c in d.chunks(333_333) {
                h.update(c);
            }
            let got = h.finish_with_leaves();
            assert_eq!(got.tree.to_hex(), *want, "chunked, size {n}");
            assert_eq!(got.linear, LinearHash(sha256(&d)));
            assert_eq!(got.leaves.len() as u64, n.div_ceil(MIB));
        }
    }

    /// The vector the AWS SDKs publish in their Glacier checksum tests: 5.5 MiB of ASCII '0'.
    #[test]
    fn aws_sdk_published_vector() {
        let data = vec![b'0'; 5_767_168];
        let mut h = TreeHasher::new();
        h.update(&data);
        let (tree, linear) = h.finish();
        assert_eq!(
            tree.to_hex(),
            "154e26c78fd74d0c2c9b3cc4644191619dc4f2cd539ae2a74d5fd07957a3ee6a"
        );
        assert_eq!(
            linear.to_hex(),
            "68aff0c5a91aa0491752bfb96e3fef33eb74953804f6a2f7b708d5bcefa8ff6b"
        );
    }

    #[test]
    fn hex_round_trip_and_errors() {
        let h = TreeHash::of(b"abc");
        assert_eq!(h.to_string().parse::<TreeHash>(), Ok(h));
        assert_eq!(
            h.to_string().to_uppercase().parse::<TreeHash>(),
            Ok(h),
            "hex digits of either case are accepted"
        );
        assert!("abc".parse::<TreeHash>().is_err());
        assert!("zz".repeat(32).parse::<TreeHash>().is_err());
    }

    #[test]
    fn alignment_rules() {
        let t = 10 * MIB + 3;
        assert!(is_tree_hash_aligned(0, t - 1, t), "the whole archive");
        assert!(is_tree_hash_aligned(0, MIB - 1, t));
        assert!(is_tree_hash_aligned(MIB, 2 * MIB - 1, t));
        assert!(is_tree_hash_aligned(4 * MIB, 8 * MIB - 1, t));
        assert!(
            !is_tree_hash_aligned(2 * MIB, 6 * MIB - 1, t),
            "4 MiB not on a 4 MiB boundary"
        );
        assert!(!is_tree_hash_aligned(0, 3 * MIB - 1, t), "3 MiB is no node");
        assert!(
            is_tree_hash_aligned(8 * MIB, t - 1, t),
            "tail from a 2^k boundary"
        );
        assert!(
            is_tree_hash_aligned(10 * MIB, t - 1, t),
            "a short last leaf"
        );
        assert!(
            !is_tree_hash_aligned(9 * MIB, t - 1, t),
            "two leaves from an odd leaf"
        );
        assert!(!is_tree_hash_aligned(1, MIB, t), "not on a MiB boundary");
        assert!(!is_tree_hash_aligned(0, t, t), "past the end");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// The tree hash of parts combined is the tree hash of the whole, for every part size
        /// of 1 MiB × 2^n.
        #[test]
        fn parts_combine_to_whole(len in 1u64..(9 * MIB), shift in 0u32..3) {
            let d = data(len);
            let part = MIB << shift;
            let part_hashes: Vec<Digest> = d
                .chunks(part as usize)
                .map(|c| TreeHash::of(c).0)
                .collect();
            prop_assert_eq!(tree_hash_of(&part_hashes), TreeHash::of(&d));
        }

        /// Any aligned range's hash from the stored leaves equals the hash of its bytes.
        #[test]
        fn range_hash_from_leaves(len in 1u64..(9 * MIB), a in 0u64..9, b in 0u64..9) {
            let d = data(len);
            let mut h = TreeHasher::new();
            h.update(&d);
            let leaves = h.finish_with_leaves().leaves;
            let (a, b) = (a.min(b), a.max(b));
            let start = a * MIB;
            let end = ((b + 1) * MIB).min(len) - 1;
            if start < len {
                match range_tree_hash(&leaves, start, end, len) {
                    Some(got) => prop_assert_eq!(got, TreeHash::of(&d[start as usize..=end as usize])),
                    None => prop_assert!(!is_tree_hash_aligned(start, end, len)),
                }
            }
        }
    }
}
