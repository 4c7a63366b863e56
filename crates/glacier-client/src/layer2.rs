//! Layer2: the seed's `Layer2`, `Vault` and `Job` objects over [`Layer1`], with multipart
//! uploads (sequential or concurrent, resumable) and verified downloads (sequential or
//! concurrent, resumable).

use crate::error::{GlacierError, Result};
use crate::layer1::{Layer1, Payload};
use bytes::Bytes;
use glacier_core::treehash::{Digest, TreeHash, tree_hash_of};
use glacier_core::validate::minimum_part_size;
use glacier_core::wire;
use glacier_core::{InventoryFormat, JobAction, JobStatus, MIB};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// The seed's `Vault.DefaultPartSize`: 4 MiB.
pub const DEFAULT_PART_SIZE: u64 = 4 * MIB;
/// The seed's `Vault.SingleOperationThreshold`: archives up to 100 MiB go in one request.
pub const SINGLE_OPERATION_THRESHOLD: u64 = 100 * MIB;

/// The high-level client: vaults by name.
#[derive(Clone)]
pub struct Layer2 {
    pub layer1: Layer1,
}

impl Layer2 {
    pub fn new(layer1: Layer1) -> Layer2 {
        Layer2 { layer1 }
    }

    /// Creates a vault (or finds the existing one) and returns it.
    pub async fn create_vault(&self, name: &str) -> Result<Vault> {
        self.layer1.create_vault(name).await?;
        self.get_vault(name).await
    }

    pub async fn delete_vault(&self, name: &str) -> Result<()> {
        self.layer1.delete_vault(name).await
    }

    pub async fn get_vault(&self, name: &str) -> Result<Vault> {
        Ok(Vault::from_wire(
            self.layer1.clone(),
            self.layer1.describe_vault(name).await?,
        ))
    }

    /// Every vault of the account, following the pagination markers.
    pub async fn list_vaults(&self) -> Result<Vec<Vault>> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self.layer1.list_vaults(None, marker.as_deref()).await?;
            out.extend(
                page.vault_list
                    .into_iter()
                    .map(|v| Vault::from_wire(self.layer1.clone(), v)),
            );
            marker = page.marker;
            if marker.is_none() {
                return Ok(out);
            }
        }
    }
}

/// A vault, with the fields of the seed's `Vault.ResponseDataElements`.
#[derive(Clone)]
pub struct Vault {
    layer1: Layer1,
    pub name: String,
    pub arn: String,
    pub creation_date: String,
    pub last_inventory_date: Option<String>,
    pub size: u64,
    pub number_of_archives: u64,
}

/// Where an archive's bytes come from.
pub enum Source {
    /// A file: parts are hashed and sent straight from disk, never held in memory.
    File(PathBuf),
    /// Any reader (a pipe, stdin): each part is read into memory, hashed and sent.
    Reader(Box<dyn AsyncRead + Send + Unpin>),
}

impl From<&Path> for Source {
    fn from(p: &Path) -> Self {
        Source::File(p.to_path_buf())
    }
}

impl From<PathBuf> for Source {
    fn from(p: PathBuf) -> Self {
        Source::File(p)
    }
}

impl Vault {
    fn from_wire(layer1: Layer1, v: wire::DescribeVaultOutput) -> Vault {
        Vault {
            layer1,
            name: v.vault_name,
            arn: v.vault_arn,
            creation_date: v.creation_date,
            last_inventory_date: v.last_inventory_date,
            size: v.size_in_bytes,
            number_of_archives: v.number_of_archives,
        }
    }

    /// The Layer1 client this vault uses.
    pub fn layer1(&self) -> &Layer1 {
        &self.layer1
    }

