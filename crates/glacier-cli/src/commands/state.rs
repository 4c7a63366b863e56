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

/// Multipart uploads that no rerun can continue (standard input cannot be read again), each
/// with the key of the guard that registered it.
static UNRESUMABLE: std::sync::Mutex<Vec<(u64, glacier_client::Vault, String)>> =
    std::sync::Mutex::new(Vec::new());
static NEXT_GUARD: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn unresumable() -> std::sync::MutexGuard<'static, Vec<(u64, glacier_client::Vault, String)>> {
    UNRESUMABLE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Until [`AbortOnInterrupt::done`], the multipart upload it names is aborted if the command is
/// interrupted ([`abort_unresumable`]): stored parts are billed until an upload is aborted. A
/// guard dropped without `done` (its future cancelled by the Ctrl-C) leaves the upload
/// registered for the abort.
pub(crate) struct AbortOnInterrupt(u64);

/// Registers `upload_id` of `vault` as one that a rerun cannot continue.
pub(crate) fn abort_on_interrupt(
    vault: &glacier_client::Vault,
    upload_id: &str,
) -> AbortOnInterrupt {
    let key = NEXT_GUARD.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    unresumable().push((key, vault.clone(), upload_id.to_owned()));
    AbortOnInterrupt(key)
}

impl AbortOnInterrupt {
    /// The upload finished, or failed and was dealt with.
    pub(crate) fn done(self) {
        unresumable().retain(|(key, ..)| *key != self.0);
    }
}

/// On Ctrl-C: aborts the uploads registered by [`abort_on_interrupt`] (each within 10 s);
/// whether there were any, in which case the command cannot be continued by a rerun.
pub(crate) async fn abort_unresumable() -> bool {
    let uploads: Vec<_> = unresumable().drain(..).collect();
    for (_, vault, upload_id) in &uploads {
        let abort = vault
            .layer1()
            .abort_multipart_upload(&vault.name, upload_id);
        if !matches!(
            tokio::time::timeout(std::time::Duration::from_secs(10), abort).await,
            Ok(Ok(()))
        ) {
            eprintln!(
                "warning: could not abort the multipart upload {upload_id} of vault {}: `glacier multipart abort` removes it",
                vault.name
            );
        }
    }
    !uploads.is_empty()
}
