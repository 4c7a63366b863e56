//! `restore`: a directory rebuilt from a vault's inventory — the file names in the archives'
//! descriptions (this CLI's and mt-aws-glacier's mt2, FastGlacier's, JSON `Path`) or given by
//! `--names` — every archive's retrieval asked for at once.

use crate::commands::sync::{EMPTIES_DESCRIPTION, Empties, mtime_of, safe_relative, system_time};
use crate::commands::{
    Ctx, Names, RetrievalArgs, download_job, inventory_job, retrieve_each, state_file,
};
use crate::output::out;
use crate::output::{self, Output};
use anyhow::Context;
use futures_util::TryStreamExt;
use glacier_client::layer1::Transfer;
use glacier_core::TreeHash;
use serde_json::json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(clap::Args)]
pub(crate) struct RestoreArgs {
    /// The directory to restore into (made if missing).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// The vault to restore from.
    #[arg(long)]
    vault: String,
    #[command(flatten)]
    retrieval: RetrievalArgs,
    /// Replace local files that differ from the vault's copy even when they were changed
    /// after it was archived (such files are kept by default, and named).
    #[arg(long)]
    overwrite: bool,
    /// Say what would be restored, and what retrieving it would cost; download nothing.
    #[arg(long)]
    dry_run: bool,
}

/// The archive that holds a file the inventory names (kept for every file: a million-archive
/// vault plans in a few hundred MB).
struct Wanted {
    archive_id: String,
    size: u64,
    tree_hash: TreeHash,
    /// The file's mtime as its description records it, else none.
    mtime: Option<i64>,
    created: String,
}

/// Restores every file the vault's inventory names (the newest archive of a path wins) into
/// `dir`, with its mtime. A file already there is left alone when it has the archive's size and
/// mtime, or its content; one that differs is replaced unless it changed after the archive
/// was made (kept unless `--overwrite`).
pub(crate) async fn restore(ctx: &Ctx, args: RestoreArgs) -> anyhow::Result<()> {
    let names = args.retrieval.names()?;
    let (progress, conn) = ctx
        .connect_pending(
            format!("restoring {}", args.dir.display()),
            Transfer::Received,
        )
        .await?;
    let vault = conn.vault(&args.vault).await?;
    let inv = inventory_job(ctx, &vault).await?;
    let found = Found::read(&inv, &names).await?;
    let mut todo = Vec::new();
    let mut kept = Vec::new();
    for (rel, w) in found.latest {
        match local_state(&args.dir.join(&rel), &w).await? {
            Local::Missing | Local::Older => todo.push((rel, w)),
            Local::Newer if args.overwrite => todo.push((rel, w)),
            Local::Newer => kept.push(rel),
            Local::Same => {}
        }
    }
    todo.sort_unstable_by(|a, b| a.0.as_os_str().cmp(b.0.as_os_str()));
    kept.sort();
    let bytes: u64 = todo.iter().map(|(_, w)| w.size).sum();
    let plan = crate::commands::retrieval_plan(
        todo.len() as u64,
        bytes,
        args.retrieval.tier.unwrap_or_default(),
    )?;
    if !todo.is_empty() && !ctx.quiet && ctx.output != Output::Json {
        eprintln!("{}", plan.1);
    }
    progress.start(bytes + found.empties.as_ref().map_or(0, |e| e.size));
    let empties_list = match &found.empties {
        Some(e) => Some(state_file("restore", &e.archive_id, "empties.json")?),
        None => None,
    };
    let mut restored = Restored::default();
    if !args.dry_run {
        let empties = found.empties.as_ref().map(|e| e.archive_id.clone());
        let empties = empties.zip(empties_list.clone());
        restored = retrieve(ctx, &vault, &args, &todo, empties).await?;
    }
    let empties = match &empties_list {
        Some(list) if list.exists() => restore_empties(list, &args.dir)?,
        _ => Empties::default(),
    };
    progress.finish();
    let mut plan = plan.0;
    plan["retrievals"] = restored.counts;
    let lists = (&restored.files[..], &kept[..], &found.unnamed[..]);
    report(ctx, &args, &todo, lists, &empties, plan)?;
    if let Some((id, why)) = restored.failed.first() {
        anyhow::bail!(
            "{} failed (archive {id}: {why}); run the restore again to retry",
            output::plural(restored.failed.len() as u64, "retrieval")
        );
    }
    Ok(())
}

/// The sync's list of empty files and directories: the newest such archive.
struct EmptiesArchive {
    archive_id: String,
    created: String,
    size: u64,
}

/// What the inventory names: for each path the newest archive, the empties archive, and the
/// archives that name no file.
struct Found {
    latest: HashMap<PathBuf, Wanted>,
    empties: Option<EmptiesArchive>,
    unnamed: Vec<String>,
}

