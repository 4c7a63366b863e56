//! Retrieval jobs: initiation, descriptions, listing, output, and the engine that completes
//! and expires them.

use super::{Service, next_marker};
use crate::error::{ApiError, ApiResult};
use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt, TryStreamExt};
use glacier_core::range::{HttpRange, Span};
use glacier_core::treehash::{is_tree_hash_aligned, range_tree_hash, tree_hash_of};
use glacier_core::wire::{
    self, GlacierJobDescription, InventoryRetrievalJobDescription, JobParameters,
};
use glacier_core::{
    Digest, ErrorCode, InventoryFormat, JobAction, JobStatus, JobType, MIB, TreeHash, format_date,
    range, validate,
};
use glacier_storage::{BlobStore, JobFilter, JobRecord, JobSpec, Segment, StorageError, VaultKey};
use std::sync::Arc;

/// A job's output (or a range of it), ready to stream.
pub struct JobOutput {
    /// `Some` when a range was asked for: the range and the output's total length.
    pub partial: Option<(Span, u64)>,
    pub len: u64,
    pub content_type: &'static str,
    /// The range's tree hash, when the range is tree-hash aligned (archive jobs only).
    pub tree_hash: Option<TreeHash>,
    pub archive_description: Option<String>,
    pub body: OutputBody,
}

pub(crate) type OutputBody = BoxStream<'static, Result<Bytes, glacier_storage::StorageError>>;

fn check_topic(topic: &Option<String>) -> ApiResult<()> {
    match topic.as_deref() {
        None => Ok(()),
        Some(t)
            if t.starts_with("arn:aws:sns:")
                || t.starts_with("http://")
                || t.starts_with("https://") =>
        {
            Ok(())
        }
        Some(t) => Err(ApiError::invalid(format!(
            "Invalid SNSTopic: {t:?} is neither an SNS topic ARN nor an http(s) URL"
        ))),
    }
}

impl Service {
    pub async fn initiate_job(&self, key: &VaultKey, p: JobParameters) -> ApiResult<String> {
        let raw_type = p
            .job_type
            .as_deref()
            .ok_or_else(|| ApiError::missing("Type"))?;
        if let Some(d) = &p.description {
            validate::archive_description(d).map_err(|e| {
                ApiError::invalid(e.0.replace("archive description", "job description"))
            })?;
        }
        check_topic(&p.sns_topic)?;
        self.meta.get_vault(key).await?;
        let (spec, delay) = match job_type(raw_type)? {
            JobType::ArchiveRetrieval => self.archive_spec(key, &p).await?,
            JobType::InventoryRetrieval => {
                let spec = super::inventory::inventory_spec(&p)?;
                if self.settings.timing.daily_inventory.is_some() {
                    // Before a vault's first daily inventory there is none to retrieve.
                    self.daily_inventory(key).await?;
                }
                (spec, self.draws.draw(self.settings.timing.inventory))
            }
            // S3 Select over archives, which this server does not run.
            JobType::Select => {
                return Err(ApiError::invalid(
                    "select jobs (S3 Select over archives) are not supported by this server; use archive-retrieval",
                ));
            }
        };
        self.record_job(key, spec, delay, p.description, p.sns_topic)
            .await
    }

