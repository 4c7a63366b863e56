//! The commands other than `serve`: each resolves its target, runs, prints a table or JSON.

use crate::output::{self, Output, Progress};
use crate::target::{self, Target};
use anyhow::{Context, bail};
use futures_util::TryStreamExt;
use glacier_client::layer1::Transfer;
use glacier_client::layer2::{InventoryRequest, WaitOptions};
use glacier_client::{ConcurrentDownloader, GlacierError, Job, Source, Vault};
use glacier_core::wire::JobParameters;
use glacier_core::{ErrorCode, JobStatus, Tier};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const MIB: u64 = 1 << 20;

/// What every command knows.
pub(crate) struct Ctx {
    pub(crate) target: Target,
    pub(crate) output: Output,
    pub(crate) quiet: bool,
    /// `--limit-rate`, bytes per second across all transfers of the command.
    pub(crate) limit_rate: Option<u64>,
}

impl Ctx {
    async fn connect(&self) -> anyhow::Result<target::Connection> {
        target::connect(&self.target, None, self.limit_rate).await
    }

    /// Connects with a progress display of `what` (`total` bytes, if known) counting the
    /// bytes moving in `direction`.
    pub(crate) async fn connect_with(
        &self,
        what: String,
        total: Option<u64>,
        direction: Transfer,
    ) -> anyhow::Result<(Arc<Progress>, target::Connection)> {
        let progress = Arc::new(Progress::new(&what, total, self.output, self.quiet));
        let conn = target::connect(
            &self.target,
            Some(progress.callback(direction)),
            self.limit_rate,
        )
        .await?;
        Ok((progress, conn))
    }

    fn json(&self) -> bool {
        self.output == Output::Json
    }

    /// Prints a result: the JSON value with `--output json`, else the line of text.
    fn report(&self, value: serde_json::Value, text: impl FnOnce() -> String) {
        if self.json() {
            output::json(&value);
        } else {
            println!("{}", text());
        }
    }
}

/// One line saying what went wrong and, where it helps, what to do.
pub(crate) fn explain(e: &anyhow::Error) -> String {
    let Some(g) = e.chain().find_map(|c| c.downcast_ref::<GlacierError>()) else {
        return format!("{e:#}");
    };
    let context = e.to_string();
    let prefix = if context == g.to_string() {
        String::new()
    } else {
        format!("{context}: ")
    };
    match g {
        GlacierError::UnexpectedHttpResponse {
            code: Some(ErrorCode::ResourceNotFoundException),
            message,
            ..
        } => {
            format!(
                "{prefix}{message} (check the name or id; `glacier vault list` lists the vaults)"
            )
        }
        GlacierError::UnexpectedHttpResponse {
            raw_code, message, ..
        } => {
            format!("{prefix}{message} ({raw_code})")
        }
        GlacierError::Transport { source, .. } => {
            format!(
                "{prefix}could not reach the Glacier endpoint ({source}); is the server running and the address right?"
            )
        }
        GlacierError::Credentials(m) => format!("{prefix}{m}"),
        other => format!("{prefix}{other}"),
    }
}

pub(crate) async fn status(ctx: &Ctx) -> anyhow::Result<()> {
    let conn = ctx.connect().await?;
    let vaults = conn.layer2.list_vaults().await?;
    if ctx.json() {
        output::json(&json!({"target": ctx.target.to_string(), "vaults": vaults.len()}));
    } else {
        println!("target: {}", ctx.target);
        println!("vaults: {}", vaults.len());
    }
    Ok(())
}

#[derive(clap::Subcommand)]
pub(crate) enum VaultCmd {
    /// Create a vault (creating an existing vault is fine).
    Create { name: String },
    /// List the vaults.
    List,
    /// Show a vault's archive count, size and dates.
    Describe { name: String },
    /// Delete an empty vault.
    Delete { name: String },
    /// Delete every archive a (streamed) inventory lists, then the vault once an inventory
    /// comes back empty. Checkpointed: run again to continue.
    Purge {
        name: String,
        /// Delete the archives but keep the vault.
        #[arg(long)]
        keep_vault: bool,
    },
}

