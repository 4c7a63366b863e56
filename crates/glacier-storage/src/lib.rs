//! Where glacier-server keeps its state: a [`MetadataStore`] for vaults, archives, uploads and
//! parts, and a [`BlobStore`] for the bytes.
//!
//! An archive is an ordered list of immutable [`Segment`]s, one per uploaded part (a single-request
//! upload is one segment). Completing a multipart upload turns the upload's parts into the
//! archive's segments in one metadata transaction: no byte is copied. Each segment keeps its
//! per-MiB leaf hashes, so the tree hash of any aligned range is answered without reading data.
//!
//! This crate knows nothing of HTTP. Operations that must be atomic are one call.

pub mod blob;
mod columns;
#[cfg(test)]
mod conformance;
pub mod fs;
pub mod meta;
mod open;
pub mod postgres;
pub mod s3;
pub mod sqlite;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use blob::{BlobKey, BlobStore, BlobWriter, StorageClass, Thaw, Thawed};
pub use fs::FsBlobStore;
pub use meta::*;
pub use open::{DEFAULT_RESERVE, OpenError, Opened, Sharing, Storage, open};
pub use postgres::PostgresMetadataStore;
pub use s3::{S3BlobStore, S3Config};
pub use sqlite::SqliteMetadataStore;

/// What can go wrong in a store. Callers match on the variants; the messages are for people.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{kind} not found: {id}")]
    NotFound { kind: Resource, id: String },
    /// A vault that still holds archives cannot be deleted.
    #[error("vault {vault} holds {archives} archives")]
    NotEmpty { vault: String, archives: u64 },
    /// The request contradicts what is stored (an upload completed again with another size or
    /// tree hash).
    #[error("{0}")]
    Conflict(String),
    /// The request broke a rule that can only be checked against stored state (the parts of
    /// an upload do not make the archive it is completed as).
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    LimitExceeded(String),
    /// An archive retrieval does not fit its [`meta::Admission`]: `used` of `allowed` are
    /// taken in the window already (retrievals or bytes, as the allowance counts).
    #[error("the retrieval does not fit: {used} of {allowed} used")]
    NotAdmitted { used: u64, allowed: u64 },
    /// An upload would leave less than the store's reserve free (or the disk is full): the
    /// reserve is kept for retrievals, deletions and metadata, which still succeed.
    #[error("{0}")]
    Full(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The backend failed, or holds something it cannot read; `source` is the cause, if any.
    #[error("{message}")]
    Backend {
        message: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

/// What a store did not find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Vault,
    Archive,
    MultipartUpload,
    Job,
    /// A job that is not in progress (any more): one completing it finds it finished.
    JobInProgress,
    Blob,
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Resource::Vault => "vault",
            Resource::Archive => "archive",
            Resource::MultipartUpload => "multipart upload",
            Resource::Job => "job",
            Resource::JobInProgress => "job in progress",
            Resource::Blob => "blob",
        })
    }
}

impl StorageError {
    pub fn not_found(kind: Resource, id: impl Into<String>) -> StorageError {
        StorageError::NotFound {
            kind,
            id: id.into(),
        }
    }

    /// A backend failure without an underlying error (a row that cannot be read, a task that
    /// died).
    pub fn backend(message: impl Into<String>) -> StorageError {
        StorageError::Backend {
            message: message.into(),
            source: None,
        }
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;
