//! Many archives retrieved together — `restore`, `migrate`, `get` of several archives: every
//! retrieval asked for at once (Layer2's [`Retrieval`]: jobs already in flight or finished
//! reused, what the service refuses for now asked for again as it allows), each output
//! delivered as its job completes, several at once, and an output that expired before its
//! download asked for again.

use super::Ctx;
use crate::output;
use anyhow::Context;
use glacier_client::archive_name::ArchiveName;
use glacier_client::layer2::{Retrieval, RetrievalOptions, is_gone};
use glacier_client::{Job, Vault};
use glacier_core::{JobStatus, Tier};
use serde_json::json;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Archives delivered at once.
const DELIVERIES: usize = 4;

/// What [`retrieve_each`] did.
pub(crate) struct Retrieved<T> {
    /// What `deliver` returned for each archive, in the order they were delivered.
    pub(crate) delivered: Vec<T>,
    /// Archives whose retrieval job failed, with the service's reason.
    pub(crate) failed: Vec<(String, String)>,
    /// Retrievals used that were in flight or finished already.
    pub(crate) reused: usize,
    /// Retrievals started, counting those asked for again.
    pub(crate) started: usize,
}

/// Retrieves `archives` of `vault` together and hands each succeeded job to `deliver`
/// (`DELIVERIES` at once); an output gone before its download (expired, or a job the
/// service forgot) is asked for again. Says what it waits for: on a terminal a spinner, in a
/// log a line at the start and at most one a minute, and each time the service starts or stops
/// holding retrievals back.
pub(crate) async fn retrieve_each<T, F, Fut>(
    ctx: &Ctx,
    vault: &Vault,
    archives: &[String],
    options: RetrievalOptions,
    deliver: F,
) -> anyhow::Result<Retrieved<T>>
where
    T: Send + 'static,
    F: Fn(Job) -> Fut,
    Fut: Future<Output = anyhow::Result<T>> + Send + 'static,
{
    let mut retrieval = vault
        .retrieve_archives(archives, options)
        .await
        .with_context(|| format!("starting the retrievals of vault {}", vault.name))?;
    let mut out = Retrieved {
        delivered: Vec::new(),
        failed: Vec::new(),
        reused: retrieval.reused,
        started: 0,
    };
    if retrieval.reused > 0 && !ctx.quiet && !ctx.json() {
        eprintln!(
            "using {} already in flight or finished",
            output::plural(retrieval.reused as u64, "retrieval")
        );
    }
    let mut status = Status::new(ctx, archives.len());
    let mut tasks: tokio::task::JoinSet<(String, anyhow::Result<T>)> = Default::default();
    loop {
        while let Some(done) = tasks.try_join_next() {
            settle(ctx, done, &mut retrieval, &mut out)?;
        }
        if tasks.len() >= DELIVERIES || (retrieval.remaining() == 0 && !tasks.is_empty()) {
            if let Some(done) = tasks.join_next().await {
                settle(ctx, done, &mut retrieval, &mut out)?;
            }
            continue;
        }
        if retrieval.remaining() > 0 {
            status.say(&retrieval, out.delivered.len());
        }
        let Some(job) = retrieval.next().await else {
            break;
        };
        let job = job.with_context(|| format!("waiting for the retrievals of {}", vault.name))?;
        let archive = job.archive_id.clone().unwrap_or_default();
        if job.status_code != JobStatus::Succeeded {
            let reason = job.status_message.clone().unwrap_or_default();
            out.failed.push((archive, reason));
            continue;
        }
        let delivery = deliver(job);
        tasks.spawn(async move { (archive, delivery.await) });
    }
    status.spinner.finish();
    out.started = retrieval.started;
    Ok(out)
}