fn vault_json(v: &Vault) -> serde_json::Value {
    json!({"name": v.name, "arn": v.arn, "creation_date": v.creation_date,
           "last_inventory_date": v.last_inventory_date, "archives": v.number_of_archives, "size": v.size})
}

fn vault_row(v: &Vault) -> Vec<String> {
    vec![
        v.name.clone(),
        v.number_of_archives.to_string(),
        v.size.to_string(),
        v.creation_date.clone(),
        v.last_inventory_date.clone().unwrap_or_else(|| "-".into()),
    ]
}

const VAULT_HEADER: &[&str] = &["NAME", "ARCHIVES", "SIZE", "CREATED", "LAST INVENTORY"];

pub(crate) async fn vault(ctx: &Ctx, cmd: VaultCmd) -> anyhow::Result<()> {
    let conn = ctx.connect().await?;
    let g = &conn.layer2;
    match cmd {
        VaultCmd::Create { name } => {
            let v = g
                .create_vault(&name)
                .await
                .with_context(|| format!("creating vault {name}"))?;
            if ctx.json() {
                output::json(&vault_json(&v));
            } else {
                println!("created vault {} ({})", v.name, v.arn);
            }
        }
        VaultCmd::List => {
            let vaults = g.list_vaults().await?;
            if ctx.json() {
                output::json(&serde_json::Value::Array(
                    vaults.iter().map(vault_json).collect(),
                ));
            } else {
                output::table(
                    VAULT_HEADER,
                    &vaults.iter().map(vault_row).collect::<Vec<_>>(),
                );
            }
        }
        VaultCmd::Describe { name } => {
            let v = g
                .get_vault(&name)
                .await
                .with_context(|| format!("vault {name}"))?;
            if ctx.json() {
                output::json(&vault_json(&v));
            } else {
                output::table(VAULT_HEADER, &[vault_row(&v)]);
            }
        }
        VaultCmd::Purge { name, keep_vault } => purge(ctx, g, &name, keep_vault).await?,
        VaultCmd::Delete { name } => {
            g.delete_vault(&name)
                .await
                .with_context(|| format!("deleting vault {name}"))?;
            ctx.report(json!({"deleted": name}), || format!("deleted vault {name}"));
        }
    }
    Ok(())
}

/// Deletes every archive of a vault, checkpointing deleted ids in a state file so that an
/// interrupted purge continues without asking again; deletes the vault when an inventory
/// taken afterwards is empty.
async fn purge(
    ctx: &Ctx,
    g: &glacier_client::Layer2,
    name: &str,
    keep_vault: bool,
) -> anyhow::Result<()> {
    use std::io::Write;
    let vault = g
        .get_vault(name)
        .await
        .with_context(|| format!("vault {name}"))?;
    let key = format!("{}\n{name}", ctx.target);
    let dir = state_dir()?.join("purge");
    std::fs::create_dir_all(&dir)?;
    let checkpoint = dir.join(format!(
        "{}.deleted",
        &glacier_core::TreeHash::of(key.as_bytes()).to_hex()[..32]
    ));
    let done: std::collections::HashSet<String> = std::fs::read_to_string(&checkpoint)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect();
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&checkpoint)?;
    let mut deleted = 0u64;
    let mut job = vault
        .retrieve_inventory_job(InventoryRequest::default())
        .await?;
    job.wait(wait_options(), None).await?;
    let mut entries = std::pin::pin!(job.inventory().await?);
    while let Some(e) = entries.try_next().await? {
        if done.contains(&e.archive_id) {
            continue;
        }
        match vault.delete_archive(&e.archive_id).await {
            Ok(()) => deleted += 1,
            // Deleted by an earlier run whose checkpoint write was lost.
            Err(err) if err.code() == Some(ErrorCode::ResourceNotFoundException) => {}
            Err(err) => {
                return Err(anyhow::Error::new(err).context(format!(
                    "deleting archive {} (run the purge again to continue)",
                    e.archive_id
                )));
            }
        }
        writeln!(log, "{}", e.archive_id)?;
    }
    let mut again = vault
        .retrieve_inventory_job(InventoryRequest::default())
        .await?;
    again.wait(wait_options(), None).await?;
    let left = again
        .inventory()
        .await?
        .try_fold(0u64, |n, _| async move { Ok(n + 1) })
        .await?;
    let vault_deleted = left == 0 && !keep_vault;
    if vault_deleted {
        vault
            .delete()
            .await
            .with_context(|| format!("deleting vault {name}"))?;
    }
    if left == 0 {
        let _ = std::fs::remove_file(&checkpoint);
    }
    ctx.report(json!({"vault": name, "deleted": deleted, "remaining": left, "vault_deleted": vault_deleted}), || {
        format!("deleted {deleted} archive(s) of {name}; {left} left{}", if vault_deleted { "; vault deleted" } else { "" })
    });
    Ok(())
}

