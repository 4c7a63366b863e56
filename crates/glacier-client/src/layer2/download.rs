//! Verified downloads of job output: chunk by chunk, each chunk's tree hash checked before
//! it counts; sequential into a writer, or concurrent and resumable into a file.

use super::DEFAULT_PART_SIZE;
use super::job::Job;
use crate::error::{GlacierError, Result};
use bytes::Bytes;
use glacier_core::treehash::{Digest, TreeHash};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// A download into a file writes its bytes in blocks this large, each one positioned write on
/// a blocking thread: writing every piece the body arrives in through `tokio::fs::File` cost a
/// blocking-pool hand-off each (`strace`: 19,000 futex calls for a 1 GiB `glacier get`).
const WRITE_BLOCK: usize = 1 << 20;

/// At most this many bytes of chunks are fetched ahead of the writer by
/// [`Job::download_to_writer`] (and at most [`WRITER_CHUNKS_AHEAD`] chunks): each in a task of
/// its own, so that several are received and hashed on all cores while the writer takes them
/// in order. One chunk after another on one task was a third of boto3's unverified rate.
const WRITER_AHEAD: u64 = 32 << 20;
const WRITER_CHUNKS_AHEAD: u64 = 4;

/// Writes `buf` at `offset` of `file`; returns it emptied, for the next block.
async fn write_at(
    file: &std::sync::Arc<std::fs::File>,
    mut buf: Vec<u8>,
    offset: u64,
) -> Result<Vec<u8>> {
    if buf.is_empty() {
        return Ok(buf);
    }
    let file = std::sync::Arc::clone(file);
    tokio::task::spawn_blocking(move || {
        use std::os::unix::fs::FileExt;
        file.write_all_at(&buf, offset)?;
        buf.clear();
        Ok(buf)
    })
    .await
    .map_err(|e| GlacierError::DownloadArchive(format!("writing task failed: {e}")))?
}

impl Job {
    /// Fetches one chunk, re-fetching one that failed verification (a tree hash that does not
    /// match, a body too short or too long, or one that broke off) up to `retries` more times,
    /// and returns it only once it is good (verified, when `verify`), as the pieces the body
    /// arrived in (no copy). Failures of the request
    /// itself are Layer1's to retry, so the budget of one chunk is at most `retries + 1`
    /// fetches of at most [`RetryPolicy::max_attempts`](crate::RetryPolicy) requests each.
    /// The body is hashed as it arrives, into memory, or with `target` straight into that
    /// file at the chunk's offset, in blocks of [`WRITE_BLOCK`] (then no pieces are returned
    /// and the data is in the page cache before this returns; a bad attempt is
    /// overwritten by the next one, and only a verified chunk is ever reported).
    pub(super) async fn fetch_chunk(
        &self,
        start: u64,
        end: u64,
        verify: bool,
        retries: u32,
        target: Option<&Path>,
    ) -> Result<(Vec<Bytes>, TreeHash)> {
        let mut last = None;
        for attempt in 0..=retries {
            let fetched = self.fetch_once(start, end, verify, target).await;
            match fetched {
                Ok(chunk) => return Ok(chunk),
                Err(
                    e @ (GlacierError::TreeHashDoesNotMatch { .. }
                    | GlacierError::DownloadArchive(_)),
                ) => last = Some(e),
                Err(e) => return Err(e),
            }
            tracing::debug!(start, end, attempt, "re-fetching a chunk");
        }
        Err(last.unwrap_or_else(|| {
            GlacierError::DownloadArchive(format!("bytes {start}-{end} failed"))
        }))
    }

