//! The operations behind the handlers: rules that need stored state, ids, and the streaming of
//! bodies into blobs. Handlers parse HTTP and call exactly one function here.

mod archives;
mod authorize;
mod console;
mod daily;
mod engine;
mod governance;
mod ingest;
mod inventory;
mod jobs;
mod multipart;
mod notifications;
mod notify;
mod restore;
mod usage;
mod vaults;

use crate::error::{ApiError, ApiResult};
use bytes::Bytes;
use futures_util::Stream;
use glacier_core::multipart::PartInfo;
use glacier_core::range::Span;
use glacier_core::validate::{self, MAX_PART_SIZE, MAX_VAULTS_PER_ACCOUNT};
use glacier_core::wire::{self, NOTIFICATION_EVENTS};
use glacier_core::{Digest, TreeHash, format_date};
use glacier_storage::{
    ArchiveRecord, BlobKey, BlobStore, Completion, MetadataStore, Notifications, OpenError, Page,
    PartRecord, Sharing, Storage, StorageError, UploadRecord, Vault, VaultKey,
};
use std::path::Path;
use std::sync::Arc;
use time::OffsetDateTime;

pub(crate) use authorize::Target;
pub(crate) use ingest::Expected;

/// How the service behaves: what the operator configures.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The region named in ARNs.
    pub region: String,
    /// How long jobs take, outputs stay and locks wait; the allowances' windows.
    pub timing: crate::Timing,
    /// Webhook URL for each SNS topic ARN that notifications may name.
    pub topics: std::collections::HashMap<String, String>,
    /// Expedited retrievals an account may start per 5 minutes without provisioned capacity;
    /// each active capacity unit adds 3, as AWS guarantees per unit.
    pub expedited_rate: u32,
    /// The `FreeTier` retrieval policy's allowance: bytes per sliding 24 hours.
    pub free_tier_bytes_per_day: u64,
    /// Where the service reads the time (the system clock, or a test's).
    pub clock: crate::Clock,
    /// Every request arrives over TLS (the server was given a certificate): what the policy
    /// condition key `aws:SecureTransport` says.
    pub secure_transport: bool,
    /// How often [`Service::run_usage_samples`] adds each account's totals to the usage
    /// history the console graphs (zero: never).
    pub usage_interval: std::time::Duration,
    /// Answer an account that holds no vault `NoLongerSupportedException` on every operation,
    /// as AWS does since it stopped taking new vault customers.
    pub refuse_new_accounts: bool,
}

impl Settings {
    /// The defaults of `glacier serve`: us-east-1, no retrieval delay, 24 h job expiry.
    pub fn new(region: impl Into<String>) -> Settings {
        Settings {
            region: region.into(),
            timing: crate::Timing::default(),
            topics: Default::default(),
            expedited_rate: DEFAULT_EXPEDITED_RATE,
            free_tier_bytes_per_day: DEFAULT_FREE_TIER_BYTES_PER_DAY,
            clock: crate::Clock::system(),
            secure_transport: false,
            usage_interval: DEFAULT_USAGE_INTERVAL,
            refuse_new_accounts: false,
        }
    }
}

/// The default of [`Settings::usage_interval`].
const DEFAULT_USAGE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(300);
/// The default of [`Settings::expedited_rate`].
pub const DEFAULT_EXPEDITED_RATE: u32 = 10;
/// The default of [`Settings::free_tier_bytes_per_day`]: AWS's 10 GiB a month free
/// retrieval allowance, prorated daily.
pub const DEFAULT_FREE_TIER_BYTES_PER_DAY: u64 = 10 * 1024 * 1024 * 1024 / 30;

/// Archive ids are 138 characters of the URL-safe base64 alphabet, as Glacier's are.
const ARCHIVE_ID_LEN: usize = 138;
/// Upload (and job) ids are 92 characters.
const UPLOAD_ID_LEN: usize = 92;
const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

pub struct Service {
    meta: Arc<dyn MetadataStore>,
    blobs: Arc<dyn BlobStore>,
    /// What the operator's `/metrics` shows.
    pub(crate) metrics: crate::metrics::Metrics,
    pub(crate) settings: Settings,
    /// Accounts seen holding a vault (with `refuse_new_accounts`): customers, from then on.
    customers: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Each job's time in its window.
    draws: crate::timing::Draws,
    /// Wakes the job engine when a job is initiated.
    wake: tokio::sync::Notify,
    notifier: notify::Notifier,
    /// Parsed vault policies by their text (see `Service::parsed_policy`).
    policies: std::sync::Mutex<std::collections::HashMap<String, Arc<crate::policy::Policy>>>,
    /// Rounds the job engine has run (what shows whether it spins).
    engine_rounds: std::sync::atomic::AtomicU64,
    /// The longest the job engine sleeps without looking for work.
    engine_poll: std::time::Duration,
    /// The exclusive lock on the data directory ([`glacier_storage::Opened::lock`]), held for
    /// the service's life.
    _dir_lock: Option<std::fs::File>,
}