    /// Uploads a file: one request up to [`SINGLE_OPERATION_THRESHOLD`], a multipart upload above.
    pub async fn upload_archive(&self, path: &Path, description: Option<&str>) -> Result<String> {
        let size = tokio::fs::metadata(path).await?.len();
        if size > SINGLE_OPERATION_THRESHOLD {
            return self
                .create_archive_from_file(Source::File(path.to_path_buf()), description, |_| {})
                .await;
        }
        let (linear, tree) = crate::utils::hash_file_range(path.to_path_buf(), 0, size).await?;
        let created = self
            .layer1
            .upload_archive(
                &self.name,
                Payload::File {
                    path: path.to_path_buf(),
                    offset: 0,
                    len: size,
                },
                linear,
                tree,
                description,
            )
            .await?;
        Ok(created.archive_id)
    }

    /// Uploads from a file or reader in parts of [`DEFAULT_PART_SIZE`] (raised for large files),
    /// one at a time; `upload_id_callback` learns the upload id first, so that an interrupted
    /// upload can be resumed with [`Vault::resume_archive_from_file`].
    pub async fn create_archive_from_file(
        &self,
        source: Source,
        description: Option<&str>,
        upload_id_callback: impl FnOnce(&str),
    ) -> Result<String> {
        let part_size = part_size_for(&source, DEFAULT_PART_SIZE).await?;
        let upload = self
            .layer1
            .initiate_multipart_upload(&self.name, part_size, description)
            .await?;
        upload_id_callback(&upload.upload_id);
        self.upload_parts(&upload.upload_id, part_size, source, 1, HashMap::new())
            .await
    }

    /// As the seed's `concurrent_create_archive_from_file`: parts uploaded `concurrency` at a
    /// time; the part size is raised to the minimum the file needs (at most 10,000 parts).
    pub async fn concurrent_create_archive_from_file(
        &self,
        path: &Path,
        description: Option<&str>,
        part_size: u64,
        concurrency: usize,
    ) -> Result<String> {
        let source = Source::File(path.to_path_buf());
        let part_size = part_size_for(&source, part_size).await?;
        let upload = self
            .layer1
            .initiate_multipart_upload(&self.name, part_size, description)
            .await?;
        self.upload_parts(
            &upload.upload_id,
            part_size,
            source,
            concurrency.max(1),
            HashMap::new(),
        )
        .await
    }

    /// Finishes an interrupted multipart upload of the same data: parts already uploaded
    /// whose tree hash matches are kept, missing or mismatched ones are sent again.
    pub async fn resume_archive_from_file(
        &self,
        upload_id: &str,
        source: Source,
    ) -> Result<String> {
        self.continue_upload(upload_id, source, 1).await
    }

    /// As [`Vault::resume_archive_from_file`], sending `concurrency` parts at a time. Also the
    /// way to run a freshly initiated upload whose id the caller keeps, so that an
    /// interruption can be resumed later with the same call.
    pub async fn continue_upload(
        &self,
        upload_id: &str,
        source: Source,
        concurrency: usize,
    ) -> Result<String> {
        let listing = self.list_all_parts(upload_id).await?;
        let mut existing = HashMap::new();
        for p in &listing.parts {
            let start = p
                .range_in_bytes
                .split('-')
                .next()
                .and_then(|s| s.parse::<u64>().ok());
            let hash = p.sha256_tree_hash.parse::<TreeHash>().ok();
            if let (Some(start), Some(hash)) = (start, hash) {
                existing.insert(start, hash);
            }
        }
        self.upload_parts(
            upload_id,
            listing.part_size_in_bytes,
            source,
            concurrency.max(1),
            existing,
        )
        .await
    }

