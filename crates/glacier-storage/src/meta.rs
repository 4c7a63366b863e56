//! The metadata store: vaults, archives and their segments, multipart uploads and their parts.

use crate::Result;
use crate::blob::BlobKey;
use async_trait::async_trait;
use glacier_core::multipart::PartInfo;
use glacier_core::{Digest, TreeHash};
use glacier_core::{LockState, Tier};
use std::collections::{BTreeMap, HashSet};
use time::OffsetDateTime;

mod job;
pub use job::*;

/// A vault is named within its account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VaultKey {
    pub account: String,
    pub name: String,
}

/// What the store holds, for the operator's metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// Per account with at least one vault, in account order.
    pub accounts: Vec<AccountUsage>,
    /// Jobs not yet completed, in every vault.
    pub jobs_in_progress: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountUsage {
    pub account: String,
    pub vaults: u64,
    pub archives: u64,
    pub bytes: u64,
}

/// An account's totals at one time, as the usage history keeps them
/// ([`MetadataStore::sample_usage`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageSample {
    pub at: OffsetDateTime,
    pub vaults: u64,
    pub archives: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vault {
    pub key: VaultKey,
    /// The region the vault was created in, fixed for its life: its ARN names it.
    pub region: String,
    pub created: OffsetDateTime,
    pub last_inventory: Option<OffsetDateTime>,
    /// Archives in the vault now (committed and not deleted).
    pub archive_count: u64,
    pub size: u64,
    /// The vault's totals as of its last daily inventory ([`InventorySnapshot`]), if one was
    /// taken.
    pub inventoried: Option<InventoryTotals>,
}

/// Whether a vault is due for its daily inventory at `now` (all in ms): written since its last
/// inventory (`taken`; `last` is its last write, negative if never), and `period` past it — or,
/// before the first, `period` past its first write (`first`).
pub(crate) fn inventory_due(
    taken: Option<i64>,
    first: i64,
    last: i64,
    now: i64,
    period: i64,
) -> bool {
    match taken {
        _ if last < 0 => false,
        Some(t) => last > t && now >= t.saturating_add(period),
        None => now >= first.saturating_add(period),
    }
}

/// Archives and bytes of a vault as an inventory saw them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InventoryTotals {
    pub archives: u64,
    pub bytes: u64,
}

/// A vault's inventory as AWS takes it, about once a day (`glacier serve --aws-timing`): when
/// it was taken, the document — one JSON object a line, each archive committed by then in
/// creation order — and its totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventorySnapshot {
    pub taken: OffsetDateTime,
    pub document: Segment,
    pub totals: InventoryTotals,
}

/// A vault due for its daily inventory, and when the inventory it is due after was taken
/// (none before the first): what [`MetadataStore::record_inventory`] checks is still the
/// vault's last when the new one is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueInventory {
    pub vault: VaultKey,
    pub follows: Option<OffsetDateTime>,
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

/// An archive without its segments, as listings show it (and as a daily inventory's
/// document keeps it, one JSON object a line, its time in milliseconds as stored).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ArchiveSummary {
    pub id: String,
    pub description: String,
    pub size: u64,
    pub tree_hash: TreeHash,
    #[serde(
        rename = "created_ms",
        with = "time::serde::timestamp::milliseconds_i64"
    )]
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

impl Completion {
    /// The answer to completing again an upload that made the archive `done` (id, size, tree
    /// hash): its id when this completion asks for the same size and tree hash (completion is
    /// idempotent), else a conflict.
    pub(crate) fn again(&self, upload_id: &str, done: (String, u64, TreeHash)) -> Result<String> {
        let (archive_id, size, tree_hash) = done;
        if size == self.archive_size && tree_hash == self.tree_hash {
            return Ok(archive_id);
        }
        Err(crate::StorageError::Conflict(format!(
            "The multipart upload {upload_id} was already completed with another archive size or tree hash"
        )))
    }