/// Takes in one finished delivery: its result, or its archive asked for again when the
/// output was gone, or the error that ends the run.
fn settle<T>(
    ctx: &Ctx,
    done: Result<(String, anyhow::Result<T>), tokio::task::JoinError>,
    retrieval: &mut Retrieval,
    out: &mut Retrieved<T>,
) -> anyhow::Result<()> {
    let (archive, result) = done.context("a delivery task failed")?;
    match result {
        Ok(t) => out.delivered.push(t),
        Err(e) if e.chain().any(|c| c.downcast_ref().is_some_and(is_gone)) => {
            if !ctx.quiet && !ctx.json() {
                eprintln!(
                    "the output of {archive} expired before it was downloaded; asking for it again"
                );
            }
            retrieval.again(&archive);
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

/// What the user is told while retrievals are waited for.
struct Status {
    spinner: output::Spinner,
    total: usize,
    logged: Option<Instant>,
    held: bool,
}

impl Status {
    fn new(ctx: &Ctx, total: usize) -> Status {
        Status {
            spinner: output::Spinner::new(ctx.print()),
            total,
            logged: None,
            held: false,
        }
    }

    fn say(&mut self, retrieval: &Retrieval, delivered: usize) {
        let mut text = format!(
            "{delivered} of {} delivered; waiting for {} of the retrievals",
            self.total,
            retrieval.in_flight()
        );
        let refusal = retrieval.refusal();
        if let Some(why) = refusal {
            text.push_str(&format!(
                "; {} held back until the service admits them ({why})",
                retrieval.held()
            ));
        }
        self.spinner.set(&text);
        let changed = refusal.is_some() != self.held;
        self.held = refusal.is_some();
        if changed
            || self
                .logged
                .is_none_or(|at| at.elapsed() >= Duration::from_secs(60))
        {
            self.logged = Some(Instant::now());
            self.spinner.line(&text, || {
                json!({"event": "waiting", "retrievals": self.total, "delivered": delivered,
                       "in_flight": retrieval.in_flight(), "held": retrieval.held(), "refusal": refusal})
            });
        }
    }
}

/// How `restore`, `migrate` and `get` retrieve, and what they call the archives.
#[derive(clap::Args, Clone)]
pub(crate) struct RetrievalArgs {
    /// Expedited, Standard (the default) or Bulk, in any case: how fast retrievals complete
    /// and what they cost on AWS (Bulk: 5–12 hours, a quarter of Standard's price).
    #[arg(long, value_parser = Tier::parse_loose)]
    pub(crate) tier: Option<Tier>,
    /// When the tier has no capacity (Expedited: InsufficientCapacityException), retrieve at
    /// this tier instead of waiting for capacity, e.g. `--fallback-tier standard`.
    #[arg(long, value_parser = Tier::parse_loose, value_name = "TIER")]
    pub(crate) fallback_tier: Option<Tier>,
    /// A CSV file of `archive id,name` rows: the file names of archives, over what their
    /// descriptions say (mt-aws-glacier's, FastGlacier's and JSON `Path` descriptions are
    /// read without one).
    #[arg(long, value_name = "FILE")]
    pub(crate) names: Option<PathBuf>,
}

impl RetrievalArgs {
    pub(crate) fn options(&self) -> RetrievalOptions {
        RetrievalOptions {
            tier: self.tier,
            fallback: self.fallback_tier,
            ..Default::default()
        }
    }

    /// The names `--names` gives, to use with the descriptions'.
    pub(crate) fn names(&self) -> anyhow::Result<Names> {
        let Some(path) = &self.names else {
            return Ok(Names::default());
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_path(path)
            .with_context(|| format!("reading {}", path.display()))?;
        let mut names = HashMap::new();
        for (i, row) in reader.records().enumerate() {
            let row = row.with_context(|| format!("reading {}", path.display()))?;
            let (Some(id), Some(name)) = (row.get(0), row.get(1)) else {
                anyhow::bail!(
                    "{} line {}: expected `archive id,name`",
                    path.display(),
                    i + 1
                );
            };
            let header = i == 0
                && matches!(
                    id.trim().to_ascii_lowercase().as_str(),
                    "archiveid" | "archive_id" | "archive id" | "id"
                );
            if !header {
                names.insert(id.trim().to_owned(), name.to_owned());
            }
        }
        Ok(Names(names))
    }
}

/// The file names `--names` gives archives.
#[derive(Default)]
pub(crate) struct Names(HashMap<String, String>);

impl Names {
    /// The file name of an archive: `--names`', else its description's.
    pub(crate) fn of(&self, archive_id: &str, description: &str) -> Option<ArchiveName> {
        match self.0.get(archive_id) {
            Some(name) => Some(ArchiveName {
                path: name.replace('\\', "/").trim_start_matches('/').to_owned(),
                mtime: glacier_client::archive_name::decode(description).and_then(|n| n.mtime),
                format: "names",
            }),
            None => glacier_client::archive_name::decode(description),
        }
    }
}
