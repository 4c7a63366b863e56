//! A blob store that fails on command: I/O errors injected beneath the service, the way a
//! failing disk, a read-only remount or a full filesystem would surface them from the files.

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use glacier_storage::{BlobKey, BlobStore, BlobWriter, Result, StorageError};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

/// Which operations fail, each with the `errno` it fails with (0: it succeeds).
#[derive(Debug, Default)]
pub struct Faults {
    create: AtomicI32,
    write: AtomicI32,
    open: AtomicI32,
    mid_read: AtomicI32,
    delete: AtomicI32,
}

/// An operation [`Faults`] can make fail.
#[derive(Debug, Clone, Copy)]
pub enum Op {
    /// Starting a blob (opening its temporary file).
    Create,
    /// Writing to a blob being written, and committing it.
    Write,
    /// Opening a blob to read it.
    Open,
    /// Reading a blob after its first chunk.
    MidRead,
    Delete,
}

impl Faults {
    /// Makes `op` fail with `errno` from now on (`None`: succeed again).
    pub fn set(&self, op: Op, errno: Option<rustix::io::Errno>) {
        let raw = errno.map_or(0, |e| e.raw_os_error());
        self.slot(op).store(raw, Ordering::SeqCst);
    }

    /// Every operation succeeds again.
    pub fn clear(&self) {
        for op in [Op::Create, Op::Write, Op::Open, Op::MidRead, Op::Delete] {
            self.set(op, None);
        }
    }

    fn slot(&self, op: Op) -> &AtomicI32 {
        match op {
            Op::Create => &self.create,
            Op::Write => &self.write,
            Op::Open => &self.open,
            Op::MidRead => &self.mid_read,
            Op::Delete => &self.delete,
        }
    }

    fn check(&self, op: Op) -> Result<()> {
        match self.slot(op).load(Ordering::SeqCst) {
            0 => Ok(()),
            raw => Err(StorageError::Io(std::io::Error::from_raw_os_error(raw))),
        }
    }
}

/// `inner`, with the failures `faults` asks for.
pub struct FaultyBlobs {
    inner: Arc<dyn BlobStore>,
    faults: Arc<Faults>,
}

impl FaultyBlobs {
    pub fn new(inner: Arc<dyn BlobStore>, faults: Arc<Faults>) -> FaultyBlobs {
        FaultyBlobs { inner, faults }
    }
}

#[async_trait]
impl BlobStore for FaultyBlobs {
    async fn create(&self, upload: Option<u64>) -> Result<Box<dyn BlobWriter>> {
        self.faults.check(Op::Create)?;
        let inner = self.inner.create(upload).await?;
        Ok(Box::new(FaultyWriter {
            inner,
            faults: Arc::clone(&self.faults),
        }))
    }

    async fn read(
        &self,
        key: &BlobKey,
        offset: u64,
        len: u64,
    ) -> Result<BoxStream<'static, Result<Bytes>>> {
        self.faults.check(Op::Open)?;
        let faults = Arc::clone(&self.faults);
        let chunks = self.inner.read(key, offset, len).await?;
        Ok(chunks
            .enumerate()
            .map(move |(i, chunk)| {
                if i > 0 {
                    faults.check(Op::MidRead)?;
                }
                chunk
            })
            .boxed())
    }

    async fn delete(&self, keys: &[BlobKey]) -> Result<()> {
        self.faults.check(Op::Delete)?;
        self.inner.delete(keys).await
    }

    async fn list(&self) -> Result<Vec<BlobKey>> {
        self.inner.list().await
    }

    async fn ready(&self) -> Result<()> {
        self.faults.check(Op::Open)?;
        self.inner.ready().await
    }
}

struct FaultyWriter {
    inner: Box<dyn BlobWriter>,
    faults: Arc<Faults>,
}

#[async_trait]
impl BlobWriter for FaultyWriter {
    async fn write(&mut self, data: &[u8]) -> Result<()> {
        self.faults.check(Op::Write)?;
        self.inner.write(data).await
    }

    async fn commit(self: Box<Self>) -> Result<BlobKey> {
        self.faults.check(Op::Write)?;
        self.inner.commit().await
    }
}
