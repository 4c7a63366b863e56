//! `glacier upload`: files (resumable multipart uploads above the single-request size) and
//! standard input.

use super::{Ctx, MIB, state_file};
use crate::output::out;
use crate::output::{self};
use anyhow::{Context, bail};
use glacier_client::layer1::Transfer;
use glacier_client::{Source, Vault};
use glacier_core::ErrorCode;
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub(crate) struct UploadArgs {
    /// Files to upload, each as one archive; `-` reads standard input as one archive.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// The vault to upload to; made if it does not exist.
    #[arg(long)]
    vault: String,
    /// The archive description [default: the file name; mt2-encoded when it is not ASCII].
    #[arg(long, value_parser = crate::parse_description)]
    description: Option<String>,
    /// Part size of multipart uploads: 1M, 2M, 4M, … 4G (a bare number is MiB; raised when a
    /// file needs it) [default: one request up to 100 MiB, else 8M; 64M for standard input].
    #[arg(long, value_parser = crate::parse_part_size)]
    part_size: Option<u64>,
    /// Parts in flight at once (1 to 64).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
}

/// A file's description: its name when that is printable ASCII (what Glacier allows), else
/// the name and mtime in mt-aws-glacier's mt2 encoding, which keeps any name.
pub(super) fn default_description(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    if name.len() <= 1024 && name.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Some(name.to_owned());
    }
    let mtime = std::fs::metadata(path)
        .map(|m| crate::commands::sync::mtime_of(&m))
        .unwrap_or(0);
    glacier_client::mt2::encode(name, mtime).ok()
}

pub(crate) async fn upload(ctx: &Ctx, args: UploadArgs) -> anyhow::Result<()> {
    let mut results = Vec::new();
    let mut failed = 0usize;
    let concurrency = usize::from(args.concurrency);
    for file in &args.files {
        match upload_one(ctx, &args, file, concurrency).await {
            Ok(result) => {
                if !ctx.json() {
                    let id = &result["archive_id"].as_str().unwrap_or_default();
                    if args.files.len() == 1 {
                        out!("{id}");
                    } else {
                        out!("{id}  {}", file.display());
                    }
                }
                results.push(result);
            }
            Err(e) if args.files.len() == 1 => return Err(e),
            Err(e) => {
                failed += 1;
                let message = super::explain(&e, false);
                if ctx.json() {
                    eprintln!(
                        "{}",
                        json!({"event": "error", "file": file.display().to_string(), "message": message})
                    );
                } else {
                    eprintln!("error: {message}");
                }
            }
        }
    }
    if ctx.json() {
        output::json(&serde_json::Value::Array(results));
    }
    if failed > 0 {
        bail!("{failed} of {} uploads failed", args.files.len());
    }
    Ok(())
}

/// Uploads `file` (or standard input) and returns what the JSON output says of it.
async fn upload_one(
    ctx: &Ctx,
    args: &UploadArgs,
    file: &Path,
    concurrency: usize,
) -> anyhow::Result<serde_json::Value> {
    let stdin = file.as_os_str() == "-";
    let size = if stdin {
        None
    } else {
        let meta =
            std::fs::metadata(file).with_context(|| format!("cannot read {}", file.display()))?;
        if !meta.is_file() {
            bail!("{} is not a file", file.display());
        }
        Some(meta.len())
    };
    let (progress, conn) = ctx
        .connect_with(
            format!("uploading {}", file.display()),
            size,
            Transfer::Sent,
        )
        .await?;
    let vault = conn.vault_or_create(&args.vault, ctx.quiet).await?;
    let description = match &args.description {
        Some(d) => Some(d.clone()),
        None if stdin => None,
        None => {
            let d = default_description(file);
            if let Some(d) = d.as_deref().filter(|d| d.starts_with("mt2 "))
                && !ctx.quiet
            {
                eprintln!(
                    "note: {} is described as {d} (mt2: the name is not ASCII; `glacier inventory` shows it decoded)",
                    file.display()
                );
            }
            d
        }
    };
    let (archive_id, size) = match size {
        None => {
            let part_size = args.part_size.unwrap_or(64 * MIB);
            let writer = vault
                .create_archive_writer(part_size, description.as_deref())
                .await?;
            upload_stdin(&vault, writer.with_concurrency(concurrency)).await?
        }
        Some(size) => {
            let id = upload_file(
                ctx,
                &vault,
                file,
                size,
                description.as_deref(),
                args.part_size,
                concurrency,
            )
            .await?;
            (id, size)
        }
    };
    progress.finish();
    Ok(
        json!({"file": file.display().to_string(), "archive_id": archive_id, "size": size, "vault": args.vault}),
    )
}

/// Uploads one file: in one request up to 100 MiB (unless a part size is asked for), else as a
/// resumable multipart upload.
pub(crate) async fn upload_file(
    ctx: &Ctx,
    vault: &Vault,
    file: &Path,
    size: u64,
    description: Option<&str>,
    part_size: Option<u64>,
    concurrency: usize,
) -> anyhow::Result<String> {
    if part_size.is_none() && size <= glacier_client::layer2::SINGLE_OPERATION_THRESHOLD {
        return vault
            .upload_archive(file, description)
            .await
            .with_context(|| format!("uploading {}", file.display()));
    }
    let part_size = glacier_core::validate::minimum_part_size(size, part_size.unwrap_or(8 * MIB))
        .map_err(|e| anyhow::anyhow!("{}: {}", file.display(), e.0))?;
    upload_resumable(ctx, vault, file, size, part_size, description, concurrency).await
}

