//! Blobs as files in a directory, written durably: temp file, fsync, rename, fsync directory.
//!
//! Layout under the root: `blobs/xx/KEY` (xx = the key's first two hex digits) for committed blobs
//! and `tmp/KEY` for blobs being written. Whatever is in `tmp/` at start-up was interrupted and
//! is deleted.

use crate::blob::{BlobKey, BlobStore, BlobWriter};
use crate::{Result, StorageError};
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::{AsyncWriteExt, BufWriter};

/// Writes are gathered into buffers this large before they reach the file.
const WRITE_BUFFER: usize = 1 << 20;

/// Blobs are read in blocks this large, each on a blocking thread straight into a buffer of
/// its own that goes out as it is, the next one read while this one is sent. (Through
/// `tokio::fs::File`, 256 KiB at a time, each block was copied once more and cost a hand-off
/// to the blocking pool per 256 KiB: `perf` of a download, 8% `memmove` and 25% waking
/// threads.) A download holds at most three blocks: one read, one waiting, one being sent;
/// 1 MiB blocks were no faster and raised the server's peak RSS by a fifth (`bench/cli.py`).
const READ_BLOCK: u64 = 512 << 10;

/// Bytes `at..at + n` of `file`, in one buffer; a file shorter than that is an error.
fn read_block(file: &std::fs::File, at: u64, n: u64) -> Result<Bytes> {
    let want = usize::try_from(n).map_err(|_| StorageError::backend("a read block over usize"))?;
    let mut buf = Vec::with_capacity(want);
    while buf.len() < want {
        let from = at + buf.len() as u64;
        let got = rustix::io::pread(file, rustix::buffer::spare_capacity(&mut buf), from)
            .map_err(std::io::Error::from)?;
        if got == 0 {
            return Err(StorageError::backend(format!(
                "a blob ended {} bytes short of {} at {at}",
                want - buf.len(),
                at + n
            )));
        }
    }
    Ok(Bytes::from(buf))
}

/// `f` on the blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StorageError::backend(format!("a blocking task failed: {e}")))?
}

pub struct FsBlobStore {
    root: PathBuf,
    reserve: u64,
    /// Bytes admitted uploads have yet to write.
    pending: Arc<AtomicU64>,
}

impl FsBlobStore {
    /// Opens (creating if needed) a blob store in `root`, discarding interrupted writes.
    pub async fn open(root: impl AsRef<Path>) -> Result<FsBlobStore> {
        let root = root.as_ref().to_path_buf();
        let blobs = root.join("blobs");
        let tmp = root.join("tmp");
        tokio::fs::create_dir_all(&tmp).await?;
        for i in 0..=255u8 {
            tokio::fs::create_dir_all(blobs.join(format!("{i:02x}"))).await?;
        }
        let mut removed = 0usize;
        let mut entries = tokio::fs::read_dir(&tmp).await?;
        while let Some(e) = entries.next_entry().await? {
            tokio::fs::remove_file(e.path()).await?;
            removed += 1;
        }
        if removed > 0 {
            tracing::info!(removed, "discarded interrupted blob writes");
        }
        sync_dir(&root).await?;
        sync_dir(&blobs).await?;
        Ok(FsBlobStore {
            root,
            reserve: 0,
            pending: Default::default(),
        })
    }

    /// Keeps `bytes` free on the filesystem: uploads that would leave less are refused.
    pub fn reserve(mut self, bytes: u64) -> FsBlobStore {
        self.reserve = bytes;
        self
    }

    /// The space uploads leave free.
    pub fn reserved(&self) -> u64 {
        self.reserve
    }

    /// The size of the filesystem the store is on, and what of it is free.
    pub async fn space(&self) -> Result<Space> {
        let root = self.root.clone();
        let stat =
            blocking(move || Ok(rustix::fs::statvfs(&root).map_err(std::io::Error::from)?)).await?;
        Ok(Space {
            total: stat.f_blocks.saturating_mul(stat.f_frsize),
            available: stat.f_bavail.saturating_mul(stat.f_frsize),
        })
    }