#[derive(clap::Args)]
pub(crate) struct UploadArgs {
    /// Files to upload; `-` reads standard input as one archive of unknown length.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[arg(long)]
    vault: String,
    /// The archive description [default: the file name].
    #[arg(long)]
    description: Option<String>,
    /// Part size in MiB for multipart uploads (1, 2, 4, 8, …; raised when a file needs it)
    /// [default: one request up to 100 MiB, else 8; 64 for standard input].
    #[arg(long)]
    part_size: Option<u64>,
    /// Parts in flight at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
}

/// A description from a file name, when the name is printable ASCII.
fn default_description(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    (name.len() <= 1024 && name.bytes().all(|b| (0x20..=0x7e).contains(&b)))
        .then(|| name.to_owned())
}

pub(crate) async fn upload(ctx: &Ctx, args: UploadArgs) -> anyhow::Result<()> {
    let mut results = Vec::new();
    for file in &args.files {
        let stdin = file.as_os_str() == "-";
        let size = if stdin {
            None
        } else {
            Some(
                std::fs::metadata(file)
                    .with_context(|| format!("cannot read {}", file.display()))?
                    .len(),
            )
        };
        let (progress, conn) = ctx
            .connect_with(
                format!("uploading {}", file.display()),
                size,
                Transfer::Sent,
            )
            .await?;
        let vault = conn.vault(&args.vault).await?;
        let description = args.description.clone().or_else(|| {
            if stdin {
                None
            } else {
                default_description(file)
            }
        });
        let archive_id = match (stdin, size, args.part_size) {
            (true, _, part) => {
                let part_size = part.unwrap_or(64) * MIB;
                let writer = vault
                    .create_archive_writer(part_size, description.as_deref())
                    .await?;
                upload_stdin(writer.with_concurrency(args.concurrency)).await?
            }
            (false, Some(size), part) => {
                upload_file(
                    ctx,
                    &vault,
                    file,
                    size,
                    description.as_deref(),
                    part,
                    args.concurrency,
                )
                .await?
            }
            (false, None, _) => bail!("{}: unknown size", file.display()),
        };
        progress.finish();
        results.push(json!({"file": file.display().to_string(), "archive_id": archive_id, "size": size, "vault": args.vault}));
        if !ctx.json() {
            println!("{archive_id}  {}", file.display());
        }
    }
    if ctx.json() {
        output::json(&serde_json::Value::Array(results));
    }
    Ok(())
}

/// Uploads one file: in one request up to 100 MiB (unless a part size is asked for), else as a
/// resumable multipart upload.
pub(crate) async fn upload_file(
    ctx: &Ctx,
    vault: &Vault,
    file: &Path,
    size: u64,
    description: Option<&str>,
    part_mib: Option<u64>,
    concurrency: usize,
) -> anyhow::Result<String> {
    if part_mib.is_none() && size <= glacier_client::layer2::SINGLE_OPERATION_THRESHOLD {
        return vault
            .upload_archive(file, description)
            .await
            .with_context(|| format!("uploading {}", file.display()));
    }
    let part_size = glacier_core::validate::minimum_part_size(size, part_mib.unwrap_or(8) * MIB)
        .map_err(|e| anyhow::anyhow!("{}: {}", file.display(), e.0))?;
    upload_resumable(ctx, vault, file, size, part_size, description, concurrency).await
}