    /// The archive an upload's `parts` (in order of their start) make, once they are checked
    /// to make exactly the size and tree hash this completion states: each part's segment
    /// becomes one of the archive's, no byte is copied.
    pub(crate) fn archive(
        &self,
        upload: UploadRecord,
        parts: Vec<PartRecord>,
    ) -> Result<ArchiveRecord> {
        let infos: Vec<PartInfo> = parts
            .iter()
            .map(|p| PartInfo {
                start: p.start,
                size: p.segment.size,
                tree_hash: p.segment.tree_hash.0,
            })
            .collect();
        glacier_core::multipart::check_complete(
            upload.part_size,
            &infos,
            self.archive_size,
            &self.tree_hash,
        )
        .map_err(|e| crate::StorageError::Invalid(e.0))?;
        Ok(ArchiveRecord {
            id: self.archive_id.clone(),
            description: upload.description.unwrap_or_default(),
            size: self.archive_size,
            tree_hash: self.tree_hash,
            created: self.now,
            segments: parts.into_iter().map(|p| p.segment).collect(),
        })
    }
}

/// Which archives a listing returns: created in `[created_from, created_before)`, after
/// `after`, in creation order (ties by id).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ArchiveQuery {
    pub after: Option<ArchiveCursor>,
    pub created_from: Option<OffsetDateTime>,
    pub created_before: Option<OffsetDateTime>,
    pub limit: usize,
}

/// A vault lock: its policy, and whether it is still being tried out or locked for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultLock {
    pub policy: String,
    pub state: LockState,
    pub lock_id: String,
    pub created: OffsetDateTime,
    /// When an `InProgress` lock lapses.
    pub expires: Option<OffsetDateTime>,
}

/// A vault's region, access policy document and lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultPolicies {
    pub region: String,
    pub access: Option<String>,
    pub lock: Option<VaultLock>,
    /// The vault itself, when the store read it in the same statement (PostgreSQL, where a
    /// second read is a second round trip), so that the operation authorized needs no read of
    /// its own; `None` where the policies come from a cache (SQLite).
    pub vault: Option<Vault>,
}

/// What [`MetadataStore::swap_vault_lock`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockSwap {
    /// The lock was as expected and is now the new one.
    Swapped,
    /// Another transition came first: nothing changed, and this is the lock now.
    Changed(Option<VaultLock>),
}

/// A limit an archive retrieval must fit, counted over the account's retrieval ledger in the
/// very transaction that records the retrieval, so that concurrent retrievals — on one node or
/// several — cannot both fit one allowance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// Ledger entries at or after this time count.
    pub since: OffsetDateTime,
    /// Which entries count: the Expedited ones, or the others (Standard and Bulk).
    pub expedited: bool,
    pub allowance: Allowance,
}

/// What an [`Admission`] allows in its window, this retrieval included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowance {
    Retrievals(u64),
    Bytes(u64),
}

/// How long retrievals stay in the ledger [`MetadataStore::retrievals_since`] reads: the data
/// retrieval policy's windows need a day; the console graphs the last 90.
pub const RETRIEVAL_LEDGER_DAYS: i64 = 90;

/// A provisioned capacity unit of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapacityUnit {
    pub id: String,
    pub start: OffsetDateTime,
    pub expires: OffsetDateTime,
}

