//! `sync` and `restore`: a directory kept in a vault, file by file, each archive described in
//! mt-aws-glacier's `mt2` format (relative path and mtime), so that a vault can be restored
//! from its inventory alone and vaults made by mt-aws-glacier interoperate.

use crate::commands::{Ctx, download_job, retrieve_and_wait, state_file};
use crate::output::{self, Output};
use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::TryStreamExt;
use glacier_client::layer1::Transfer;
use glacier_client::layer2::InventoryRequest;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

/// Encodes a relative path and mtime (seconds since the epoch) as an `mt2` description.
pub(crate) fn mt2_encode(path: &str, mtime: i64) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp(mtime).ok()?;
    let iso = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let json = serde_json::to_string(&json!({"filename": path, "mtime": iso})).ok()?;
    let out = format!("mt2 {}", URL_SAFE_NO_PAD.encode(json));
    (out.len() <= 1024).then_some(out)
}

/// Decodes an `mt2` (or the older `mt1`) description into (relative path, mtime).
pub(crate) fn mt_decode(description: &str) -> Option<(String, i64)> {
    let (marker, b64) = description.split_once(' ')?;
    let bytes = URL_SAFE_NO_PAD.decode(b64.trim_end_matches('=')).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let filename = v.get("filename")?.as_str()?.to_owned();
    let mtime = match marker {
        "mt1" => v.get("mtime")?.as_i64()?,
        "mt2" => {
            let s = v.get("mtime")?.as_str()?;
            let format =
                time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
            time::PrimitiveDateTime::parse(s, format)
                .ok()?
                .assume_utc()
                .unix_timestamp()
        }
        _ => return None,
    };
    Some((filename, mtime))
}

/// A path from a description is only restored inside the target directory.
fn safe_relative(path: &str) -> Option<PathBuf> {
    let p = Path::new(path);
    let ok = !path.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)));
    ok.then(|| p.to_path_buf())
}

/// One line of the sync journal.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct JournalEntry {
    path: String,
    size: u64,
    mtime: i64,
    archive_id: String,
}

fn journal_path(ctx: &Ctx, vault: &str, dir: &Path) -> anyhow::Result<PathBuf> {
    state_file(
        "sync",
        &format!("{}\n{vault}\n{}", ctx.target, dir.display()),
        "jsonl",
    )
}

fn read_journal(path: &Path) -> HashMap<String, JournalEntry> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<JournalEntry>(l).ok())
        .map(|e| (e.path.clone(), e))
        .collect()
}

fn mtime_of(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

fn globs(patterns: &[String]) -> anyhow::Result<Option<globset::GlobSet>> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut b = globset::GlobSetBuilder::new();
    for p in patterns {
        b.add(globset::Glob::new(p).with_context(|| format!("bad pattern {p:?}"))?);
    }
    Ok(Some(b.build()?))
}

#[derive(clap::Args)]
pub(crate) struct SyncArgs {
    dir: PathBuf,
    #[arg(long)]
    vault: String,
    /// Only files whose relative path matches one of these globs.
    #[arg(long)]
    include: Vec<String>,
    /// Leave out files whose relative path matches one of these globs.
    #[arg(long)]
    exclude: Vec<String>,
    /// Say what would be uploaded; upload nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Uploads new and changed files (by size and mtime against the journal).
pub(crate) async fn sync(ctx: &Ctx, args: SyncArgs) -> anyhow::Result<()> {
    let dir = std::fs::canonicalize(&args.dir)
        .with_context(|| format!("cannot read {}", args.dir.display()))?;
    let (include, exclude) = (globs(&args.include)?, globs(&args.exclude)?);
    let journal_file = journal_path(ctx, &args.vault, &dir)?;
    let journal = read_journal(&journal_file);
    let mut todo = Vec::new();
    let mut skipped = 0usize;
    for entry in walkdir::WalkDir::new(&dir).sort_by_file_name() {
        let entry = entry.with_context(|| format!("walking {}", dir.display()))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let Some(rel) = entry
            .path()
            .strip_prefix(&dir)
            .ok()
            .and_then(|r| r.to_str())
            .map(str::to_owned)
        else {
            eprintln!(
                "warning: skipping {}: the name is not UTF-8",
                entry.path().display()
            );
            continue;
        };
        if include.as_ref().is_some_and(|g| !g.is_match(&rel))
            || exclude.as_ref().is_some_and(|g| g.is_match(&rel))
        {
            continue;
        }
        let meta = entry.metadata()?;
        let (size, mtime) = (meta.len(), mtime_of(&meta));
        if journal
            .get(&rel)
            .is_some_and(|j| j.size == size && j.mtime == mtime)
        {
            skipped += 1;
            continue;
        }
        if size == 0 {
            eprintln!("warning: skipping {rel}: empty files cannot be archives");
            continue;
        }
        todo.push((rel, entry.path().to_path_buf(), size, mtime));
    }
    let mut uploaded = Vec::new();
    if !args.dry_run && !todo.is_empty() {
        let total: u64 = todo.iter().map(|t| t.2).sum();
        let (progress, conn) = ctx
            .connect_with(
                format!("syncing {}", dir.display()),
                Some(total),
                Transfer::Sent,
            )
            .await?;
        let vault = conn.vault(&args.vault).await?;
        std::fs::create_dir_all(journal_file.parent().unwrap_or(Path::new(".")))?;
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&journal_file)?;
        for (rel, path, size, mtime) in &todo {
            let description = mt2_encode(rel, *mtime).with_context(|| {
                format!("{rel}: the path is too long for an archive description")
            })?;
            let archive_id =
                crate::commands::upload_file(ctx, &vault, path, *size, Some(&description), None, 4)
                    .await?;
            let line = serde_json::to_string(&JournalEntry {
                path: rel.clone(),
                size: *size,
                mtime: *mtime,
                archive_id: archive_id.clone(),
            })?;
            writeln!(log, "{line}")?;
            log.sync_data()?;
            uploaded.push(json!({"path": rel, "archive_id": archive_id, "size": size}));
        }
        progress.finish();
    }
    if ctx.output == Output::Json {
        let planned: Vec<_> = todo
            .iter()
            .map(|t| json!({"path": t.0, "size": t.2}))
            .collect();
        output::json(
            &json!({"uploaded": uploaded, "would_upload": if args.dry_run { planned } else { vec![] }, "unchanged": skipped, "dry_run": args.dry_run}),
        );
    } else {
        for (rel, ..) in &todo {
            println!(
                "{} {rel}",
                if args.dry_run {
                    "would upload"
                } else {
                    "uploaded"
                }
            );
        }
        println!(
            "{} file(s) {}, {skipped} unchanged",
            todo.len(),
            if args.dry_run {
                "to upload"
            } else {
                "uploaded"
            }
        );
    }
    Ok(())
}

