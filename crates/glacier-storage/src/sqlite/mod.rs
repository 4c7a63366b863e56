//! The default metadata store: one SQLite database in WAL mode with `synchronous=FULL`, so a
//! committed transaction is on disk before the call returns. Writes go through one connection,
//! taken in turn; reads run in parallel on a few read-only connections (WAL gives each read
//! transaction a consistent snapshot of everything committed before it began).
//!
//! One module per table family (`vaults`, `archives`, `multipart`, `jobs`, `governance`,
//! `blobs`) holds plain `fn(&Transaction, …)` functions, one per trait method; the trait impl
//! here runs each in one transaction on a blocking thread. `schema` holds the numbered
//! migrations, `values` how Rust values are stored in columns.

mod archives;
mod blobs;
mod conn;
mod governance;
mod inventories;
mod jobs;
mod multipart;
mod rows;
mod schema;
mod values;
mod vaults;

use crate::blob::BlobKey;
use crate::meta::*;
use crate::{Result, StorageError};
use async_trait::async_trait;
use conn::{Readers, configure};
use glacier_core::multipart::PartInfo;
use rusqlite::Connection;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;
use tokio::sync::Semaphore;

pub struct SqliteMetadataStore {
    writer: Arc<tokio::sync::Mutex<Connection>>,
    readers: Arc<Readers>,
    policies: Arc<Mutex<PolicyCache>>,
}

/// Each vault's region, access policy and lock as last read, so that authorizing a request
/// needs no read. This process is the only writer of its database (the data directory's lock
/// sees to it), and every write that changes them drops the vault's entry on the blocking
/// thread right after it commits (so even a write whose caller went away does). A read
/// stores what it found only if no such write happened since it began.
#[derive(Default)]
struct PolicyCache {
    generation: u64,
    vaults: HashMap<VaultKey, VaultPolicies>,
}

impl PolicyCache {
    fn forget(cache: &Mutex<PolicyCache>, key: Option<&VaultKey>) {
        if let Ok(mut c) = cache.lock() {
            c.generation += 1;
            match key {
                Some(key) => drop(c.vaults.remove(key)),
                None => c.vaults.clear(),
            }
        }
    }
}

impl From<rusqlite::Error> for StorageError {
    fn from(e: rusqlite::Error) -> Self {
        StorageError::Backend {
            message: "metadata store (SQLite)".into(),
            source: Some(Box::new(e)),
        }
    }
}

impl SqliteMetadataStore {
    /// Opens (creating if needed) the database at `path`.
    pub async fn open(path: impl AsRef<Path>) -> Result<SqliteMetadataStore> {
        let path = path.as_ref().to_path_buf();
        let readers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8));
        let (writer, free) = tokio::task::spawn_blocking(move || -> Result<_> {
            let mut conn = Connection::open(&path)?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            configure(&conn)?;
            schema::migrate(&mut conn)?;
            // One process at a time uses a SQLite store (the data directory's lock sees to
            // it): job claims left by a process that stopped are nobody's any more.
            conn.execute("UPDATE jobs SET lease_until_ms = NULL", [])?;
            let free = (0..readers)
                .map(|_| {
                    let reader = Connection::open(&path)?;
                    configure(&reader)?;
                    reader.pragma_update(None, "query_only", "ON")?;
                    Ok(reader)
                })
                .collect::<Result<Vec<_>>>()?;
            Ok((conn, free))
        })
        .await
        .map_err(|e| StorageError::backend(format!("open task failed: {e}")))??;
        Ok(SqliteMetadataStore {
            writer: Arc::new(tokio::sync::Mutex::new(writer)),
            readers: Arc::new(Readers {
                free: Mutex::new(free),
                permits: Arc::new(Semaphore::new(readers)),
            }),
            policies: Arc::default(),
        })
    }

    /// Gives the vaults of a data directory from before vaults kept their region (schema 1)
    /// `region`, the one the server runs with; returns how many there were.
    pub async fn assign_legacy_region(&self, region: &str) -> Result<usize> {
        let region = region.to_owned();
        self.tx_changing_policies(None, move |tx| {
            Ok(tx.execute(
                "UPDATE vaults SET region = ?1 WHERE region IS NULL",
                [region],
            )?)
        })
        .await
    }
}

