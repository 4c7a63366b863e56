//! `glacier vault create|list|describe|delete|purge`.

use super::{Ctx, state_file, wait_for};
use crate::output::out;
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
    Create {
        /// 1 to 255 letters, digits, '_', '-' and '.'.
        #[arg(value_parser = vault_name)]
        name: String,
    },
    /// List the vaults.
    List,
    /// Show a vault's archive count, size and dates.
    Describe {
        /// The vault.
        name: String,
    },
    /// Delete an empty vault.
    Delete {
        /// The vault.
        name: String,
    },
    /// Delete every archive a (streamed) inventory lists, then the vault once an inventory
    /// comes back empty. Checkpointed: run again to continue.
    Purge {
        /// The vault.
        name: String,
        /// Delete the archives but keep the vault.
        #[arg(long)]
        keep_vault: bool,
        /// Say how many archives (and bytes) would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// Delete without asking. Without it the purge asks on a terminal, and refuses when
        /// standard input is not one (a script, a pipe, cron).
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

/// A vault name as Glacier allows them, checked before any request.
fn vault_name(s: &str) -> Result<String, String> {
    glacier_core::validate::vault_name(s)
        .map(|()| s.to_owned())
        .map_err(|e| e.0)
}

pub(super) fn vault_json(v: &Vault) -> serde_json::Value {
    json!({"name": v.name, "arn": v.arn, "creation_date": v.creation_date,
           "last_inventory_date": v.last_inventory_date, "archives": v.number_of_archives, "size": v.size})
}

pub(super) fn vault_row(v: &Vault) -> Vec<String> {
    vec![
        v.name.clone(),
        v.number_of_archives.to_string(),
        output::human_size(v.size),
        output::table_date(&v.creation_date),
        v.last_inventory_date
            .as_deref()
            .map_or_else(|| "-".into(), output::table_date),
    ]
}

pub(super) const VAULT_HEADER: &[&str] = &["NAME", "ARCHIVES", "SIZE", "CREATED", "LAST INVENTORY"];

pub(crate) async fn vault(ctx: &Ctx, cmd: VaultCmd) -> anyhow::Result<()> {
    let conn = ctx.connect().await?;
    let g = &conn.layer2;
    match cmd {
        VaultCmd::Create { name } => {
            // CreateVault succeeds for a vault that exists: say which it was.
            let existed = g.get_vault(&name).await.is_ok();
            let v = g
                .create_vault(&name)
                .await
                .with_context(|| format!("creating vault {name}"))?;
            if ctx.json() {
                let mut j = vault_json(&v);
                j["created"] = json!(!existed);
                output::json(&j);
            } else if existed {
                out!("vault {} exists already ({})", v.name, v.arn);
            } else {
                out!("created vault {} ({})", v.name, v.arn);
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
        VaultCmd::Purge {
            name,
            keep_vault,
            dry_run,
            yes,
        } => {
            let how = Purge {
                keep_vault,
                dry_run,
                yes,
            };
            purge(ctx, g, &name, how).await?
        }
        VaultCmd::Delete { name } => {
            g.delete_vault(&name)
                .await
                .with_context(|| format!("deleting vault {name}"))?;
            ctx.report(json!({"vault": name, "deleted": true}), || {
                format!("deleted vault {name}")
            });
        }
    }
    Ok(())
}

/// Deletes every archive of a vault, checkpointing deleted ids in a state file so that an
/// interrupted purge continues without asking again; deletes the vault when an inventory
/// taken afterwards is empty.
pub(super) struct Purge {
    keep_vault: bool,
    dry_run: bool,
    yes: bool,
}

pub(super) async fn purge(
    ctx: &Ctx,
    g: &glacier_client::Layer2,
    name: &str,
    how: Purge,
) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let ask = !how.yes && !how.dry_run;
    if ask && !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "not confirmed: standard input is not a terminal to ask on, so nothing was deleted; pass --yes to purge {name} without asking (--dry-run shows what would go)"
        );
    }
    let vault = g
        .get_vault(name)
        .await
        .with_context(|| format!("vault {name}"))?;
    let checkpoint = state_file("purge", &format!("{}\n{name}", ctx.target), "deleted")?;
    let done = deleted_before(&checkpoint);
    let job = super::inventory_job(ctx, &vault).await?;
    let entries: Vec<_> = job
        .inventory()
        .await?
        .try_filter(|e| std::future::ready(!done.contains(&e.archive_id)))
        .try_collect()
        .await?;
    let size: u64 = entries.iter().map(|e| e.size).sum();
    if !confirmed(ctx, name, &how, entries.len(), size)? {
        return Ok(());
    }
    let deleted = delete_archives(&vault, &entries, &checkpoint).await?;
    let (left, vault_deleted, waits_for_inventory) = finish(ctx, &vault, &how, &checkpoint).await?;
    ctx.report(
        json!({"vault": name, "archives_deleted": deleted, "remaining": left, "vault_deleted": vault_deleted,
               "vault_waits_for_inventory": waits_for_inventory}),
        || {
            let after = if vault_deleted {
                "; vault deleted".to_owned()
            } else if waits_for_inventory {
                format!(
                    "; the service keeps the empty vault until its next inventory shows it empty (Amazon Glacier takes one about a day after the last deletion): run `glacier vault delete {name}` then"
                )
            } else {
                String::new()
            };
            format!("deleted {deleted} archive(s) of {name}; {left} left{after}")
        },
    );
    Ok(())
}