impl Found {
    /// Reads the inventory as it streams (a million archives are never all in memory).
    async fn read(inv: &glacier_client::Job, names: &Names) -> anyhow::Result<Found> {
        let mut entries = std::pin::pin!(inv.inventory().await?);
        let mut found = Found {
            latest: HashMap::new(),
            empties: None,
            unnamed: Vec::new(),
        };
        while let Some(e) = entries.try_next().await? {
            if e.archive_description == EMPTIES_DESCRIPTION {
                if found
                    .empties
                    .as_ref()
                    .is_none_or(|d| d.created < e.creation_date)
                {
                    found.empties = Some(EmptiesArchive {
                        archive_id: e.archive_id,
                        created: e.creation_date,
                        size: e.size,
                    });
                }
                continue;
            }
            let Some(name) = names.of(&e.archive_id, &e.archive_description) else {
                found.unnamed.push(e.archive_id);
                continue;
            };
            let Some(rel) = safe_relative(&name.path) else {
                eprintln!(
                    "warning: not restoring {:?}: the path leaves the target directory",
                    name.path
                );
                continue;
            };
            if found
                .latest
                .get(&rel)
                .is_none_or(|l| l.created < e.creation_date)
            {
                let tree_hash = e.sha256_tree_hash.parse().with_context(|| {
                    format!("archive {}: the inventory's tree hash", e.archive_id)
                })?;
                let wanted = Wanted {
                    archive_id: e.archive_id,
                    size: e.size,
                    tree_hash,
                    mtime: name.mtime,
                    created: e.creation_date,
                };
                found.latest.insert(rel, wanted);
            }
        }
        Ok(found)
    }
}

/// What the retrievals delivered.
#[derive(Default)]
struct Restored {
    /// Restored files: archive id, relative path, in path order.
    files: Vec<(String, PathBuf)>,
    /// Archives whose retrieval failed, with the reason.
    failed: Vec<(String, String)>,
    /// Retrievals started and reused, for the plan.
    counts: serde_json::Value,
}

/// Retrieves `todo` (with the empties archive and where its list goes, so that it costs no
/// second wait) and writes each file, with its mtime, as its job completes.
async fn retrieve(
    ctx: &Ctx,
    vault: &glacier_client::Vault,
    args: &RestoreArgs,
    todo: &[(PathBuf, Wanted)],
    empties: Option<(String, PathBuf)>,
) -> anyhow::Result<Restored> {
    let mut ids: Vec<String> = todo.iter().map(|(_, w)| w.archive_id.clone()).collect();
    ids.extend(empties.as_ref().map(|e| e.0.clone()));
    let targets: Arc<HashMap<String, (PathBuf, Option<i64>)>> = Arc::new(
        todo.iter()
            .map(|(rel, w)| (w.archive_id.clone(), (rel.clone(), w.mtime)))
            .chain(
                empties
                    .iter()
                    .map(|(id, list)| (id.clone(), (list.clone(), None))),
            )
            .collect(),
    );
    let dir = args.dir.clone();
    let done = retrieve_each(ctx, vault, &ids, args.retrieval.options(), |job| {
        let (targets, dir) = (targets.clone(), dir.clone());
        async move {
            let archive = job.archive_id.clone().unwrap_or_default();
            let (rel, mtime) = targets
                .get(&archive)
                .with_context(|| format!("archive {archive} was not asked for"))?;
            let target = dir.join(rel);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            download_job(&job, &target, 8 << 20, 4).await?;
            if let Some(mtime) = mtime {
                let file = std::fs::OpenOptions::new().write(true).open(&target)?;
                file.set_modified(system_time(*mtime))?;
            }
            Ok((archive, rel.clone()))
        }
    })
    .await?;
    let empties_id = empties.map(|e| e.0);
    let mut files: Vec<_> = done
        .delivered
        .into_iter()
        .filter(|(id, _)| Some(id) != empties_id.as_ref())
        .collect();
    files.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(Restored {
        files,
        failed: done.failed,
        counts: json!({"started": done.started, "reused": done.reused}),
    })
}

/// What a local file is, next to the vault's copy.
enum Local {
    Missing,
    /// The vault's copy: same size and mtime, or same content.
    Same,
    /// Differs, and was not changed after the archive was made.
    Older,
    /// Differs, and was changed after the archive was made (or in the same second).
    Newer,
}

