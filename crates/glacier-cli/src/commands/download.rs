//! `glacier download JOB` and `glacier get ARCHIVE`: verified, resumable downloads.

use super::retrieve::{announce, start_retrieval};
use super::{Ctx, MIB, wait_options};
use crate::output::{self};
use crate::target::{self};
use anyhow::{Context, bail};
use glacier_client::layer1::Transfer;
use glacier_client::{ConcurrentDownloader, Job, Vault};
use glacier_core::{JobStatus, Tier};
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub(crate) struct DownloadArgs {
    /// Glacier ids may begin with '-'.
    #[arg(allow_hyphen_values = true)]
    job_id: String,
    #[arg(long)]
    vault: String,
    /// Where to write the output.
    #[arg(long, short = 'O')]
    out: PathBuf,
    /// Chunk size in MiB (1, 2, 4, 8, …).
    #[arg(long, default_value_t = 8)]
    chunk_size: u64,
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
}

/// Downloads to `<out>.partial` (resumable: run again to continue), renamed to `out` only when
/// every chunk and the whole verified.
pub(crate) async fn download_job(
    job: &Job,
    out: &Path,
    chunk_size: u64,
    concurrency: usize,
) -> anyhow::Result<u64> {
    if !job.completed {
        bail!(
            "job {} is {}; run `glacier job wait {} --vault {}` first",
            job.id,
            job.status_code,
            job.id,
            job.vault_name
        );
    }
    if job.status_code != JobStatus::Succeeded {
        bail!(
            "job {} failed: {}",
            job.id,
            job.status_message.clone().unwrap_or_default()
        );
    }
    let mut partial = out.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let downloader = ConcurrentDownloader {
        part_size: chunk_size * MIB,
        concurrency,
        retries: 5,
    };
    downloader.download(job, &partial).await.with_context(|| {
        format!(
            "downloading to {} (run the command again to resume)",
            out.display()
        )
    })?;
    std::fs::rename(&partial, out)
        .with_context(|| format!("renaming {} to {}", partial.display(), out.display()))?;
    Ok(job.output_size())
}

pub(crate) async fn download(ctx: &Ctx, args: DownloadArgs) -> anyhow::Result<()> {
    let job_id = args.job_id.clone();
    download_with(
        ctx,
        &args.vault,
        &args.out,
        args.chunk_size,
        args.concurrency,
        async |_, vault| {
            vault
                .get_job(&job_id)
                .await
                .with_context(|| format!("job {job_id}"))
        },
    )
    .await
}

/// Connects with a progress display, finds the job with `job_of`, downloads its output to
/// `out` (verified, resumable) and reports.
pub(super) async fn download_with<F>(
    ctx: &Ctx,
    vault: &str,
    out: &Path,
    chunk_size: u64,
    concurrency: usize,
    job_of: F,
) -> anyhow::Result<()>
where
    F: AsyncFnOnce(&target::Connection, &Vault) -> anyhow::Result<Job>,
{
    let (progress, conn) = ctx
        .connect_with(
            format!("downloading {}", out.display()),
            None,
            Transfer::Received,
        )
        .await?;
    let vault = conn.vault(vault).await?;
    let job = job_of(&conn, &vault).await?;
    progress.start(job.output_size());
    let bytes = download_job(&job, out, chunk_size, concurrency).await?;
    progress.finish();
    report_download(ctx, out, bytes, &job);
    Ok(())
}

pub(super) fn report_download(ctx: &Ctx, out: &Path, bytes: u64, job: &Job) {
    if ctx.json() {
        output::json(
            &json!({"file": out.display().to_string(), "bytes": bytes, "job_id": job.id,
                             "archive_id": job.archive_id, "sha256_tree_hash": job.sha256_treehash}),
        );
    } else {
        println!("{}  {} bytes, tree hash verified", out.display(), bytes);
    }
}

#[derive(clap::Args)]
pub(crate) struct GetArgs {
    /// Glacier ids may begin with '-'.
    #[arg(allow_hyphen_values = true)]
    archive_id: String,
    #[arg(long)]
    vault: String,
    #[arg(long, short = 'O')]
    out: PathBuf,
    /// Expedited, Standard (the default) or Bulk, in any case.
    #[arg(long, value_parser = Tier::parse_loose)]
    tier: Option<Tier>,
    #[arg(long, default_value_t = 8)]
    chunk_size: u64,
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
}

pub(crate) async fn get(ctx: &Ctx, args: GetArgs) -> anyhow::Result<()> {
    let (archive_id, tier) = (args.archive_id.clone(), args.tier);
    announce(ctx, &args.vault, &archive_id, None, tier);
    download_with(
        ctx,
        &args.vault,
        &args.out,
        args.chunk_size,
        args.concurrency,
        async |conn, vault| retrieve_and_wait(ctx, conn, vault, &archive_id, tier).await,
    )
    .await
}

/// Retrieves a whole archive and waits for the job, reusing a matching job already in flight
/// (or finished and not yet expired) instead of starting another.
pub(crate) async fn retrieve_and_wait(
    ctx: &Ctx,
    conn: &target::Connection,
    vault: &Vault,
    archive_id: &str,
    tier: Option<Tier>,
) -> anyhow::Result<Job> {
    let existing = vault.list_jobs(None, None).await?.into_iter().find(|j| {
        j.archive_id.as_deref() == Some(archive_id)
            && j.status_code != JobStatus::Failed
            && j.retrieval_byte_range.as_deref()
                == Some(&format!("0-{}", j.archive_size.saturating_sub(1)))
    });
    let job_id = match existing {
        Some(j) => j.id,
        None => start_retrieval(conn, &vault.name, archive_id, None, tier).await?,
    };
    if !ctx.quiet && !ctx.json() {
        eprintln!("waiting for job {job_id}");
    }
    let mut job = vault.get_job(&job_id).await?;
    job.wait(wait_options(), None).await?;
    Ok(job)
}
