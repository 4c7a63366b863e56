//! Jobs: waiting for them, their outputs in memory, inventories.

use crate::error::{GlacierError, Result};
use crate::layer1::Layer1;
use bytes::Bytes;
use glacier_core::treehash::{Digest, TreeHash, tree_hash_of};
use glacier_core::wire;
use glacier_core::{JobAction, JobStatus, MIB};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A retrieval job, with the fields of the seed's `Job.ResponseDataElements`.
#[derive(Clone)]
pub struct Job {
    pub(super) layer1: Layer1,
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
    /// An archive retrieval's tier.
    pub tier: Option<glacier_core::Tier>,
    /// An inventory retrieval's format and filters.
    pub inventory_parameters: Option<wire::InventoryRetrievalJobDescription>,
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
    pub(super) fn from_wire(
        layer1: Layer1,
        vault_name: String,
        d: wire::GlacierJobDescription,
    ) -> Job {
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
            tier: d.tier,
            inventory_parameters: d.inventory_retrieval_parameters,
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

    /// The archive this job retrieves whole and has not failed to: a job a retrieval of
    /// that archive can use instead of starting another (in flight, or finished and not
    /// expired, since expired jobs are not listed).
    pub fn whole_archive(&self) -> Option<&str> {
        let whole = self.retrieval_byte_range.as_deref()
            == Some(&format!("0-{}", self.archive_size.saturating_sub(1)));
        let usable = self.action == JobAction::ArchiveRetrieval
            && whole
            && self.status_code != glacier_core::JobStatus::Failed;
        self.archive_id.as_deref().filter(|_| usable)
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

    pub(super) fn verify_whole(&self, chunk_hashes: &[Digest]) -> Result<()> {
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

/// Reads a body into one buffer (sized by `expected_len` when known), hashing as it arrives;
/// never more than `expected_len` bytes.
pub(super) async fn receive(
    body: crate::layer1::ByteStream,
    expected_len: Option<u64>,
) -> Result<(Bytes, TreeHash)> {
    use futures_util::StreamExt;
    let cap = expected_len
        .and_then(|l| usize::try_from(l).ok())
        .unwrap_or(0);
    let mut buf = Vec::with_capacity(cap.min(4096 * MIB as usize));
    let mut hasher = glacier_core::LeafHasher::new();
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
    Ok((Bytes::from(buf), hasher.finish().tree))
}