    /// Admits an upload of `len` bytes if the filesystem has room for it, for the uploads
    /// already admitted and still arriving, and for the reserve; it then counts as pending.
    async fn admit(&self, len: u64) -> Result<()> {
        let available = self.space().await?.available;
        self.pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |pending| {
                let needed = pending.saturating_add(len).saturating_add(self.reserve);
                (needed <= available).then_some(pending + len)
            })
            .map(drop)
            .map_err(|pending| {
                let in_flight = match pending {
                    0 => String::new(),
                    p => format!(", {} of it promised to uploads in progress", mib(p)),
                };
                StorageError::Full(format!(
                    "The disk has {} free{in_flight}; this upload of {} would leave less than the {} kept free for retrievals and deletions (--reserve); delete archives or free space on the disk",
                    mib(available),
                    mib(len),
                    mib(self.reserve),
                ))
            })
    }

    fn path(&self, key: &BlobKey) -> Result<PathBuf> {
        let k = &key.0;
        if k.len() != 32 || !k.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StorageError::backend(format!("malformed blob key {k:?}")));
        }
        Ok(self.root.join("blobs").join(&k[..2]).join(k))
    }
}

async fn sync_dir(dir: &Path) -> Result<()> {
    let dir = dir.to_path_buf();
    blocking(move || Ok(std::fs::File::open(&dir)?.sync_all()?)).await
}

/// The size of a filesystem and its space free for unprivileged writers, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    pub total: u64,
    pub available: u64,
}

/// The reserve of a store on a filesystem of `total` bytes unless one is given: the smaller of
/// `cap` and a tenth of the filesystem, so that a small volume is not refused every upload.
pub fn default_reserve(total: u64, cap: u64) -> u64 {
    cap.min(total / 10)
}

/// Bytes for people, in MiB with one decimal (exact in bytes below 1 MiB).
pub fn mib(bytes: u64) -> String {
    if bytes < 1 << 20 {
        format!("{bytes} bytes")
    } else {
        format!("{:.1} MiB", bytes as f64 / f64::from(1u32 << 20))
    }
}

