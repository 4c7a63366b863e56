//! Layer2: the seed's `Layer2`, `Vault` and `Job` objects over [`Layer1`], with multipart
//! uploads (sequential or concurrent, resumable) and verified downloads (sequential or
//! concurrent, resumable).
//!
//! `vault` (vaults, jobs started on them), `upload` (single, multipart, concurrent, resumed
//! and streamed uploads), `job` (jobs: waiting, outputs, inventories), `download` (verified
//! chunked downloads, sequential and concurrent, resumable), `retrieval` (many archives
//! retrieved at once, each job handed out as it completes).

mod download;
mod job;
mod retrieval;
mod upload;
mod vault;

pub use download::ConcurrentDownloader;
pub use job::{Job, Output, WaitOptions};
pub use retrieval::{Polling, Retrieval, RetrievalOptions, is_gone};
pub(crate) use upload::complete;
pub use vault::{InventoryRequest, Vault};

use crate::error::Result;
use crate::layer1::Layer1;
use glacier_core::MIB;
use std::path::{Path, PathBuf};
use tokio::io::AsyncRead;

/// The seed's `Vault.DefaultPartSize`: 4 MiB.
pub const DEFAULT_PART_SIZE: u64 = 4 * MIB;

/// The seed's `Vault.SingleOperationThreshold`: archives up to 100 MiB go in one request.
pub const SINGLE_OPERATION_THRESHOLD: u64 = 100 * MIB;

/// The high-level client: vaults by name.
#[derive(Clone)]
pub struct Layer2 {
    pub layer1: Layer1,
}

impl Layer2 {
    pub fn new(layer1: Layer1) -> Layer2 {
        Layer2 { layer1 }
    }

    /// Creates a vault (or finds the existing one) and returns it.
    pub async fn create_vault(&self, name: &str) -> Result<Vault> {
        self.layer1.create_vault(name).await?;
        self.get_vault(name).await
    }

    pub async fn delete_vault(&self, name: &str) -> Result<()> {
        self.layer1.delete_vault(name).await
    }

    pub async fn get_vault(&self, name: &str) -> Result<Vault> {
        Ok(Vault::from_wire(
            self.layer1.clone(),
            self.layer1.describe_vault(name).await?,
        ))
    }

    /// Every vault of the account, following the pagination markers.
    pub async fn list_vaults(&self) -> Result<Vec<Vault>> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self.layer1.list_vaults(None, marker.as_deref()).await?;
            out.extend(
                page.vault_list
                    .into_iter()
                    .map(|v| Vault::from_wire(self.layer1.clone(), v)),
            );
            marker = page.marker;
            if marker.is_none() {
                return Ok(out);
            }
        }
    }
}

/// Where an archive's bytes come from.
pub enum Source {
    /// A file: parts are hashed and sent straight from disk, never held in memory.
    File(PathBuf),
    /// Any reader (a pipe, stdin): each part is read into memory, hashed and sent.
    Reader(Box<dyn AsyncRead + Send + Unpin>),
}

impl Source {
    /// The file, for a file.
    fn file(&self) -> Option<PathBuf> {
        match self {
            Source::File(p) => Some(p.clone()),
            Source::Reader(_) => None,
        }
    }
}

impl From<&Path> for Source {
    fn from(p: &Path) -> Self {
        Source::File(p.to_path_buf())
    }
}

impl From<PathBuf> for Source {
    fn from(p: PathBuf) -> Self {
        Source::File(p)
    }
}