#[async_trait]
impl MetadataStore for SqliteMetadataStore {
    async fn create_vault(
        &self,
        key: &VaultKey,
        region: &str,
        now: OffsetDateTime,
        max_vaults: u64,
    ) -> Result<Vault> {
        let (key, region) = (key.clone(), region.to_owned());
        self.tx_changing_policies(Some(key.clone()), move |tx| {
            vaults::create(tx, &key, &region, now, max_vaults)
        })
        .await
    }

    async fn get_vault(&self, key: &VaultKey) -> Result<Vault> {
        let key = key.clone();
        self.read_one(move |c| vaults::read_vault(c, &key)).await
    }

    async fn list_vaults(
        &self,
        account: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Vault>> {
        let (account, after) = (account.to_owned(), after.map(str::to_owned));
        self.read_page(limit, move |tx, limit| {
            vaults::list(tx, &account, after.as_deref(), limit)
        })
        .await
    }

    async fn delete_vault(&self, key: &VaultKey) -> Result<Vec<BlobKey>> {
        let key = key.clone();
        self.tx_changing_policies(Some(key.clone()), move |tx| vaults::delete(tx, &key))
            .await
    }

    async fn get_notifications(&self, key: &VaultKey) -> Result<Option<Notifications>> {
        let key = key.clone();
        self.read_one(move |c| vaults::get_notifications(c, &key))
            .await
    }

    async fn set_notifications(&self, key: &VaultKey, config: Option<Notifications>) -> Result<()> {
        let key = key.clone();
        self.tx(move |tx| vaults::set_notifications(tx, &key, config))
            .await
    }

    async fn insert_archive(&self, key: &VaultKey, archive: ArchiveRecord) -> Result<()> {
        let key = key.clone();
        self.tx(move |tx| archives::insert(tx, &key, &archive))
            .await
    }

    async fn import_archives(&self, key: &VaultKey, archives: Vec<ArchiveRecord>) -> Result<()> {
        let key = key.clone();
        self.tx(move |tx| archives::import(tx, &key, &archives))
            .await
    }

    async fn get_archive(&self, key: &VaultKey, id: &str) -> Result<ArchiveRecord> {
        let (key, id) = (key.clone(), id.to_owned());
        self.read(move |tx| archives::get(tx, &key, &id)).await
    }

    async fn get_archive_summary(&self, key: &VaultKey, id: &str) -> Result<ArchiveSummary> {
        let (key, id) = (key.clone(), id.to_owned());
        self.read_point(move |tx| archives::summary(tx, &key, &id))
            .await
    }

    async fn list_archives(
        &self,
        key: &VaultKey,
        query: &ArchiveQuery,
    ) -> Result<Page<ArchiveSummary>> {
        let (key, q) = (key.clone(), query.clone());
        self.read(move |tx| archives::list(tx, &key, &q)).await
    }

    async fn delete_archive(
        &self,
        key: &VaultKey,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<BlobKey>> {
        let (key, id) = (key.clone(), id.to_owned());
        self.tx(move |tx| archives::delete(tx, &key, &id, now))
            .await
    }

    async fn create_upload(&self, key: &VaultKey, upload: UploadRecord) -> Result<()> {
        let key = key.clone();
        self.tx(move |tx| multipart::create(tx, &key, &upload))
            .await
    }

    async fn get_upload(&self, key: &VaultKey, id: &str) -> Result<UploadRecord> {
        let (key, id) = (key.clone(), id.to_owned());
        self.read_point(move |tx| multipart::get(tx, &key, &id))
            .await
    }

    async fn list_uploads(
        &self,
        key: &VaultKey,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<UploadRecord>> {
        let (key, after) = (key.clone(), after.map(str::to_owned));
        self.read_page(limit, move |tx, limit| {
            multipart::list(tx, &key, after.as_deref(), limit)
        })
        .await
    }

    async fn put_part(
        &self,
        key: &VaultKey,
        upload_id: &str,
        part: PartRecord,
    ) -> Result<Option<BlobKey>> {
        let (key, upload_id) = (key.clone(), upload_id.to_owned());
        self.tx(move |tx| multipart::put_part(tx, &key, &upload_id, &part))
            .await
    }

    async fn list_parts(
        &self,
        key: &VaultKey,
        upload_id: &str,
        from: u64,
        limit: usize,
    ) -> Result<Page<PartInfo>> {
        let (key, upload_id) = (key.clone(), upload_id.to_owned());
        self.read_page(limit, move |tx, limit| {
            multipart::list_parts(tx, &key, &upload_id, from, limit)
        })
        .await
    }

    async fn complete_upload(
        &self,
        key: &VaultKey,
        upload_id: &str,
        c: Completion,
    ) -> Result<String> {
        let (key, upload_id) = (key.clone(), upload_id.to_owned());
        self.tx(move |tx| multipart::complete(tx, &key, &upload_id, c))
            .await
    }

    async fn abort_upload(&self, key: &VaultKey, id: &str) -> Result<Vec<BlobKey>> {
        let (key, id) = (key.clone(), id.to_owned());
        self.tx(move |tx| multipart::abort(tx, &key, &id)).await
    }

    async fn create_job(
        &self,
        key: &VaultKey,
        job: JobRecord,
        admission: Option<Admission>,
    ) -> Result<JobRecord> {
        let key = key.clone();
        self.tx(move |tx| jobs::create(tx, &key, &job, admission))
            .await
    }

    async fn retrievals_since(
        &self,
        account: &str,
        since: OffsetDateTime,
    ) -> Result<Vec<Retrieval>> {
        let account = account.to_owned();
        self.read(move |tx| jobs::retrievals_since(tx, &account, since))
            .await
    }

    async fn get_job(&self, key: &VaultKey, id: &str) -> Result<JobRecord> {
        let (key, id) = (key.clone(), id.to_owned());
        self.read_point(move |tx| jobs::get(tx, &key, &id)).await
    }

    async fn list_jobs(
        &self,
        key: &VaultKey,
        filter: &JobFilter,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Page<JobRecord>> {
        let (key, filter) = (key.clone(), filter.clone());
        self.read_page(limit, move |tx, limit| {
            jobs::list(tx, &key, &filter, after, limit)
        })
        .await
    }

    async fn claim_due_jobs(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<(VaultKey, JobRecord)>> {
        self.tx(move |tx| jobs::claim_due(tx, now, lease_until, limit))
            .await
    }

    async fn hold_job(&self, key: &VaultKey, id: &str, until: OffsetDateTime) -> Result<()> {
        let (key, id) = (key.clone(), id.to_owned());
        self.tx(move |tx| jobs::hold(tx, &key, &id, until)).await
    }

    async fn next_deadline(&self) -> Result<Option<OffsetDateTime>> {
        self.read(jobs::next_deadline).await
    }

    async fn finish_job(
        &self,
        key: &VaultKey,
        id: &str,
        finish: JobFinish,
        now: OffsetDateTime,
        expires: OffsetDateTime,
    ) -> Result<JobRecord> {
        let (key, id) = (key.clone(), id.to_owned());
        self.tx(move |tx| jobs::finish(tx, &key, &id, finish, now, expires))
            .await
    }

    async fn job_output(&self, key: &VaultKey, id: &str) -> Result<(JobRecord, Vec<Segment>)> {
        let (key, id) = (key.clone(), id.to_owned());
        self.read(move |tx| jobs::output(tx, &key, &id)).await
    }

    async fn expire_jobs(&self, now: OffsetDateTime) -> Result<Vec<BlobKey>> {
        self.tx(move |tx| jobs::expire(tx, now)).await
    }

    async fn add_tags(
        &self,
        key: &VaultKey,
        tags: &BTreeMap<String, String>,
        max: usize,
    ) -> Result<()> {
        let (key, tags) = (key.clone(), tags.clone());
        self.tx(move |tx| governance::add_tags(tx, &key, &tags, max))
            .await
    }

    async fn remove_tags(&self, key: &VaultKey, keys: &[String]) -> Result<()> {
        let (key, keys) = (key.clone(), keys.to_vec());
        self.tx(move |tx| governance::remove_tags(tx, &key, &keys))
            .await
    }

    async fn list_tags(&self, key: &VaultKey) -> Result<BTreeMap<String, String>> {
        let key = key.clone();
        self.read_point(move |tx| governance::list_tags(tx, &key))
            .await
    }

    async fn vault_policies(&self, key: &VaultKey) -> Result<VaultPolicies> {
        let key = key.clone();
        let cache = Arc::clone(&self.policies);
        let since = {
            let c = cache
                .lock()
                .map_err(|_| StorageError::backend("policy cache poisoned"))?;
            if let Some(p) = c.vaults.get(&key) {
                return Ok(p.clone());
            }
            c.generation
        };
        self.read_point(move |tx| {
            let p = governance::vault_policies(tx, &key)?;
            if let Ok(mut c) = cache.lock()
                && c.generation == since
            {
                c.vaults.insert(key, p.clone());
            }
            Ok(p)
        })
        .await
    }

    async fn set_access_policy(&self, key: &VaultKey, policy: Option<String>) -> Result<()> {
        let key = key.clone();
        self.tx_changing_policies(Some(key.clone()), move |tx| {
            governance::set_access_policy(tx, &key, policy)
        })
        .await
    }

    async fn swap_vault_lock(
        &self,
        key: &VaultKey,
        expected: Option<&VaultLock>,
        new: Option<VaultLock>,
    ) -> Result<LockSwap> {
        let key = key.clone();
        let expected = expected.map(|l| (l.lock_id.clone(), l.state));
        self.tx_changing_policies(Some(key.clone()), move |tx| {
            governance::swap_vault_lock(tx, &key, expected, new)
        })
        .await
    }

    async fn get_retrieval_policy(&self, account: &str) -> Result<Option<String>> {
        let account = account.to_owned();
        self.read_point(move |tx| governance::get_retrieval_policy(tx, &account))
            .await
    }

    async fn set_retrieval_policy(&self, account: &str, policy: &str) -> Result<()> {
        let (account, policy) = (account.to_owned(), policy.to_owned());
        self.tx(move |tx| governance::set_retrieval_policy(tx, &account, &policy))
            .await
    }

    async fn purchase_capacity(&self, account: &str, unit: CapacityUnit, max: usize) -> Result<()> {
        let account = account.to_owned();
        self.tx(move |tx| governance::purchase_capacity(tx, &account, &unit, max))
            .await
    }

    async fn list_capacity(&self, account: &str) -> Result<Vec<CapacityUnit>> {
        let account = account.to_owned();
        self.read(move |tx| governance::list_capacity(tx, &account))
            .await
    }

    async fn unreferenced_blobs(&self, candidates: Vec<BlobKey>) -> Result<Vec<BlobKey>> {
        self.tx(move |tx| blobs::unreferenced(tx, candidates)).await
    }

    async fn referenced_blobs(&self) -> Result<HashSet<BlobKey>> {
        self.tx(blobs::referenced).await
    }

    async fn inventories_due(
        &self,
        now: OffsetDateTime,
        period: std::time::Duration,
    ) -> Result<Vec<DueInventory>> {
        self.read(move |tx| inventories::due(tx, now, period)).await
    }

    async fn record_inventory(
        &self,
        key: &VaultKey,
        snapshot: InventorySnapshot,
        follows: Option<OffsetDateTime>,
    ) -> Result<Vec<BlobKey>> {
        let key = key.clone();
        self.tx(move |tx| inventories::record(tx, &key, &snapshot, follows))
            .await
    }

    async fn inventory_snapshot(&self, key: &VaultKey) -> Result<Option<InventorySnapshot>> {
        let key = key.clone();
        self.read(move |tx| inventories::get(tx, &key)).await
    }

    async fn last_write(&self, key: &VaultKey) -> Result<Option<OffsetDateTime>> {
        let key = key.clone();
        self.read(move |tx| inventories::last_write(tx, &key)).await
    }

    async fn usage(&self) -> Result<Usage> {
        self.read(vaults::usage).await
    }

    async fn sample_usage(&self, at: OffsetDateTime, forget_before: OffsetDateTime) -> Result<()> {
        self.tx(move |tx| vaults::sample_usage(tx, at, forget_before))
            .await
    }

    async fn usage_history(
        &self,
        account: &str,
        since: OffsetDateTime,
    ) -> Result<Vec<UsageSample>> {
        let account = account.to_owned();
        self.read(move |tx| vaults::usage_history(tx, &account, since))
            .await
    }
}

#[cfg(test)]
mod tests;