/// What an upload stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub archive_id: String,
    pub tree_hash: TreeHash,
}

impl Service {
    pub fn new(
        meta: Arc<dyn MetadataStore>,
        blobs: Arc<dyn BlobStore>,
        settings: Settings,
    ) -> Service {
        let notifier = notify::Notifier::new(settings.topics.clone());
        Service {
            meta,
            blobs,
            customers: Default::default(),
            draws: settings.timing.draws(),
            settings,
            wake: tokio::sync::Notify::new(),
            notifier,
            policies: Default::default(),
            engine_rounds: Default::default(),
            engine_poll: engine::EXPIRY_SWEEP,
            metrics: crate::metrics::Metrics::new(),
            _dir_lock: None,
        }
    }

    /// Opens `storage` ([`glacier_storage::open`]: the schema brought up to date, a newer one
    /// refused) and recovers from any crash. With SQLite metadata the process is the store's
    /// only one: it holds the data directory, and removes interrupted writes and unreferenced
    /// blobs at once. With PostgreSQL any number of nodes may be running: the job engine takes
    /// over jobs whose claim lapsed and looks for other nodes' jobs every second, and
    /// [`Service::run_sweeps`] removes orphan blobs.
    pub async fn open(storage: &Storage, settings: Settings) -> Result<Service, OpenError> {
        let opened = glacier_storage::open(storage, &settings.region).await?;
        let mut service = Service::new(opened.meta, opened.blobs, settings);
        service._dir_lock = opened.lock;
        match opened.sharing {
            Sharing::Nodes => service.engine_poll = engine::SHARED_ENGINE_POLL,
            Sharing::Alone => {
                service.reclaim_orphans().await?;
            }
        }
        Ok(service)
    }

    /// The metadata store, for tests that set up what no request can (a region, a million
    /// archives, usage history).
    #[cfg(test)]
    pub(crate) fn store(&self) -> &Arc<dyn MetadataStore> {
        &self.meta
    }

    /// The Prometheus text of what this process counted, with the store's usage (vaults,
    /// archives and bytes per account, jobs in progress) read now; kept as last read, and the
    /// failed read counted, when the store does not answer.
    pub async fn metrics_text(&self) -> String {
        let usage = match self.meta.usage().await {
            Ok(u) => Some(u),
            Err(e) => {
                tracing::warn!(error = %e, "reading the store's usage for /metrics");
                None
            }
        };
        self.metrics.render(usage.as_ref())
    }

    /// Whether both stores answer; what does not, when one does not.
    pub async fn ready(&self) -> Result<(), String> {
        let meta = self.meta.next_deadline().await.err();
        let blobs = self.blobs.ready().await.err();
        let mut why = String::new();
        if let Some(e) = meta {
            why.push_str(&format!("metadata store: {e}\n"));
        }
        if let Some(e) = blobs {
            why.push_str(&format!("blob store: {e}\n"));
        }
        if why.is_empty() { Ok(()) } else { Err(why) }
    }

    /// Opens the default single-machine storage in `data_dir` (SQLite metadata, file blobs):
    /// [`Service::open`] of [`Storage::local`].
    pub async fn open_local(data_dir: &Path, settings: Settings) -> Result<Service, OpenError> {
        Service::open(&Storage::local(data_dir), settings).await
    }

    /// Deletes blobs no metadata refers to: written, then orphaned by a crash before their
    /// metadata committed, or left by a delete whose blob removal did not finish. Call it only
    /// when no request is in flight anywhere (an upload in flight has a blob without metadata):
    /// at the start of the one process of a local store. Shared stores use
    /// [`Service::sweep_orphans`].
    pub async fn reclaim_orphans(&self) -> Result<usize, StorageError> {
        self.delete_unreferenced(|_| true).await
    }

    /// One pass of the orphan sweep, safe while any number of nodes serve requests: deletes
    /// the blobs that no metadata refers to now and that were unreferenced at the previous
    /// pass too (`suspects`, which becomes this pass's). A blob another node is writing or is
    /// about to reference is referenced by the next pass, so it is never deleted; running it on
    /// every node at once only deletes an orphan twice.
    pub async fn sweep_orphans(
        &self,
        suspects: &mut std::collections::HashSet<BlobKey>,
    ) -> Result<usize, StorageError> {
        let previous = std::mem::take(suspects);
        let mut now_unreferenced = std::collections::HashSet::new();
        let removed = self
            .delete_unreferenced(|b| {
                now_unreferenced.insert(b.clone());
                previous.contains(b)
            })
            .await?;
        now_unreferenced.retain(|b| !previous.contains(b));
        *suspects = now_unreferenced;
        Ok(removed)
    }

