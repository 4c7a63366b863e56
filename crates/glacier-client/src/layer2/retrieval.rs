//! Many archives of a vault retrieved at once: every retrieval is asked for up front (as far
//! as the service admits them) and each job is handed out as soon as it completes, so that N
//! archives cost about one retrieval's delay (hours on Amazon Glacier) instead of N.

use super::{Job, Vault};
use crate::error::{GlacierError, Result};
use glacier_core::{ErrorCode, Tier, wire};
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

/// How a [`Retrieval`] polls for completions: one ListJobs (`completed=true`, paged) a round,
/// whatever the number of jobs, each wait a quarter of the time waited so far, at least
/// `first` and at most `max` — a job is seen at most a quarter of its time late (doubling
/// waits can see it a whole delay late). Retrievals the service refused for now are asked for
/// again each round.
#[derive(Debug, Clone, Copy)]
pub struct Polling {
    pub first: Duration,
    pub max: Duration,
}

impl Default for Polling {
    fn default() -> Self {
        Polling {
            first: Duration::from_millis(200),
            max: Duration::from_secs(60),
        }
    }
}

/// How a [`Retrieval`] asks for its jobs.
#[derive(Debug, Clone, Copy, Default)]
pub struct RetrievalOptions {
    /// The tier asked for (the service's default, Standard, when `None`).
    pub tier: Option<Tier>,
    /// The tier to use instead once `tier` has no capacity (InsufficientCapacityException,
    /// Expedited); without one such retrievals wait for capacity.
    pub fallback: Option<Tier>,
    pub polling: Polling,
}

/// Retrievals of whole archives of one vault, in flight together. Made by
/// [`Vault::retrieve_archives`]; [`Retrieval::next`] hands out each job once it completes
/// (succeeded or failed), in the order they complete.
///
/// What the service refuses for now — the data retrieval policy's bytes per hour
/// (PolicyEnforcedException), Expedited capacity (InsufficientCapacityException) — waits and
/// is asked for again each polling round, in order; [`Retrieval::refusal`] says why. Throttling
/// is Layer1's retries; an InitiateJob that failed without saying whether it started the job (a
/// server error, a dropped connection) waits too, and the job list says whether the job is
/// there before the archive is asked for again (so no retrieval is paid twice).
pub struct Retrieval {
    vault: Vault,
    options: RetrievalOptions,
    started_at: std::time::Instant,
    /// Jobs not yet completed: job id → archive id.
    pending: HashMap<String, String>,
    /// Archives whose retrieval the service refused for now, or whose output is gone, to be
    /// asked for (again).
    waiting: VecDeque<String>,
    /// Why the last retrieval asked for was refused, while any wait.
    refusal: Option<String>,
    /// Waiting archives whose InitiateJob failed without saying whether it started the job.
    unsure: HashSet<String>,
    /// Completed jobs not yet handed out.
    done: VecDeque<Job>,
    /// Retrievals that were in flight or finished already and were used instead of new ones.
    pub reused: usize,
    /// Jobs this retrieval started.
    pub started: usize,
}

/// InitiateJob requests in flight at once (each one a round trip: 10,000 archives one after
/// another would take many minutes on AWS).
const INITIATIONS: usize = 8;

/// What one InitiateJob came to.
enum Initiated {
    Started {
        job_id: String,
        tier: Option<Tier>,
    },
    /// Refused for now (the data retrieval policy, Expedited capacity): the service's message.
    Refused(String),
    /// Failed without an answer that says whether the job was started (a server error, a
    /// dropped connection): the job list says, before the archive is asked for again.
    Unknown(String),
}

