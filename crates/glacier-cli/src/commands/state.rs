//! The state files that let interrupted commands continue (resumable uploads, purge and
//! migration checkpoints, cached inventories: a cache, safe to lose) and the sync journals
//! (kept with the data: losing one means an inventory job to rebuild it).

use anyhow::Context;
use std::path::PathBuf;

/// Where the state files are kept: `$GLACIER_STATE_DIR`, else the platform cache dir.
fn state_dir() -> anyhow::Result<PathBuf> {
    match std::env::var_os("GLACIER_STATE_DIR") {
        Some(d) => Ok(PathBuf::from(d)),
        None => Ok(dirs::cache_dir()
            .context("no platform cache directory; set GLACIER_STATE_DIR")?
            .join("glacier")),
    }
}

/// Where the sync journals are kept: `$GLACIER_STATE_DIR`, else the platform data dir
/// (`~/.local/share/glacier`), never a cache.
fn data_dir() -> anyhow::Result<PathBuf> {
    match std::env::var_os("GLACIER_STATE_DIR") {
        Some(d) => Ok(PathBuf::from(d)),
        None => Ok(dirs::data_dir()
            .context("no platform data directory; set GLACIER_STATE_DIR")?
            .join("glacier")),
    }
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