/// Where interrupted uploads are remembered: `$GLACIER_STATE_DIR`, else the platform cache dir.
pub(crate) fn state_dir() -> anyhow::Result<PathBuf> {
    match std::env::var_os("GLACIER_STATE_DIR") {
        Some(d) => Ok(PathBuf::from(d)),
        None => Ok(dirs::cache_dir()
            .context("no platform cache directory; set GLACIER_STATE_DIR")?
            .join("glacier")),
    }
}

/// A multipart upload that survives interruption: its id is written to a state file (keyed by
/// target, vault, path, size and mtime) before any part is sent; run again, the upload
/// continues, sending only parts that are missing or differ.
async fn upload_resumable(
    ctx: &Ctx,
    vault: &Vault,
    file: &Path,
    size: u64,
    part_size: u64,
    description: Option<&str>,
    concurrency: usize,
) -> anyhow::Result<String> {
    let meta = std::fs::metadata(file)?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let absolute = std::fs::canonicalize(file)?;
    let key = format!(
        "{}\n{}\n{}\n{size}\n{mtime}\n{part_size}",
        ctx.target,
        vault.name,
        absolute.display()
    );
    let dir = state_dir()?.join("uploads");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let state = dir.join(format!(
        "{}.upload",
        &glacier_core::TreeHash::of(key.as_bytes()).to_hex()[..32]
    ));
    if let Ok(upload_id) = std::fs::read_to_string(&state) {
        let upload_id = upload_id.trim();
        if !ctx.quiet && !ctx.json() {
            eprintln!("resuming upload {upload_id} of {}", file.display());
        }
        match vault
            .continue_upload(upload_id, Source::File(file.to_path_buf()), concurrency)
            .await
        {
            Ok(id) => {
                let _ = std::fs::remove_file(&state);
                return Ok(id);
            }
            Err(e) if e.code() == Some(ErrorCode::ResourceNotFoundException) => {
                // The upload is gone (aborted or expired): start again.
                let _ = std::fs::remove_file(&state);
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "uploading {} (run the command again to resume)",
                    file.display()
                )));
            }
        }
    }
    let upload = vault
        .layer1()
        .initiate_multipart_upload(&vault.name, part_size, description)
        .await?;
    std::fs::write(&state, &upload.upload_id)
        .with_context(|| format!("writing {}", state.display()))?;
    let id = vault
        .continue_upload(
            &upload.upload_id,
            Source::File(file.to_path_buf()),
            concurrency,
        )
        .await
        .with_context(|| {
            format!(
                "uploading {} (run the command again to resume)",
                file.display()
            )
        })?;
    let _ = std::fs::remove_file(&state);
    Ok(id)
}

async fn upload_stdin(mut writer: glacier_client::Writer) -> anyhow::Result<String> {
    use tokio::io::AsyncWriteExt;
    let mut stdin = tokio::io::stdin();
    tokio::io::copy(&mut stdin, &mut writer)
        .await
        .context("uploading standard input")?;
    writer.shutdown().await.context("completing the upload")?;
    writer
        .archive_id()
        .map(str::to_owned)
        .context("the upload completed without an archive id")
}

#[derive(clap::Args)]
pub(crate) struct RetrieveArgs {
    /// Glacier ids may begin with '-'.
    #[arg(allow_hyphen_values = true)]
    archive_id: String,
    #[arg(long)]
    vault: String,
    /// Only these bytes, `first-last` (megabyte aligned).
    #[arg(long)]
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
async fn describe_retrieval(
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
            &json!({"archive_id": args.archive_id, "bytes": bytes, "tier": tier, "download_requests": requests, "chunk_size": chunk, "dry_run": true}),
        );
    } else {
        println!(
            "would retrieve {bytes} bytes of {} ({tier} tier) and download them in {requests} requests of up to {chunk} bytes; nothing was started",
            args.archive_id
        );
    }
    Ok(())
}

