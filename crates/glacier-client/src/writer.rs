//! [`Writer`]: an `AsyncWrite` that turns a byte stream into a multipart upload, as the seed's
//! `boto.glacier.writer.Writer`. Each full part is hashed and uploaded in the background,
//! `concurrency` at a time: memory stays within part size × (concurrency + 1).

use crate::error::{GlacierError, Result};
use crate::layer1::{Layer1, Payload};
use bytes::Bytes;
use glacier_core::treehash::{Digest, TreeHash, TreeHasher, tree_hash_of};
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::AsyncWrite;
use tokio::task::JoinSet;

type PartResult = Result<(u64, Digest, u64)>;

pub struct Writer {
    layer1: Layer1,
    vault: String,
    upload_id: String,
    part_size: usize,
    concurrency: usize,
    /// The part being filled.
    buffer: Vec<u8>,
    /// Where `buffer` starts in the archive.
    next_start: u64,
    tasks: JoinSet<PartResult>,
    /// Finished parts: start → (tree hash, size).
    done: BTreeMap<u64, (Digest, u64)>,
    completing: Option<Pin<Box<dyn Future<Output = Result<String>> + Send>>>,
    archive_id: Option<String>,
    /// Parts already uploaded by an interrupted attempt (start → tree hash): not sent again
    /// when the data hashes the same.
    existing: std::collections::HashMap<u64, TreeHash>,
}

fn io_err(e: GlacierError) -> io::Error {
    io::Error::other(e)
}

impl Writer {
    pub(crate) fn new(
        layer1: Layer1,
        vault: String,
        upload_id: String,
        part_size: u64,
        concurrency: usize,
    ) -> Writer {
        let part_size = usize::try_from(part_size).unwrap_or(usize::MAX);
        Writer {
            layer1,
            vault,
            upload_id,
            part_size,
            concurrency: concurrency.max(1),
            buffer: Vec::new(),
            next_start: 0,
            tasks: JoinSet::new(),
            done: BTreeMap::new(),
            completing: None,
            archive_id: None,
            existing: Default::default(),
        }
    }

    /// Uploads up to `n` parts at a time (default 1).
    pub fn with_concurrency(mut self, n: usize) -> Writer {
        self.concurrency = n.max(1);
        self
    }

    /// Resumes an upload: parts in `existing` whose data hashes the same are not sent again.
    pub(crate) fn with_existing_parts(
        mut self,
        existing: std::collections::HashMap<u64, TreeHash>,
    ) -> Writer {
        self.existing = existing;
        self
    }

    pub fn upload_id(&self) -> &str {
        &self.upload_id
    }

    pub fn vault(&self) -> &str {
        &self.vault
    }

    /// The archive id, once the writer is shut down (closed).
    pub fn archive_id(&self) -> Option<&str> {
        self.archive_id.as_deref()
    }

    /// The tree hash of the parts uploaded so far, from the start of the archive without gaps;
    /// the archive's tree hash once closed.
    pub fn current_tree_hash(&self) -> TreeHash {
        let hashes: Vec<Digest> = self.contiguous().map(|(_, (d, _))| *d).collect();
        tree_hash_of(&hashes)
    }

    /// The bytes uploaded so far (from the start, without gaps); the archive size once closed.
    pub fn current_uploaded_size(&self) -> u64 {
        self.contiguous().map(|(_, (_, len))| *len).sum()
    }

    fn contiguous(&self) -> impl Iterator<Item = (&u64, &(Digest, u64))> {
        let mut expected = 0u64;
        self.done.iter().take_while(move |(start, (_, len))| {
            let ok = **start == expected;
            expected += len;
            ok
        })
    }

