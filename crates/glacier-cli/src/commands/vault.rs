//! `glacier vault create|list|describe|delete|purge`.

use super::{Ctx, state_file, wait_options};
use crate::output::{self};
use anyhow::Context;
use futures_util::TryStreamExt;
use glacier_client::Vault;
use glacier_client::layer2::InventoryRequest;
use glacier_core::ErrorCode;
use serde_json::json;

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

pub(super) fn vault_json(v: &Vault) -> serde_json::Value {
    json!({"name": v.name, "arn": v.arn, "creation_date": v.creation_date,
           "last_inventory_date": v.last_inventory_date, "archives": v.number_of_archives, "size": v.size})
}

pub(super) fn vault_row(v: &Vault) -> Vec<String> {
    vec![
        v.name.clone(),
        v.number_of_archives.to_string(),
        v.size.to_string(),
        v.creation_date.clone(),
        v.last_inventory_date.clone().unwrap_or_else(|| "-".into()),
    ]
}

pub(super) const VAULT_HEADER: &[&str] = &["NAME", "ARCHIVES", "SIZE", "CREATED", "LAST INVENTORY"];

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
pub(super) async fn purge(
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
    let checkpoint = state_file("purge", &format!("{}\n{name}", ctx.target), "deleted")?;
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