    /// One fetch of bytes `start..=end` (see [`Job::fetch_chunk`]): hashed as they arrive,
    /// into memory or into `target` at their offset; checked for length and, when `verify`,
    /// against the tree hash the service sent.
    async fn fetch_once(
        &self,
        start: u64,
        end: u64,
        verify: bool,
        target: Option<&Path>,
    ) -> Result<(Vec<Bytes>, TreeHash)> {
        use futures_util::StreamExt;
        let len = end - start + 1;
        let out = self
            .layer1
            .get_job_output(&self.vault_name, &self.id, Some((start, end)))
            .await?;
        let checksum = out.checksum;
        let file = match target {
            Some(path) => Some(std::sync::Arc::new(
                tokio::fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .await?
                    .into_std()
                    .await,
            )),
            None => None,
        };
        // Into a file: a block being filled. Into memory: the pieces as they came.
        let mut buf = Vec::with_capacity(if file.is_some() { WRITE_BLOCK } else { 0 });
        let mut pieces = Vec::new();
        // Where `buf`'s bytes go in the file.
        let mut at = start;
        // The tree hash only: a linear hash of a chunk has nothing to be checked against.
        let mut hasher = glacier_core::LeafHasher::new();
        let mut stream = std::pin::pin!(out.body.into_stream());
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                GlacierError::DownloadArchive(format!(
                    "bytes {start}-{end}: the body broke off after {} bytes: {e}",
                    hasher.len()
                ))
            })?;
            if hasher.len() + chunk.len() as u64 > len {
                return Err(GlacierError::DownloadArchive(format!(
                    "bytes {start}-{end}: the response is too long"
                )));
            }
            hasher.update(&chunk);
            match &file {
                Some(f) => {
                    buf.extend_from_slice(&chunk);
                    if buf.len() >= WRITE_BLOCK {
                        buf = write_at(f, buf, at).await?;
                        at = start + hasher.len();
                    }
                }
                None => pieces.push(chunk),
            }
        }
        if let Some(f) = &file {
            write_at(f, buf, at).await?;
        }
        if hasher.len() != len {
            return Err(GlacierError::DownloadArchive(format!(
                "bytes {start}-{end}: got {} bytes",
                hasher.len()
            )));
        }
        let hash = hasher.finish().tree;
        if verify {
            self.check_chunk(checksum, hash, start, end)?;
        }
        // Written through to the page cache; the downloader syncs the file once at
        // the end, and re-verifies recorded chunks when it resumes.
        Ok((pieces, hash))
    }

    /// Bytes `start..=end` hashed to `hash`: the tree hash the service sent must be that.
    fn check_chunk(
        &self,
        sent: Option<TreeHash>,
        hash: TreeHash,
        start: u64,
        end: u64,
    ) -> Result<()> {
        match sent {
            Some(c) if c != hash => Err(GlacierError::TreeHashDoesNotMatch {
                what: format!("job {} bytes {start}-{end}", self.id),
                expected: c.to_hex(),
                actual: hash.to_hex(),
            }),
            Some(_) => Ok(()),
            None => Err(GlacierError::Archive(format!(
                "no tree hash was sent for bytes {start}-{end}; cannot verify"
            ))),
        }
    }

    /// The output in `chunk_size` chunks (1 MiB × 2^n), as the pieces the bodies arrived in,
    /// in order: each chunk's tree hash checked (when `verify_hashes`) before any of its bytes
    /// is yielded, and at the end the whole output's against the job's (a last `Err` if it
    /// differs). Up to four chunks (32 MiB at most) are fetched ahead, each in a task of its
    /// own (aborted when the stream is dropped).
    pub fn output_stream(
        &self,
        chunk_size: u64,
        verify_hashes: bool,
        retries: u32,
    ) -> Result<impl futures_util::Stream<Item = Result<Bytes>> + Send + 'static> {
        use futures_util::StreamExt;
        check_chunk_size(chunk_size)?;
        let total = self.output_size();
        let ahead =
            usize::try_from((WRITER_AHEAD / chunk_size).clamp(1, WRITER_CHUNKS_AHEAD)).unwrap_or(1);
        let job = self.clone();
        let chunks = futures_util::stream::iter(0..total.div_ceil(chunk_size))
            .map(move |i| {
                let (job, start) = (job.clone(), i * chunk_size);
                let end = (start + chunk_size).min(total) - 1;
                tokio_util::task::AbortOnDropHandle::new(tokio::spawn(async move {
                    job.fetch_chunk(start, end, verify_hashes, retries, None)
                        .await
                }))
            })
            .buffered(ahead)
            .boxed();
        let state = Pieces {
            job: self.clone(),
            verify_hashes,
            chunks: Some(chunks),
            pieces: Vec::new().into_iter(),
            hashes: Vec::new(),
        };
        Ok(futures_util::stream::unfold(state, Pieces::next))
    }

    /// Downloads the output into `writer`: [`Job::output_stream`]'s pieces, written in turn.
    pub async fn download_to_writer<W: AsyncWrite + Unpin>(
        &self,
        writer: &mut W,
        chunk_size: u64,
        verify_hashes: bool,
        retries: u32,
    ) -> Result<()> {
        use futures_util::StreamExt;
        let mut pieces = std::pin::pin!(self.output_stream(chunk_size, verify_hashes, retries)?);
        while let Some(piece) = pieces.next().await {
            writer.write_all(&piece?).await?;
        }
        writer.flush().await?;
        Ok(())
    }

    /// As [`Job::download_to_writer`], into a file.
    pub async fn download_to_file(
        &self,
        path: &Path,
        chunk_size: u64,
        verify_hashes: bool,
        retries: u32,
    ) -> Result<()> {
        let mut file = tokio::fs::File::create(path).await?;
        self.download_to_writer(&mut file, chunk_size, verify_hashes, retries)
            .await?;
        file.sync_all().await?;
        Ok(())
    }
}

