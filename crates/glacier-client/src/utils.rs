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
    glacier_core::treehash::leaf_hashes(data, 1)
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
/// `compute_hashes_from_fileobj` (both at once, see `hash_both_range`).
pub async fn compute_hashes_from_file(path: &Path) -> Result<(String, String)> {
    let len = tokio::fs::metadata(path).await?.len();
    let (linear, tree) = hash_both_range(path.to_path_buf(), 0, len).await?;
    Ok((linear.to_hex(), tree.to_hex()))
}

/// The tree hash of a whole file, its leaves hashed on every core (see `tree_hash_range`).
pub async fn tree_hash_file(path: &Path) -> Result<TreeHash> {
    let len = tokio::fs::metadata(path).await?.len();
    let path = path.to_path_buf();
    blocking(move || {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        tree_hash_range(&path, 0, len, threads)
    })
    .await
}

/// The hashes an upload of a file range needs from `layer1`: the tree hash alone (on every
/// core) where the server takes a signed tree hash, else both ([`hash_both_range`]).
pub(crate) async fn hash_file_range(
    layer1: &crate::Layer1,
    path: PathBuf,
    offset: u64,
    len: u64,
) -> Result<(Option<LinearHash>, TreeHash)> {
    if !layer1.accepts_tree_signed_payload() {
        let (linear, tree) = hash_both_range(path, offset, len).await?;
        return Ok((Some(linear), tree));
    }
    let tree = blocking(move || {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        tree_hash_range(&path, offset, len, threads)
    })
    .await?;
    Ok((None, tree))
}

/// Linear and tree hash of a file range: the linear SHA-256 is one sequential pass, so it runs
/// on a thread of its own while the leaves are hashed on the others (at least one), each
/// reading its own leaves — on two cores both hashes take the time of one.
pub(crate) async fn hash_both_range(
    path: PathBuf,
    offset: u64,
    len: u64,
) -> Result<(LinearHash, TreeHash)> {
    blocking(move || {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        std::thread::scope(|scope| {
            let linear = scope.spawn(|| linear_hash_range(&path, offset, len));
            let tree = tree_hash_range(&path, offset, len, threads.saturating_sub(1).max(1));
            let linear = linear
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            Ok((linear?, tree?))
        })
    })
    .await
}

/// The SHA-256 of a file range, on a blocking thread.
pub(crate) async fn linear_hash_file_range(
    path: PathBuf,
    offset: u64,
    len: u64,
) -> Result<LinearHash> {
    blocking(move || linear_hash_range(&path, offset, len)).await
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| GlacierError::UploadArchive(format!("hashing task failed: {e}")))?
}

fn shorter(path: &Path) -> GlacierError {
    GlacierError::UploadArchive(format!("{} is shorter than expected", path.display()))
}

/// The SHA-256 of `len` bytes of `path` from `offset`, read in 1 MiB blocks.
fn linear_hash_range(path: &Path, offset: u64, len: u64) -> Result<LinearHash> {
    use sha2::Digest as _;
    use std::io::{Read, Seek};
    let mut f = std::fs::File::open(path)?;
    f.seek(std::io::SeekFrom::Start(offset))?;
    let mut f = f.take(len);
    let mut hasher = sha2::Sha256::new();
    let mut buf = aligned_buffer();
    let buf = buf.as_mut();
    let mut read = 0u64;
    loop {
        let n = f.read(buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        read += n as u64;
    }
    if read != len {
        return Err(shorter(path));
    }
    Ok(LinearHash(hasher.finalize().into()))
}

/// A 1 MiB read buffer that starts on a page boundary: the kernel copies file pages into a
/// page-aligned buffer about twice as fast as into one malloc left 16 bytes off (measured with
/// perf on this machine: `_copy_to_iter` was 43% of `glacier treehash`).
struct AlignedBuffer {
    storage: Vec<u8>,
    start: usize,
}

fn aligned_buffer() -> AlignedBuffer {
    const PAGE: usize = 4096;
    let storage = vec![0u8; MIB as usize + PAGE];
    let start = storage.as_ptr().align_offset(PAGE).min(PAGE);
    AlignedBuffer { storage, start }
}

impl AsMut<[u8]> for AlignedBuffer {
    fn as_mut(&mut self) -> &mut [u8] {
        let end = self.start + MIB as usize;
        &mut self.storage[self.start..end]
    }
}

/// The tree hash of `len` bytes of `path` from `offset`: `threads` threads, each with its own
/// handle, read and hash every `threads`-th 1 MiB leaf (positioned reads, no shared cursor).
pub(crate) fn tree_hash_range(
    path: &Path,
    offset: u64,
    len: u64,
    threads: usize,
) -> Result<TreeHash> {
    use std::os::unix::fs::FileExt;
    let leaves = usize::try_from(len.div_ceil(MIB).max(1))
        .map_err(|_| GlacierError::InvalidInput(format!("{} is too large", path.display())))?;
    let threads = threads.clamp(1, leaves);
    let hash_some = |first: usize| -> Result<Vec<(usize, Digest)>> {
        let f = std::fs::File::open(path)?;
        let mut buf = aligned_buffer();
        let buf = buf.as_mut();
        let mut out = Vec::with_capacity(leaves / threads + 1);
        for i in (first..leaves).step_by(threads) {
            let start = i as u64 * MIB;
            let size = usize::try_from(MIB.min(len - start)).unwrap_or(MIB as usize);
            f.read_exact_at(&mut buf[..size], offset + start)
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::UnexpectedEof => shorter(path),
                    _ => GlacierError::Io(e),
                })?;
            out.push((i, sha256(&buf[..size])));
        }
        Ok(out)
    };
    let mut digests = vec![[0u8; 32]; leaves];
    std::thread::scope(|scope| -> Result<()> {
        let workers: Vec<_> = (1..threads)
            .map(|w| scope.spawn(move || hash_some(w)))
            .collect();
        let mine = hash_some(0);
        for hashed in std::iter::once(mine).chain(workers.into_iter().map(|w| {
            w.join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })) {
            for (i, d) in hashed? {
                digests[i] = d;
            }
        }
        Ok(())
    })?;
    Ok(tree_hash_of(&digests))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn file_hashes_on_any_number_of_threads_match_the_incremental_hasher() -> Result<()> {
        let dir = tempfile::tempdir()?;
        for len in [0usize, 5, 1 << 20, 3 * (1 << 20) + 7] {
            let data: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            let path = dir.path().join(format!("f{len}"));
            std::fs::write(&path, &data)?;
            let mut h = TreeHasher::new();
            h.update(&data);
            let (tree, linear) = h.finish();
            for threads in [1, 2, 5] {
                assert_eq!(tree_hash_range(&path, 0, len as u64, threads)?, tree);
            }
            assert_eq!(tree_hash_file(&path).await?, tree);
            assert_eq!(
                hash_both_range(path.clone(), 0, len as u64).await?,
                (linear, tree)
            );
            // A file shorter than the range asked for is an error, not a short hash.
            assert!(tree_hash_range(&path, 0, len as u64 + 1, 2).is_err());
            assert!(
                hash_both_range(path.clone(), 0, len as u64 + 1)
                    .await
                    .is_err()
            );
        }
        Ok(())
    }

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
