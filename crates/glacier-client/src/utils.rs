//! The seed's `boto.glacier.utils`: tree hashes and part sizing, over `glacier-core`.

use crate::error::{GlacierError, Result};
pub use glacier_core::treehash::{Digest, TreeHash, TreeHasher, sha256, tree_hash_of};
pub use glacier_core::validate::minimum_part_size;
use glacier_core::{LinearHash, MIB};
use std::path::{Path, PathBuf};

/// The default part size of the seed's uploaders: 4 MiB.
pub const DEFAULT_PART_SIZE: u64 = 4 * MIB;

/// The SHA-256 of each 1 MiB chunk of `data` (one hash of nothing for empty data), as the
/// seed's `chunk_hashes`.
pub fn chunk_hashes(data: &[u8]) -> Vec<Digest> {
    if data.is_empty() {
        return vec![sha256(&[])];
    }
    let mut h = TreeHasher::new();
    h.update(data);
    h.finish_with_leaves().leaves
}

/// The root of the tree over `hashes`, as the seed's `tree_hash`.
pub fn tree_hash(hashes: &[Digest]) -> Digest {
    tree_hash_of(hashes).0
}

/// Lowercase hex, as the seed's `bytes_to_hex` (returning text, not bytes).
pub fn bytes_to_hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// The linear SHA-256 and the tree hash of a whole file, in hex, as the seed's
/// `compute_hashes_from_fileobj`; read once, on a blocking thread.
pub async fn compute_hashes_from_file(path: &Path) -> Result<(String, String)> {
    let len = tokio::fs::metadata(path).await?.len();
    let (linear, tree) = hash_file_range(path.to_path_buf(), 0, len).await?;
    Ok((linear.to_hex(), tree.to_hex()))
}

/// Linear and tree hash of a file range, computed on a blocking thread.
pub(crate) async fn hash_file_range(
    path: PathBuf,
    offset: u64,
    len: u64,
) -> Result<(LinearHash, TreeHash)> {
    tokio::task::spawn_blocking(move || -> Result<(LinearHash, TreeHash)> {
        use std::io::{Read, Seek};
        let mut f = std::fs::File::open(&path)?;
        f.seek(std::io::SeekFrom::Start(offset))?;
        let mut f = f.take(len);
        let mut hasher = TreeHasher::new();
        let mut buf = vec![0u8; MIB as usize];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        if hasher.len() != len {
            return Err(GlacierError::UploadArchive(format!(
                "{} is shorter than expected",
                path.display()
            )));
        }
        let (tree, linear) = hasher.finish();
        Ok((linear, tree))
    })
    .await
    .map_err(|e| GlacierError::UploadArchive(format!("hashing task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_utils() {
        let data = vec![b'0'; 5_767_168];
        let hashes = chunk_hashes(&data);
        assert_eq!(hashes.len(), 6);
        assert_eq!(
            bytes_to_hex(&tree_hash(&hashes)),
            "154e26c78fd74d0c2c9b3cc4644191619dc4f2cd539ae2a74d5fd07957a3ee6a"
        );
        assert_eq!(chunk_hashes(b""), vec![sha256(b"")]);
        assert_eq!(bytes_to_hex(&[0, 255, 16]), "00ff10");
    }

    #[tokio::test]
    async fn hashes_of_a_file() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("f");
        std::fs::write(&path, vec![b'0'; 5_767_168])?;
        let (linear, tree) = compute_hashes_from_file(&path).await?;
        assert_eq!(
            linear,
            "68aff0c5a91aa0491752bfb96e3fef33eb74953804f6a2f7b708d5bcefa8ff6b"
        );
        assert_eq!(
            tree,
            "154e26c78fd74d0c2c9b3cc4644191619dc4f2cd539ae2a74d5fd07957a3ee6a"
        );
        Ok(())
    }
}
