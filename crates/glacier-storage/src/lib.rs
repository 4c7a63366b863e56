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
pub mod conformance;
pub mod fs;
pub mod meta;
pub mod sqlite;

pub use blob::{BlobKey, BlobStore, BlobWriter};
pub use fs::FsBlobStore;
pub use meta::*;
pub use sqlite::SqliteMetadataStore;

/// What can go wrong in a store.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{kind} not found: {id}")]
    NotFound { kind: &'static str, id: String },
    /// The request broke a rule that can only be checked against stored state.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("metadata store error: {0}")]
    Backend(String),
}

impl StorageError {
    pub fn not_found(kind: &'static str, id: impl Into<String>) -> StorageError {
        StorageError::NotFound {
            kind,
            id: id.into(),
        }
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;