#[derive(clap::Args)]
pub(crate) struct RestoreArgs {
    dir: PathBuf,
    #[arg(long)]
    vault: String,
    /// Say what would be restored; download nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Restores every file the vault's inventory describes (mt2/mt1 descriptions; the newest archive
/// of a path wins) into `dir`, with its mtime; files already there with that size and mtime are
/// left alone.
pub(crate) async fn restore(ctx: &Ctx, args: RestoreArgs) -> anyhow::Result<()> {
    let (progress, conn) = ctx
        .connect_with(
            format!("restoring {}", args.dir.display()),
            None,
            Transfer::Received,
        )
        .await?;
    let vault = conn.vault(&args.vault).await?;
    let mut inv = vault
        .retrieve_inventory_job(InventoryRequest::default())
        .await?;
    inv.wait(crate::commands::wait_options(), None).await?;
    let entries: Vec<_> = inv.inventory().await?.try_collect().await?;
    let mut latest: HashMap<PathBuf, (String, i64, u64, String)> = HashMap::new();
    for e in entries {
        let Some((name, mtime)) = mt_decode(&e.archive_description) else {
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
    progress.start(todo.iter().map(|t| t.1.2).sum());
    let mut restored = Vec::new();
    if !args.dry_run {
        for (rel, (archive_id, mtime, _, _)) in &todo {
            let target = args.dir.join(rel);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            let job = retrieve_and_wait(ctx, &conn, &vault, archive_id, None).await?;
            download_job(&job, &target, 8, 4).await?;
            let file = std::fs::OpenOptions::new().write(true).open(&target)?;
            let when = std::time::UNIX_EPOCH
                + std::time::Duration::from_secs(u64::try_from(*mtime).unwrap_or(0));
            file.set_modified(when)?;
            restored.push(json!({"path": rel.display().to_string(), "archive_id": archive_id}));
        }
    }
    progress.finish();
    if ctx.output == Output::Json {
        let planned: Vec<_> = todo
            .iter()
            .map(|t| json!({"path": t.0.display().to_string(), "archive_id": t.1.0}))
            .collect();
        output::json(
            &json!({"restored": restored, "would_restore": if args.dry_run { planned } else { vec![] }, "dry_run": args.dry_run}),
        );
    } else {
        for (rel, _) in &todo {
            println!(
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
    if todo.is_empty() && !ctx.quiet && ctx.output != Output::Json {
        println!("nothing to restore");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mt2_round_trip_and_mt_aws_glacier_compatibility() {
        let d = mt2_encode("photos/été 2024.jpg", 1_700_000_000).unwrap();
        assert!(
            d.starts_with("mt2 ") && d.bytes().all(|b| (0x20..=0x7e).contains(&b)),
            "{d}"
        );
        assert_eq!(
            mt_decode(&d),
            Some(("photos/été 2024.jpg".to_string(), 1_700_000_000))
        );
        // As mt-aws-glacier writes them: JSON {"mtime":"20131104T123456Z","filename":...}.
        let theirs = format!(
            "mt2 {}",
            URL_SAFE_NO_PAD.encode(r#"{"mtime":"20131104T123456Z","filename":"dir/file.txt"}"#)
        );
        assert_eq!(
            mt_decode(&theirs),
            Some(("dir/file.txt".to_string(), 1_383_568_496))
        );
        let mt1 = format!(
            "mt1 {}",
            URL_SAFE_NO_PAD.encode(r#"{"mtime":1383568496,"filename":"a"}"#)
        );
        assert_eq!(mt_decode(&mt1), Some(("a".to_string(), 1_383_568_496)));
        assert_eq!(mt_decode("plain description"), None);
        assert_eq!(mt_decode("mt2 !!!"), None);
    }

    #[test]
    fn restored_paths_stay_inside() {
        assert!(safe_relative("a/b.txt").is_some());
        for bad in ["/etc/passwd", "../x", "a/../../x", ""] {
            assert!(safe_relative(bad).is_none(), "{bad}");
        }
    }
}
