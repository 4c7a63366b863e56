//! The metadata store: vaults, archives and their segments, multipart uploads and their parts.

use crate::Result;
use crate::blob::BlobKey;
use async_trait::async_trait;
use glacier_core::multipart::PartInfo;
use glacier_core::{Digest, TreeHash};
use std::collections::HashSet;
use time::OffsetDateTime;

/// A vault is named within its account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VaultKey {
    pub account: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vault {
    pub key: VaultKey,
    pub created: OffsetDateTime,
    pub last_inventory: Option<OffsetDateTime>,
    /// Archives in the vault now (committed and not deleted).
    pub archive_count: u64,
    pub size: u64,
}

/// A vault's notification configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notifications {
    pub sns_topic: String,
    pub events: Vec<String>,
}

/// An immutable run of archive bytes in one blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub blob: BlobKey,
    pub size: u64,
    pub tree_hash: TreeHash,
    /// SHA-256 of each MiB of the segment (the last may cover less).
    pub leaves: Vec<Digest>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveRecord {
    pub id: String,
    pub description: String,
    pub size: u64,
    pub tree_hash: TreeHash,
    pub created: OffsetDateTime,
    /// In archive order; their sizes add up to `size`.
    pub segments: Vec<Segment>,
}

/// An archive without its segments, as listings show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveSummary {
    pub id: String,
    pub description: String,
    pub size: u64,
    pub tree_hash: TreeHash,
    pub created: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRecord {
    pub id: String,
    pub description: Option<String>,
    pub part_size: u64,
    pub created: OffsetDateTime,
}

/// One uploaded part: where it starts in the archive and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRecord {
    pub start: u64,
    pub segment: Segment,
}

/// What CompleteMultipartUpload asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The id the new archive gets (unless the upload was already completed).
    pub archive_id: String,
    pub archive_size: u64,
    pub tree_hash: TreeHash,
    pub now: OffsetDateTime,
}

/// One page of a listing; `more` says whether items follow the last one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub more: bool,
}

impl<T> Page<T> {
    /// A page from up to `limit + 1` fetched items: the extra one only says that more follow.
    pub fn from_overfetch(mut items: Vec<T>, limit: usize) -> Page<T> {
        let more = items.len() > limit;
        items.truncate(limit);
        Page { items, more }
    }
}

/// The metadata of every vault. Each method is one atomic, durable transaction: when it returns
/// `Ok`, its effect survives a crash; when it fails, nothing changed.
#[async_trait]
pub trait MetadataStore: Send + Sync + 'static {
    /// Creates a vault, or returns the existing one (creation is idempotent). Fails with
    /// `LimitExceeded` when the account already has `max_vaults` vaults.
    async fn create_vault(
        &self,
        key: &VaultKey,
        now: OffsetDateTime,
        max_vaults: u64,
    ) -> Result<Vault>;
    async fn get_vault(&self, key: &VaultKey) -> Result<Vault>;
    /// Vaults of an account in name order, starting after `after`.
    async fn list_vaults(
        &self,
        account: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Vault>>;
    /// Deletes an empty vault with its unfinished uploads; returns the blobs that are no longer
    /// referenced. Fails with `Invalid` when the vault holds archives.
    async fn delete_vault(&self, key: &VaultKey) -> Result<Vec<BlobKey>>;

    async fn get_notifications(&self, key: &VaultKey) -> Result<Option<Notifications>>;
    async fn set_notifications(&self, key: &VaultKey, config: Option<Notifications>) -> Result<()>;

    async fn insert_archive(&self, key: &VaultKey, archive: ArchiveRecord) -> Result<()>;
    async fn get_archive(&self, key: &VaultKey, id: &str) -> Result<ArchiveRecord>;
    /// Archives of a vault in id order, starting after `after`.
    async fn list_archives(
        &self,
        key: &VaultKey,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<ArchiveSummary>>;
    /// Deletes an archive; returns its blobs.
    async fn delete_archive(&self, key: &VaultKey, id: &str) -> Result<Vec<BlobKey>>;

    async fn create_upload(&self, key: &VaultKey, upload: UploadRecord) -> Result<()>;
    async fn get_upload(&self, key: &VaultKey, id: &str) -> Result<UploadRecord>;
    /// Unfinished uploads of a vault in id order, starting after `after`.
    async fn list_uploads(
        &self,
        key: &VaultKey,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<UploadRecord>>;
    /// Stores a part, replacing one uploaded before for the same range start; returns the blob of
    /// the part it replaced.
    async fn put_part(
        &self,
        key: &VaultKey,
        upload_id: &str,
        part: PartRecord,
    ) -> Result<Option<BlobKey>>;
    /// Parts in range order, starting at or after `from`.
    async fn list_parts(
        &self,
        key: &VaultKey,
        upload_id: &str,
        from: u64,
        limit: usize,
    ) -> Result<Page<PartInfo>>;
    /// Turns an upload's parts into an archive, after checking them with
    /// [`glacier_core::multipart::check_complete`] (failing with `Invalid`). Completing an upload
    /// again with the same size and tree hash returns the archive id of the first completion.
    async fn complete_upload(
        &self,
        key: &VaultKey,
        upload_id: &str,
        c: Completion,
    ) -> Result<String>;
    /// Deletes an upload with its parts; returns their blobs.
    async fn abort_upload(&self, key: &VaultKey, id: &str) -> Result<Vec<BlobKey>>;

    /// Every blob some archive or part refers to.
    async fn referenced_blobs(&self) -> Result<HashSet<BlobKey>>;
}
