//! The state files that let interrupted commands continue: resumable uploads, purge and
//! migration checkpoints, cached inventories, sync journals.

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

/// The state file of `kind` (`uploads`, `purge`, `inventory`, `migrate`, `sync`) for `key` —
/// what identifies the work (target, vault, paths, sizes…), hashed into the name — with
/// extension `ext`, in `state_dir()/kind`, which is created.
pub(crate) fn state_file(kind: &str, key: &str, ext: &str) -> anyhow::Result<PathBuf> {
    let dir = state_dir()?.join(kind);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = &glacier_core::TreeHash::of(key.as_bytes()).to_hex()[..32];
    Ok(dir.join(format!("{name}.{ext}")))
}
