//! Metadata in PostgreSQL, shared by any number of server nodes.
//!
//! Laid out as `sqlite/` is: `schema` (numbered migrations, applied at open by one node at a
//! time), `values` (how values sit in columns), one module per table family of plain
//! `async fn(&Transaction, …)` functions, and the trait impl here, which runs each in one
//! transaction. Every transaction is SERIALIZABLE and is retried when PostgreSQL aborts it for
//! a conflict with another (SQLSTATE 40001, 40P01): so every read-then-write rule — a lock
//! transition, a completion, a limit, an admission — holds across nodes exactly as it does in
//! the single-writer SQLite store, without a lock of our own.

mod archives;
mod blobs;
mod governance;
mod inventories;
mod jobs;
mod multipart;
mod rows;
mod schema;
mod tls;
mod values;
mod vaults;

use crate::blob::BlobKey;
use crate::meta::*;
use crate::{Result, StorageError};
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use glacier_core::multipart::PartInfo;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;
use time::OffsetDateTime;
use tokio_postgres::error::SqlState;

/// Connections a runtime's pool holds to PostgreSQL at most (a server has a pool on each of its
/// connection threads and one on the runtime that opened the store: 24 on two cores).
const POOL_SIZE: usize = 8;
/// How long a transaction aborted by conflicts is tried again before the error is returned:
/// under 200 clients writing one vault a multipart completion (which reads an upload's parts and
/// writes five tables) may lose to the others' serializable predicate locks for seconds; a
/// 10-second budget still ran out about once in 20,000 requests in CI.
const CONFLICT_BUDGET: Duration = Duration::from_secs(30);
/// The longest pause between two tries.
const CONFLICT_BACKOFF_CAP_MS: u64 = 250;

pub struct PostgresMetadataStore {
    pools: Pools,
    tls: bool,
}

/// The connection pools, one per runtime that uses the store, made on its first use there. A
/// connection's task (tokio-postgres) runs on the runtime that opened it: so a request served
/// on one of the server's connection threads uses connections whose I/O is on that thread too,
/// instead of waking another thread twice for every query (BENCHMARKS.md, goal 2).
struct Pools {
    config: tokio_postgres::Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    by_runtime: std::sync::RwLock<Vec<(tokio::runtime::Id, Pool)>>,
}

impl Pools {
    /// The current runtime's pool.
    fn get(&self) -> Result<Pool> {
        let id = tokio::runtime::Handle::current().id();
        let find = |pools: &[(tokio::runtime::Id, Pool)]| {
            pools.iter().find(|(i, _)| *i == id).map(|(_, p)| p.clone())
        };
        // Every change is one push: the list is whole even if a holder panicked.
        if let Some(pool) = find(&self.by_runtime.read().unwrap_or_else(|e| e.into_inner())) {
            return Ok(pool);
        }
        let mut pools = self.by_runtime.write().unwrap_or_else(|e| e.into_inner());
        if let Some(pool) = find(&pools) {
            return Ok(pool);
        }
        let manager = Manager::from_config(
            self.config.clone(),
            self.tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(|e| StorageError::backend(format!("PostgreSQL connection pool: {e}")))?;
        pools.push((id, pool.clone()));
        Ok(pool)
    }
}

impl From<tokio_postgres::Error> for StorageError {
    fn from(e: tokio_postgres::Error) -> Self {
        StorageError::Backend {
            message: "metadata store (PostgreSQL)".into(),
            source: Some(Box::new(e)),
        }
    }
}

impl From<deadpool_postgres::PoolError> for StorageError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        StorageError::Backend {
            message: "metadata store (PostgreSQL connection pool)".into(),
            source: Some(Box::new(e)),
        }
    }
}

/// Whether PostgreSQL aborted the transaction for a conflict with another one: trying it again
/// is the protocol of serializable isolation.
fn conflicted(e: &StorageError) -> bool {
    let StorageError::Backend {
        source: Some(s), ..
    } = e
    else {
        return false;
    };
    s.downcast_ref::<tokio_postgres::Error>()
        .and_then(tokio_postgres::Error::code)
        .is_some_and(|c| {
            *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
        })
}