    /// What an archive retrieval retrieves: the archive (it must exist), the range asked for
    /// (whole by default) with its tree hash when the range is tree-hash aligned, the tier; and
    /// how long the tier takes.
    async fn archive_spec(
        &self,
        key: &VaultKey,
        p: &JobParameters,
    ) -> ApiResult<(JobSpec, std::time::Duration)> {
        let archive_id = p
            .archive_id
            .as_deref()
            .ok_or_else(|| ApiError::missing("ArchiveId"))?;
        let tier = p.tier.unwrap_or_default();
        let class = self.blobs.class();
        if !class.offers(tier) {
            return Err(ApiError::new(
                ErrorCode::InvalidParameterValueException,
                format!(
                    "{tier} retrievals are not offered: this server keeps archives in S3 {class}, which restores at Standard (within 12 hours) or Bulk (within 48 hours)",
                    tier = tier.as_str()
                ),
            ));
        }
        let archive = self.meta.get_archive(key, archive_id).await?;
        let span = match &p.retrieval_byte_range {
            Some(r) => range::retrieval_range(r, archive.size)?,
            None => Span {
                start: 0,
                end: archive.size - 1,
            },
        };
        let leaves: Vec<Digest> = archive
            .segments
            .iter()
            .flat_map(|s| s.leaves.iter().copied())
            .collect();
        let range_tree_hash = is_tree_hash_aligned(span.start, span.end, archive.size)
            .then(|| leaves_of(&leaves, span).map(tree_hash_of))
            .flatten();
        let spec = JobSpec::Archive {
            archive_id: archive.id,
            archive_description: archive.description,
            archive_size: archive.size,
            archive_tree_hash: archive.tree_hash,
            range: (span.start, span.end),
            range_tree_hash,
            tier,
        };
        Ok((spec, self.draws.draw(self.settings.timing.retrieval(tier))))
    }

    /// Records a job checked and specified: the retrieval policy or Expedited capacity admits
    /// an archive retrieval in the job's own transaction, or refuses it with what it allows.
    async fn record_job(
        &self,
        key: &VaultKey,
        spec: JobSpec,
        delay: std::time::Duration,
        description: Option<String>,
        sns_topic: Option<String>,
    ) -> ApiResult<String> {
        let (admission, bytes) = match &spec {
            JobSpec::Archive { range, tier, .. } => (
                self.admission(&key.account, *tier).await?,
                range.1 - range.0 + 1,
            ),
            JobSpec::Inventory { .. } => (None, 0),
        };
        let created = self.now();
        let job = JobRecord {
            id: crate::config::random_string(super::UPLOAD_ID_LEN, super::ID_ALPHABET),
            seq: 0,
            spec,
            description,
            sns_topic,
            created,
            due: created + delay,
            status: JobStatus::InProgress,
            status_message: None,
            completed: None,
            expires: None,
            output_size: None,
            next_marker: None,
        };
        let job = match self
            .meta
            .create_job(key, job, admission.as_ref().map(|(a, _)| *a))
            .await
        {
            Err(StorageError::NotAdmitted { used, allowed }) => {
                self.metrics.retrieval(false);
                let refusal = admission.map(|(_, r)| r);
                return Err(refusal.map_or_else(
                    || ApiError::internal("a retrieval without an allowance was refused"),
                    |r| r.error(bytes, used, allowed),
                ));
            }
            other => other?,
        };
        self.metrics.job_initiated(job_type_of(&job.spec));
        if matches!(job.spec, JobSpec::Archive { .. }) {
            self.metrics.retrieval(true);
        }
        self.wake.notify_one();
        Ok(job.id)
    }

    /// The DescribeJob body of a job of the vault of ARN `vault_arn`.
    pub fn job_description(&self, vault_arn: &str, job: &JobRecord) -> GlacierJobDescription {
        let done = job.status != JobStatus::InProgress;
        let action = match job.spec {
            JobSpec::Archive { .. } => JobAction::ArchiveRetrieval,
            JobSpec::Inventory { .. } => JobAction::InventoryRetrieval,
        };
        let mut d = GlacierJobDescription {
            job_id: job.id.clone(),
            job_description: job.description.clone(),
            action,
            archive_id: None,
            vault_arn: vault_arn.to_owned(),
            creation_date: format_date(job.created),
            completed: done,
            status_code: job.status,
            status_message: job.status_message.clone(),
            archive_size_in_bytes: None,
            inventory_size_in_bytes: None,
            sns_topic: job.sns_topic.clone(),
            completion_date: job.completed.map(format_date),
            sha256_tree_hash: None,
            archive_sha256_tree_hash: None,
            retrieval_byte_range: None,
            tier: None,
            inventory_retrieval_parameters: None,
            job_output_path: None,
            select_parameters: None,
            output_location: None,
        };
        match &job.spec {
            JobSpec::Archive {
                archive_id,
                archive_size,
                archive_tree_hash,
                range,
                range_tree_hash,
                tier,
                ..
            } => {
                d.archive_id = Some(archive_id.clone());
                d.archive_size_in_bytes = Some(*archive_size);
                d.archive_sha256_tree_hash = Some(archive_tree_hash.to_hex());
                d.sha256_tree_hash = range_tree_hash.map(|h| h.to_hex());
                d.retrieval_byte_range = Some(format!("{}-{}", range.0, range.1));
                d.tier = Some(*tier);
            }
            JobSpec::Inventory {
                format,
                start_date,
                end_date,
                limit,
                ..
            } => {
                d.inventory_size_in_bytes = job.output_size;
                d.inventory_retrieval_parameters = Some(InventoryRetrievalJobDescription {
                    format: Some(*format),
                    start_date: start_date.map(format_date),
                    end_date: end_date.map(format_date),
                    limit: limit.map(|l| l.to_string()),
                    marker: job.next_marker.as_ref().map(|c| c.to_string()),
                });
            }
        }
        d
    }

