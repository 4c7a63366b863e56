//! `glacier download JOB` and `glacier get ARCHIVE`: verified, resumable downloads.

use super::retrieve::{announce, start_retrieval};
use super::{Ctx, wait_for};
use crate::output::out;
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
    /// The job's id (as `retrieve` prints it; it may begin with '-').
    #[arg(allow_hyphen_values = true)]
    job_id: String,
    /// The vault the job belongs to.
    #[arg(long)]
    vault: String,
    /// The file to write (`-`: standard output); it appears only once every byte is verified.
    #[arg(long = "out", short = 'O', value_name = "FILE")]
    out: PathBuf,
    /// Bytes per ranged request, each verified by its tree hash: 1M, 2M, 4M, … (a bare
    /// number is MiB).
    #[arg(long, default_value = "8M", value_parser = crate::parse_part_size)]
    chunk_size: u64,
    /// Ranged requests in flight at once (1 to 64).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
}

/// Fails before anything is retrieved if the output cannot be written at `out`: a directory,
/// a directory that does not exist, one without write permission.
pub(crate) fn check_destination(out: &Path) -> anyhow::Result<()> {
    if out.as_os_str() == "-" {
        return Ok(());
    }
    if out.is_dir() {
        bail!(
            "{} is a directory: -O names the file to write, e.g. -O {}",
            out.display(),
            out.join("FILE").display()
        );
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        bail!(
            "cannot write {}: {} is not a directory",
            out.display(),
            parent.display()
        );
    }
    let partial = partial_path(out);
    if !partial.exists() {
        std::fs::File::create(&partial)
            .and_then(|_| std::fs::remove_file(&partial))
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    Ok(())
}

fn partial_path(out: &Path) -> PathBuf {
    let mut partial = out.as_os_str().to_owned();
    partial.push(".partial");
    PathBuf::from(partial)
}

/// Downloads to `<out>.partial` (resumable: run again to continue), renamed to `out` only when
/// every chunk and the whole verified; `-` writes to standard output in order, each chunk
/// verified before it is written (a failure there is not resumable).
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
    if out.as_os_str() == "-" {
        let pieces = job.output_stream(chunk_size, true, 5)?;
        output::pieces_to_stdout(pieces)
            .await
            .context("downloading to standard output")?;
        return Ok(job.output_size());
    }
    let partial = partial_path(out);
    let downloader = ConcurrentDownloader {
        part_size: chunk_size,
        concurrency,
        retries: 5,
    };
    downloader
        .download(job, &partial)
        .await
        .map_err(|e| super::with_resume_hint(e, format!("downloading to {}", out.display())))?;
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
        usize::from(args.concurrency),
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
    check_destination(out)?;
    let (progress, conn) = ctx
        .connect_pending(
            if out.as_os_str() == "-" {
                "downloading to standard output".to_owned()
            } else {
                format!("downloading {}", out.display())
            },
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
    if out.as_os_str() == "-" {
        // Standard output holds the archive itself.
        if !ctx.quiet {
            eprintln!("{bytes} bytes written to standard output, tree hash verified");
        }
    } else if ctx.json() {
        output::json(
            &json!({"file": out.display().to_string(), "size": bytes, "job_id": job.id,
                             "archive_id": job.archive_id, "sha256_tree_hash": job.sha256_treehash}),
        );
    } else {
        out!("{}  {} bytes, tree hash verified", out.display(), bytes);
    }
}

#[derive(clap::Args)]
pub(crate) struct GetArgs {
    /// The archive's id (as `upload` prints it; it may begin with '-'); several are retrieved
    /// together, into the directory -O names.
    #[arg(required = true, value_name = "ARCHIVE_ID")]
    archive_ids: Vec<String>,
    /// The vault holding the archive.
    #[arg(long)]
    vault: String,
    /// The file to write (`-`: standard output); it appears only once every byte is verified.
    /// With several archives, the directory to write them into, each named after the file
    /// name in its description (from the cached inventory) or `--names`, else its id.
    #[arg(long = "out", short = 'O', value_name = "FILE")]
    out: PathBuf,
    #[command(flatten)]
    retrieval: super::RetrievalArgs,
    /// Bytes per ranged request, each verified by its tree hash: 1M, 2M, 4M, … (a bare
    /// number is MiB).
    #[arg(long, default_value = "8M", value_parser = crate::parse_part_size)]
    chunk_size: u64,
    /// Ranged requests in flight at once (1 to 64).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
}

pub(crate) async fn get(ctx: &Ctx, args: GetArgs) -> anyhow::Result<()> {
    if args.archive_ids.len() > 1 {
        return get_many(ctx, args).await;
    }
    let (archive_id, tier) = (args.archive_ids[0].clone(), args.retrieval.tier);
    download_with(
        ctx,
        &args.vault,
        &args.out,
        args.chunk_size,
        usize::from(args.concurrency),
        async |conn, vault| retrieve_and_wait(ctx, conn, vault, &archive_id, tier).await,
    )
    .await
}

/// `get` of several archives: retrieved together, each written into the directory `-O` as its
/// job completes.
async fn get_many(ctx: &Ctx, args: GetArgs) -> anyhow::Result<()> {
    if !args.out.is_dir() {
        bail!(
            "{} is not a directory: with several archives, -O names the directory to write them into",
            args.out.display()
        );
    }
    let names = args.retrieval.names()?;
    let descriptions = super::inventory::cached_descriptions(ctx, &args.vault);
    let mut files: std::collections::HashMap<String, PathBuf> = Default::default();
    for id in &args.archive_ids {
        let description = descriptions.get(id).map_or("", String::as_str);
        let name = names
            .of(id, description)
            .and_then(|n| crate::commands::sync::safe_relative(&n.path))
            .unwrap_or_else(|| PathBuf::from(id));
        files.insert(id.clone(), args.out.join(name));
    }
    let (progress, conn) = ctx
        .connect_pending(
            format!("downloading into {}", args.out.display()),
            Transfer::Received,
        )
        .await?;
    let vault = conn.vault(&args.vault).await?;
    let files = std::sync::Arc::new(files);
    let (chunk, concurrency) = (args.chunk_size, usize::from(args.concurrency));
    let done = super::retrieve_each(
        ctx,
        &vault,
        &args.archive_ids,
        args.retrieval.options(),
        |job| {
            let files = files.clone();
            async move {
                let id = job.archive_id.clone().unwrap_or_default();
                let out = files
                    .get(&id)
                    .with_context(|| format!("archive {id} was not asked for"))?;
                if let Some(parent) = out.parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("creating {}", parent.display()))?;
                }
                let bytes = download_job(&job, out, chunk, concurrency).await?;
                Ok((out.clone(), bytes, job))
            }
        },
    )
    .await?;
    progress.finish();
    for (out, bytes, job) in &done.delivered {
        report_download(ctx, out, *bytes, job);
    }
    if let Some((id, why)) = done.failed.first() {
        bail!(
            "{} failed (archive {id}: {why})",
            output::plural(done.failed.len() as u64, "retrieval")
        );
    }
    Ok(())
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
    let existing = vault
        .list_jobs(None, None)
        .await?
        .into_iter()
        .find(|j| j.whole_archive() == Some(archive_id));
    let job_id = match existing {
        Some(j) => {
            if !ctx.quiet && !ctx.json() {
                eprintln!(
                    "using the retrieval job {} already {} for this archive",
                    j.id,
                    if j.completed {
                        "finished"
                    } else {
                        "in progress"
                    }
                );
            }
            j.id
        }
        None => {
            announce(ctx, &vault.name, archive_id, None, tier);
            start_retrieval(conn, &vault.name, archive_id, None, tier).await?
        }
    };
    let mut job = vault.get_job(&job_id).await?;
    wait_for(ctx, &mut job).await?;
    Ok(job)
}
