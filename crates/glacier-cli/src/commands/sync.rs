//! `sync` (and what `restore` shares with it): a directory kept in a vault, file by file, each archive described in
//! mt-aws-glacier's `mt2` format (relative path and mtime), so that a vault can be restored
//! from its inventory alone and vaults made by mt-aws-glacier interoperate.

use crate::commands::{Ctx, data_file, fetch_inventory};
use crate::output::out;
use crate::output::{self, Output};
use anyhow::Context;
use glacier_client::layer1::Transfer;
use glacier_client::mt2;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

/// A path from a description is only restored inside the target directory.
pub(crate) fn safe_relative(path: &str) -> Option<PathBuf> {
    let p = Path::new(path);
    let ok = !path.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)));
    ok.then(|| p.to_path_buf())
}

/// One line of the sync journal.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct JournalEntry {
    path: String,
    size: u64,
    /// Whole seconds, as the archive's mt2 description carries it.
    mtime: i64,
    archive_id: String,
    /// What the file was when it was uploaded, finer than `mtime`; none in a journal rebuilt
    /// from an inventory or written before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stamp: Option<Stamp>,
}

/// What a change to a file alters even within the second its size and whole-second mtime stay
/// the same (restic's rule): the mtime to the nanosecond, the ctime, the inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    mtime_ns: i128,
    ctime_ns: i128,
    inode: u64,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
        Stamp {
            mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
            inode: meta.ino(),
        }
    }
}

impl JournalEntry {
    /// Whether the file `meta` describes is the one this entry uploaded.
    fn unchanged(&self, meta: &std::fs::Metadata) -> bool {
        self.size == meta.len()
            && self.mtime == mtime_of(meta)
            && self.stamp.is_none_or(|s| s == Stamp::of(meta))
    }
}

/// The description of the archive that lists a synced tree's empty files and directories
/// (Glacier has no empty archives). Not mt2, so that mt-aws-glacier passes it by.
pub(crate) const EMPTIES_DESCRIPTION: &str = "glacier sync: empty files and directories";

/// What an empties archive holds: relative paths, sorted.
#[derive(Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Empties {
    pub(crate) files: Vec<String>,
    pub(crate) directories: Vec<String>,
}

impl Empties {
    pub(crate) fn is_empty(&self) -> bool {
        self.files.is_empty() && self.directories.is_empty()
    }
}

fn journal_path(ctx: &Ctx, vault: &str, dir: &Path) -> anyhow::Result<PathBuf> {
    data_file(
        "sync",
        &format!("{}\n{vault}\n{}", ctx.target, dir.display()),
        "jsonl",
    )
}

/// The journal's entries by path (the last line of a path wins); `None` if there is none.
fn read_journal(path: &Path) -> anyhow::Result<Option<HashMap<String, JournalEntry>>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    Ok(Some(
        text.lines()
            .filter_map(|l| serde_json::from_str::<JournalEntry>(l).ok())
            .map(|e| (e.path.clone(), e))
            .collect(),
    ))
}