async fn start_retrieval(
    conn: &target::Connection,
    vault: &str,
    archive_id: &str,
    range: Option<String>,
    tier: Option<Tier>,
) -> anyhow::Result<String> {
    let params = JobParameters {
        job_type: Some("archive-retrieval".into()),
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
        #[arg(long)]
        vault: String,
    },
    /// Show a job.
    Describe {
        /// Glacier ids may begin with '-'.
        #[arg(allow_hyphen_values = true)]
        job_id: String,
        #[arg(long)]
        vault: String,
    },
    /// Wait until a job completes.
    Wait {
        /// Glacier ids may begin with '-'.
        #[arg(allow_hyphen_values = true)]
        job_id: String,
        #[arg(long)]
        vault: String,
    },
}

fn job_json(j: &Job) -> serde_json::Value {
    json!({"job_id": j.id, "action": j.action, "status": j.status_code, "status_message": j.status_message,
           "completed": j.completed, "archive_id": j.archive_id, "archive_size": j.archive_size,
           "inventory_size": j.inventory_size, "sha256_tree_hash": j.sha256_treehash,
           "creation_date": j.creation_date, "completion_date": j.completion_date,
           "retrieval_byte_range": j.retrieval_byte_range, "description": j.description})
}

fn job_row(j: &Job) -> Vec<String> {
    vec![
        j.id.clone(),
        j.action.to_string(),
        j.status_code.to_string(),
        j.archive_id.clone().unwrap_or_else(|| "-".into()),
        j.creation_date.clone(),
    ]
}

const JOB_HEADER: &[&str] = &["JOB", "ACTION", "STATUS", "ARCHIVE", "CREATED"];

fn print_jobs(ctx: &Ctx, jobs: &[Job]) {
    if ctx.json() {
        output::json(&serde_json::Value::Array(
            jobs.iter().map(job_json).collect(),
        ));
    } else {
        output::table(JOB_HEADER, &jobs.iter().map(job_row).collect::<Vec<_>>());
    }
}

