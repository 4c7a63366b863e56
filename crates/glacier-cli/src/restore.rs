//! `restore`: a directory rebuilt from a vault's inventory (the mt2 descriptions `sync` and
//! mt-aws-glacier write), every archive's retrieval asked for at once.

use crate::commands::{Ctx, download_job, retrieve_and_wait};
use crate::output::out;
use crate::output::{self, Output};
use crate::sync::{EMPTIES_DESCRIPTION, Empties, mtime_of, safe_relative, system_time};
use anyhow::Context;
use futures_util::TryStreamExt;
use glacier_client::layer1::Transfer;
use glacier_client::layer2::InventoryRequest;
use glacier_client::layer2::{Polling, Retrieval};
use glacier_client::mt2;
use serde_json::json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub(crate) struct RestoreArgs {
    /// The directory to restore into (made if missing).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// The vault to restore from.
    #[arg(long)]
    vault: String,
    /// Expedited, Standard (the default) or Bulk, in any case: how fast the retrievals
    /// complete and what they cost on AWS (Bulk: 5–12 hours, a quarter of Standard's price).
    #[arg(long, value_parser = glacier_core::Tier::parse_loose)]
    tier: Option<glacier_core::Tier>,
    /// Say what would be restored, and what retrieving it would cost; download nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Restores every file the vault's inventory describes (mt2/mt1 descriptions; the newest archive
/// of a path wins) into `dir`, with its mtime; files already there with that size and mtime are
/// left alone.
pub(crate) async fn restore(ctx: &Ctx, args: RestoreArgs) -> anyhow::Result<()> {
    let (progress, conn) = ctx
        .connect_pending(
            format!("restoring {}", args.dir.display()),
            Transfer::Received,
        )
        .await?;
    let vault = conn.vault(&args.vault).await?;
    let mut inv = vault
        .retrieve_inventory_job(InventoryRequest::default())
        .await?;
    crate::commands::wait_for(ctx, &mut inv).await?;
    let entries: Vec<_> = inv.inventory().await?.try_collect().await?;
    let mut latest: HashMap<PathBuf, (String, i64, u64, String)> = HashMap::new();
    let mut empties_archive: Option<(String, String, u64)> = None;
    for e in entries {
        if e.archive_description == EMPTIES_DESCRIPTION {
            if empties_archive
                .as_ref()
                .is_none_or(|(_, d, _)| *d < e.creation_date)
            {
                empties_archive = Some((e.archive_id, e.creation_date, e.size));
            }
            continue;
        }
        let Some((name, mtime)) = mt2::decode(&e.archive_description) else {
            continue;
        };
        let Some(rel) = safe_relative(&name) else {
            eprintln!("warning: not restoring {name:?}: the path leaves the target directory");
            continue;
        };
        if latest.get(&rel).is_none_or(|l| l.3 < e.creation_date) {
            latest.insert(rel, (e.archive_id, mtime, e.size, e.creation_date));
        }
    }
    let mut todo: Vec<_> = latest
        .into_iter()
        .filter(|(rel, (_, mtime, size, _))| {
            std::fs::metadata(args.dir.join(rel))
                .map_or(true, |m| m.len() != *size || mtime_of(&m) != *mtime)
        })
        .collect();
    todo.sort_by(|a, b| a.0.cmp(&b.0));
    let empties_size = empties_archive.as_ref().map_or(0, |e| e.2);
    let plan = crate::commands::retrieval_plan(
        todo.len() as u64,
        todo.iter().map(|t| t.1.2).sum(),
        args.tier.unwrap_or_default(),
    );
    if !todo.is_empty() && !ctx.quiet && ctx.output != Output::Json {
        eprintln!("{}", plan.1);
    }
    progress.start(todo.iter().map(|t| t.1.2).sum::<u64>() + empties_size);
    let mut restored = Vec::new();
    if !args.dry_run && !todo.is_empty() {
        // Every retrieval asked for at once, each archive downloaded as its job completes:
        // the restore waits about one retrieval's time, not one per archive.
        let wanted: HashMap<&str, (&PathBuf, i64)> = todo
            .iter()
            .map(|(rel, (id, mtime, _, _))| (id.as_str(), (rel, *mtime)))
            .collect();
        let ids: Vec<String> = todo.iter().map(|t| t.1.0.clone()).collect();
        let mut retrieval = vault
            .retrieve_archives(&ids, args.tier, Polling::default())
            .await
            .context("starting the retrievals")?;
        let waiting = output::Spinner::new(ctx.output, ctx.quiet);
        // A log (no terminal) gets a line at the start and at most one a minute after.
        let logged: std::cell::Cell<Option<std::time::Instant>> = std::cell::Cell::new(None);
        let say = |retrieval: &Retrieval| {
            let text = format!(
                "{} restored; waiting for {} of {} retrievals",
                restored_count(ids.len(), retrieval),
                retrieval.in_flight(),
                ids.len()
            );
            waiting.set(&text);
            if logged
                .get()
                .is_none_or(|at| at.elapsed() >= std::time::Duration::from_secs(60))
            {
                logged.set(Some(std::time::Instant::now()));
                waiting.line(&text, || {
                    json!({"event": "waiting", "retrievals": ids.len(), "in_flight": retrieval.in_flight()})
                });
            }
        };
        say(&retrieval);
        while let Some(job) = retrieval.next().await {
            let job = job.context("waiting for the retrievals")?;
            let Some((rel, mtime)) = job.archive_id.as_deref().and_then(|a| wanted.get(a)) else {
                continue;
            };
            let target = args.dir.join(rel);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            download_job(&job, &target, 8 << 20, 4).await?;
            let file = std::fs::OpenOptions::new().write(true).open(&target)?;
            file.set_modified(system_time(*mtime))?;
            restored.push(json!({"path": rel.display().to_string(), "archive_id": job.archive_id}));
            if retrieval.in_flight() > 0 {
                say(&retrieval);
            }
        }
        waiting.finish();
    }
    let empties = match &empties_archive {
        Some((archive_id, _, _)) if !args.dry_run => {
            restore_empties(ctx, &conn, &vault, archive_id, &args.dir).await?
        }
        _ => Empties::default(),
    };
    progress.finish();
    if ctx.output == Output::Json {
        let planned: Vec<_> = todo
            .iter()
            .map(|t| json!({"path": t.0.display().to_string(), "archive_id": t.1.0}))
            .collect();
        output::json(
            &json!({"restored": restored, "would_restore": if args.dry_run { planned } else { vec![] }, "plan": plan.0, "empty_files": empties.files, "empty_directories": empties.directories, "dry_run": args.dry_run}),
        );
    } else {
        for (rel, _) in &todo {
            out!(
                "{} {}",
                if args.dry_run {
                    "would restore"
                } else {
                    "restored"
                },
                rel.display()
            );
        }
    }
    if ctx.output != Output::Json {
        for f in &empties.files {
            out!("restored {f} (empty)");
        }
        for d in &empties.directories {
            out!("restored {d}/ (empty directory)");
        }
        if todo.is_empty() && empties.is_empty() && !ctx.quiet {
            out!("nothing to restore");
        }
    }
    Ok(())
}

/// How many of `total` retrievals were handed out already.
fn restored_count(total: usize, retrieval: &Retrieval) -> usize {
    total.saturating_sub(retrieval.remaining())
}

/// Makes the empty files and directories the empties archive `archive_id` lists (those not
/// there yet; paths never leave `dir`); returns what it made.
async fn restore_empties(
    ctx: &Ctx,
    conn: &crate::target::Connection,
    vault: &glacier_client::Vault,
    archive_id: &str,
    dir: &Path,
) -> anyhow::Result<Empties> {
    let job = retrieve_and_wait(ctx, conn, vault, archive_id, None).await?;
    let list = crate::commands::state_file("restore", archive_id, "empties.json")?;
    download_job(&job, &list, 1 << 20, 1).await?;
    let listed: Empties = serde_json::from_slice(&std::fs::read(&list)?)
        .context("reading the list of empty files and directories")?;
    let _ = std::fs::remove_file(&list);
    let mut made = Empties::default();
    for d in listed.directories {
        if let Some(rel) = safe_relative(&d)
            && !dir.join(&rel).exists()
        {
            std::fs::create_dir_all(dir.join(&rel))
                .with_context(|| format!("creating {}", dir.join(&rel).display()))?;
            made.directories.push(d);
        }
    }
    for f in listed.files {
        if let Some(rel) = safe_relative(&f)
            && !dir.join(&rel).exists()
        {
            let path = dir.join(&rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
            made.files.push(f);
        }
    }
    Ok(made)
}
