//! The blob store: immutable byte objects written once, durably, under keys it chooses.

use crate::Result;
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use std::fmt;

/// The name of one stored blob. Keys are chosen by the store and never reused.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobKey(pub String);

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobKey({})", self.0)
    }
}

/// A blob store. Blobs are written through a [`BlobWriter`], which makes them visible only once
/// committed, and only after they are durable.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Starts writing a new blob. `upload` is the size of a client's upload, which a store
    /// with limited room admits only while it leaves its reserve free (else
    /// [`StorageError::Full`](crate::StorageError::Full)); `None` for what the service writes
    /// itself (job output), which the reserve is kept for.
    async fn create(&self, upload: Option<u64>) -> Result<Box<dyn BlobWriter>>;

    /// Streams `len` bytes of a blob from `offset`.
    async fn read(
        &self,
        key: &BlobKey,
        offset: u64,
        len: u64,
    ) -> Result<BoxStream<'static, Result<Bytes>>>;

    /// Deletes blobs; a key that does not exist is not an error.
    async fn delete(&self, keys: &[BlobKey]) -> Result<()>;

    /// Every committed blob, for reclaiming the ones no metadata refers to.
    async fn list(&self) -> Result<Vec<BlobKey>>;

    /// Whether the store answers (for a readiness check): cheap, reads no blob.
    async fn ready(&self) -> Result<()>;
}

/// A blob being written. Dropping it without [`BlobWriter::commit`] discards what was written.
#[async_trait]
pub trait BlobWriter: Send {
    async fn write(&mut self, data: &[u8]) -> Result<()>;

    /// Makes the blob durable and visible, and returns its key.
    async fn commit(self: Box<Self>) -> Result<BlobKey>;
}

/// Reads a whole blob range into memory (tests and small objects only).
pub async fn read_all(
    store: &dyn BlobStore,
    key: &BlobKey,
    offset: u64,
    len: u64,
) -> Result<Vec<u8>> {
    use futures_util::TryStreamExt;
    let mut out = Vec::new();
    let mut s = store.read(key, offset, len).await?;
    while let Some(chunk) = s.try_next().await? {
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}