    pub async fn describe_job(&self, key: &VaultKey, id: &str) -> ApiResult<GlacierJobDescription> {
        let job = self.meta.get_job(key, id).await?;
        Ok(self.job_description(&self.vault_arn(key).await, &job))
    }

    pub async fn list_jobs(
        &self,
        key: &VaultKey,
        filter: &JobFilter,
        after: Option<u64>,
        limit: usize,
    ) -> ApiResult<wire::ListJobsOutput> {
        let page = self.meta.list_jobs(key, filter, after, limit).await?;
        let arn = self.vault_arn(key).await;
        Ok(wire::ListJobsOutput {
            marker: next_marker(&page, |j| j.seq.to_string()),
            job_list: page
                .items
                .iter()
                .map(|j| self.job_description(&arn, j))
                .collect(),
        })
    }

    pub async fn job_output(
        &self,
        key: &VaultKey,
        id: &str,
        range: Option<HttpRange>,
    ) -> ApiResult<JobOutput> {
        let (job, segments) = self.meta.job_output(key, id).await?;
        require_output(&job)?;
        let total = job.output_size.unwrap_or(0);
        let span = match range {
            None => Span { start: 0, end: total.saturating_sub(1) },
            Some(r) => r.resolve(total).ok_or_else(|| {
                ApiError::invalid(format!(
                    "The requested range bytes={}-{} starts beyond the end of the job output ({total} bytes)",
                    r.start,
                    r.end.map(|e| e.to_string()).unwrap_or_default()
                ))
            })?,
        };
        let (first_byte, content_type, tree_hash, description) = match &job.spec {
            JobSpec::Archive {
                range: (r0, r1),
                archive_description,
                ..
            } => {
                let leaves: Vec<Digest> = segments
                    .iter()
                    .flat_map(|s| s.leaves.iter().copied())
                    .collect();
                let output_leaves = leaves_of(
                    &leaves,
                    Span {
                        start: *r0,
                        end: *r1,
                    },
                )
                .unwrap_or(&[]);
                let hash = range_tree_hash(output_leaves, span.start, span.end, total);
                (
                    *r0,
                    "application/octet-stream",
                    hash,
                    Some(archive_description.clone()),
                )
            }
            JobSpec::Inventory { format, .. } => {
                let ct = match format {
                    InventoryFormat::Csv => "text/csv",
                    InventoryFormat::Json => "application/json",
                };
                (0, ct, None, None)
            }
        };
        let len = if total == 0 { 0 } else { span.len() };
        Ok(JobOutput {
            partial: range.map(|_| (span, total)),
            len,
            content_type,
            tree_hash,
            archive_description: description,
            body: read_segments(
                Arc::clone(&self.blobs),
                segments,
                first_byte + span.start,
                len,
            )
            .await
            // Even a blob not found is the store failing: the job's metadata names it.
            .map_err(|e| ApiError::internal(format!("reading the output of job {id}: {e}")))?,
        })
    }
}