async fn local_state(path: &Path, w: &Wanted) -> anyhow::Result<Local> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Local::Missing),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let local_mtime = mtime_of(&meta);
    if meta.len() == w.size && w.mtime == Some(local_mtime) {
        return Ok(Local::Same);
    }
    if meta.len() == w.size
        && glacier_client::utils::tree_hash_file(path)
            .await
            .with_context(|| format!("reading {}", path.display()))?
            == w.tree_hash
    {
        return Ok(Local::Same);
    }
    // The archive's time: the file's mtime it records, else when it was made.
    let archived = w.mtime.or_else(|| {
        time::OffsetDateTime::parse(&w.created, &time::format_description::well_known::Rfc3339)
            .ok()
            .map(|t| t.unix_timestamp())
    });
    Ok(match archived {
        // Changed in the archive's second too: kept, as nothing says it is older.
        Some(t) if local_mtime >= t => Local::Newer,
        _ => Local::Older,
    })
}

/// One file of the JSON report.
#[derive(serde::Serialize)]
struct Item<'a> {
    path: Displayed<'a>,
    archive_id: &'a str,
}

impl serde::Serialize for Displayed<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0.display())
    }
}

/// A path serialized as text.
struct Displayed<'a>(&'a Path);

/// What the run did (restored, kept, unnamed: the lists), or with `--dry-run` would do.
fn report(
    ctx: &Ctx,
    args: &RestoreArgs,
    todo: &[(PathBuf, Wanted)],
    (restored, kept, unnamed): (&[(String, PathBuf)], &[PathBuf], &[String]),
    empties: &Empties,
    plan: serde_json::Value,
) -> anyhow::Result<()> {
    if ctx.output == Output::Json {
        return report_json(args, todo, (restored, kept, unnamed), empties, plan);
    }
    if args.dry_run {
        for (rel, _) in todo {
            out!("would restore {}", rel.display());
        }
    }
    for (_, rel) in restored {
        out!("restored {}", rel.display());
    }
    for f in &empties.files {
        out!("restored {f} (empty)");
    }
    for d in &empties.directories {
        out!("restored {d}/ (empty directory)");
    }
    for rel in kept {
        out!(
            "kept {}: changed here after it was archived (--overwrite replaces it)",
            rel.display()
        );
    }
    if !unnamed.is_empty() {
        out!(
            "{}: `glacier get {} --vault {} -O FILE` retrieves one; --names FILE names them",
            if unnamed.len() == 1 {
                "1 archive has no file name in its description".to_owned()
            } else {
                format!(
                    "{} archives have no file name in their descriptions",
                    unnamed.len()
                )
            },
            unnamed[0],
            args.vault
        );
    }
    if todo.is_empty() && empties.is_empty() && kept.is_empty() && !ctx.quiet {
        out!("nothing to restore");
    }
    Ok(())
}

/// The JSON report, written as it is serialized: a million-file plan is never one string (or
/// one `serde_json::Value`) in memory.
fn report_json(
    args: &RestoreArgs,
    todo: &[(PathBuf, Wanted)],
    (restored, kept, unnamed): (&[(String, PathBuf)], &[PathBuf], &[String]),
    empties: &Empties,
    plan: serde_json::Value,
) -> anyhow::Result<()> {
    #[derive(serde::Serialize)]
    struct Report<'a> {
        restored: Vec<Item<'a>>,
        would_restore: Vec<Item<'a>>,
        kept: Vec<Displayed<'a>>,
        unnamed: &'a [String],
        plan: serde_json::Value,
        empty_files: &'a [String],
        empty_directories: &'a [String],
        dry_run: bool,
    }
    fn item<'a>(rel: &'a Path, archive_id: &'a str) -> Item<'a> {
        Item {
            path: Displayed(rel),
            archive_id,
        }
    }
    let report = Report {
        restored: restored.iter().map(|(id, rel)| item(rel, id)).collect(),
        would_restore: todo
            .iter()
            .filter(|_| args.dry_run)
            .map(|(rel, w)| item(rel, &w.archive_id))
            .collect(),
        kept: kept.iter().map(|p| Displayed(p)).collect(),
        unnamed,
        plan,
        empty_files: &empties.files,
        empty_directories: &empties.directories,
        dry_run: args.dry_run,
    };
    let mut out = std::io::BufWriter::new(output::Stdout);
    serde_json::to_writer(&mut out, &report)?;
    std::io::Write::write_all(&mut out, b"\n")?;
    std::io::Write::flush(&mut out)?;
    Ok(())
}

/// Makes the empty files and directories that the downloaded `list` names (those not there
/// yet; paths never leave `dir`); returns what it made.
fn restore_empties(list: &Path, dir: &Path) -> anyhow::Result<Empties> {
    let listed: Empties = serde_json::from_slice(&std::fs::read(list)?)
        .context("reading the list of empty files and directories")?;
    let _ = std::fs::remove_file(list);
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