    /// Uploads every part of `source` not already in `existing` (start → tree hash), then
    /// completes the upload.
    async fn upload_parts(
        &self,
        upload_id: &str,
        part_size: u64,
        source: Source,
        concurrency: usize,
        existing: HashMap<u64, TreeHash>,
    ) -> Result<String> {
        let mut tasks: tokio::task::JoinSet<Result<(u64, Digest)>> = tokio::task::JoinSet::new();
        let mut hashes: Vec<(u64, Digest)> = Vec::new();
        let path = match source {
            Source::File(path) => path,
            Source::Reader(mut reader) => {
                let mut writer = crate::writer::Writer::new(
                    self.layer1.clone(),
                    self.name.clone(),
                    upload_id.to_owned(),
                    part_size,
                    concurrency,
                )
                .with_existing_parts(existing);
                tokio::io::copy(&mut reader, &mut writer)
                    .await
                    .map_err(upload_error)?;
                writer.shutdown().await.map_err(upload_error)?;
                return writer.archive_id().map(str::to_owned).ok_or_else(|| {
                    GlacierError::UploadArchive("the upload completed without an archive id".into())
                });
            }
        };
        let size = tokio::fs::metadata(&path).await?.len();
        let total = size;
        let mut start = 0;
        while start < size {
            let len = part_size.min(size - start);
            if tasks.len() >= concurrency {
                hashes.push(join(&mut tasks).await?);
            }
            let (layer1, vault, id, path, known) = (
                self.layer1.clone(),
                self.name.clone(),
                upload_id.to_owned(),
                path.clone(),
                existing.get(&start).copied(),
            );
            tasks.spawn(async move {
                let (linear, tree) =
                    crate::utils::hash_file_range(path.clone(), start, len).await?;
                if known != Some(tree) {
                    layer1
                        .upload_part(
                            &vault,
                            &id,
                            linear,
                            tree,
                            (start, start + len - 1),
                            Payload::File {
                                path,
                                offset: start,
                                len,
                            },
                        )
                        .await?;
                }
                Ok((start, tree.0))
            });
            start += len;
        }
        while !tasks.is_empty() {
            hashes.push(join(&mut tasks).await?);
        }
        if total == 0 {
            return Err(GlacierError::UploadArchive(
                "the source is empty; an archive holds at least one byte".into(),
            ));
        }
        hashes.sort_by_key(|(start, _)| *start);
        let tree = tree_hash_of(&hashes.iter().map(|(_, d)| *d).collect::<Vec<_>>());
        let created = self
            .layer1
            .complete_multipart_upload(&self.name, upload_id, tree, total)
            .await?;
        if created.checksum != tree {
            return Err(GlacierError::TreeHashDoesNotMatch {
                what: "the completed archive".into(),
                expected: tree.to_hex(),
                actual: created.checksum.to_hex(),
            });
        }
        Ok(created.archive_id)
    }

    /// A [`Writer`](crate::writer::Writer) that uploads what is written to it as a multipart
    /// archive of `part_size` parts (1 MiB × 2^n); shut it down to complete the archive.
    pub async fn create_archive_writer(
        &self,
        part_size: u64,
        description: Option<&str>,
    ) -> Result<crate::writer::Writer> {
        if !glacier_core::validate::is_part_size(part_size) {
            return Err(GlacierError::InvalidInput(format!(
                "part size {part_size} is not 1 MiB × 2^n up to 4 GiB"
            )));
        }
        let upload = self
            .layer1
            .initiate_multipart_upload(&self.name, part_size, description)
            .await?;
        Ok(crate::writer::Writer::new(
            self.layer1.clone(),
            self.name.clone(),
            upload.upload_id,
            part_size,
            1,
        ))
    }

    /// Every part of an upload, following the pagination markers.
    pub async fn list_all_parts(&self, upload_id: &str) -> Result<wire::ListPartsOutput> {
        let mut out = self
            .layer1
            .list_parts(&self.name, upload_id, None, None)
            .await?;
        while let Some(marker) = out.marker.take() {
            let page = self
                .layer1
                .list_parts(&self.name, upload_id, None, Some(&marker))
                .await?;
            out.parts.extend(page.parts);
            out.marker = page.marker;
        }
        Ok(out)
    }

    /// Starts retrieving an archive; returns the job.
    pub async fn retrieve_archive(
        &self,
        archive_id: &str,
        sns_topic: Option<&str>,
        description: Option<&str>,
    ) -> Result<Job> {
        let params = wire::JobParameters {
            job_type: Some("archive-retrieval".into()),
            archive_id: Some(archive_id.into()),
            sns_topic: sns_topic.map(str::to_owned),
            description: description.map(str::to_owned),
            ..Default::default()
        };
        let started = self.layer1.initiate_job(&self.name, &params).await?;
        self.get_job(&started.job_id).await
    }