/// One InitiateJob for the whole `archive` at `tier`, a second at `fallback` when `tier` has no
/// capacity (InsufficientCapacityException).
async fn initiate(
    vault: &Vault,
    archive: &str,
    mut tier: Option<Tier>,
    fallback: Option<Tier>,
) -> Result<Initiated> {
    loop {
        let params = wire::JobParameters {
            job_type: Some(glacier_core::JobType::ArchiveRetrieval.to_string()),
            archive_id: Some(archive.to_owned()),
            tier,
            ..Default::default()
        };
        let e = match vault.layer1.initiate_job(&vault.name, &params).await {
            Ok(started) => {
                return Ok(Initiated::Started {
                    job_id: started.job_id,
                    tier,
                });
            }
            Err(e) => e,
        };
        match e.code() {
            Some(ErrorCode::InsufficientCapacityException)
                if fallback.is_some() && fallback != tier =>
            {
                tracing::info!(error = %e, ?fallback, "no capacity: using the fallback tier");
                tier = fallback;
            }
            Some(ErrorCode::PolicyEnforcedException | ErrorCode::InsufficientCapacityException) => {
                return Ok(Initiated::Refused(match &e {
                    GlacierError::UnexpectedHttpResponse { message, .. } => message.clone(),
                    e => e.to_string(),
                }));
            }
            _ if e.is_transient() => return Ok(Initiated::Unknown(e.to_string())),
            _ => return Err(e),
        }
    }
}

/// Whether `e` says a job, or its output, is not there (any more): an output kept its 24 hours
/// and expired, or the service forgot the job. [`Retrieval::again`] asks for such a retrieval
/// once more.
pub fn is_gone(e: &GlacierError) -> bool {
    e.code() == Some(ErrorCode::ResourceNotFoundException)
}

impl Vault {
    /// Starts retrieving each of `archives` whole, all at once as far as the service admits;
    /// a job already in flight or finished (and not expired) for the same whole archive is
    /// used instead of starting another, so that a rerun of an interrupted run, or another
    /// program's retrieval, costs no second retrieval. One ListJobs (paged) and one
    /// InitiateJob per archive not already being retrieved.
    pub async fn retrieve_archives(
        &self,
        archives: &[String],
        options: RetrievalOptions,
    ) -> Result<Retrieval> {
        let mut existing: HashMap<String, Job> = HashMap::new();
        for job in self.list_jobs(None, None).await? {
            // The one that completes first: a finished job over one in flight.
            if let Some(archive) = job.whole_archive().map(str::to_owned)
                && existing.get(&archive).is_none_or(|j| !j.completed)
            {
                existing.insert(archive, job);
            }
        }
        let mut retrieval = Retrieval {
            vault: self.clone(),
            options,
            started_at: std::time::Instant::now(),
            pending: HashMap::new(),
            waiting: VecDeque::new(),
            refusal: None,
            unsure: HashSet::new(),
            done: VecDeque::new(),
            reused: 0,
            started: 0,
        };
        for archive in archives {
            match existing.remove(archive) {
                Some(job) if job.completed => retrieval.done.push_back(job),
                Some(job) => {
                    retrieval.pending.insert(job.id, archive.clone());
                }
                None => {
                    retrieval.waiting.push_back(archive.clone());
                    continue;
                }
            }
            retrieval.reused += 1;
        }
        retrieval.start_waiting().await?;
        Ok(retrieval)
    }
}

impl Retrieval {
    /// Retrievals not yet handed out.
    pub fn remaining(&self) -> usize {
        self.pending.len() + self.waiting.len() + self.done.len()
    }

    /// Retrievals asked for whose job has not completed yet.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Retrievals the service has not admitted yet (see [`Retrieval::refusal`]).
    pub fn held(&self) -> usize {
        self.waiting.len()
    }

    /// Why retrievals are held: the service's last refusal, while any are.
    pub fn refusal(&self) -> Option<&str> {
        self.refusal.as_deref().filter(|_| !self.waiting.is_empty())
    }

    /// Asks for `archive_id` once more: its job's output expired before it was downloaded,
    /// or the service forgot the job ([`is_gone`]). The job comes out of [`Retrieval::next`]
    /// again.
    pub fn again(&mut self, archive_id: &str) {
        self.waiting.push_front(archive_id.to_owned());
    }

