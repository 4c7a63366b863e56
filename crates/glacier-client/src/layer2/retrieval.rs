//! Many archives of a vault retrieved at once: every retrieval is asked for up front and each
//! job is handed out as soon as it completes, so that N archives cost about one retrieval's
//! delay (hours on Amazon Glacier) instead of N.

use super::{Job, Vault};
use crate::error::Result;
use glacier_core::{JobAction, Tier, wire};
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// How a [`Retrieval`] polls for completions: one ListJobs (`completed=true`, paged) a round,
/// whatever the number of jobs, `first` after the start, then each wait twice the last, up to
/// `max`.
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

/// Retrievals of whole archives of one vault, in flight together. Made by
/// [`Vault::retrieve_archives`]; [`Retrieval::next`] hands out each job once it completes
/// (succeeded or failed), in the order they complete.
pub struct Retrieval {
    vault: Vault,
    polling: Polling,
    delay: Duration,
    /// Jobs not yet completed: job id → archive id.
    pending: HashMap<String, String>,
    /// Completed jobs not yet handed out.
    done: VecDeque<Job>,
    /// Retrievals that were in flight or finished already and were used instead of new ones.
    pub reused: usize,
}

impl Vault {
    /// Starts retrieving each of `archives` whole (with `tier`, or the service's default),
    /// all at once; a job already in flight or finished (and not expired) for the same whole
    /// archive is used instead of starting another. One ListJobs (paged) and one InitiateJob
    /// per archive not already being retrieved.
    pub async fn retrieve_archives(
        &self,
        archives: &[String],
        tier: Option<Tier>,
        polling: Polling,
    ) -> Result<Retrieval> {
        let mut existing: HashMap<String, Job> = HashMap::new();
        for job in self.list_jobs(None, None).await? {
            let whole = job.retrieval_byte_range.as_deref()
                == Some(&format!("0-{}", job.archive_size.saturating_sub(1)));
            let usable = job.action == JobAction::ArchiveRetrieval
                && whole
                && job.status_code != glacier_core::JobStatus::Failed;
            if let (true, Some(archive)) = (usable, job.archive_id.clone()) {
                // The one that completes first: a finished job over one in flight.
                if existing.get(&archive).is_none_or(|j| !j.completed) {
                    existing.insert(archive, job);
                }
            }
        }
        let mut retrieval = Retrieval {
            vault: self.clone(),
            polling,
            delay: polling.first,
            pending: HashMap::new(),
            done: VecDeque::new(),
            reused: 0,
        };
        for archive in archives {
            if let Some(job) = existing.remove(archive) {
                retrieval.reused += 1;
                if job.completed {
                    retrieval.done.push_back(job);
                } else {
                    retrieval.pending.insert(job.id, archive.clone());
                }
                continue;
            }
            let params = wire::JobParameters {
                job_type: Some("archive-retrieval".into()),
                archive_id: Some(archive.clone()),
                tier,
                ..Default::default()
            };
            let started = self.layer1.initiate_job(&self.name, &params).await?;
            retrieval.pending.insert(started.job_id, archive.clone());
        }
        Ok(retrieval)
    }
}

impl Retrieval {
    /// Retrievals not yet handed out.
    pub fn remaining(&self) -> usize {
        self.pending.len() + self.done.len()
    }

    /// Retrievals still waiting for their job to complete.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// The next completed job (its status says whether it succeeded), waiting for one;
    /// `None` once every job was handed out.
    pub async fn next(&mut self) -> Option<Result<Job>> {
        loop {
            if let Some(job) = self.done.pop_front() {
                return Some(Ok(job));
            }
            if self.pending.is_empty() {
                return None;
            }
            match self.completions().await {
                Err(e) => return Some(Err(e)),
                Ok(0) => {
                    tokio::time::sleep(self.delay).await;
                    self.delay = (self.delay * 2).min(self.polling.max);
                }
                Ok(_) => {}
            }
        }
    }

    /// Moves the pending jobs that completed to `done`; how many.
    async fn completions(&mut self) -> Result<usize> {
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