    /// Starts an inventory retrieval; returns the job id. `format` is `JSON` (default) or `CSV`.
    pub async fn retrieve_inventory(&self, params: InventoryRequest) -> Result<String> {
        let p = wire::JobParameters {
            job_type: Some("inventory-retrieval".into()),
            format: params.format,
            sns_topic: params.sns_topic,
            description: params.description,
            inventory_retrieval_parameters: Some(wire::InventoryRetrievalJobInput {
                start_date: params.start_date,
                end_date: params.end_date,
                limit: params.limit.map(|l| l.to_string()),
                marker: params.marker,
            }),
            ..Default::default()
        };
        Ok(self.layer1.initiate_job(&self.name, &p).await?.job_id)
    }

    /// As [`Vault::retrieve_inventory`], returning the job.
    pub async fn retrieve_inventory_job(&self, params: InventoryRequest) -> Result<Job> {
        let id = self.retrieve_inventory(params).await?;
        self.get_job(&id).await
    }

    pub async fn delete_archive(&self, archive_id: &str) -> Result<()> {
        self.layer1.delete_archive(&self.name, archive_id).await
    }

    pub async fn get_job(&self, job_id: &str) -> Result<Job> {
        Ok(Job::from_wire(
            self.layer1.clone(),
            self.name.clone(),
            self.layer1.describe_job(&self.name, job_id).await?,
        ))
    }

    /// Every job of the vault, filtered as asked, following the pagination markers.
    pub async fn list_jobs(
        &self,
        completed: Option<bool>,
        status_code: Option<JobStatus>,
    ) -> Result<Vec<Job>> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .layer1
                .list_jobs(&self.name, completed, status_code, None, marker.as_deref())
                .await?;
            out.extend(
                page.job_list
                    .into_iter()
                    .map(|j| Job::from_wire(self.layer1.clone(), self.name.clone(), j)),
            );
            marker = page.marker;
            if marker.is_none() {
                return Ok(out);
            }
        }
    }

    /// Deletes this vault.
    pub async fn delete(&self) -> Result<()> {
        self.layer1.delete_vault(&self.name).await
    }
}

/// The parameters of an inventory retrieval.
#[derive(Debug, Clone, Default)]
pub struct InventoryRequest {
    pub format: Option<InventoryFormat>,
    pub sns_topic: Option<String>,
    pub description: Option<String>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub limit: Option<u64>,
    pub marker: Option<String>,
}

/// A writer's I/O error carries the GlacierError that caused it; unwrap it again.
fn upload_error(e: std::io::Error) -> GlacierError {
    match e.downcast::<GlacierError>() {
        Ok(g) => g,
        Err(e) => GlacierError::UploadArchive(e.to_string()),
    }
}

async fn join(tasks: &mut tokio::task::JoinSet<Result<(u64, Digest)>>) -> Result<(u64, Digest)> {
    match tasks.join_next().await {
        Some(Ok(r)) => r,
        Some(Err(e)) => Err(GlacierError::UploadArchive(format!(
            "a part upload task failed: {e}"
        ))),
        None => Err(GlacierError::UploadArchive(
            "no part upload in flight".into(),
        )),
    }
}

async fn part_size_for(source: &Source, wanted: u64) -> Result<u64> {
    let size = match source {
        Source::File(p) => tokio::fs::metadata(p).await?.len(),
        // Unknown length: the largest archive the part size allows must be enough.
        Source::Reader(_) => 0,
    };
    minimum_part_size(size, wanted).map_err(|e| GlacierError::UploadArchive(e.0))
}