/// A multipart upload that survives interruption: its id is written to a state file (keyed by
/// target, vault and path, holding the id with the file's size, mtime and the part size)
/// before any part is sent; run again, the upload continues, sending only parts that are
/// missing or differ. If the file or the part size changed meanwhile, the old upload cannot
/// be continued: it is aborted and the upload starts over.
pub(super) async fn upload_resumable(
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
    let key = format!("{}\n{}\n{}", ctx.target, vault.name, absolute.display());
    let state = state_file("uploads", &key, "upload")?;
    let fingerprint = format!("{size} {mtime} {part_size}");
    let recorded = std::fs::read_to_string(&state).ok();
    let recorded = recorded.as_deref().and_then(|s| s.trim().split_once('\n'));
    if let Some((upload_id, was)) = recorded.filter(|(_, was)| *was != fingerprint) {
        if !ctx.quiet && !ctx.json() {
            eprintln!(
                "{} changed since its upload {upload_id} was interrupted: aborting that upload and starting over",
                file.display()
            );
        }
        tracing::debug!(was, now = %fingerprint, "the file changed");
        let _ = vault
            .layer1()
            .abort_multipart_upload(&vault.name, upload_id)
            .await;
        let _ = std::fs::remove_file(&state);
    } else if let Some((upload_id, _)) = recorded {
        if !ctx.quiet && !ctx.json() {
            eprintln!("resuming upload {upload_id} of {}", file.display());
        }
        // `None`: the upload is gone (aborted or expired); start again.
        if let Some(id) = finish_upload(vault, upload_id, file, &state, concurrency).await? {
            return Ok(id);
        }
    }
    let upload = vault
        .layer1()
        .initiate_multipart_upload(&vault.name, part_size, description)
        .await?;
    std::fs::write(&state, format!("{}\n{fingerprint}\n", upload.upload_id))
        .with_context(|| format!("writing {}", state.display()))?;
    finish_upload(vault, &upload.upload_id, file, &state, concurrency)
        .await?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "uploading {}: the upload {} was aborted by someone else before it was complete",
                file.display(),
                upload.upload_id
            )
        })
}

/// Sends the parts of `file` that the upload lacks and completes it; its state file goes once
/// the upload is complete or gone (`Ok(None)`: aborted or expired on the service).
async fn finish_upload(
    vault: &Vault,
    upload_id: &str,
    file: &Path,
    state: &Path,
    concurrency: usize,
) -> anyhow::Result<Option<String>> {
    match vault
        .continue_upload(upload_id, Source::File(file.to_path_buf()), concurrency)
        .await
    {
        Ok(id) => {
            let _ = std::fs::remove_file(state);
            Ok(Some(id))
        }
        Err(e) if e.code() == Some(ErrorCode::ResourceNotFoundException) => {
            let _ = std::fs::remove_file(state);
            Ok(None)
        }
        Err(e) => Err(abandon_unless_resumable(
            vault,
            upload_id,
            state,
            e,
            format!("uploading {}", file.display()),
        )
        .await),
    }
}

/// After a multipart upload failed with `e`: if running again can finish it, the upload and
/// its state file stay and the error says to run again; else the upload is aborted, so that
/// nothing unfinished is left behind.
async fn abandon_unless_resumable(
    vault: &Vault,
    upload_id: &str,
    state: &Path,
    e: glacier_client::GlacierError,
    what: String,
) -> anyhow::Error {
    let e = super::with_resume_hint(e, what);
    if !super::resumable(&e) {
        let _ = vault
            .layer1()
            .abort_multipart_upload(&vault.name, upload_id)
            .await;
        let _ = std::fs::remove_file(state);
    }
    e
}

/// Uploads standard input through `writer`; returns the archive id and the size. A failed
/// upload is aborted: standard input cannot be read again to resume it.
pub(super) async fn upload_stdin(
    vault: &Vault,
    mut writer: glacier_client::Writer,
) -> anyhow::Result<(String, u64)> {
    use tokio::io::AsyncWriteExt;
    let mut stdin = tokio::io::stdin();
    let abort_on_interrupt = super::state::abort_on_interrupt(vault, writer.upload_id());
    let sent = async {
        let size = tokio::io::copy(&mut stdin, &mut writer).await?;
        if size == 0 {
            bail!("standard input is empty: Glacier cannot store an empty archive");
        }
        writer.shutdown().await.context("completing the upload")?;
        let id = writer
            .archive_id()
            .map(str::to_owned)
            .context("the upload completed without an archive id")?;
        Ok((id, size))
    }
    .await;
    if sent.is_err() {
        let _ = vault
            .layer1()
            .abort_multipart_upload(&vault.name, writer.upload_id())
            .await;
    }
    abort_on_interrupt.done();
    sent.context("uploading standard input")
}