/// Without a journal, what the vault holds is read from its inventory (the mt2 descriptions
/// carry path and mtime; the newest archive of a path wins) and written as the journal, so
/// that nothing already there is uploaded again. A vault that does not exist holds nothing.
async fn rebuild_journal(
    ctx: &Ctx,
    vault: &str,
    path: &Path,
) -> anyhow::Result<HashMap<String, JournalEntry>> {
    let conn = ctx.connect().await?;
    match conn.layer2.get_vault(vault).await {
        Err(e) if e.code() == Some(glacier_core::ErrorCode::ResourceNotFoundException) => {
            return Ok(HashMap::new());
        }
        other => other.with_context(|| format!("vault {vault}"))?,
    };
    if !ctx.quiet {
        eprintln!(
            "no sync journal for this directory and vault {vault}: reading the vault's inventory to learn what it holds"
        );
    }
    let inventory = fetch_inventory(ctx, &conn, vault).await?;
    let mut newest: HashMap<String, (String, JournalEntry)> = HashMap::new();
    for a in inventory.archives {
        let Some((rel, mtime)) = mt2::decode(&a.description) else {
            continue;
        };
        if newest
            .get(&rel)
            .is_none_or(|(date, _)| *date < a.creation_date)
        {
            let entry = JournalEntry {
                path: rel.clone(),
                size: a.size,
                mtime,
                archive_id: a.archive_id,
                stamp: None,
            };
            newest.insert(rel, (a.creation_date, entry));
        }
    }
    let journal: HashMap<_, _> = newest.into_iter().map(|(k, (_, e))| (k, e)).collect();
    let mut text = String::new();
    for e in journal.values() {
        text.push_str(&serde_json::to_string(e)?);
        text.push('\n');
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    if !ctx.quiet {
        eprintln!(
            "journal rebuilt from the inventory of {}: {} files",
            inventory.inventory_date.as_deref().unwrap_or("now"),
            journal.len()
        );
    }
    Ok(journal)
}

/// Seconds since the epoch, negative before 1970 (rounded down).
pub(crate) fn mtime_of(meta: &std::fs::Metadata) -> i64 {
    let Ok(t) = meta.modified() else { return 0 };
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => {
            let before = e.duration();
            let secs = before.as_secs() + u64::from(before.subsec_nanos() > 0);
            i64::try_from(secs).map_or(i64::MIN, |s| -s)
        }
    }
}

/// The time `mtime` (seconds since the epoch, negative before it) names.
pub(crate) fn system_time(mtime: i64) -> std::time::SystemTime {
    let offset = std::time::Duration::from_secs(mtime.unsigned_abs());
    if mtime >= 0 {
        std::time::UNIX_EPOCH + offset
    } else {
        std::time::UNIX_EPOCH - offset
    }
}

fn globs(patterns: &[String]) -> anyhow::Result<Option<globset::GlobSet>> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut b = globset::GlobSetBuilder::new();
    for p in patterns {
        // A pattern also takes in what is below it: `--exclude cache` leaves out cache/….
        let below = format!("{}/**", p.trim_end_matches('/'));
        for glob in [p.trim_end_matches('/'), below.as_str()] {
            b.add(globset::Glob::new(glob).with_context(|| format!("bad pattern {p:?}"))?);
        }
    }
    Ok(Some(b.build()?))
}

#[derive(clap::Args)]
pub(crate) struct SyncArgs {
    /// The directory to keep in the vault.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// The vault it is kept in; made if it does not exist.
    #[arg(long)]
    vault: String,
    /// Only files whose relative path matches one of these globs (a directory's name takes
    /// in everything below it).
    #[arg(long, value_name = "GLOB")]
    include: Vec<String>,
    /// Leave out files whose relative path matches one of these globs (a directory's name
    /// leaves out everything below it).
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,
    /// Say what would be uploaded; upload nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Uploads new and changed files (by size and mtime against the journal).
pub(crate) async fn sync(ctx: &Ctx, args: SyncArgs) -> anyhow::Result<()> {
    let dir = std::fs::canonicalize(&args.dir)
        .with_context(|| format!("cannot read {}", args.dir.display()))?;
    if !dir.is_dir() {
        anyhow::bail!(
            "{} is not a directory: sync keeps a directory in a vault (`glacier upload FILE --vault {}` uploads one file)",
            args.dir.display(),
            args.vault
        );
    }
    let (include, exclude) = (globs(&args.include)?, globs(&args.exclude)?);
    let journal_file = journal_path(ctx, &args.vault, &dir)?;
    let journal = match read_journal(&journal_file)? {
        Some(j) => j,
        None => rebuild_journal(ctx, &args.vault, &journal_file).await?,
    };
    let mut scan = Scan {
        dir: dir.clone(),
        quiet: ctx.quiet,
        ..Scan::default()
    };
    scan.walk(include.as_ref(), exclude.as_ref(), &journal);
    let uploaded = if args.dry_run {
        Vec::new()
    } else {
        upload_changes(ctx, &args.vault, &scan, &journal_file).await?
    };
    report(ctx, &args, &scan, uploaded);
    if !scan.unreadable.is_empty() {
        anyhow::bail!(
            "{} path(s) could not be read and were not archived: {}",
            scan.unreadable.len(),
            scan.unreadable.join(", ")
        );
    }
    Ok(())
}

/// What a walk of the directory found.
#[derive(Default)]
struct Scan {
    dir: PathBuf,
    quiet: bool,
    /// New and changed files: relative path, path, metadata.
    todo: Vec<(String, PathBuf, std::fs::Metadata)>,
    unchanged: usize,
    symlinks: Vec<String>,
    empties: Empties,
    unreadable: Vec<String>,
}

impl Scan {
    /// Walks the directory in name order: excluded directories are never entered; what
    /// cannot be read is reported and skipped.
    fn walk(
        &mut self,
        include: Option<&globset::GlobSet>,
        exclude: Option<&globset::GlobSet>,
        journal: &HashMap<String, JournalEntry>,
    ) {
        let dir = self.dir.clone();
        let excluded = |path: &Path| {
            path.strip_prefix(&dir)
                .ok()
                .and_then(|r| r.to_str())
                .is_some_and(|rel| !rel.is_empty() && exclude.is_some_and(|g| g.is_match(rel)))
        };
        let walk = walkdir::WalkDir::new(&dir)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| !excluded(e.path()));
        for entry in walk {
            match entry {
                Ok(entry) => self.visit(&entry, include, journal),
                Err(e) => {
                    let path = e.path().unwrap_or(&dir).to_path_buf();
                    match e.io_error() {
                        Some(io) => self.cannot_read(&path, io),
                        None => self.cannot_read(&path, &e),
                    }
                }
            }
        }
    }

