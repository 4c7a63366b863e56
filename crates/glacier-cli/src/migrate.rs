//! `migrate`: copies vaults archive by archive from one Glacier to another (Amazon Glacier, a
//! server, the local store), each archive retrieved, downloaded and verified against its tree
//! hash, uploaded with its description, and checkpointed so that a rerun continues.

use crate::commands::{Ctx, download_job, retrieve_and_wait, state_dir, upload_file};
use crate::output::{self, Output};
use crate::target::{self, Target};
use anyhow::{Context, bail};
use futures_util::TryStreamExt;
use glacier_client::layer2::InventoryRequest;
use serde_json::json;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args)]
pub(crate) struct MigrateArgs {
    /// Where the vaults are: `local`, `local:DIR`, an endpoint URL, or `aws:REGION`.
    #[arg(long)]
    from: String,
    /// Where they go, in the same forms.
    #[arg(long)]
    to: String,
    /// Vaults to copy [default: every vault of the source].
    #[arg(long)]
    vault: Vec<String>,
}

fn parse_target(s: &str) -> anyhow::Result<Target> {
    if s == "local" {
        return Ok(Target::Local(crate::target::default_local_store()?));
    }
    if let Some(dir) = s.strip_prefix("local:") {
        return Ok(Target::Local(PathBuf::from(dir)));
    }
    if let Some(region) = s.strip_prefix("aws:") {
        return Ok(Target::Region(region.to_owned()));
    }
    if s.starts_with("http://") || s.starts_with("https://") {
        return Ok(Target::Endpoint(s.to_owned()));
    }
    if s.starts_with("s3://") {
        bail!(
            "{s}: S3 destinations are not supported yet; migrate to a Glacier endpoint or the local store"
        );
    }
    bail!("{s:?} is not a target: use local, local:DIR, http(s)://ENDPOINT or aws:REGION")
}

pub(crate) async fn migrate(ctx: &Ctx, args: MigrateArgs) -> anyhow::Result<()> {
    let (from, to) = (parse_target(&args.from)?, parse_target(&args.to)?);
    if from == to {
        bail!("the source and the destination are the same ({from})");
    }
    let src = target::connect(&from, None, ctx.limit_rate)
        .await
        .with_context(|| format!("connecting to {from}"))?;
    let dst = target::connect(&to, None, ctx.limit_rate)
        .await
        .with_context(|| format!("connecting to {to}"))?;
    let vaults = if args.vault.is_empty() {
        src.layer2
            .list_vaults()
            .await?
            .into_iter()
            .map(|v| v.name)
            .collect()
    } else {
        args.vault.clone()
    };
    let work = state_dir()?.join("migrate");
    std::fs::create_dir_all(&work)?;
    let mut report = Vec::new();
    for name in vaults {
        let source = src
            .layer2
            .get_vault(&name)
            .await
            .with_context(|| format!("source vault {name}"))?;
        let dest = dst
            .layer2
            .create_vault(&name)
            .await
            .with_context(|| format!("creating {name} at {to}"))?;
        let key = format!("{from}\n{to}\n{name}");
        let checkpoint = work.join(format!(
            "{}.copied",
            &glacier_core::TreeHash::of(key.as_bytes()).to_hex()[..32]
        ));
        let copied_before: HashMap<String, String> = std::fs::read_to_string(&checkpoint)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once(' ').map(|(a, b)| (a.to_owned(), b.to_owned())))
            .collect();
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&checkpoint)?;
        let mut inv = source
            .retrieve_inventory_job(InventoryRequest::default())
            .await?;
        inv.wait(crate::commands::wait_options(), None).await?;
        let mut entries = std::pin::pin!(inv.inventory().await?);
        let (mut copied, mut skipped, mut bytes) = (0u64, 0u64, 0u64);
        while let Some(e) = entries.try_next().await? {
            if copied_before.contains_key(&e.archive_id) {
                skipped += 1;
                continue;
            }
            if !ctx.quiet && ctx.output != Output::Json {
                eprintln!("copying {} ({} bytes) of {name}", e.archive_id, e.size);
            }
            let job = retrieve_and_wait(ctx, &src, &source, &e.archive_id, None).await?;
            let temp = work.join(format!(
                "{}.data",
                &glacier_core::TreeHash::of(e.archive_id.as_bytes()).to_hex()[..32]
            ));
            download_job(&job, &temp, 8, 4)
                .await
                .with_context(|| format!("downloading {}", e.archive_id))?;
            let (_, tree) = glacier_client::utils::compute_hashes_from_file(&temp).await?;
            if tree != e.sha256_tree_hash {
                bail!(
                    "archive {} downloaded with tree hash {tree}, but the inventory says {}",
                    e.archive_id,
                    e.sha256_tree_hash
                );
            }
            let description = Some(e.archive_description.as_str()).filter(|d| !d.is_empty());
            let new_id = upload_file(ctx, &dest, &temp, e.size, description, None, 4)
                .await
                .with_context(|| {
                    format!(
                        "uploading {} to {to} (run the migration again to continue)",
                        e.archive_id
                    )
                })?;
            writeln!(log, "{} {new_id}", e.archive_id)?;
            log.sync_data()?;
            std::fs::remove_file(&temp)?;
            copied += 1;
            bytes += e.size;
        }
        report.push(
            json!({"vault": name, "copied": copied, "already_copied": skipped, "bytes": bytes}),
        );
    }
    if ctx.output == Output::Json {
        output::json(&json!({"from": from.to_string(), "to": to.to_string(), "vaults": report}));
    } else {
        let rows: Vec<Vec<String>> = report
            .iter()
            .map(|r| {
                vec![
                    r["vault"].as_str().unwrap_or_default().to_owned(),
                    r["copied"].to_string(),
                    r["already_copied"].to_string(),
                    r["bytes"].to_string(),
                ]
            })
            .collect();
        output::table(&["VAULT", "COPIED", "ALREADY COPIED", "BYTES"], &rows);
    }
    Ok(())
}
