//! `glacier upload`: files (resumable multipart uploads above the single-request size) and
//! standard input.

use super::{Ctx, MIB, state_file};
use crate::output::{self};
use anyhow::{Context, bail};
use glacier_client::layer1::Transfer;
use glacier_client::{Source, Vault};
use glacier_core::ErrorCode;
use serde_json::json;
use std::path::{Path, PathBuf};

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
pub(super) fn default_description(path: &Path) -> Option<String> {
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

/// A multipart upload that survives interruption: its id is written to a state file (keyed by
/// target, vault, path, size and mtime) before any part is sent; run again, the upload
/// continues, sending only parts that are missing or differ.
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
    let key = format!(
        "{}\n{}\n{}\n{size}\n{mtime}\n{part_size}",
        ctx.target,
        vault.name,
        absolute.display()
    );
    let state = state_file("uploads", &key, "upload")?;
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

pub(super) async fn upload_stdin(mut writer: glacier_client::Writer) -> anyhow::Result<String> {
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