    /// Takes in one entry of the walk.
    fn visit(
        &mut self,
        entry: &walkdir::DirEntry,
        include: Option<&globset::GlobSet>,
        journal: &HashMap<String, JournalEntry>,
    ) {
        let path = entry.path();
        if entry.file_type().is_symlink() {
            let rel = path.strip_prefix(&self.dir).unwrap_or(path);
            if !self.quiet {
                eprintln!(
                    "skipping {}: a symbolic link (links are not archived)",
                    rel.display()
                );
            }
            self.symlinks.push(rel.display().to_string());
            return;
        }
        let is_dir = entry.file_type().is_dir();
        if !(is_dir || entry.file_type().is_file()) || entry.depth() == 0 {
            return;
        }
        let Some(rel) = path
            .strip_prefix(&self.dir)
            .ok()
            .and_then(|r| r.to_str())
            .map(str::to_owned)
        else {
            eprintln!(
                "warning: skipping {}: the name is not UTF-8",
                path.display()
            );
            return;
        };
        if is_dir {
            // An unreadable directory is reported when the walk tries to enter it.
            if let Ok(mut inside) = std::fs::read_dir(path)
                && inside.next().is_none()
                && include.is_none()
            {
                self.empties.directories.push(rel);
            }
            return;
        }
        if include.is_some_and(|g| !g.is_match(&rel)) {
            return;
        }
        let meta = match entry.metadata() {
            Ok(meta) => meta,
            Err(e) => return self.cannot_read(path, &e),
        };
        if journal.get(&rel).is_some_and(|j| j.unchanged(&meta)) {
            self.unchanged += 1;
        } else if let Err(e) = std::fs::File::open(path) {
            self.cannot_read(path, &e);
        } else if meta.len() == 0 {
            self.empties.files.push(rel);
        } else {
            self.todo.push((rel, path.to_path_buf(), meta));
        }
    }

    /// A path that cannot be read: said, and named at the end.
    fn cannot_read(&mut self, path: &Path, e: &dyn std::fmt::Display) {
        let rel = path
            .strip_prefix(&self.dir)
            .unwrap_or(path)
            .display()
            .to_string();
        if !self.quiet {
            eprintln!("skipping {rel}: {e}");
        }
        self.unreadable.push(rel);
    }
}