    /// The next completed job (its status says whether it succeeded), waiting for one;
    /// `None` once every job was handed out.
    pub async fn next(&mut self) -> Option<Result<Job>> {
        loop {
            if let Some(job) = self.done.pop_front() {
                return Some(Ok(job));
            }
            if self.pending.is_empty() && self.waiting.is_empty() {
                return None;
            }
            let started = match self.start_waiting().await {
                Ok(n) => n,
                Err(e) => return Some(Err(e)),
            };
            let found = match self.completions().await {
                Ok(n) => n,
                Err(e) => return Some(Err(e)),
            };
            if found == 0 && started == 0 {
                let Polling { first, max } = self.options.polling;
                let wait = (self.started_at.elapsed() / 4).clamp(first, max.max(first));
                tokio::time::sleep(wait).await;
            }
        }
    }

    /// Asks for the waiting archives in order, `INITIATIONS` at once, until the service
    /// refuses one; how many it admitted.
    async fn start_waiting(&mut self) -> Result<usize> {
        self.settle_unsure().await?;
        let mut started = 0;
        while !self.waiting.is_empty() {
            let n = self.waiting.len().min(INITIATIONS);
            let batch: Vec<String> = self.waiting.drain(..n).collect();
            let (tier, fallback) = (self.options.tier, self.options.fallback);
            let outcomes = futures_util::future::join_all(
                batch
                    .iter()
                    .map(|a| initiate(&self.vault, a, tier, fallback)),
            )
            .await;
            let (mut back, mut error) = (Vec::new(), None);
            for (archive, outcome) in batch.into_iter().zip(outcomes) {
                match outcome {
                    Ok(Initiated::Started { job_id, tier: used }) => {
                        if used != tier {
                            // No capacity at the first tier: the later ones go straight to the
                            // fallback.
                            self.options.tier = used;
                        }
                        self.pending.insert(job_id, archive);
                        self.started += 1;
                        started += 1;
                    }
                    Ok(Initiated::Refused(why)) => {
                        self.refusal = Some(why);
                        back.push(archive);
                    }
                    Ok(Initiated::Unknown(why)) => {
                        self.refusal = Some(why);
                        self.unsure.insert(archive.clone());
                        back.push(archive);
                    }
                    Err(e) => {
                        error.get_or_insert(e);
                        back.push(archive);
                    }
                }
            }
            let refused = !back.is_empty();
            for archive in back.into_iter().rev() {
                self.waiting.push_front(archive);
            }
            if let Some(e) = error {
                return Err(e);
            }
            if refused {
                break;
            }
        }
        if self.waiting.is_empty() {
            self.refusal = None;
        }
        Ok(started)
    }

    /// Looks in the job list for the jobs that InitiateJob requests without an answer may
    /// have started: an archive that has one waits for it instead of being asked for again.
    async fn settle_unsure(&mut self) -> Result<()> {
        if self.unsure.is_empty() {
            return Ok(());
        }
        for job in self.vault.list_jobs(None, None).await? {
            let Some(archive) = job.whole_archive().map(str::to_owned) else {
                continue;
            };
            if !self.unsure.remove(&archive) {
                continue;
            }
            self.waiting.retain(|a| *a != archive);
            self.started += 1;
            if job.completed {
                self.done.push_back(job);
            } else {
                self.pending.insert(job.id, archive);
            }
        }
        self.unsure.clear();
        Ok(())
    }

    /// Moves the pending jobs that completed to `done`; how many.
    async fn completions(&mut self) -> Result<usize> {
        if self.pending.is_empty() {
            return Ok(0);
        }
        let mut found = 0;
        for job in self.vault.list_jobs(Some(true), None).await? {
            if self.pending.remove(&job.id).is_some() {
                self.done.push_back(job);
                found += 1;
            }
        }
        Ok(found)
    }
}