/// Runs `$body` (an expression using the transaction `$tx`) in one SERIALIZABLE transaction,
/// committing when it returns `Ok`, trying again when PostgreSQL aborts it for a conflict.
/// `in_tx!(read …)` runs a read in a REPEATABLE READ, READ ONLY transaction: one snapshot,
/// without the serializable bookkeeping a read that writes nothing does not need.
/// `in_tx!(queue …)` runs a job claim in READ COMMITTED: its exclusion is the row locks of
/// `FOR UPDATE SKIP LOCKED` and the lease, and its scan over every due job would, serializable,
/// be aborted again and again by the InitiateJob inserts it overlaps.
macro_rules! in_tx {
    // One statement on a pooled client: its own snapshot, no transaction to begin and commit
    // (one round trip instead of three).
    (one $store:expr, $c:ident => $body:expr) => {{
        let result: Result<_> = async {
            let $c = $store.pools.get()?.get().await?;
            $body.await
        }
        .await;
        result
    }};
    (read $store:expr, $tx:ident => $body:expr) => {
        in_tx!(@run $store, RepeatableRead, true, $tx => $body)
    };
    (queue $store:expr, $tx:ident => $body:expr) => {
        in_tx!(@run $store, ReadCommitted, false, $tx => $body)
    };
    ($store:expr, $tx:ident => $body:expr) => {
        in_tx!(@run $store, Serializable, false, $tx => $body)
    };
    (@run $store:expr, $isolation:ident, $read_only:expr, $tx:ident => $body:expr) => {{
        let mut attempt: u32 = 0;
        let started = std::time::Instant::now();
        loop {
            let result: Result<_> = async {
                let mut client = $store.pools.get()?.get().await?;
                let $tx = client
                    .build_transaction()
                    .isolation_level(tokio_postgres::IsolationLevel::$isolation)
                    .read_only($read_only)
                    .start()
                    .await?;
                let out = $body.await?;
                if $read_only {
                    // A read-only transaction has nothing to commit: dropped, it sends
                    // ROLLBACK without waiting for the answer (what the connection's next user
                    // sends queues behind it), a round trip fewer.
                    drop($tx);
                } else {
                    $tx.commit().await?;
                }
                Ok(out)
            }
            .await;
            match result {
                Err(e) if conflicted(&e) && started.elapsed() < CONFLICT_BUDGET => {
                    // Exponential backoff with full jitter: the losers spread out rather than
                    // collide again.
                    attempt += 1;
                    if attempt % 20 == 0 {
                        tracing::warn!(
                            attempt,
                            waited = ?started.elapsed(),
                            "a metadata transaction keeps conflicting with others; trying again"
                        );
                    }
                    let ceiling = (2u64 << attempt.min(7)).min(CONFLICT_BACKOFF_CAP_MS);
                    let pause = Duration::from_millis(rand::random::<u64>() % ceiling + 1);
                    tokio::time::sleep(pause).await;
                }
                other => break other,
            }
        }
    }};
}

impl PostgresMetadataStore {
    /// Connects to `url` (`postgres://USER:PASS@HOST:PORT/DB`, over verified TLS with
    /// `?sslmode=require`: see `tls`) and brings its schema up to date (refusing a newer one).
    pub async fn open(url: &str) -> Result<PostgresMetadataStore> {
        let (config, tls) = tls::connect_config(url)?;
        let pools = Pools {
            config,
            tls,
            by_runtime: std::sync::RwLock::new(Vec::new()),
        };
        let mut client = pools.get()?.get().await?;
        schema::migrate(&mut client).await?;
        let tls = client
            .query_one(
                "SELECT coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)",
                &[],
            )
            .await?
            .try_get(0)?;
        drop(client);
        tracing::info!(tls, "metadata store: PostgreSQL");
        Ok(PostgresMetadataStore { pools, tls })
    }

    /// Whether the connections are encrypted, as PostgreSQL sees them.
    pub fn tls(&self) -> bool {
        self.tls
    }
}

#[async_trait]
impl MetadataStore for PostgresMetadataStore {
    async fn create_vault(
        &self,
        key: &VaultKey,
        region: &str,
        now: OffsetDateTime,
        max_vaults: u64,
    ) -> Result<Vault> {
        in_tx!(self, tx => vaults::create(&tx, key, region, now, max_vaults))
    }

