//! The state files that let interrupted commands continue (resumable uploads, purge and
//! migration checkpoints, cached inventories: a cache, safe to lose) and the sync journals
//! (kept with the data: losing one means an inventory job to rebuild it).

use anyhow::Context;
use std::path::PathBuf;

/// `$GLACIER_STATE_DIR` (everything in one place, for tests and scripts), else `glacier` in
/// the platform directory `platform` gives (`what` names it in the error).
fn base_dir(platform: fn() -> Option<PathBuf>, what: &str) -> anyhow::Result<PathBuf> {
    match std::env::var_os("GLACIER_STATE_DIR") {
        Some(d) => Ok(PathBuf::from(d)),
        None => Ok(platform()
            .with_context(|| format!("no platform {what} directory; set GLACIER_STATE_DIR"))?
            .join("glacier")),
    }
}

/// Where the state files are kept: the cache dir (`~/.cache/glacier`).
fn state_dir() -> anyhow::Result<PathBuf> {
    base_dir(dirs::cache_dir, "cache")
}

/// Where the sync journals are kept: the data dir (`~/.local/share/glacier`), never a cache.
fn data_dir() -> anyhow::Result<PathBuf> {
    base_dir(dirs::data_dir, "data")
}

/// The file of `kind` for `key` (as [`state_file`] names it) in the data dir; one left in the
/// cache dir by an older version is moved there.
pub(crate) fn data_file(kind: &str, key: &str, ext: &str) -> anyhow::Result<PathBuf> {
    let dir = data_dir()?.join(kind);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(file_name(key, ext));
    if !path.exists()
        && let Ok(old) = state_file(kind, key, ext)
        && old != path
        && old.exists()
    {
        std::fs::rename(&old, &path)
            .or_else(|_| std::fs::copy(&old, &path).map(|_| ()))
            .with_context(|| format!("moving {} to {}", old.display(), path.display()))?;
    }
    Ok(path)
}

fn file_name(key: &str, ext: &str) -> String {
    let name = &glacier_core::TreeHash::of(key.as_bytes()).to_hex()[..32];
    format!("{name}.{ext}")
}

/// The state file of `kind` (`uploads`, `purge`, `inventory`, `migrate`, `sync`) for `key` —
/// what identifies the work (target, vault, paths, sizes…), hashed into the name — with
/// extension `ext`, in `state_dir()/kind`, which is created.
pub(crate) fn state_file(kind: &str, key: &str, ext: &str) -> anyhow::Result<PathBuf> {
    let dir = state_dir()?.join(kind);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir.join(file_name(key, ext)))
}