/// Where [`Job::output_stream`] is: the chunks still to come (`None` once they are all in or
/// one failed), the pieces of the current one, the hashes of those taken.
struct Pieces {
    job: Job,
    verify_hashes: bool,
    chunks: Option<futures_util::stream::BoxStream<'static, FetchedChunk>>,
    pieces: std::vec::IntoIter<Bytes>,
    hashes: Vec<Digest>,
}

type FetchedChunk = std::result::Result<Result<(Vec<Bytes>, TreeHash)>, tokio::task::JoinError>;

impl Pieces {
    async fn next(mut self) -> Option<(Result<Bytes>, Self)> {
        use futures_util::StreamExt;
        loop {
            if let Some(piece) = self.pieces.next() {
                return Some((Ok(piece), self));
            }
            let fetched = self.chunks.as_mut()?.next().await;
            let failed = match fetched {
                Some(Ok(Ok((pieces, hash)))) => {
                    self.pieces = pieces.into_iter();
                    self.hashes.push(hash.0);
                    continue;
                }
                Some(Ok(Err(e))) => e,
                Some(Err(e)) => {
                    GlacierError::DownloadArchive(format!("a chunk download task failed: {e}"))
                }
                None if self.verify_hashes => match self.job.verify_whole(&self.hashes) {
                    Ok(()) => return None,
                    Err(e) => e,
                },
                None => return None,
            };
            self.chunks = None;
            return Some((Err(failed), self));
        }
    }
}

pub(super) fn check_chunk_size(chunk_size: u64) -> Result<()> {
    if !glacier_core::validate::is_part_size(chunk_size) {
        return Err(GlacierError::InvalidInput(format!(
            "chunk size {chunk_size} is not 1 MiB × 2^n: chunk tree hashes would not combine"
        )));
    }
    Ok(())
}

/// Downloads a job's output with `concurrency` ranged requests in flight, each verified; the
/// whole is verified against the job's tree hash. Interrupted, it resumes: a sidecar file
/// `<target>.glacier-download` records the verified chunks (read back and re-hashed on
/// resume, since they are synced only once, at the end).
pub struct ConcurrentDownloader {
    pub part_size: u64,
    pub concurrency: usize,
    pub retries: u32,
}

impl Default for ConcurrentDownloader {
    fn default() -> Self {
        ConcurrentDownloader {
            part_size: DEFAULT_PART_SIZE,
            concurrency: 10,
            retries: 5,
        }
    }
}

impl ConcurrentDownloader {
    fn sidecar(target: &Path) -> PathBuf {
        let mut name = target.as_os_str().to_owned();
        name.push(".glacier-download");
        PathBuf::from(name)
    }

