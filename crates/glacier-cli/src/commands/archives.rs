//! `glacier delete`, `glacier multipart list|abort` and `glacier treehash`.

use super::Ctx;
use crate::output::{self};
use anyhow::Context;
use serde_json::json;
use std::path::PathBuf;

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
