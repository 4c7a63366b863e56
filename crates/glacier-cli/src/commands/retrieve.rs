//! `glacier retrieve` and `glacier job list|describe|wait`.

use super::inventory::{cached_size, fetch_inventory};
use super::{Ctx, MIB};
use crate::output::out;
use crate::output::{self};
use crate::target::{self};
use anyhow::Context;
use glacier_client::Job;
use glacier_core::Tier;
use glacier_core::wire::JobParameters;
use serde_json::json;
use std::time::Duration;

#[derive(clap::Args)]
pub(crate) struct RetrieveArgs {
    /// The archive's id (as `upload` prints it; it may begin with '-').
    #[arg(allow_hyphen_values = true)]
    archive_id: String,
    /// The vault.
    #[arg(long)]
    vault: String,
    /// Only these bytes, `first-last` in bytes, the last included (megabyte aligned), e.g.
    /// 0-1048575.
    #[arg(long, value_parser = crate::parse_range)]
    range: Option<String>,
    /// Expedited, Standard (the default) or Bulk, in any case.
    #[arg(long, value_parser = Tier::parse_loose)]
    tier: Option<Tier>,
    /// Only say what the retrieval would mean (bytes, requests to download it); start nothing.
    #[arg(long)]
    dry_run: bool,
}

pub(crate) async fn retrieve(ctx: &Ctx, args: RetrieveArgs) -> anyhow::Result<()> {
    let conn = ctx.connect().await?;
    if args.dry_run {
        return describe_retrieval(ctx, &conn, &args).await;
    }
    announce(
        ctx,
        &args.vault,
        &args.archive_id,
        args.range.as_deref(),
        args.tier,
    );
    let job_id =
        start_retrieval(&conn, &args.vault, &args.archive_id, args.range, args.tier).await?;
    ctx.report(json!({"job_id": job_id, "vault": args.vault}), || {
        job_id.clone()
    });
    Ok(())
}

/// Says how many bytes a retrieval would read and how many ranged requests would download it,
/// from the archive's size in an inventory of the vault.
pub(super) async fn describe_retrieval(
    ctx: &Ctx,
    conn: &target::Connection,
    args: &RetrieveArgs,
) -> anyhow::Result<()> {
    // The cached inventory answers at once; else an inventory job (hours on Amazon Glacier).
    let size = match cached_size(ctx, &args.vault, &args.archive_id) {
        Some((size, _)) => size,
        None => fetch_inventory(ctx, conn, &args.vault)
            .await?
            .archives
            .iter()
            .find(|e| e.archive_id == args.archive_id)
            .map(|e| e.size)
            .with_context(|| {
                format!(
                    "archive {} is not in the inventory of {}",
                    args.archive_id, args.vault
                )
            })?,
    };
    let (bytes, requests) = retrieval_cost(size, args.range.as_deref())?;
    let chunk = 8 * MIB;
    let tier = args.tier.unwrap_or_default();
    if ctx.json() {
        output::json(
            &json!({"archive_id": args.archive_id, "size": bytes, "tier": tier, "download_requests": requests, "chunk_size": chunk, "dry_run": true}),
        );
    } else {
        out!(
            "would retrieve {bytes} bytes of {} ({tier} tier) and download them in {}, each of up to {chunk} bytes; nothing was started",
            args.archive_id,
            output::plural(requests, "request")
        );
    }
    Ok(())
}

pub(super) async fn start_retrieval(
    conn: &target::Connection,
    vault: &str,
    archive_id: &str,
    range: Option<String>,
    tier: Option<Tier>,
) -> anyhow::Result<String> {
    let params = JobParameters {
        job_type: Some(glacier_core::JobType::ArchiveRetrieval.to_string()),
        archive_id: Some(archive_id.to_owned()),
        retrieval_byte_range: range,
        tier,
        ..Default::default()
    };
    Ok(conn
        .layer2
        .layer1
        .initiate_job(vault, &params)
        .await
        .with_context(|| format!("retrieving archive {archive_id}"))?
        .job_id)
}

#[derive(clap::Subcommand)]
pub(crate) enum JobCmd {
    /// List a vault's jobs.
    List {
        /// The vault.
        #[arg(long)]
        vault: String,
    },
    /// Show a job.
    Describe {
        /// The job's id (as `retrieve` prints it; it may begin with '-').
        #[arg(allow_hyphen_values = true)]
        job_id: String,
        /// The vault.
        #[arg(long)]
        vault: String,
    },
    /// Wait until a job completes.
    Wait {
        /// The job's id (as `retrieve` prints it; it may begin with '-').
        #[arg(allow_hyphen_values = true)]
        job_id: String,
        /// The vault.
        #[arg(long)]
        vault: String,
    },
}

pub(super) fn job_json(j: &Job) -> serde_json::Value {
    json!({"job_id": j.id, "action": j.action, "status": j.status_code, "status_message": j.status_message,
           "completed": j.completed, "archive_id": j.archive_id, "archive_size": j.archive_size,
           "inventory_size": j.inventory_size, "sha256_tree_hash": j.sha256_treehash,
           "creation_date": j.creation_date, "completion_date": j.completion_date,
           "retrieval_byte_range": j.retrieval_byte_range, "description": j.description})
}

/// A job as a table row: the short columns first and the 92-character id last, so that a
/// row is one id plus a little on a terminal (the archive id is in `job describe -o json`).
pub(super) fn job_row(j: &Job) -> Vec<String> {
    vec![
        j.status_code.to_string(),
        j.action.to_string(),
        output::table_date(&j.creation_date),
        j.id.clone(),
    ]
}