    /// The chunks an earlier run of the same download (`header` names it) recorded as
    /// verified and that are still in `target`: a recorded chunk was written but not synced,
    /// so after a crash of the machine it may not be on disk. Each is read back and hashed
    /// (cheap next to fetching it again); one that no longer matches is fetched again.
    async fn recorded_chunks(
        &self,
        target: &Path,
        sidecar: &Path,
        header: &str,
        total: u64,
    ) -> Result<HashMap<u64, Digest>> {
        let mut done: HashMap<u64, Digest> = HashMap::new();
        if let (Ok(state), true) = (tokio::fs::read_to_string(sidecar).await, target.exists()) {
            let mut lines = state.lines();
            if lines.next() == Some(header) {
                for line in lines {
                    let mut it = line.split(' ');
                    if let (Some(i), Some(h)) = (
                        it.next().and_then(|i| i.parse().ok()),
                        it.next().and_then(|h| h.parse::<TreeHash>().ok()),
                    ) {
                        done.insert(i, h.0);
                    }
                }
            }
        }
        if !done.is_empty() {
            let (path, part) = (target.to_path_buf(), self.part_size);
            let recorded: Vec<(u64, Digest)> = done.iter().map(|(i, h)| (*i, *h)).collect();
            let stale = tokio::task::spawn_blocking(move || {
                recorded
                    .into_iter()
                    .filter(|(i, h)| {
                        let start = i * part;
                        let len = part.min(total.saturating_sub(start));
                        crate::utils::tree_hash_range(&path, start, len, 1)
                            .map_or(true, |t| t.0 != *h)
                    })
                    .map(|(i, _)| i)
                    .collect::<Vec<_>>()
            })
            .await
            .map_err(|e| GlacierError::DownloadArchive(format!("re-verifying failed: {e}")))?;
            for i in stale {
                tracing::debug!(
                    chunk = i,
                    "a recorded chunk did not survive; fetching it again"
                );
                done.remove(&i);
            }
        }
        Ok(done)
    }

    pub async fn download(&self, job: &Job, target: &Path) -> Result<()> {
        check_chunk_size(self.part_size)?;
        let total = job.output_size();
        let chunks = total.div_ceil(self.part_size);
        let sidecar = Self::sidecar(target);
        let header = format!("job {} part {} size {}", job.id, self.part_size, total);
        // Chunks verified by an earlier run of the same download.
        let done = self
            .recorded_chunks(target, &sidecar, &header, total)
            .await?;
        let skipped: u64 = done
            .keys()
            .map(|i| self.part_size.min(total.saturating_sub(i * self.part_size)))
            .sum();
        if skipped > 0 {
            job.layer1.report(crate::layer1::Transfer::Skipped, skipped);
        }
        if done.is_empty() {
            tokio::fs::write(&sidecar, format!("{header}\n")).await?;
            let f = tokio::fs::File::create(target).await?;
            f.set_len(total).await?;
        }
        let log = std::sync::Arc::new(tokio::sync::Mutex::new(
            tokio::fs::OpenOptions::new()
                .append(true)
                .open(&sidecar)
                .await?,
        ));
        let mut tasks: tokio::task::JoinSet<Result<(u64, Digest)>> = tokio::task::JoinSet::new();
        let mut hashes: HashMap<u64, Digest> = done.clone();
        for i in (0..chunks).filter(|i| !done.contains_key(i)) {
            if tasks.len() >= self.concurrency.max(1) {
                let (i, h) = join_download(&mut tasks).await?;
                hashes.insert(i, h);
            }
            let (job, target, log, retries) =
                (job.clone(), target.to_path_buf(), log.clone(), self.retries);
            let start = i * self.part_size;
            let end = (start + self.part_size).min(total) - 1;
            tasks.spawn(async move {
                let (_, hash) = job
                    .fetch_chunk(start, end, true, retries, Some(&target))
                    .await?;
                let mut log = log.lock().await;
                log.write_all(format!("{i} {}\n", hash.to_hex()).as_bytes())
                    .await?;
                log.flush().await?;
                Ok((i, hash.0))
            });
        }
        while !tasks.is_empty() {
            let (i, h) = join_download(&mut tasks).await?;
            hashes.insert(i, h);
        }
        let ordered: Vec<Digest> = (0..chunks)
            .filter_map(|i| hashes.get(&i).copied())
            .collect();
        job.verify_whole(&ordered)?;
        // One sync for the whole file, before anyone renames it into place.
        tokio::fs::OpenOptions::new()
            .write(true)
            .open(target)
            .await?
            .sync_all()
            .await?;
        tokio::fs::remove_file(&sidecar).await?;
        Ok(())
    }
}

pub(super) async fn join_download(
    tasks: &mut tokio::task::JoinSet<Result<(u64, Digest)>>,
) -> Result<(u64, Digest)> {
    match tasks.join_next().await {
        Some(Ok(r)) => r,
        Some(Err(e)) => Err(GlacierError::DownloadArchive(format!(
            "a chunk download task failed: {e}"
        ))),
        None => Err(GlacierError::DownloadArchive(
            "no chunk download in flight".into(),
        )),
    }
}