    async fn get_vault(&self, key: &VaultKey) -> Result<Vault> {
        in_tx!(one self, c => vaults::read_vault(&c, key))
    }

    async fn list_vaults(
        &self,
        account: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Vault>> {
        in_tx!(one self, c => vaults::list(&c, account, after, limit))
    }

    async fn delete_vault(&self, key: &VaultKey) -> Result<Vec<BlobKey>> {
        in_tx!(self, tx => vaults::delete(&tx, key))
    }

    async fn get_notifications(&self, key: &VaultKey) -> Result<Option<Notifications>> {
        in_tx!(read self, tx => vaults::get_notifications(&tx, key))
    }

    async fn set_notifications(&self, key: &VaultKey, config: Option<Notifications>) -> Result<()> {
        in_tx!(self, tx => vaults::set_notifications(&tx, key, config.clone()))
    }

    async fn insert_archive(&self, key: &VaultKey, archive: ArchiveRecord) -> Result<()> {
        in_tx!(self, tx => archives::insert(&tx, key, &archive))
    }

    async fn import_archives(&self, key: &VaultKey, archives: Vec<ArchiveRecord>) -> Result<()> {
        in_tx!(self, tx => archives::import(&tx, key, &archives))
    }

    async fn get_archive(&self, key: &VaultKey, id: &str) -> Result<ArchiveRecord> {
        in_tx!(read self, tx => archives::get(&tx, key, id))
    }

    async fn get_archive_summary(&self, key: &VaultKey, id: &str) -> Result<ArchiveSummary> {
        in_tx!(read self, tx => archives::summary(&tx, key, id))
    }

    async fn list_archives(
        &self,
        key: &VaultKey,
        query: &ArchiveQuery,
    ) -> Result<Page<ArchiveSummary>> {
        in_tx!(read self, tx => archives::list(&tx, key, query))
    }

    async fn delete_archive(
        &self,
        key: &VaultKey,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<BlobKey>> {
        in_tx!(self, tx => archives::delete(&tx, key, id, now))
    }

    async fn create_upload(&self, key: &VaultKey, upload: UploadRecord) -> Result<()> {
        in_tx!(self, tx => multipart::create(&tx, key, &upload))
    }

    async fn get_upload(&self, key: &VaultKey, id: &str) -> Result<UploadRecord> {
        in_tx!(read self, tx => multipart::read_upload(&tx, key, id))
    }

    async fn list_uploads(
        &self,
        key: &VaultKey,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<UploadRecord>> {
        in_tx!(read self, tx => multipart::list(&tx, key, after, limit))
    }

    async fn put_part(
        &self,
        key: &VaultKey,
        upload_id: &str,
        part: PartRecord,
    ) -> Result<Option<BlobKey>> {
        in_tx!(self, tx => multipart::put_part(&tx, key, upload_id, &part))
    }

    async fn list_parts(
        &self,
        key: &VaultKey,
        upload_id: &str,
        from: u64,
        limit: usize,
    ) -> Result<Page<PartInfo>> {
        in_tx!(read self, tx => multipart::list_parts(&tx, key, upload_id, from, limit))
    }

    async fn complete_upload(
        &self,
        key: &VaultKey,
        upload_id: &str,
        c: Completion,
    ) -> Result<String> {
        in_tx!(self, tx => multipart::complete(&tx, key, upload_id, c.clone()))
    }

    async fn abort_upload(&self, key: &VaultKey, id: &str) -> Result<Vec<BlobKey>> {
        in_tx!(self, tx => multipart::abort(&tx, key, id))
    }

    async fn create_job(
        &self,
        key: &VaultKey,
        job: JobRecord,
        admission: Option<Admission>,
    ) -> Result<JobRecord> {
        in_tx!(self, tx => jobs::create(&tx, key, &job, admission))
    }

    async fn retrievals_since(
        &self,
        account: &str,
        since: OffsetDateTime,
    ) -> Result<Vec<Retrieval>> {
        in_tx!(read self, tx => jobs::retrievals_since(&tx, account, since))
    }

    async fn get_job(&self, key: &VaultKey, id: &str) -> Result<JobRecord> {
        in_tx!(one self, c => jobs::get(&c, key, id))
    }

    async fn list_jobs(
        &self,
        key: &VaultKey,
        filter: &JobFilter,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Page<JobRecord>> {
        in_tx!(one self, c => jobs::list(&c, key, filter, after, limit))
    }

    async fn claim_due_jobs(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<(VaultKey, JobRecord)>> {
        in_tx!(queue self, tx => jobs::claim_due(&tx, now, lease_until, limit))
    }

    async fn hold_job(&self, key: &VaultKey, id: &str, until: OffsetDateTime) -> Result<()> {
        in_tx!(self, tx => jobs::hold(&tx, key, id, until))
    }

    async fn next_deadline(&self) -> Result<Option<OffsetDateTime>> {
        in_tx!(read self, tx => jobs::next_deadline(&tx))
    }

    async fn finish_job(
        &self,
        key: &VaultKey,
        id: &str,
        finish: JobFinish,
        now: OffsetDateTime,
        expires: OffsetDateTime,
    ) -> Result<JobRecord> {
        in_tx!(self, tx => jobs::finish(&tx, key, id, finish.clone(), now, expires))
    }

    async fn job_output(&self, key: &VaultKey, id: &str) -> Result<(JobRecord, Vec<Segment>)> {
        in_tx!(read self, tx => jobs::output(&tx, key, id))
    }

    async fn expire_jobs(&self, now: OffsetDateTime) -> Result<Vec<BlobKey>> {
        in_tx!(self, tx => jobs::expire(&tx, now))
    }

    async fn add_tags(
        &self,
        key: &VaultKey,
        tags: &BTreeMap<String, String>,
        max: usize,
    ) -> Result<()> {
        in_tx!(self, tx => governance::add_tags(&tx, key, tags, max))
    }

    async fn remove_tags(&self, key: &VaultKey, keys: &[String]) -> Result<()> {
        in_tx!(self, tx => governance::remove_tags(&tx, key, keys))
    }

    async fn list_tags(&self, key: &VaultKey) -> Result<BTreeMap<String, String>> {
        in_tx!(one self, c => governance::list_tags(&c, key))
    }

    async fn vault_policies(&self, key: &VaultKey) -> Result<VaultPolicies> {
        in_tx!(one self, c => governance::vault_policies(&c, key))
    }

    async fn set_access_policy(&self, key: &VaultKey, policy: Option<String>) -> Result<()> {
        in_tx!(self, tx => governance::set_access_policy(&tx, key, policy.clone()))
    }

    async fn swap_vault_lock(
        &self,
        key: &VaultKey,
        expected: Option<&VaultLock>,
        new: Option<VaultLock>,
    ) -> Result<LockSwap> {
        let expected = expected.map(|l| (l.lock_id.clone(), l.state));
        in_tx!(self, tx => governance::swap_vault_lock(&tx, key, expected.clone(), new.clone()))
    }

    async fn get_retrieval_policy(&self, account: &str) -> Result<Option<String>> {
        in_tx!(read self, tx => governance::get_retrieval_policy(&tx, account))
    }

    async fn set_retrieval_policy(&self, account: &str, policy: &str) -> Result<()> {
        in_tx!(self, tx => governance::set_retrieval_policy(&tx, account, policy))
    }

    async fn purchase_capacity(&self, account: &str, unit: CapacityUnit, max: usize) -> Result<()> {
        in_tx!(self, tx => governance::purchase_capacity(&tx, account, &unit, max))
    }

    async fn list_capacity(&self, account: &str) -> Result<Vec<CapacityUnit>> {
        in_tx!(read self, tx => governance::list_capacity(&tx, account))
    }

    async fn unreferenced_blobs(&self, candidates: Vec<BlobKey>) -> Result<Vec<BlobKey>> {
        in_tx!(self, tx => blobs::unreferenced(&tx, candidates.clone()))
    }

    async fn referenced_blobs(&self) -> Result<HashSet<BlobKey>> {
        in_tx!(self, tx => blobs::referenced(&tx))
    }

    async fn inventories_due(
        &self,
        now: OffsetDateTime,
        period: std::time::Duration,
    ) -> Result<Vec<DueInventory>> {
        in_tx!(read self, tx => inventories::due(&tx, now, period))
    }

    async fn record_inventory(
        &self,
        key: &VaultKey,
        snapshot: InventorySnapshot,
        follows: Option<OffsetDateTime>,
    ) -> Result<Vec<BlobKey>> {
        in_tx!(self, tx => inventories::record(&tx, key, &snapshot, follows))
    }

    async fn inventory_snapshot(&self, key: &VaultKey) -> Result<Option<InventorySnapshot>> {
        in_tx!(read self, tx => inventories::get(&tx, key))
    }

    async fn last_write(&self, key: &VaultKey) -> Result<Option<OffsetDateTime>> {
        in_tx!(read self, tx => inventories::last_write(&tx, key))
    }

    async fn usage(&self) -> Result<Usage> {
        in_tx!(read self, tx => vaults::usage(&tx))
    }

    /// READ COMMITTED: the one statement that samples reads one snapshot, and a sample taken
    /// beside uploads should neither abort them nor be aborted by them.
    async fn sample_usage(&self, at: OffsetDateTime, forget_before: OffsetDateTime) -> Result<()> {
        in_tx!(queue self, tx => vaults::sample_usage(&tx, at, forget_before))
    }

    async fn usage_history(
        &self,
        account: &str,
        since: OffsetDateTime,
    ) -> Result<Vec<UsageSample>> {
        in_tx!(read self, tx => vaults::usage_history(&tx, account, since))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conformance() -> Result<()> {
        let Some(url) = crate::conformance::postgres_database().await? else {
            return Ok(());
        };
        let store = PostgresMetadataStore::open(&url).await?;
        crate::conformance::metadata(std::sync::Arc::new(store)).await;
        Ok(())
    }

    /// `sslmode=require` encrypts with the certificate verified; without the root that signed
    /// it the connection is refused; a plain URL stays plain.
    #[tokio::test]
    async fn tls_is_verified_when_required() -> Result<()> {
        let Some(url) = crate::conformance::postgres_database().await? else {
            return Ok(());
        };
        let Some(dir) = crate::conformance::service("GLACIER_TEST_POSTGRES_DIR")? else {
            return Ok(());
        };
        assert!(!PostgresMetadataStore::open(&url).await?.tls());
        let verified = format!("{url}?sslmode=verify-full&sslrootcert={dir}/ca.pem");
        assert!(PostgresMetadataStore::open(&verified).await?.tls());
        let untrusted = format!("{url}?sslmode=require&sslrootcert={dir}/other-ca.pem");
        let Err(err) = PostgresMetadataStore::open(&untrusted).await else {
            panic!("a certificate from an untrusted CA was accepted");
        };
        let chain = std::iter::successors(Some(&err as &dyn std::error::Error), |e| e.source())
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join(": ");
        assert!(chain.contains("certificate"), "{chain}");
        Ok(())
    }

    /// Nodes starting at once on a new database: each finds the schema made, once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nodes_starting_together_migrate_once() -> Result<()> {
        for _ in 0..5 {
            let Some(url) = crate::conformance::postgres_database().await? else {
                return Ok(());
            };
            let opened =
                futures_util::future::join_all((0..4).map(|_| PostgresMetadataStore::open(&url)))
                    .await;
            for o in opened {
                o?;
            }
        }
        Ok(())
    }

    #[tokio::test]
    async fn reopening_keeps_the_schema() -> Result<()> {
        let Some(url) = crate::conformance::postgres_database().await? else {
            return Ok(());
        };
        let key = VaultKey {
            account: "111122223333".into(),
            name: "v".into(),
        };
        let now = OffsetDateTime::now_utc();
        PostgresMetadataStore::open(&url)
            .await?
            .create_vault(&key, "us-east-1", now, 10)
            .await?;
        let again = PostgresMetadataStore::open(&url).await?;
        assert_eq!(again.get_vault(&key).await?.region, "us-east-1");
        Ok(())
    }
}