    /// Starts uploading the buffered part.
    fn dispatch(&mut self) {
        let part = Bytes::from(std::mem::take(&mut self.buffer));
        let start = self.next_start;
        self.next_start += part.len() as u64;
        let (layer1, vault, id) = (
            self.layer1.clone(),
            self.vault.clone(),
            self.upload_id.clone(),
        );
        let known = self.existing.get(&start).copied();
        self.tasks.spawn(async move {
            let len = part.len() as u64;
            let for_hash = part.clone();
            let linear_too = !layer1.accepts_tree_signed_payload();
            let (tree, linear) = tokio::task::spawn_blocking(move || {
                if !linear_too {
                    let threads = std::thread::available_parallelism().map_or(1, usize::from);
                    let leaves = glacier_core::treehash::leaf_hashes(&for_hash, threads);
                    return (tree_hash_of(&leaves), None);
                }
                let mut h = TreeHasher::new();
                h.update(&for_hash);
                let (tree, linear) = h.finish();
                (tree, Some(linear))
            })
            .await
            .map_err(|e| GlacierError::UploadArchive(format!("hashing task failed: {e}")))?;
            if known != Some(tree) {
                layer1
                    .upload_part(
                        &vault,
                        &id,
                        linear,
                        tree,
                        (start, start + len - 1),
                        Payload::Bytes(part),
                    )
                    .await?;
            }
            Ok((start, tree.0, len))
        });
    }

    /// Waits for one part upload in flight.
    fn poll_one(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match ready!(self.tasks.poll_join_next(cx)) {
            Some(Ok(Ok((start, digest, len)))) => {
                self.done.insert(start, (digest, len));
                Poll::Ready(Ok(()))
            }
            Some(Ok(Err(e))) => Poll::Ready(Err(io_err(e))),
            Some(Err(e)) => Poll::Ready(Err(io::Error::other(format!(
                "a part upload task failed: {e}"
            )))),
            None => Poll::Ready(Ok(())),
        }
    }
}

impl AsyncWrite for Writer {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.completing.is_some() || this.archive_id.is_some() {
            return Poll::Ready(Err(io::Error::other("the archive writer is closed")));
        }
        if this.buffer.len() == this.part_size {
            while this.tasks.len() >= this.concurrency {
                ready!(this.poll_one(cx))?;
            }
            this.dispatch();
        }
        if this.buffer.capacity() == 0 {
            // One allocation per part instead of a doubling series.
            this.buffer.reserve_exact(this.part_size);
        }
        let n = buf.len().min(this.part_size - this.buffer.len());
        this.buffer.extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Parts go out only when full (all parts but the last must be exactly part-sized).
        Poll::Ready(Ok(()))
    }

    /// Uploads the last part, waits for every part, completes the upload.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.archive_id.is_some() {
            return Poll::Ready(Ok(()));
        }
        if this.completing.is_none() {
            if !this.buffer.is_empty() {
                while this.tasks.len() >= this.concurrency {
                    ready!(this.poll_one(cx))?;
                }
                this.dispatch();
            }
            while !this.tasks.is_empty() {
                ready!(this.poll_one(cx))?;
            }
            let size = this.next_start;
            if size == 0 {
                return Poll::Ready(Err(io_err(GlacierError::UploadArchive(
                    "nothing was written; an archive holds at least one byte".into(),
                ))));
            }
            let tree = this.current_tree_hash();
            let (layer1, vault, id) = (
                this.layer1.clone(),
                this.vault.clone(),
                this.upload_id.clone(),
            );
            this.completing = Some(Box::pin(async move {
                crate::layer2::complete(&layer1, &vault, &id, tree, size).await
            }));
        }
        let Some(fut) = this.completing.as_mut() else {
            return Poll::Ready(Err(io::Error::other(
                "the archive writer has no completion in progress",
            )));
        };
        let result = ready!(fut.as_mut().poll(cx));
        this.completing = None;
        match result {
            Ok(id) => {
                this.archive_id = Some(id);
                Poll::Ready(Ok(()))
            }
            Err(e) => Poll::Ready(Err(io_err(e))),
        }
    }
}
