//! `glacier delete`, `glacier multipart list|abort` and `glacier treehash`.

use super::Ctx;
use crate::output::out;
use crate::output::{self, Output};
use anyhow::Context;
use serde_json::json;
use std::path::PathBuf;

#[derive(clap::Args)]
pub(crate) struct DeleteArgs {
    /// The archive's id (as `upload` prints it; it may begin with '-').
    #[arg(allow_hyphen_values = true)]
    archive_id: String,
    /// The vault.
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
        output::json(&json!({"archive_id": args.archive_id, "vault": args.vault, "deleted": true}));
    } else {
        out!("deleted archive {}", args.archive_id);
    }
    Ok(())
}

#[derive(clap::Subcommand)]
pub(crate) enum MultipartCmd {
    /// List a vault's unfinished multipart uploads.
    List {
        /// The vault.
        #[arg(long)]
        vault: String,
    },
    /// Abort an unfinished multipart upload.
    Abort {
        /// The upload's id (as `multipart list` prints it; it may begin with '-').
        #[arg(allow_hyphen_values = true)]
        upload_id: String,
        /// The vault.
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
                            output::human_size(u.part_size_in_bytes),
                            output::table_date(&u.creation_date),
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
            ctx.report(
                json!({"upload_id": upload_id, "vault": vault, "aborted": true}),
                || format!("aborted upload {upload_id}"),
            );
        }
    }
    Ok(())
}

#[derive(clap::Args)]
pub(crate) struct TreehashArgs {
    /// Files to hash; `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

/// The tree hash of standard input.
async fn treehash_stdin() -> anyhow::Result<String> {
    use tokio::io::AsyncReadExt;
    let mut stdin = tokio::io::stdin();
    let mut hasher = glacier_core::LeafHasher::default();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = stdin.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finish().tree.to_hex())
}

/// Prints each file's tree hash; a file that cannot be read is reported and the others still
/// hashed, the exit status then a failure.
pub(crate) async fn treehash(output: Output, args: TreehashArgs) -> anyhow::Result<()> {
    let json = output == Output::Json;
    let mut out = Vec::new();
    let mut failed = 0usize;
    for f in &args.files {
        let tree = if f.as_os_str() == "-" {
            treehash_stdin().await.context("reading standard input")
        } else {
            glacier_client::utils::tree_hash_file(f)
                .await
                .map(|tree| tree.to_hex())
                .with_context(|| format!("cannot read {}", f.display()))
        };
        let tree = match tree {
            Ok(t) => t,
            Err(e) => {
                failed += 1;
                eprintln!("error: {e:#}");
                continue;
            }
        };
        if json {
            out.push(json!({"file": f.display().to_string(), "sha256_tree_hash": tree}));
        } else {
            out!("{tree}  {}", f.display());
        }
    }
    if json {
        output::json(&serde_json::Value::Array(out));
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} files could not be hashed", args.files.len());
    }
    Ok(())
}