fn new_key() -> BlobKey {
    BlobKey(hex::encode(rand::random::<[u8; 16]>()))
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn create(&self, upload: Option<u64>) -> Result<Box<dyn BlobWriter>> {
        let key = new_key();
        let tmp = self.root.join("tmp").join(&key.0);
        let final_path = self.path(&key)?;
        if let Some(len) = upload {
            self.admit(len).await?;
        }
        let pending = Pending {
            count: Arc::clone(&self.pending),
            left: upload.unwrap_or(0),
        };
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .await
            .map_err(full)?;
        Ok(Box::new(FsWriter {
            final_path,
            key,
            tmp,
            file: BufWriter::with_capacity(WRITE_BUFFER, file),
            committed: false,
            pending,
        }))
    }

    async fn read(
        &self,
        key: &BlobKey,
        offset: u64,
        len: u64,
    ) -> Result<BoxStream<'static, Result<Bytes>>> {
        let path = self.path(key)?;
        let missing = key.clone();
        let file = blocking(move || match std::fs::File::open(&path) {
            Ok(f) => {
                let size = f.metadata()?.len();
                if offset.checked_add(len).is_none_or(|end| end > size) {
                    return Err(StorageError::backend(format!(
                        "blob {missing} holds {size} bytes; asked for {len} bytes at {offset}"
                    )));
                }
                Ok(Arc::new(f))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(StorageError::not_found(crate::Resource::Blob, missing.0))
            }
            Err(e) => Err(e.into()),
        })
        .await?;
        let blocks = (0..len.div_ceil(READ_BLOCK)).map(move |i| {
            let at = i * READ_BLOCK;
            (offset + at, (len - at).min(READ_BLOCK))
        });
        let stream = futures_util::stream::iter(blocks)
            .map(move |(at, n)| {
                let file = Arc::clone(&file);
                blocking(move || read_block(&file, at, n))
            })
            .buffered(2);
        Ok(stream.boxed())
    }

    async fn delete(&self, keys: &[BlobKey]) -> Result<()> {
        for key in keys {
            match tokio::fs::remove_file(self.path(key)?).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    async fn ready(&self) -> Result<()> {
        let _ = tokio::fs::read_dir(self.root.join("blobs")).await?;
        Ok(())
    }

    async fn list(&self) -> Result<Vec<BlobKey>> {
        let mut out = Vec::new();
        for i in 0..=255u8 {
            let mut entries =
                tokio::fs::read_dir(self.root.join("blobs").join(format!("{i:02x}"))).await?;
            while let Some(e) = entries.next_entry().await? {
                if let Some(name) = e.file_name().to_str() {
                    out.push(BlobKey(name.to_owned()));
                }
            }
        }
        Ok(out)
    }
}

struct FsWriter {
    key: BlobKey,
    tmp: PathBuf,
    final_path: PathBuf,
    file: BufWriter<tokio::fs::File>,
    committed: bool,
    pending: Pending,
}

/// What an admitted upload has yet to write, counted in its store's pending bytes until it is
/// written or the upload ends.
struct Pending {
    count: Arc<AtomicU64>,
    left: u64,
}

impl Pending {
    fn written(&mut self, n: u64) {
        let n = n.min(self.left);
        self.left -= n;
        self.count.fetch_sub(n, Ordering::AcqRel);
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.written(self.left);
    }
}

/// A write that failed for want of space, as [`StorageError::Full`].
fn full(e: std::io::Error) -> StorageError {
    if e.kind() == std::io::ErrorKind::StorageFull {
        StorageError::Full("The server's storage is full; delete archives or add space".to_owned())
    } else {
        e.into()
    }
}

#[async_trait]
impl BlobWriter for FsWriter {
    async fn write(&mut self, data: &[u8]) -> Result<()> {
        self.file.write_all(data).await.map_err(full)?;
        self.pending.written(data.len() as u64);
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<BlobKey> {
        self.file.flush().await.map_err(full)?;
        self.file.get_ref().sync_all().await.map_err(full)?;
        tokio::fs::rename(&self.tmp, &self.final_path).await?;
        self.committed = true;
        if let Some(dir) = self.final_path.parent() {
            sync_dir(dir).await?;
        }
        Ok(self.key.clone())
    }
}

impl Drop for FsWriter {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: whatever is left is removed at the next start.
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conformance() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let store = FsBlobStore::open(dir.path()).await?;
        crate::conformance::blob_store(&store).await;
        Ok(())
    }

    /// A blob file cut short after it was committed (a damaged disk, a hand that truncated
    /// it) reads as an error where its bytes end, never as a short body.
    #[tokio::test]
    async fn a_truncated_blob_reads_as_an_error() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let store = FsBlobStore::open(dir.path()).await?;
        let mut w = store.create(None).await?;
        w.write(&vec![7u8; 3 << 20]).await?;
        let key = w.commit().await?;
        let mut stream = store.read(&key, 0, 3 << 20).await?;
        std::fs::OpenOptions::new()
            .write(true)
            .open(store.path(&key)?)?
            .set_len((1 << 20) + 5)?;
        let mut got = 0;
        let mut failed = None;
        while let Some(block) = stream.next().await {
            match block {
                Ok(b) => got += b.len(),
                Err(e) => failed = Some(e.to_string()),
            }
        }
        assert_eq!(got, 1 << 20, "only whole blocks before the end");
        let failed = failed.unwrap_or_default();
        assert!(failed.contains("short"), "{failed}");
        Ok(())
    }

    #[tokio::test]
    async fn interrupted_writes_are_discarded_at_open() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let store = FsBlobStore::open(dir.path()).await?;
        let mut w = store.create(None).await?;
        w.write(b"half").await?;
        // Simulate a crash: the writer's drop never runs.
        std::mem::forget(w);
        assert_eq!(std::fs::read_dir(dir.path().join("tmp"))?.count(), 1);
        let _store = FsBlobStore::open(dir.path()).await?;
        assert_eq!(std::fs::read_dir(dir.path().join("tmp"))?.count(), 0);
        Ok(())
    }
}