/// The archives earlier runs of this purge deleted (its checkpoint).
fn deleted_before(checkpoint: &std::path::Path) -> std::collections::HashSet<String> {
    std::fs::read_to_string(checkpoint)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Whether to go on: `--dry-run` says what would go and stops; on a terminal the user is asked
/// (unless `--yes`), and a refusal deletes nothing.
fn confirmed(ctx: &Ctx, name: &str, how: &Purge, count: usize, size: u64) -> anyhow::Result<bool> {
    let ask = !how.yes && !how.dry_run;
    if how.dry_run {
        ctx.report(
            json!({"vault": name, "would_delete": count, "size": size, "dry_run": true}),
            || {
                format!(
                    "would delete {} archive(s), {}, of {name}{}; nothing was deleted",
                    count,
                    output::human_size(size),
                    if how.keep_vault {
                        ""
                    } else {
                        ", then the vault"
                    }
                )
            },
        );
        return Ok(false);
    }
    if ask && (count > 0 || !how.keep_vault) {
        eprint!(
            "delete {} archive(s), {}, of {name}{} for good? [y/N] ",
            count,
            output::human_size(size),
            if how.keep_vault {
                ""
            } else {
                ", then the vault itself"
            }
        );
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            anyhow::bail!("not confirmed: nothing was deleted");
        }
    }
    Ok(true)
}

/// Deletes `entries`, each recorded in the checkpoint once gone; how many this run deleted.
async fn delete_archives(
    vault: &glacier_client::Vault,
    entries: &[glacier_client::inventory::InventoryEntry],
    checkpoint: &std::path::Path,
) -> anyhow::Result<u64> {
    use std::io::Write;
    let mut deleted = 0;
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(checkpoint)?;
    for e in entries {
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
    Ok(deleted)
}

/// Then the vault: a new inventory says what is left (on AWS it is the vault's last daily
/// inventory, which still lists what was deleted since, so only archives no run of this purge
/// deleted count); an empty vault is deleted unless kept. (Archives left, vault deleted,
/// whether the service keeps the empty vault until its next inventory.)
async fn finish(
    ctx: &Ctx,
    vault: &glacier_client::Vault,
    how: &Purge,
    checkpoint: &std::path::Path,
) -> anyhow::Result<(u64, bool, bool)> {
    let name = &vault.name;
    // A new inventory says what is left. On AWS it is the vault's last daily inventory, which
    // still lists what was deleted since: only archives no run of this purge deleted count.
    let gone = deleted_before(checkpoint);
    let mut again = vault
        .retrieve_inventory_job(InventoryRequest::default())
        .await?;
    wait_for(ctx, &mut again).await?;
    let left = again
        .inventory()
        .await?
        .try_fold(0u64, |n, e| {
            let kept = !gone.contains(&e.archive_id);
            async move { Ok(n + u64::from(kept)) }
        })
        .await?;
    let mut vault_deleted = false;
    let mut waits_for_inventory = false;
    if left == 0 && !how.keep_vault {
        match vault.delete().await {
            Ok(()) => vault_deleted = true,
            // AWS deletes a vault only once an inventory taken after its last write shows it
            // empty: it takes one about a day after the deletions.
            Err(e) if e.code() == Some(ErrorCode::InvalidParameterValueException) => {
                waits_for_inventory = true;
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!("deleting vault {name}")));
            }
        }
    }
    if vault_deleted || (left == 0 && how.keep_vault) {
        let _ = std::fs::remove_file(checkpoint);
    }
    Ok((left, vault_deleted, waits_for_inventory))
}