pub(crate) fn wait_options() -> WaitOptions {
    WaitOptions {
        first_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(60),
        ..Default::default()
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
            j.wait(wait_options(), None).await?;
            if ctx.json() {
                output::json(&job_json(&j));
            } else {
                print_jobs(ctx, &[j]);
            }
        }
    }
    Ok(())
}

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
async fn download_with<F>(
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

fn report_download(ctx: &Ctx, out: &Path, bytes: u64, job: &Job) {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum InventoryFormat {
    Table,
    Json,
    Csv,
}

#[derive(clap::Args)]
pub(crate) struct InventoryArgs {
    #[arg(long)]
    vault: String,
    /// How to print the archives [default: as --output says].
    #[arg(long, value_enum)]
    format: Option<InventoryFormat>,
    /// Print the inventory cached by the last `inventory` run (with its date); start no job.
    #[arg(long)]
    cached: bool,
}

/// An inventory as cached locally.
#[derive(serde::Serialize, serde::Deserialize)]
struct CachedInventory {
    vault: String,
    inventory_date: Option<String>,
    archives: Vec<CachedEntry>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CachedEntry {
    archive_id: String,
    description: String,
    creation_date: String,
    size: u64,
    sha256_tree_hash: String,
}

fn inventory_cache(ctx: &Ctx, vault: &str) -> anyhow::Result<PathBuf> {
    let key = format!("{}\n{vault}", ctx.target);
    Ok(state_dir()?.join("inventory").join(format!(
        "{}.json",
        &glacier_core::TreeHash::of(key.as_bytes()).to_hex()[..32]
    )))
}

/// Runs an inventory job, streams its entries and caches them with the inventory's date.
async fn fetch_inventory(
    ctx: &Ctx,
    conn: &target::Connection,
    vault_name: &str,
) -> anyhow::Result<CachedInventory> {
    let vault = conn.vault(vault_name).await?;
    let mut job = vault
        .retrieve_inventory_job(InventoryRequest::default())
        .await?;
    job.wait(wait_options(), None).await?;
    let archives = job
        .inventory()
        .await?
        .map_ok(|e| CachedEntry {
            archive_id: e.archive_id,
            description: e.archive_description,
            creation_date: e.creation_date,
            size: e.size,
            sha256_tree_hash: e.sha256_tree_hash,
        })
        .try_collect()
        .await?;
    let inv = CachedInventory {
        vault: vault.name.clone(),
        inventory_date: job.completion_date.clone(),
        archives,
    };
    let cache = inventory_cache(ctx, vault_name)?;
    if let Some(dir) = cache.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&cache, serde_json::to_vec(&inv)?)
        .with_context(|| format!("writing {}", cache.display()))?;
    Ok(inv)
}

/// An archive's size from the cached inventory, with the inventory's date.
fn cached_size(ctx: &Ctx, vault: &str, archive_id: &str) -> Option<(u64, Option<String>)> {
    let text = std::fs::read_to_string(inventory_cache(ctx, vault).ok()?).ok()?;
    let inv: CachedInventory = serde_json::from_str(&text).ok()?;
    inv.archives
        .iter()
        .find(|e| e.archive_id == archive_id)
        .map(|e| (e.size, inv.inventory_date.clone()))
}

/// What retrieving `archive_id` (or `range` of it) means: bytes, and download requests of 8 MiB.
fn retrieval_cost(size: u64, range: Option<&str>) -> anyhow::Result<(u64, u64)> {
    let bytes = match range {
        Some(r) => glacier_core::range::retrieval_range(r, size)
            .map_err(|e| anyhow::anyhow!(e.0))?
            .len(),
        None => size,
    };
    Ok((bytes, bytes.div_ceil(8 * MIB)))
}

/// Before a retrieval starts, says what it means when the cached inventory knows the archive.
fn announce(ctx: &Ctx, vault: &str, archive_id: &str, range: Option<&str>, tier: Option<Tier>) {
    if ctx.quiet || ctx.json() {
        return;
    }
    if let Some((size, date)) = cached_size(ctx, vault, archive_id)
        && let Ok((bytes, requests)) = retrieval_cost(size, range)
    {
        eprintln!(
            "retrieving {bytes} bytes ({} tier), then {requests} download requests (size from the inventory of {})",
            tier.unwrap_or_default(),
            date.as_deref().unwrap_or("an earlier run")
        );
    }
}

/// Retrieves an inventory (or reads the cached one), caches it, prints it.
pub(crate) async fn inventory(ctx: &Ctx, args: InventoryArgs) -> anyhow::Result<()> {
    let format = args.format.unwrap_or(if ctx.json() {
        InventoryFormat::Json
    } else {
        InventoryFormat::Table
    });
    let cache = inventory_cache(ctx, &args.vault)?;
    let inv: CachedInventory = if args.cached {
        let text = std::fs::read_to_string(&cache).with_context(|| {
            format!(
                "no cached inventory of {} (run `glacier inventory --vault {}` first)",
                args.vault, args.vault
            )
        })?;
        serde_json::from_str(&text).with_context(|| format!("reading {}", cache.display()))?
    } else {
        let conn = ctx.connect().await?;
        fetch_inventory(ctx, &conn, &args.vault).await?
    };
    match format {
        InventoryFormat::Json => output::json(&serde_json::to_value(&inv)?),
        InventoryFormat::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout());
            w.write_record([
                "ArchiveId",
                "ArchiveDescription",
                "CreationDate",
                "Size",
                "SHA256TreeHash",
            ])?;
            for e in &inv.archives {
                w.write_record([
                    &e.archive_id,
                    &e.description,
                    &e.creation_date,
                    &e.size.to_string(),
                    &e.sha256_tree_hash,
                ])?;
            }
            w.flush()?;
        }
        InventoryFormat::Table => {
            if let Some(date) = &inv.inventory_date {
                println!("inventory of {} taken {date}", inv.vault);
            }
            let rows: Vec<Vec<String>> = inv
                .archives
                .iter()
                .map(|e| {
                    vec![
                        e.archive_id.clone(),
                        e.size.to_string(),
                        e.creation_date.clone(),
                        e.description.clone(),
                    ]
                })
                .collect();
            output::table(&["ARCHIVE", "SIZE", "CREATED", "DESCRIPTION"], &rows);
        }
    }
    Ok(())
}