/// An archive retrieval an account started: what data retrieval policies and provisioned
/// capacity count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retrieval {
    pub at: OffsetDateTime,
    pub bytes: u64,
    pub tier: Tier,
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
    /// Creates a vault in `region`, or returns the existing one (creation is idempotent; the
    /// vault keeps its first region). Fails with `LimitExceeded` when the account already has
    /// `max_vaults` vaults.
    async fn create_vault(
        &self,
        key: &VaultKey,
        region: &str,
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
    /// Deletes an empty vault with its unfinished uploads and its jobs; returns the blobs that
    /// nothing refers to any more. Fails with `Invalid` when the vault holds archives.
    async fn delete_vault(&self, key: &VaultKey) -> Result<Vec<BlobKey>>;

    async fn get_notifications(&self, key: &VaultKey) -> Result<Option<Notifications>>;
    async fn set_notifications(&self, key: &VaultKey, config: Option<Notifications>) -> Result<()>;

    async fn insert_archive(&self, key: &VaultKey, archive: ArchiveRecord) -> Result<()>;
    /// Inserts many archives in one transaction (imports, benchmarks): all or none.
    async fn import_archives(&self, key: &VaultKey, archives: Vec<ArchiveRecord>) -> Result<()>;
    async fn get_archive(&self, key: &VaultKey, id: &str) -> Result<ArchiveRecord>;
    /// An archive without its segments (what a check of its age or size needs).
    async fn get_archive_summary(&self, key: &VaultKey, id: &str) -> Result<ArchiveSummary>;
    /// Archives of a vault in creation order, as `query` selects.
    async fn list_archives(
        &self,
        key: &VaultKey,
        query: &ArchiveQuery,
    ) -> Result<Page<ArchiveSummary>>;
    /// Deletes an archive; returns its blobs that no job output still refers to. Deleting an
    /// archive of this vault that was deleted already succeeds again and frees nothing
    /// (DeleteArchive is idempotent); an id the vault never had is not found.
    /// Deletes an archive at `now` (its id is kept, with the time, until the vault is deleted).
    async fn delete_archive(
        &self,
        key: &VaultKey,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<BlobKey>>;

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

    /// Creates a job; an archive retrieval is also recorded as a [`Retrieval`] of the vault's
    /// account, kept (whatever becomes of the job) for at least [`RETRIEVAL_LEDGER_DAYS`].
    /// With `admission`, the retrieval is recorded only if it fits the allowance (in the same
    /// transaction); else `NotAdmitted` and nothing changes.
    async fn create_job(
        &self,
        key: &VaultKey,
        job: JobRecord,
        admission: Option<Admission>,
    ) -> Result<JobRecord>;
    /// The account's archive retrievals started at or after `since`, oldest first.
    async fn retrievals_since(
        &self,
        account: &str,
        since: OffsetDateTime,
    ) -> Result<Vec<Retrieval>>;
    async fn get_job(&self, key: &VaultKey, id: &str) -> Result<JobRecord>;
    /// Jobs of a vault in creation order, after the job at position `after`.
    async fn list_jobs(
        &self,
        key: &VaultKey,
        filter: &JobFilter,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Page<JobRecord>>;
    /// Claims jobs in progress that are due at `now` and not claimed (or whose claim lapsed),
    /// with their vaults: each is held until `lease_until`, so that of several engines (one
    /// per node) one completes it, and another takes it over if that one stops.
    async fn claim_due_jobs(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<(VaultKey, JobRecord)>>;
    /// Keeps a job in progress claimed until `until` (a retrieval waiting for its blobs to be
    /// restored: no engine looks at it again before then). `NotFound` if it is not in progress.
    async fn hold_job(&self, key: &VaultKey, id: &str, until: OffsetDateTime) -> Result<()>;
    /// When the job engine next has work: the earliest time a job in progress is due and
    /// unclaimed, or a finished job expires, if there is any.
    async fn next_deadline(&self) -> Result<Option<OffsetDateTime>>;
    /// Ends a job in progress (`NotFound` if it is not in progress any more). An inventory
    /// also sets the vault's last inventory date.
    async fn finish_job(
        &self,
        key: &VaultKey,
        id: &str,
        finish: JobFinish,
        now: OffsetDateTime,
        expires: OffsetDateTime,
    ) -> Result<JobRecord>;
    /// A finished job's output: its segments in order (an archive job's cover the whole archive).
    async fn job_output(&self, key: &VaultKey, id: &str) -> Result<(JobRecord, Vec<Segment>)>;
    /// Forgets jobs that expired at `now`; returns the blobs nothing refers to any more.
    async fn expire_jobs(&self, now: OffsetDateTime) -> Result<Vec<BlobKey>>;

    /// Sets tags (overwriting keys that exist); fails with `LimitExceeded` when the vault
    /// would hold more than `max` tags.
    async fn add_tags(
        &self,
        key: &VaultKey,
        tags: &BTreeMap<String, String>,
        max: usize,
    ) -> Result<()>;
    /// Removes tags; keys that do not exist are ignored.
    async fn remove_tags(&self, key: &VaultKey, keys: &[String]) -> Result<()>;
    async fn list_tags(&self, key: &VaultKey) -> Result<BTreeMap<String, String>>;

    /// What authorizing a request on the vault needs, read at once: its region, its access
    /// policy and its lock (an `InProgress` lock past its expiry too: when a lock lapses is
    /// the caller's rule).
    async fn vault_policies(&self, key: &VaultKey) -> Result<VaultPolicies>;
    async fn set_access_policy(&self, key: &VaultKey, policy: Option<String>) -> Result<()>;
    /// Every vault lock transition, as one compare-and-set: if the vault's lock is still
    /// `expected` (none, or a lock with the same id and state), it becomes `new`; otherwise
    /// nothing changes and the lock found is returned, so that of two racing transitions
    /// exactly one takes effect and the other can answer for the state it lost to.
    async fn swap_vault_lock(
        &self,
        key: &VaultKey,
        expected: Option<&VaultLock>,
        new: Option<VaultLock>,
    ) -> Result<LockSwap>;

    /// The account's data retrieval policy document, if one was set.
    async fn get_retrieval_policy(&self, account: &str) -> Result<Option<String>>;
    async fn set_retrieval_policy(&self, account: &str, policy: &str) -> Result<()>;
    /// Adds a capacity unit; fails with `LimitExceeded` when the account already has `max`
    /// units that have not expired at `unit.start`.
    async fn purchase_capacity(&self, account: &str, unit: CapacityUnit, max: usize) -> Result<()>;
    /// The account's capacity units, expired ones included, in the order they were bought.
    async fn list_capacity(&self, account: &str) -> Result<Vec<CapacityUnit>>;

    /// Of `candidates`, the blobs no archive, part or job output refers to.
    async fn unreferenced_blobs(&self, candidates: Vec<BlobKey>) -> Result<Vec<BlobKey>>;
    /// Every blob some archive, part or job output refers to (for checks and tools; it holds
    /// every key in memory).
    async fn referenced_blobs(&self) -> Result<HashSet<BlobKey>>;
    /// Vaults, archives and bytes per account, and the jobs in progress (one read).
    /// Vaults due for their daily inventory at `now`: written (an archive added or deleted)
    /// since their last inventory, and `period` past it — or, before the first, past their
    /// first write.
    async fn inventories_due(
        &self,
        now: OffsetDateTime,
        period: std::time::Duration,
    ) -> Result<Vec<DueInventory>>;
    /// Makes `snapshot` the vault's inventory (its `last_inventory` the snapshot's time) if the
    /// vault's last inventory is still the one it follows (taken at `follows`; `None`: none
    /// yet), and refuses it otherwise — another node took the same day's and recorded it
    /// first. Returns the blobs nothing refers to any more (the replaced document's, or the
    /// refused one's).
    async fn record_inventory(
        &self,
        key: &VaultKey,
        snapshot: InventorySnapshot,
        follows: Option<OffsetDateTime>,
    ) -> Result<Vec<BlobKey>>;
    /// The vault's last daily inventory, if one was taken.
    async fn inventory_snapshot(&self, key: &VaultKey) -> Result<Option<InventorySnapshot>>;
    /// When an archive was last added to or deleted from the vault, if ever.
    async fn last_write(&self, key: &VaultKey) -> Result<Option<OffsetDateTime>>;

    async fn usage(&self) -> Result<Usage>;
    /// Adds every account's totals (as [`MetadataStore::usage`] counts them) to the usage
    /// history as taken at `at`, unless a sample at `at` is there already (nodes sampling on
    /// the same schedule add each one once), and forgets samples taken before
    /// `forget_before`.
    async fn sample_usage(&self, at: OffsetDateTime, forget_before: OffsetDateTime) -> Result<()>;
    /// The account's usage samples taken at or after `since`, oldest first.
    async fn usage_history(&self, account: &str, since: OffsetDateTime)
    -> Result<Vec<UsageSample>>;
}