/// A job has output to read once it has succeeded.
fn require_output(job: &JobRecord) -> ApiResult<()> {
    match job.status {
        JobStatus::InProgress => Err(ApiError::invalid(format!(
            "The job is not currently available for download: {}",
            job.id
        ))),
        JobStatus::Failed => Err(ApiError::invalid(format!(
            "The job {} failed and has no output: {}",
            job.id,
            job.status_message.as_deref().unwrap_or_default()
        ))),
        JobStatus::Succeeded => Ok(()),
    }
}

/// The type of job a spec is.
pub(super) fn job_type_of(spec: &JobSpec) -> JobType {
    match spec {
        JobSpec::Archive { .. } => JobType::ArchiveRetrieval,
        JobSpec::Inventory { .. } => JobType::InventoryRetrieval,
    }
}

/// InitiateJob's `Type`: one of the API's (`select` is refused where the types are told apart).
fn job_type(raw: &str) -> ApiResult<JobType> {
    raw.parse().map_err(|_| {
        ApiError::invalid(format!(
            "Invalid job type: {raw:?}; the types are archive-retrieval and inventory-retrieval"
        ))
    })
}

/// The leaves covering an output span of MiB-aligned start.
fn leaves_of(leaves: &[Digest], span: Span) -> Option<&[Digest]> {
    let first = usize::try_from(span.start / MIB).ok()?;
    let last = usize::try_from(span.end / MIB).ok()?;
    leaves.get(first..=last)
}

/// Streams `len` bytes from byte `offset` of the concatenation of `segments`. The first blob is
/// opened before this returns, so that a blob that cannot be read gets an error answer rather
/// than a 200 whose body breaks off at once.
async fn read_segments(
    blobs: Arc<dyn BlobStore>,
    segments: Vec<Segment>,
    offset: u64,
    len: u64,
) -> Result<OutputBody, glacier_storage::StorageError> {
    let mut pieces = Vec::new();
    let (mut pos, end) = (0u64, offset + len);
    for s in segments {
        let (seg_start, seg_end) = (pos, pos + s.size);
        pos = seg_end;
        if seg_end <= offset || seg_start >= end || len == 0 {
            continue;
        }
        let from = offset.max(seg_start);
        let to = end.min(seg_end);
        pieces.push((s.blob, from - seg_start, to - from));
    }
    let mut pieces = pieces.into_iter();
    let Some((blob, off, n)) = pieces.next() else {
        return Ok(stream::empty().boxed());
    };
    let first = blobs.read(&blob, off, n).await?;
    let rest = stream::iter(pieces)
        .then(move |(blob, off, n)| {
            let blobs = Arc::clone(&blobs);
            async move { blobs.read(&blob, off, n).await }
        })
        .try_flatten();
    Ok(first.chain(rest).boxed())
}

#[cfg(test)]
mod tests {
    use super::super::engine::{EXPIRY_SWEEP, SHARED_ENGINE_POLL, engine_wait};
    use super::*;
    use tokio_util::sync::CancellationToken;

    #[test]
    fn leaves_cover_spans() {
        let leaves: Vec<Digest> = (0..5u8).map(|i| [i; 32]).collect();
        let got = leaves_of(
            &leaves,
            Span {
                start: MIB,
                end: 3 * MIB - 1,
            },
        )
        .map(<[Digest]>::len);
        assert_eq!(got, Some(2));
        assert_eq!(
            leaves_of(
                &leaves,
                Span {
                    start: 0,
                    end: 6 * MIB
                }
            ),
            None
        );
    }

    fn key() -> VaultKey {
        VaultKey {
            account: "111122223333".into(),
            name: "engine".into(),
        }
    }

    async fn service(dir: &std::path::Path, clock: crate::Clock) -> anyhow::Result<Arc<Service>> {
        let settings = crate::Settings {
            clock,
            ..crate::Settings::new("us-east-1")
        };
        let service = Arc::new(Service::open_local(dir, settings).await?);
        service.create_vault(&key()).await?;
        Ok(service)
    }