    /// Deletes the unreferenced blobs `pick` chooses.
    async fn delete_unreferenced(
        &self,
        mut pick: impl FnMut(&BlobKey) -> bool,
    ) -> Result<usize, StorageError> {
        let mut removed = 0;
        for batch in self.blobs.list().await?.chunks(1000) {
            let orphans: Vec<BlobKey> = self
                .meta
                .unreferenced_blobs(batch.to_vec())
                .await?
                .into_iter()
                .filter(|b| pick(b))
                .collect();
            if !orphans.is_empty() {
                self.blobs.delete(&orphans).await?;
                removed += orphans.len();
            }
        }
        if removed > 0 {
            tracing::info!(
                count = removed,
                "removed blobs no archive, part or job refers to"
            );
        }
        Ok(removed)
    }

    /// Sweeps orphan blobs every `every` (see [`Service::sweep_orphans`]) until `shutdown`.
    pub async fn run_sweeps(
        self: Arc<Self>,
        every: std::time::Duration,
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        let mut suspects = std::collections::HashSet::new();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            if let Err(e) = self.sweep_orphans(&mut suspects).await {
                tracing::warn!(error = %e, "sweeping orphan blobs");
            }
        }
    }

    /// The vault's ARN, with the region it was created in (the server's region for a vault
    /// that does not exist, as error messages name it).
    pub async fn vault_arn(&self, key: &VaultKey) -> String {
        let region = match self.meta.get_vault(key).await {
            Ok(v) => v.region,
            Err(_) => self.settings.region.clone(),
        };
        glacier_core::vault_arn(&region, &key.account, &key.name)
    }

    /// The time, as the service's clock tells it.
    pub(crate) fn now(&self) -> OffsetDateTime {
        self.settings.clock.now()
    }

    /// Deletes blobs after their metadata is gone; a failure only leaves an orphan that the
    /// next start reclaims.
    async fn discard(&self, blobs: &[BlobKey]) {
        if let Err(e) = self.blobs.delete(blobs).await {
            tracing::warn!(error = %e, "could not delete blobs; they are reclaimed at the next start");
        }
    }

    fn describe(&self, v: &Vault) -> wire::DescribeVaultOutput {
        let totals = self.totals(v);
        wire::DescribeVaultOutput {
            vault_arn: arn_of(v),
            vault_name: v.key.name.clone(),
            creation_date: format_date(v.created),
            last_inventory_date: v.last_inventory.map(format_date),
            number_of_archives: totals.archives,
            size_in_bytes: totals.bytes,
        }
    }
}

impl Service {
    /// A vault's archives and bytes as DescribeVault shows them: live, or with daily
    /// inventories as of the last one (none before the first).
    fn totals(&self, v: &Vault) -> glacier_storage::InventoryTotals {
        match self.settings.timing.daily_inventory {
            Some(_) => v.inventoried.unwrap_or_default(),
            None => glacier_storage::InventoryTotals {
                archives: v.archive_count,
                bytes: v.size,
            },
        }
    }
}

fn arn_of(v: &Vault) -> String {
    glacier_core::vault_arn(&v.region, &v.key.account, &v.key.name)
}

fn hex(d: &Digest) -> String {
    TreeHash(*d).to_hex()
}

/// The marker of the page after `page`, made from its last item.
fn next_marker<T>(page: &Page<T>, marker: impl Fn(&T) -> String) -> Option<String> {
    if page.more {
        page.items.last().map(marker)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn orphan(service: &Service, data: &[u8]) -> anyhow::Result<BlobKey> {
        let mut w = service.blobs.create(None).await?;
        w.write(data).await?;
        Ok(w.commit().await?)
    }

    /// An unreferenced blob is deleted by the second sweep that finds it so, never by the
    /// first: a blob committed just before its metadata is referenced by then and stays.
    #[tokio::test]
    async fn orphans_go_at_the_second_sweep() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let service = Service::open_local(dir.path(), Settings::new("us-east-1")).await?;
        let key = VaultKey {
            account: "111122223333".into(),
            name: "sweep".into(),
        };
        service.create_vault(&key).await?;
        let lost = orphan(&service, b"nobody refers to me").await?;
        let late = orphan(&service, b"referenced after the first sweep").await?;
        let mut suspects = std::collections::HashSet::new();
        assert_eq!(service.sweep_orphans(&mut suspects).await?, 0);
        assert_eq!(suspects.len(), 2);
        let mut hasher = glacier_core::TreeHasher::new();
        hasher.update(b"referenced after the first sweep");
        let h = hasher.finish_with_leaves();
        let archive = ArchiveRecord {
            id: "late".into(),
            description: String::new(),
            size: h.len,
            tree_hash: h.tree,
            created: service.now(),
            segments: vec![glacier_storage::Segment {
                blob: late.clone(),
                size: h.len,
                tree_hash: h.tree,
                leaves: h.leaves,
            }],
        };
        service.meta.insert_archive(&key, archive).await?;
        assert_eq!(service.sweep_orphans(&mut suspects).await?, 1);
        assert!(suspects.is_empty());
        let gone = glacier_storage::blob::read_all(service.blobs.as_ref(), &lost, 0, 1).await;
        assert!(gone.is_err(), "the orphan was deleted");
        let kept = glacier_storage::blob::read_all(service.blobs.as_ref(), &late, 0, 4).await?;
        assert_eq!(kept, b"refe");
        Ok(())
    }
}
