//! A store opened from where it is configured to be — metadata in SQLite (the data directory)
//! or PostgreSQL (a `postgres://` URL), blobs as files (the data directory) or in an S3 bucket
//! — with what each needs at start: the data directory's lock, schema migration, the region of
//! vaults from before vaults kept one, the disk reserve. A new backend is added here (and in
//! its own module), and nowhere else.

use crate::{BlobStore, FsBlobStore, MetadataStore, PostgresMetadataStore, S3BlobStore, S3Config};
use crate::{SqliteMetadataStore, StorageError};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where a store keeps its state. Whatever is not elsewhere is in `data_dir`.
#[derive(Clone)]
pub struct Storage {
    /// The SQLite metadata and the blob files, when they are here; a process holds it alone
    /// (see [`OpenError::InUse`]). Unused when both are elsewhere.
    pub data_dir: PathBuf,
    /// Metadata at this URL instead of SQLite in the data directory: `postgres://…` (or
    /// `postgresql://…`), a database any number of nodes share.
    pub metadata: Option<String>,
    /// Blobs in this bucket instead of files in the data directory.
    pub s3: Option<S3Config>,
    /// With blobs in the data directory, the bytes uploads leave free on its filesystem, so
    /// that retrievals, deletions and metadata writes still succeed when uploads fill it;
    /// `None`: the smaller of [`DEFAULT_RESERVE`] and a tenth of the filesystem.
    pub reserve: Option<u64>,
}

/// The most the default [`Storage::reserve`] keeps free (on a volume of 2.5 GiB or more).
pub const DEFAULT_RESERVE: u64 = 256 << 20;

impl Storage {
    /// Everything in `data_dir`: the single-machine default.
    pub fn local(data_dir: impl Into<PathBuf>) -> Storage {
        Storage {
            data_dir: data_dir.into(),
            metadata: None,
            s3: None,
            reserve: None,
        }
    }

    /// Whether nothing is in the data directory, so that any number of nodes can serve the
    /// store (PostgreSQL and S3).
    pub fn is_shared(&self) -> bool {
        self.metadata.is_some() && self.s3.is_some()
    }

    /// Where the metadata and the blobs are, for people (no password).
    pub fn describe(&self) -> String {
        let dir = self.data_dir.display();
        let meta = match &self.metadata {
            Some(_) => "metadata in PostgreSQL".to_owned(),
            None => format!("metadata in {dir}"),
        };
        let blobs = match &self.s3 {
            Some(s3) => format!("blobs in bucket {} under {:?}", s3.bucket, s3.prefix),
            None => format!("blobs in {dir}"),
        };
        format!("{meta}, {blobs}")
    }
}

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "the data directory {} is in use by another glacier process (a server or a command on the local store); wait for it or stop it",
        .0.display()
    )]
    InUse(PathBuf),
    #[error(
        "metadata URL {0:?}: the metadata goes in PostgreSQL (postgres://USER:PASS@HOST/DB), or in the data directory without one"
    )]
    UnknownMetadata(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// How the nodes of an opened store share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// This process alone (SQLite metadata): nothing else writes; crash leftovers can be
    /// reclaimed at once.
    Alone,
    /// Any number of nodes (PostgreSQL metadata): others' jobs and writes are in flight.
    Nodes,
}

/// An opened store.
pub struct Opened {
    pub meta: Arc<dyn MetadataStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub sharing: Sharing,
    /// The data directory's exclusive lock, to hold while the store is used: two processes
    /// on one directory would delete each other's writes in progress when they recover at
    /// start-up. `None` when nothing is in the data directory.
    pub lock: Option<std::fs::File>,
}

/// Opens `storage`: the data directory's lock (unless nothing is there), the metadata store
/// with its schema brought up to date (a newer one refused), vaults from before vaults kept a
/// region given `region`, and the blob store with its reserve.
pub async fn open(storage: &Storage, region: &str) -> Result<Opened, OpenError> {
    let dir = &storage.data_dir;
    if let Some(url) = &storage.metadata
        && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
    {
        return Err(OpenError::UnknownMetadata(redact(url)));
    }
    let lock = if storage.is_shared() {
        None
    } else {
        Some(lock_data_dir(dir).await?)
    };
    let (meta, sharing): (Arc<dyn MetadataStore>, _) = match &storage.metadata {
        Some(url) => (
            Arc::new(PostgresMetadataStore::open(url).await?),
            Sharing::Nodes,
        ),
        None => {
            let meta = SqliteMetadataStore::open(dir.join("metadata.sqlite")).await?;
            let assigned = meta.assign_legacy_region(region).await?;
            if assigned > 0 {
                tracing::info!(
                    count = assigned,
                    region,
                    "vaults created before vaults kept their region now keep this one"
                );
            }
            (Arc::new(meta), Sharing::Alone)
        }
    };
    let blobs: Arc<dyn BlobStore> = match &storage.s3 {
        Some(config) => Arc::new(S3BlobStore::open(config).await?),
        None => Arc::new(open_files(dir, storage.reserve).await?),
    };
    Ok(Opened {
        meta,
        blobs,
        sharing,
        lock,
    })
}

/// A URL without what may be a password.
fn redact(url: &str) -> String {
    match url.split_once('@') {
        Some((_, host)) => format!("…@{host}"),
        None => url.to_owned(),
    }
}

/// Creates `dir` if needed and takes its exclusive lock.
async fn lock_data_dir(dir: &Path) -> Result<std::fs::File, OpenError> {
    tokio::fs::create_dir_all(dir).await?;
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => Err(OpenError::InUse(dir.to_path_buf())),
        Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
    }
}

/// The blob files in `dir`, keeping `reserve` free (by default the smaller of
/// [`DEFAULT_RESERVE`] and a tenth of the volume); says at once when the volume has less free
/// than that, since every upload would then be refused.
async fn open_files(dir: &Path, reserve: Option<u64>) -> Result<FsBlobStore, StorageError> {
    let files = FsBlobStore::open(dir).await?;
    let space = files.space().await?;
    let reserve =
        reserve.unwrap_or_else(|| crate::fs::default_reserve(space.total, DEFAULT_RESERVE));
    if space.available <= reserve {
        tracing::warn!(
            "the disk holding {} has {} free, no more than the {} uploads leave free (--reserve): every upload will be refused until space is freed or the reserve is lowered",
            dir.display(),
            crate::fs::mib(space.available),
            crate::fs::mib(reserve),
        );
    }
    Ok(files.reserve(reserve))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A metadata URL of no backend is refused, without its password, before anything is
    /// made; the data directory alone opens SQLite and files, held by this process.
    #[tokio::test]
    async fn backends_are_chosen_by_url() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let mut storage = Storage::local(dir.path().join("store"));
        storage.metadata = Some("mysql://user:secret@db/glacier".into());
        match open(&storage, "us-east-1").await {
            Err(e @ OpenError::UnknownMetadata(_)) => {
                let text = e.to_string();
                assert!(
                    text.contains("…@db/glacier") && !text.contains("secret"),
                    "{text}"
                );
            }
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("a mysql:// URL opened"),
        }
        assert!(!dir.path().join("store").exists(), "nothing made");
        let opened = open(&Storage::local(dir.path().join("store")), "us-east-1").await?;
        assert_eq!(opened.sharing, Sharing::Alone);
        assert!(opened.lock.is_some());
        assert!(matches!(
            open(&Storage::local(dir.path().join("store")), "us-east-1").await,
            Err(OpenError::InUse(_))
        ));
        Ok(())
    }
}