    fn inventory_job() -> JobParameters {
        JobParameters {
            job_type: Some(JobType::InventoryRetrieval.to_string()),
            ..Default::default()
        }
    }

    /// After failed rounds the engine waits out a growing backoff, even when a job is overdue.
    #[test]
    fn engine_waits_back_off_after_failures() {
        let clock = crate::Clock::manual(time::macros::datetime!(2026-01-01 00:00 UTC));
        let overdue = Some(clock.now() - time::Duration::minutes(5));
        let ms = std::time::Duration::from_millis;
        assert_eq!(
            engine_wait(overdue, clock.now(), 0, EXPIRY_SWEEP),
            ms(0),
            "due work runs at once"
        );
        assert_eq!(engine_wait(overdue, clock.now(), 1, EXPIRY_SWEEP), ms(200));
        assert_eq!(engine_wait(overdue, clock.now(), 3, EXPIRY_SWEEP), ms(800));
        assert_eq!(
            engine_wait(overdue, clock.now(), 30, EXPIRY_SWEEP),
            EXPIRY_SWEEP,
            "capped"
        );
        let later = Some(clock.now() + time::Duration::seconds(5));
        assert_eq!(engine_wait(later, clock.now(), 0, EXPIRY_SWEEP), ms(5000));
        assert_eq!(
            engine_wait(later, clock.now(), 1, EXPIRY_SWEEP),
            ms(5000),
            "never earlier than due"
        );
        assert_eq!(
            engine_wait(None, clock.now(), 0, EXPIRY_SWEEP),
            EXPIRY_SWEEP
        );
        let poll = SHARED_ENGINE_POLL;
        assert_eq!(
            engine_wait(None, clock.now(), 0, poll),
            poll,
            "a shared store is polled"
        );
        assert_eq!(engine_wait(later, clock.now(), 0, poll), poll);
    }

    /// A job that cannot be completed (its stored row is unreadable) does not make the engine
    /// spin: over a second it runs a handful of rounds, not thousands.
    #[tokio::test]
    async fn a_job_that_cannot_complete_does_not_make_the_engine_spin() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let service = service(dir.path(), crate::Clock::system()).await?;
        service.initiate_job(&key(), inventory_job()).await?;
        rusqlite::Connection::open(dir.path().join("metadata.sqlite"))?
            .execute("UPDATE jobs SET spec = 'not a job'", [])?;
        let shutdown = CancellationToken::new();
        let engine = tokio::spawn(Arc::clone(&service).run_jobs(shutdown.clone()));
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        shutdown.cancel();
        engine.await?;
        let rounds = service
            .engine_rounds
            .load(std::sync::atomic::Ordering::Relaxed);
        assert!((1..=10).contains(&rounds), "{rounds} rounds in a second");
        Ok(())
    }

    /// With the service's clock moved by hand, a finished job expires without any sleep.
    #[tokio::test]
    async fn jobs_expire_by_the_clock() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let clock = crate::Clock::manual(time::OffsetDateTime::now_utc());
        let service = service(dir.path(), clock.clone()).await?;
        let id = service.initiate_job(&key(), inventory_job()).await?;
        let shutdown = CancellationToken::new();
        let held = &mut Vec::new();
        let round = service.work_once(&shutdown, held).await?;
        assert!(!round.failed);
        assert!(service.describe_job(&key(), &id).await?.completed);
        clock.advance(time::Duration::hours(23));
        service.work_once(&shutdown, held).await?;
        assert!(
            service.describe_job(&key(), &id).await.is_ok(),
            "kept for 24 hours"
        );
        clock.advance(time::Duration::hours(2));
        service.work_once(&shutdown, held).await?;
        let gone = service.describe_job(&key(), &id).await;
        assert_eq!(
            gone.map(|_| ()).map_err(|e| e.code),
            Err(glacier_core::ErrorCode::ResourceNotFoundException)
        );
        Ok(())
    }
}