/// A retrieval job, with the fields of the seed's `Job.ResponseDataElements`.
#[derive(Clone)]
pub struct Job {
    layer1: Layer1,
    pub vault_name: String,
    pub id: String,
    pub action: JobAction,
    pub archive_id: Option<String>,
    pub archive_size: u64,
    pub completed: bool,
    pub completion_date: Option<String>,
    pub creation_date: String,
    pub inventory_size: u64,
    pub description: Option<String>,
    pub sha256_treehash: Option<String>,
    pub sns_topic: Option<String>,
    pub status_code: JobStatus,
    pub status_message: Option<String>,
    pub arn: String,
    /// The retrieved range, `first-last`.
    pub retrieval_byte_range: Option<String>,
}

/// How [`Job::wait`] polls.
#[derive(Debug, Clone, Copy)]
pub struct WaitOptions {
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// Give up after this long.
    pub timeout: Duration,
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions {
            first_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(60),
            timeout: Duration::from_secs(48 * 3600),
        }
    }
}

/// A job's output, read into memory (for ranges; see [`Job::download_to_file`] for archives).
#[derive(Debug, Clone)]
pub struct Output {
    pub data: Bytes,
    /// Glacier's tree hash of `data`, when it sent one.
    pub checksum: Option<TreeHash>,
    pub content_range: Option<String>,
    pub content_type: Option<String>,
    pub archive_description: Option<String>,
}

impl Job {
    fn from_wire(layer1: Layer1, vault_name: String, d: wire::GlacierJobDescription) -> Job {
        Job {
            layer1,
            vault_name,
            id: d.job_id,
            action: d.action,
            archive_id: d.archive_id,
            archive_size: d.archive_size_in_bytes.unwrap_or(0),
            completed: d.completed,
            completion_date: d.completion_date,
            creation_date: d.creation_date,
            inventory_size: d.inventory_size_in_bytes.unwrap_or(0),
            description: d.job_description,
            sha256_treehash: d.sha256_tree_hash,
            sns_topic: d.sns_topic,
            status_code: d.status_code,
            status_message: d.status_message,
            arn: d.vault_arn,
            retrieval_byte_range: d.retrieval_byte_range,
        }
    }

    /// Reads the job's state again.
    pub async fn refresh(&mut self) -> Result<()> {
        let d = self.layer1.describe_job(&self.vault_name, &self.id).await?;
        *self = Job::from_wire(self.layer1.clone(), self.vault_name.clone(), d);
        Ok(())
    }

    /// Polls DescribeJob with exponential backoff until the job completes, `cancel` fires or
    /// the timeout passes.
    pub async fn wait(
        &mut self,
        options: WaitOptions,
        cancel: Option<&CancellationToken>,
    ) -> Result<()> {
        let deadline = tokio::time::Instant::now() + options.timeout;
        let mut delay = options.first_delay;
        loop {
            self.refresh().await?;
            if self.completed {
                return Ok(());
            }
            if tokio::time::Instant::now() + delay > deadline {
                return Err(GlacierError::DownloadArchive(format!(
                    "job {} did not complete in {:?}",
                    self.id, options.timeout
                )));
            }
            match cancel {
                Some(c) => tokio::select! {
                    _ = c.cancelled() => return Err(GlacierError::DownloadArchive(format!("waiting for job {} was cancelled", self.id))),
                    _ = tokio::time::sleep(delay) => {}
                },
                None => tokio::time::sleep(delay).await,
            }
            delay = (delay * 2).min(options.max_delay);
        }
    }

    /// The output size: the retrieved range of an archive, or the inventory.
    pub fn output_size(&self) -> u64 {
        let range = self
            .retrieval_byte_range
            .as_deref()
            .and_then(glacier_core::range::span);
        match range {
            Some(s) if self.action == JobAction::ArchiveRetrieval => s.len(),
            _ if self.action == JobAction::ArchiveRetrieval => self.archive_size,
            _ => self.inventory_size,
        }
    }

