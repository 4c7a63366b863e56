//! `glacier inventory`: run an inventory job (or read the cached one), cache and print it.

use super::{Ctx, state_file, wait_for};
use crate::output::out;
use crate::output::{self};
use crate::target::{self};
use anyhow::Context;
use futures_util::TryStreamExt;
use glacier_client::{Job, Vault};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum InventoryFormat {
    Table,
    Json,
    Csv,
}

#[derive(clap::Args)]
pub(crate) struct InventoryArgs {
    /// The vault.
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
pub(crate) struct CachedInventory {
    pub(crate) vault: String,
    pub(crate) inventory_date: Option<String>,
    pub(crate) archives: Vec<CachedEntry>,
}

#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct CachedEntry {
    pub(crate) archive_id: String,
    pub(crate) description: String,
    pub(crate) creation_date: String,
    pub(crate) size: u64,
    pub(crate) sha256_tree_hash: String,
}

pub(super) fn inventory_cache(ctx: &Ctx, vault: &str) -> anyhow::Result<PathBuf> {
    state_file("inventory", &format!("{}\n{vault}", ctx.target), "json")
}

/// Runs an inventory job, streams its entries and caches them with the inventory's date.
pub(crate) async fn fetch_inventory(
    ctx: &Ctx,
    conn: &target::Connection,
    vault_name: &str,
) -> anyhow::Result<CachedInventory> {
    let vault = conn.vault(vault_name).await?;
    let job = inventory_job(ctx, &vault).await?;
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

/// The vault's inventory job, finished: one already in flight or finished that returns the
/// vault's latest inventory (a rerun of an interrupted command waits no second time: an
/// inventory takes about 4 hours on AWS), else a new one.
pub(crate) async fn inventory_job(ctx: &Ctx, vault: &Vault) -> anyhow::Result<Job> {
    let (mut job, reused) = vault
        .inventory_job()
        .await
        .with_context(|| format!("starting an inventory of {}", vault.name))?;
    if reused && !ctx.quiet && !ctx.json() {
        eprintln!(
            "using the inventory job {} {}",
            job.id,
            if job.completed {
                "already finished"
            } else {
                "already in progress"
            }
        );
    }
    wait_for(ctx, &mut job).await?;
    Ok(job)
}

/// The cached inventory of `vault`, if there is one that reads (a cache: losing it costs only
/// an inventory job).
fn read_cache(ctx: &Ctx, vault: &str) -> Option<CachedInventory> {
    let text = std::fs::read_to_string(inventory_cache(ctx, vault).ok()?).ok()?;
    serde_json::from_str(&text).ok()
}

/// An archive's size from the cached inventory, with the inventory's date.
pub(super) fn cached_size(
    ctx: &Ctx,
    vault: &str,
    archive_id: &str,
) -> Option<(u64, Option<String>)> {
    let inv = read_cache(ctx, vault)?;
    inv.archives
        .iter()
        .find(|e| e.archive_id == archive_id)
        .map(|e| (e.size, inv.inventory_date.clone()))
}

/// The archives' descriptions in the cached inventory (none without one).
pub(super) fn cached_descriptions(
    ctx: &Ctx,
    vault: &str,
) -> std::collections::HashMap<String, String> {
    read_cache(ctx, vault).map_or_else(Default::default, |inv| {
        inv.archives
            .into_iter()
            .map(|e| (e.archive_id, e.description))
            .collect()
    })
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
            let mut w = csv::Writer::from_writer(output::Stdout);
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
                out!(
                    "inventory of {} taken {}",
                    inv.vault,
                    output::table_date(date)
                );
            }
            let rows: Vec<Vec<String>> = inv
                .archives
                .iter()
                .map(|e| {
                    // mt2 descriptions (sync's, non-ASCII names) shown as the path they hold.
                    let description = match glacier_client::mt2::decode(&e.description) {
                        Some((path, _)) => path,
                        None => e.description.clone(),
                    };
                    vec![
                        e.archive_id.clone(),
                        output::human_size(e.size),
                        output::table_date(&e.creation_date),
                        description,
                    ]
                })
                .collect();
            output::table(&["ARCHIVE", "SIZE", "CREATED", "DESCRIPTION"], &rows);
        }
    }
    Ok(())
}