#[derive(clap::Args)]
pub(crate) struct DeleteArgs {
    /// Glacier ids may begin with '-'.
    #[arg(allow_hyphen_values = true)]
    archive_id: String,
    #[arg(long)]
    vault: String,
}

pub(crate) async fn delete(ctx: &Ctx, args: DeleteArgs) -> anyhow::Result<()> {
    let conn = ctx.connect().await?;
    conn.layer2
        .layer1
        .delete_archive(&args.vault, &args.archive_id)
        .await
        .with_context(|| format!("deleting archive {}", args.archive_id))?;
    if ctx.json() {
        output::json(&json!({"deleted": args.archive_id, "vault": args.vault}));
    } else {
        println!("deleted archive {}", args.archive_id);
    }
    Ok(())
}

#[derive(clap::Subcommand)]
pub(crate) enum MultipartCmd {
    /// List a vault's unfinished multipart uploads.
    List {
        #[arg(long)]
        vault: String,
    },
    /// Abort an unfinished multipart upload.
    Abort {
        /// Glacier ids may begin with '-'.
        #[arg(allow_hyphen_values = true)]
        upload_id: String,
        #[arg(long)]
        vault: String,
    },
}

pub(crate) async fn multipart(ctx: &Ctx, cmd: MultipartCmd) -> anyhow::Result<()> {
    let conn = ctx.connect().await?;
    let l1 = &conn.layer2.layer1;
    match cmd {
        MultipartCmd::List { vault } => {
            let mut uploads = Vec::new();
            let mut marker: Option<String> = None;
            loop {
                let page = l1
                    .list_multipart_uploads(&vault, None, marker.as_deref())
                    .await
                    .with_context(|| format!("vault {vault}"))?;
                uploads.extend(page.uploads_list);
                marker = page.marker;
                if marker.is_none() {
                    break;
                }
            }
            if ctx.json() {
                let list: Vec<_> = uploads
                    .iter()
                    .map(|u| json!({"upload_id": u.multipart_upload_id, "description": u.archive_description, "part_size": u.part_size_in_bytes, "creation_date": u.creation_date}))
                    .collect();
                output::json(&serde_json::Value::Array(list));
            } else {
                let rows: Vec<Vec<String>> = uploads
                    .iter()
                    .map(|u| {
                        vec![
                            u.multipart_upload_id.clone(),
                            u.part_size_in_bytes.to_string(),
                            u.creation_date.clone(),
                            u.archive_description.clone().unwrap_or_default(),
                        ]
                    })
                    .collect();
                output::table(&["UPLOAD", "PART SIZE", "CREATED", "DESCRIPTION"], &rows);
            }
        }
        MultipartCmd::Abort { upload_id, vault } => {
            l1.abort_multipart_upload(&vault, &upload_id)
                .await
                .with_context(|| format!("aborting upload {upload_id}"))?;
            ctx.report(json!({"aborted": upload_id}), || {
                format!("aborted upload {upload_id}")
            });
        }
    }
    Ok(())
}

#[derive(clap::Args)]
pub(crate) struct TreehashArgs {
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

pub(crate) async fn treehash(ctx: &Ctx, args: TreehashArgs) -> anyhow::Result<()> {
    let mut out = Vec::new();
    for f in &args.files {
        let (_, tree) = glacier_client::utils::compute_hashes_from_file(f)
            .await
            .with_context(|| format!("cannot read {}", f.display()))?;
        if ctx.json() {
            out.push(json!({"file": f.display().to_string(), "sha256_tree_hash": tree}));
        } else {
            println!("{tree}  {}", f.display());
        }
    }
    if ctx.json() {
        output::json(&serde_json::Value::Array(out));
    }
    Ok(())
}