    /// Downloads the output or the inclusive `byte_range` of it into memory; with
    /// `validate_checksum`, fails when Glacier sent a tree hash the data does not match.
    pub async fn get_output(
        &self,
        byte_range: Option<(u64, u64)>,
        validate_checksum: bool,
    ) -> Result<Output> {
        let out = self
            .layer1
            .get_job_output(&self.vault_name, &self.id, byte_range)
            .await?;
        let (checksum, content_range, content_type, archive_description) = (
            out.checksum,
            out.content_range,
            out.content_type,
            out.archive_description,
        );
        let expected_len = out.content_length.or(byte_range.map(|(a, b)| b - a + 1));
        let (data, actual) = receive(out.body, expected_len).await?;
        if let Some(expected) = checksum
            && validate_checksum
            && actual != expected
        {
            return Err(GlacierError::TreeHashDoesNotMatch {
                what: format!("job {} output {byte_range:?}", self.id),
                expected: expected.to_hex(),
                actual: actual.to_hex(),
            });
        }
        Ok(Output {
            data,
            checksum,
            content_range,
            content_type,
            archive_description,
        })
    }

    /// Fetches one chunk, re-fetching one that failed verification (a tree hash that does not
    /// match, a body too short or too long, or one that broke off) up to `retries` more times,
    /// and returns it only once it is good (verified, when `verify`). Failures of the request
    /// itself are Layer1's to retry, so the budget of one chunk is at most `retries + 1`
    /// fetches of at most [`RetryPolicy::max_attempts`](crate::RetryPolicy) requests each.
    /// The body is hashed as it arrives, into memory, or with `target` straight into that
    /// file at the chunk's offset (then the returned bytes are empty and the data is durable
    /// before this returns; a bad attempt is overwritten by the next one, and only a verified
    /// chunk is ever reported).
    async fn fetch_chunk(
        &self,
        start: u64,
        end: u64,
        verify: bool,
        retries: u32,
        target: Option<&Path>,
    ) -> Result<(Bytes, TreeHash)> {
        use futures_util::StreamExt;
        use tokio::io::AsyncSeekExt;
        let len = end - start + 1;
        let mut last = None;
        for attempt in 0..=retries {
            let fetched = async {
                let out = self
                    .layer1
                    .get_job_output(&self.vault_name, &self.id, Some((start, end)))
                    .await?;
                let checksum = out.checksum;
                let mut file = match target {
                    Some(path) => {
                        let mut f = tokio::fs::OpenOptions::new().write(true).open(path).await?;
                        f.seek(std::io::SeekFrom::Start(start)).await?;
                        Some(f)
                    }
                    None => None,
                };
                let mut buf = Vec::with_capacity(if file.is_some() {
                    0
                } else {
                    usize::try_from(len).unwrap_or(0)
                });
                let mut hasher = glacier_core::TreeHasher::new();
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
                    match file.as_mut() {
                        Some(f) => f.write_all(&chunk).await?,
                        None => buf.extend_from_slice(&chunk),
                    }
                }
                if hasher.len() != len {
                    return Err(GlacierError::DownloadArchive(format!(
                        "bytes {start}-{end}: got {} bytes",
                        hasher.len()
                    )));
                }
                let hash = hasher.finish().0;
                match checksum {
                    Some(c) if c != hash && verify => {
                        return Err(GlacierError::TreeHashDoesNotMatch {
                            what: format!("job {} bytes {start}-{end}", self.id),
                            expected: c.to_hex(),
                            actual: hash.to_hex(),
                        });
                    }
                    None if verify => {
                        return Err(GlacierError::Archive(format!(
                            "no tree hash was sent for bytes {start}-{end}; cannot verify"
                        )));
                    }
                    _ => {}
                }
                if let Some(f) = file {
                    f.sync_data().await?;
                }
                Ok((Bytes::from(buf), hash))
            }
            .await;
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

    /// Downloads the output in `chunk_size` chunks (1 MiB × 2^n) into `writer`, verifying each
    /// chunk's tree hash and, at the end, the whole output's against the job's.
    pub async fn download_to_writer<W: AsyncWrite + Unpin>(
        &self,
        writer: &mut W,
        chunk_size: u64,
        verify_hashes: bool,
        retries: u32,
    ) -> Result<()> {
        check_chunk_size(chunk_size)?;
        let total = self.output_size();
        let mut hashes = Vec::new();
        let mut start = 0;
        while start < total {
            let end = (start + chunk_size).min(total) - 1;
            let (data, hash) = self
                .fetch_chunk(start, end, verify_hashes, retries, None)
                .await?;
            writer.write_all(&data).await?;
            hashes.push(hash.0);
            start = end + 1;
        }
        writer.flush().await?;
        if verify_hashes {
            self.verify_whole(&hashes)?;
        }
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

    /// An inventory job's output as a stream of archive entries, parsed as it downloads.
    pub async fn inventory(
        &self,
    ) -> Result<impl futures_util::Stream<Item = Result<crate::inventory::InventoryEntry>> + use<>>
    {
        let out = self
            .layer1
            .get_job_output(&self.vault_name, &self.id, None)
            .await?;
        let format = crate::inventory::Format::from_content_type(out.content_type.as_deref());
        Ok(crate::inventory::entries(
            Box::pin(out.body.into_stream()),
            format,
        ))
    }

    fn verify_whole(&self, chunk_hashes: &[Digest]) -> Result<()> {
        if let Some(expected) = &self.sha256_treehash {
            let actual = tree_hash_of(chunk_hashes).to_hex();
            if &actual != expected {
                return Err(GlacierError::TreeHashDoesNotMatch {
                    what: format!("the output of job {}", self.id),
                    expected: expected.clone(),
                    actual,
                });
            }
        }
        Ok(())
    }
}

fn check_chunk_size(chunk_size: u64) -> Result<()> {
    if !glacier_core::validate::is_part_size(chunk_size) {
        return Err(GlacierError::InvalidInput(format!(
            "chunk size {chunk_size} is not 1 MiB × 2^n: chunk tree hashes would not combine"
        )));
    }
    Ok(())
}

/// Downloads a job's output with `concurrency` ranged requests in flight, each verified; the
/// whole is verified against the job's tree hash. Interrupted, it resumes: a sidecar file
/// `<target>.glacier-download` records the verified chunks.
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

    pub async fn download(&self, job: &Job, target: &Path) -> Result<()> {
        check_chunk_size(self.part_size)?;
        let total = job.output_size();
        let chunks = total.div_ceil(self.part_size);
        let sidecar = Self::sidecar(target);
        let header = format!("job {} part {} size {}", job.id, self.part_size, total);
        // Chunks verified by an earlier run of the same download.
        let mut done: HashMap<u64, Digest> = HashMap::new();
        if let (Ok(state), true) = (tokio::fs::read_to_string(&sidecar).await, target.exists()) {
            let mut lines = state.lines();
            if lines.next() == Some(header.as_str()) {
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
        tokio::fs::remove_file(&sidecar).await?;
        Ok(())
    }
}

async fn join_download(
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

/// Reads a body into one buffer (sized by `expected_len` when known), hashing as it arrives;
/// never more than `expected_len` bytes.
async fn receive(
    body: crate::layer1::ByteStream,
    expected_len: Option<u64>,
) -> Result<(Bytes, TreeHash)> {
    use futures_util::StreamExt;
    let cap = expected_len
        .and_then(|l| usize::try_from(l).ok())
        .unwrap_or(0);
    let mut buf = Vec::with_capacity(cap.min(4096 * MIB as usize));
    let mut hasher = glacier_core::TreeHasher::new();
    let mut stream = std::pin::pin!(body.into_stream());
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if expected_len.is_some_and(|l| buf.len() as u64 + chunk.len() as u64 > l) {
            return Err(GlacierError::DownloadArchive(format!(
                "the response is longer than {} bytes",
                cap
            )));
        }
        hasher.update(&chunk);
        buf.extend_from_slice(&chunk);
    }
    Ok((Bytes::from(buf), hasher.finish().0))
}