pub(super) const JOB_HEADER: &[&str] = &["STATUS", "ACTION", "CREATED", "JOB"];

pub(super) fn print_jobs(ctx: &Ctx, jobs: &[Job]) {
    if ctx.json() {
        output::json(&serde_json::Value::Array(
            jobs.iter().map(job_json).collect(),
        ));
    } else {
        output::table(JOB_HEADER, &jobs.iter().map(job_row).collect::<Vec<_>>());
    }
}

/// Waits until `job` completes, polling DescribeJob (every 0.1 s for 3 s, then doubling to a
/// minute), and shows that it waits: a spinner with the status and the time waited on a
/// terminal, a line a minute otherwise, `{"event": "waiting", …}` lines with `--output json`.
pub(crate) async fn wait_for(ctx: &Ctx, job: &mut Job) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let spinner = output::Spinner::new(ctx.print());
    let mut last_line = None::<std::time::Instant>;
    loop {
        job.refresh()
            .await
            .with_context(|| format!("job {}", job.id))?;
        if job.completed {
            spinner.finish();
            return Ok(());
        }
        let waited = started.elapsed();
        let what = format!(
            "waiting for job {} ({}, {} waited)",
            job.id,
            job.status_code,
            humantime::format_duration(Duration::from_secs(waited.as_secs()))
        );
        // A line once the wait is more than a blink, then one a minute.
        if waited >= Duration::from_secs(2)
            && last_line.is_none_or(|t| t.elapsed() >= Duration::from_secs(60))
        {
            last_line = Some(std::time::Instant::now());
            spinner.line(&what, || {
                json!({"event": "waiting", "job_id": job.id, "status": job.status_code, "waited_seconds": waited.as_secs()})
            });
        }
        spinner.set(&what);
        // A quarter of the time waited so far (0.1 s at least, a minute at most): the job is
        // seen at most a quarter of its time late, in few requests (Glacier's take hours).
        tokio::time::sleep((waited / 4).clamp(Duration::from_millis(100), Duration::from_secs(60)))
            .await;
    }
}

pub(crate) async fn job(ctx: &Ctx, cmd: JobCmd) -> anyhow::Result<()> {
    let conn = ctx.connect().await?;
    match cmd {
        JobCmd::List { vault } => {
            let v = conn.vault(&vault).await?;
            print_jobs(ctx, &v.list_jobs(None, None).await?);
        }
        JobCmd::Describe { job_id, vault } => {
            let v = conn.vault(&vault).await?;
            let j = v
                .get_job(&job_id)
                .await
                .with_context(|| format!("job {job_id}"))?;
            if ctx.json() {
                output::json(&job_json(&j));
            } else {
                print_jobs(ctx, &[j]);
            }
        }
        JobCmd::Wait { job_id, vault } => {
            let v = conn.vault(&vault).await?;
            let mut j = v
                .get_job(&job_id)
                .await
                .with_context(|| format!("job {job_id}"))?;
            wait_for(ctx, &mut j).await?;
            if ctx.json() {
                output::json(&job_json(&j));
            } else {
                print_jobs(ctx, &[j]);
            }
        }
    }
    Ok(())
}

/// What retrieving `archives` archives of `bytes` in all at `tier` means on Amazon Glacier: the
/// plan as JSON (`cost_usd` a number) and as a sentence.
pub(crate) fn retrieval_plan(
    archives: u64,
    bytes: u64,
    tier: Tier,
) -> anyhow::Result<(serde_json::Value, String)> {
    let (price, source) = crate::target::retrieval_price(tier)?;
    let cost = price.cost(archives, bytes);
    let (soonest, latest) = tier.aws_window();
    let span = |d: std::time::Duration| humantime::format_duration(d).to_string();
    let json = json!({"archives": archives, "bytes": bytes, "tier": tier, "cost_usd": (cost * 100.0).round() / 100.0,
        "expected_seconds": [soonest.as_secs(), latest.as_secs()]});
    let text = format!(
        "retrieving {} of {} ({tier} tier): about ${cost:.2} at {source}, ready in {} to {} on Amazon Glacier (all retrievals are asked for at once)",
        output::plural(archives, "archive"),
        output::human_size(bytes),
        span(soonest),
        span(latest),
    );
    Ok((json, text))
}

/// What retrieving `archive_id` (or `range` of it) means: bytes, and download requests of 8 MiB.
pub(super) fn retrieval_cost(size: u64, range: Option<&str>) -> anyhow::Result<(u64, u64)> {
    let bytes = match range {
        Some(r) => glacier_core::range::retrieval_range(r, size)
            .map_err(|e| anyhow::anyhow!(e.0))?
            .len(),
        None => size,
    };
    Ok((bytes, bytes.div_ceil(8 * MIB)))
}

/// Before a retrieval starts, says what it means when the cached inventory knows the archive.
pub(super) fn announce(
    ctx: &Ctx,
    vault: &str,
    archive_id: &str,
    range: Option<&str>,
    tier: Option<Tier>,
) {
    if ctx.quiet || ctx.json() {
        return;
    }
    if let Some((size, date)) = cached_size(ctx, vault, archive_id)
        && let Ok((bytes, requests)) = retrieval_cost(size, range)
    {
        eprintln!(
            "retrieving {bytes} bytes ({} tier), then {} (size from the inventory of {})",
            tier.unwrap_or_default(),
            output::plural(requests, "download request"),
            date.as_deref().unwrap_or("an earlier run")
        );
    }
}