/// Uploads what the scan found new or changed, and the list of empty files and directories
/// when it changed, over one connection (on the local store, one opening of it); each upload
/// is recorded in the journal as it completes. What was uploaded, for the report.
async fn upload_changes(
    ctx: &Ctx,
    vault_name: &str,
    scan: &Scan,
    journal_file: &Path,
) -> anyhow::Result<Vec<serde_json::Value>> {
    let empties_file = journal_file.with_extension("empties.json");
    let recorded: Option<Empties> = std::fs::read(&empties_file)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let empties_changed = recorded
        .as_ref()
        .map_or(!scan.empties.is_empty(), |r| *r != scan.empties);
    if !empties_changed && scan.todo.is_empty() {
        return Ok(Vec::new());
    }
    let total: u64 = scan.todo.iter().map(|t| t.2.len()).sum();
    let (progress, conn) = ctx
        .connect_with(
            format!("syncing {}", scan.dir.display()),
            Some(total),
            Transfer::Sent,
        )
        .await?;
    let vault = conn.vault_or_create(vault_name, ctx.quiet).await?;
    if empties_changed {
        let fresh = empties_file.with_extension("new");
        std::fs::write(&fresh, serde_json::to_vec(&scan.empties)?)
            .with_context(|| format!("writing {}", fresh.display()))?;
        if !scan.empties.is_empty() {
            vault
                .upload_archive(&fresh, Some(EMPTIES_DESCRIPTION))
                .await
                .context("uploading the list of empty files and directories")?;
        }
        std::fs::rename(&fresh, &empties_file)
            .with_context(|| format!("writing {}", empties_file.display()))?;
        // The list's bytes are not the files' bytes the bar counts.
        progress.start(total);
    }
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(journal_file)?;
    let mut uploaded = Vec::new();
    for (rel, path, meta) in &scan.todo {
        let (size, mtime) = (meta.len(), mtime_of(meta));
        let description = mt2::encode(rel, mtime).with_context(|| rel.clone())?;
        let archive_id =
            crate::commands::upload_file(ctx, &vault, path, size, Some(&description), None, 4)
                .await?;
        let line = serde_json::to_string(&JournalEntry {
            path: rel.clone(),
            size,
            mtime,
            archive_id: archive_id.clone(),
            stamp: Some(Stamp::of(meta)),
        })?;
        writeln!(log, "{line}")?;
        log.sync_data()?;
        uploaded.push(json!({"path": rel, "archive_id": archive_id, "size": size}));
    }
    progress.finish();
    Ok(uploaded)
}

/// What the run did (or, with `--dry-run`, would do).
fn report(ctx: &Ctx, args: &SyncArgs, scan: &Scan, uploaded: Vec<serde_json::Value>) {
    if ctx.output == Output::Json {
        let planned: Vec<_> = scan
            .todo
            .iter()
            .map(|t| json!({"path": t.0, "size": t.2.len()}))
            .collect();
        output::json(
            &json!({"uploaded": uploaded, "would_upload": if args.dry_run { planned } else { vec![] }, "unchanged": scan.unchanged, "empty_files": scan.empties.files, "empty_directories": scan.empties.directories, "skipped_symlinks": scan.symlinks, "unreadable": scan.unreadable, "dry_run": args.dry_run}),
        );
        return;
    }
    let verb = if args.dry_run {
        "would upload"
    } else {
        "uploaded"
    };
    for (rel, ..) in &scan.todo {
        out!("{verb} {rel}");
    }
    out!(
        "{} file(s) {}, {} unchanged{}",
        scan.todo.len(),
        if args.dry_run {
            "to upload"
        } else {
            "uploaded"
        },
        scan.unchanged,
        match scan.unreadable.len() {
            0 => String::new(),
            n => format!(", {n} unreadable skipped"),
        }
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restored_paths_stay_inside() {
        assert!(safe_relative("a/b.txt").is_some());
        for bad in ["/etc/passwd", "../x", "a/../../x", ""] {
            assert!(safe_relative(bad).is_none(), "{bad}");
        }
    }
}
