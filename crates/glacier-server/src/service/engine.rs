//! The job engine: completes jobs when they are due (their tier's `--retrieval-delay` after
//! initiation, and on an archive storage class once their blobs are restored: `restore.rs`)
//! and forgets them when they expire, on one node or many (a job is claimed for
//! `JOB_LEASE`; another node takes it over when the claim lapses).

use super::Service;
use super::jobs::job_type_of;
use anyhow::Context;
use glacier_storage::{JobFinish, JobRecord, JobSpec, Thawed, VaultKey};
use std::sync::Arc;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

/// How often the engine looks for expired jobs when nothing else wakes it.
pub(super) const EXPIRY_SWEEP: std::time::Duration = std::time::Duration::from_secs(60);
/// How long a claimed job is this engine's to complete; if the node stops (or the answer to
/// its claim is lost), another takes the job over once the claim lapses. (A node still
/// completing it after that loses nothing: only the first completion counts; at worst a very
/// large inventory is written twice.)
const JOB_LEASE: time::Duration = time::Duration::seconds(30);
/// A held job is retried only while its claim lasts at least this much longer, so that no
/// other engine has taken it over meanwhile.
const JOB_LEASE_MARGIN: time::Duration = time::Duration::seconds(10);
/// The engine's wait after rounds that failed (the project's backoff rule, without jitter):
/// a job that cannot be completed must not keep the engine busy.
const ENGINE_BACKOFF: glacier_core::retry::RetryPolicy = glacier_core::retry::RetryPolicy {
    max_attempts: u32::MAX,
    base_delay: std::time::Duration::from_millis(100),
    max_delay: EXPIRY_SWEEP,
};

/// How long the engine of a shared store may sleep without looking for work: other nodes
/// initiate jobs it is not woken for.
pub(super) const SHARED_ENGINE_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// How long the engine waits before its next round: until the next due or expiry time
/// (`next`, at most `longest`), and after `failures` failed rounds in a row at least the
/// backoff.
pub(super) fn engine_wait(
    next: Option<OffsetDateTime>,
    now: OffsetDateTime,
    failures: u32,
    longest: std::time::Duration,
) -> std::time::Duration {
    let until = next.map_or(longest, |due| {
        std::time::Duration::try_from(due - now)
            .unwrap_or_default()
            .min(longest)
    });
    match failures {
        0 => until,
        n => until.max(ENGINE_BACKOFF.delay(n, 1.0)),
    }
}

/// A job this engine claimed, until its claim lapses.
pub(super) struct Held {
    pub(super) key: VaultKey,
    pub(super) job: JobRecord,
    pub(super) lease_until: OffsetDateTime,
}

/// What one round of the job engine found.
pub(super) struct Round {
    /// More due work may be waiting right away.
    pub(super) busy: bool,
    /// Something failed: the next round waits out the backoff.
    pub(super) failed: bool,
}

impl Service {
    /// Completes due jobs and forgets expired ones until `shutdown`. Jobs are persisted, so
    /// jobs initiated before a restart complete after it.
    pub async fn run_jobs(self: Arc<Self>, shutdown: CancellationToken) {
        let mut failures = 0;
        let mut held = Vec::new();
        loop {
            self.engine_rounds
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let round = match self.work_once(&shutdown, &mut held).await {
                Ok(round) => round,
                // Work cut off by shutdown is not an error; it resumes at the next start.
                Err(_) if shutdown.is_cancelled() => break,
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "job engine");
                    self.metrics.internal_error();
                    Round {
                        busy: false,
                        failed: true,
                    }
                }
            };
            failures = if round.failed { failures + 1 } else { 0 };
            if round.busy && !round.failed {
                continue;
            }
            // Held jobs are due again at once (after the backoff).
            let next = if held.is_empty() {
                self.meta.next_deadline().await.ok().flatten()
            } else {
                Some(self.now())
            };
            let wait = engine_wait(next, self.now(), failures, self.engine_poll);
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One round of the engine: completes the jobs that are due and forgets expired ones.
    /// `held` are jobs this engine claimed and failed to complete (the store refused the
    /// write): it retries them while its claim lasts, rather than leave them in progress until
    /// the claim lapses; the failed ones stay in `held`.
    pub(super) async fn work_once(
        &self,
        shutdown: &CancellationToken,
        held: &mut Vec<Held>,
    ) -> anyhow::Result<Round> {
        const BATCH: usize = 64;
        let t = self.now();
        let mut due: Vec<Held> = std::mem::take(held)
            .into_iter()
            .filter(|h| h.lease_until - JOB_LEASE_MARGIN > t)
            .collect();
        let claimed = match self.meta.claim_due_jobs(t, t + JOB_LEASE, BATCH).await {
            Ok(claimed) => claimed,
            Err(e) => {
                *held = due;
                return Err(e.into());
            }
        };
        let mut round = Round {
            busy: claimed.len() == BATCH,
            failed: false,
        };
        due.extend(claimed.into_iter().map(|(key, job)| Held {
            key,
            job,
            lease_until: t + JOB_LEASE,
        }));
        for h in due {
            if let Err(e) = self.complete_job(&h.key, &h.job).await {
                if shutdown.is_cancelled() {
                    // Cut off by shutdown: the job is still in progress and completes at the next start.
                    return Ok(Round {
                        busy: false,
                        failed: false,
                    });
                }
                tracing::error!(job = %h.job.id, error = %e, "completing a job");
                self.metrics.internal_error();
                round.failed = true;
                held.push(h);
            }
        }
        let expired = self.meta.expire_jobs(t).await?;
        self.discard(&expired).await;
        Ok(round)
    }

    async fn complete_job(&self, key: &VaultKey, job: &JobRecord) -> anyhow::Result<()> {
        let t = self.now();
        let expires = t + self.settings.timing.job_expiry;
        let finish = match &job.spec {
            JobSpec::Archive { .. } => match self.thaw_archive(key, job).await? {
                Thawed::Readable => JobFinish::Archive,
                Thawed::Refused(message) => JobFinish::Failed { message },
                Thawed::Restoring => return self.hold_restoring(key, job).await,
            },
            // An inventory that cannot be written (the blob store failing) is held and
            // retried until the store recovers: the fault is the store's, not the job's.
            JobSpec::Inventory { .. } => self
                .write_inventory(key, job)
                .await
                .context("writing an inventory")?,
        };
        let output_blob = match &finish {
            JobFinish::Inventory { output, .. } => Some(output.blob.clone()),
            _ => None,
        };
        match self.meta.finish_job(key, &job.id, finish, t, expires).await {
            Ok(done) => {
                tracing::info!(job = %done.id, status = done.status.as_str(), "job completed");
                self.metrics
                    .job_completed(job_type_of(&done.spec), done.status);
                self.notify_completion(key, &done).await;
                Ok(())
            }
            Err(e) => {
                // The vault or job went away meanwhile: the inventory document has no owner.
                self.discard(&output_blob.into_iter().collect::<Vec<_>>())
                    .await;
                Err(e.into())
            }
        }
    }
}
