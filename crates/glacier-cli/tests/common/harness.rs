//! The crash-consistency harness: seeded workers that upload archives and parts, complete and
//! abandon multipart uploads, delete archives, start retrievals and take vaults through Vault
//! Lock, against servers that the test kills at random moments; a ledger of what each request's
//! answer promised; and the checks of those promises once the servers are back.
//!
//! Every promise is one a client relies on: an archive that got a 201 is there, byte-exact; an
//! acknowledged part is listed; a deletion that got a 204 stays deleted; an acknowledged job
//! completes with its archive's bytes; a vault whose lock completed stays Locked. A request
//! the kill cut off promised nothing, so its effect may or may not be visible — but nothing
//! appears that no request asked for.

use aws_sdk_glacier::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_glacier::primitives::ByteStream;
use aws_sdk_glacier::types::{JobParameters, VaultLockPolicy};
use conformance_aws_sdk::{ACCOUNT, MIB, client};
use glacier_core::{TreeHash, TreeHasher};
use glacier_storage::{ArchiveCursor, ArchiveQuery, BlobStore, MetadataStore, VaultKey};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The vault the archives go to.
pub(crate) const VAULT: &str = "crash";

/// How a run is chosen: `GLACIER_CRASH_SEED` and `GLACIER_CRASH_KILLS` repeat or lengthen one;
/// by default a new seed (printed) and `kills` kills.
pub(crate) fn seed_and_kills(kills: usize) -> (u64, usize) {
    let seed = std::env::var("GLACIER_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let kills = std::env::var("GLACIER_CRASH_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(kills);
    eprintln!("crash harness: GLACIER_CRASH_SEED={seed} GLACIER_CRASH_KILLS={kills}");
    (seed, kills)
}

/// A lock's state as the last answered request left it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Lock {
    /// The vault was created; no lock was initiated.
    None,
    InProgress(String),
    Locked,
    /// A transition's answer was lost: either state may hold.
    Unknown,
}

/// One worker's requests and what their answers promised. It carries over from round to
/// round, so later rounds delete, retrieve and lock what earlier ones created.
struct Worker {
    id: usize,
    rng: StdRng,
    n: usize,
    /// Archives acknowledged and not deleted: id → (tree hash, size).
    archives: HashMap<String, (TreeHash, u64)>,
    /// Archives whose deletion was acknowledged.
    deleted: HashSet<String>,
    /// Archives whose deletion was sent and not answered.
    maybe_deleted: HashSet<String>,
    /// Acknowledged parts of uploads that were not completed: (upload id, range, hash).
    parts: Vec<(String, String, String)>,
    /// Acknowledged archive retrievals: (job id, archive id, the archive's tree hash).
    jobs: Vec<(String, String, TreeHash)>,
    /// The lock state of each vault this worker created.
    locks: HashMap<String, Lock>,
    /// The tree hash of every archive an upload or completion was sent for.
    attempted: HashSet<TreeHash>,
    /// Error answers no request should have had.
    errors: Vec<String>,
    /// Requests answered.
    answered: usize,
    /// Whether the test injects storage outages, which the server answers with
    /// ServiceUnavailableException (a request that promises nothing, as a lost answer).
    outages: bool,
}

/// An operation's result: `None` once the server stopped answering or answered an error (the
/// ledger records which): the worker's round is over.
type Op<T> = Option<T>;

impl Worker {
    fn new(seed: u64, id: usize) -> Worker {
        Worker {
            id,
            rng: StdRng::seed_from_u64(seed ^ (id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            n: 0,
            archives: HashMap::new(),
            deleted: HashSet::new(),
            maybe_deleted: HashSet::new(),
            parts: Vec::new(),
            jobs: Vec::new(),
            locks: HashMap::new(),
            attempted: HashSet::new(),
            errors: Vec::new(),
            answered: 0,
            outages: false,
        }
    }

    /// The answer of one request: `Some` answered as hoped; `None` never answered (the server
    /// was killed) or answered with an error, which is recorded.
    fn answer<T, E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
        &mut self,
        what: &str,
        r: Result<T, SdkError<E, R>>,
    ) -> Op<T> {
        match r {
            Ok(v) => {
                self.answered += 1;
                Some(v)
            }
            Err(SdkError::ServiceError(e))
                if self.outages && e.err().code() == Some("ServiceUnavailableException") =>
            {
                None
            }
            Err(SdkError::ServiceError(e)) => {
                self.errors
                    .push(format!("worker {} {what}: {:?}", self.id, e.err()));
                None
            }
            Err(_) => None,
        }
    }

    fn body(&mut self, len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len];
        self.rng.fill_bytes(&mut b);
        b
    }

    /// Sends requests to `endpoint` until the server goes away or `stop` is set.
    async fn run(&mut self, endpoint: String, stop: Arc<AtomicBool>) {
        let g = client(&endpoint);
        while !stop.load(Ordering::Relaxed) {
            let op = self.rng.random_range(0..100);
            let done = match op {
                0..35 => self.upload(&g).await,
                35..55 => self.multipart(&g).await,
                55..70 => self.delete(&g).await,
                70..85 => self.retrieve(&g).await,
                _ => self.lock(&g).await,
            };
            if done.is_none() {
                return;
            }
        }
    }

    async fn upload(&mut self, g: &aws_sdk_glacier::Client) -> Op<()> {
        let len = self.rng.random_range(1..=700 * 1024);
        let body = self.body(len);
        let hash = TreeHash::of(&body);
        self.attempted.insert(hash);
        let r = g
            .upload_archive()
            .vault_name(VAULT)
            .body(ByteStream::from(body))
            .send()
            .await;
        let r = self.answer("UploadArchive", r)?;
        self.check_hash("UploadArchive", r.checksum(), hash);
        let id = r.archive_id().unwrap_or_default().to_owned();
        self.archives.insert(id, (hash, len as u64));
        Some(())
    }

    /// Initiates an upload of 1 MiB parts and sends its parts in order, then completes it or,
    /// one time in three, leaves it open.
    async fn multipart(&mut self, g: &aws_sdk_glacier::Client) -> Op<()> {
        let len = self.rng.random_range(1..=3 * MIB);
        let complete = self.rng.random_bool(2.0 / 3.0);
        let body = self.body(len);
        let r = g
            .initiate_multipart_upload()
            .vault_name(VAULT)
            .part_size(MIB.to_string())
            .send()
            .await;
        let upload_id = self
            .answer("InitiateMultipartUpload", r)?
            .upload_id()
            .unwrap_or_default()
            .to_owned();
        for (i, chunk) in body.chunks(MIB).enumerate() {
            let range = format!("{}-{}", i * MIB, i * MIB + chunk.len() - 1);
            let hash = TreeHash::of(chunk);
            let r = g
                .upload_multipart_part()
                .vault_name(VAULT)
                .upload_id(&upload_id)
                .range(format!("bytes {range}/*"))
                .body(ByteStream::from(chunk.to_vec()))
                .send()
                .await;
            let r = self.answer("UploadMultipartPart", r)?;
            self.check_hash("UploadMultipartPart", r.checksum(), hash);
            self.parts.push((upload_id.clone(), range, hash.to_hex()));
        }
        if !complete {
            return Some(());
        }
        let hash = TreeHash::of(&body);
        self.attempted.insert(hash);
        // Once completion is sent the upload may be gone: its parts promise nothing more.
        self.parts.retain(|(u, _, _)| *u != upload_id);
        let r = g
            .complete_multipart_upload()
            .vault_name(VAULT)
            .upload_id(&upload_id)
            .archive_size(len.to_string())
            .checksum(hash.to_hex())
            .send()
            .await;
        let r = self.answer("CompleteMultipartUpload", r)?;
        self.check_hash("CompleteMultipartUpload", r.checksum(), hash);
        let id = r.archive_id().unwrap_or_default().to_owned();
        self.archives.insert(id, (hash, len as u64));
        Some(())
    }

    fn check_hash(&mut self, what: &str, got: Option<&str>, sent: TreeHash) {
        if got != Some(sent.to_hex().as_str()) {
            self.errors
                .push(format!("{what} answered tree hash {got:?} for {sent}"));
        }
    }

    /// An archive of this worker's, at random.
    fn pick(&mut self) -> Option<(String, TreeHash)> {
        let mut ids: Vec<_> = self.archives.keys().cloned().collect();
        ids.sort();
        let id = ids.get(self.rng.random_range(0..ids.len().max(1)))?.clone();
        let (hash, _) = self.archives[&id];
        Some((id, hash))
    }

    async fn delete(&mut self, g: &aws_sdk_glacier::Client) -> Op<()> {
        let Some((id, _)) = self.pick() else {
            return Some(());
        };
        self.archives.remove(&id);
        self.maybe_deleted.insert(id.clone());
        let r = g
            .delete_archive()
            .vault_name(VAULT)
            .archive_id(&id)
            .send()
            .await;
        self.answer("DeleteArchive", r)?;
        self.maybe_deleted.remove(&id);
        self.deleted.insert(id);
        Some(())
    }

    async fn retrieve(&mut self, g: &aws_sdk_glacier::Client) -> Op<()> {
        let Some((id, hash)) = self.pick() else {
            return Some(());
        };
        let r = g
            .initiate_job()
            .vault_name(VAULT)
            .job_parameters(
                JobParameters::builder()
                    .r#type("archive-retrieval")
                    .archive_id(&id)
                    .build(),
            )
            .send()
            .await;
        let job = self.answer("InitiateJob", r)?;
        self.jobs
            .push((job.job_id().unwrap_or_default().to_owned(), id, hash));
        Some(())
    }

    /// Takes one of this worker's vaults one step through Vault Lock: a new vault and its
    /// lock initiated, then completed (or, one time in three, aborted).
    async fn lock(&mut self, g: &aws_sdk_glacier::Client) -> Op<()> {
        let mut open: Vec<_> = self
            .locks
            .iter()
            .filter_map(|(v, l)| match l {
                Lock::InProgress(id) => Some((v.clone(), id.clone())),
                _ => None,
            })
            .collect();
        open.sort();
        if let Some((vault, lock_id)) = open.first().cloned() {
            self.locks.insert(vault.clone(), Lock::Unknown);
            if self.rng.random_bool(1.0 / 3.0) {
                let r = g.abort_vault_lock().vault_name(&vault).send().await;
                self.answer("AbortVaultLock", r)?;
                self.locks.insert(vault, Lock::None);
            } else {
                let r = g
                    .complete_vault_lock()
                    .vault_name(&vault)
                    .lock_id(lock_id)
                    .send()
                    .await;
                self.answer("CompleteVaultLock", r)?;
                self.locks.insert(vault, Lock::Locked);
            }
            return Some(());
        }
        self.n += 1;
        let vault = format!("lock-{}-{}-{}", self.id, self.n, self.rng.next_u32());
        let r = g.create_vault().vault_name(&vault).send().await;
        self.answer("CreateVault", r)?;
        self.locks.insert(vault.clone(), Lock::Unknown);
        let r = g
            .initiate_vault_lock()
            .vault_name(&vault)
            .policy(
                VaultLockPolicy::builder()
                    .policy(deny_deletes(&vault))
                    .build(),
            )
            .send()
            .await;
        let r = self.answer("InitiateVaultLock", r)?;
        let lock_id = r.lock_id().unwrap_or_default().to_owned();
        self.locks.insert(vault, Lock::InProgress(lock_id));
        Some(())
    }
}

fn deny_deletes(vault: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "worm", "Principal": "*", "Effect": "Deny",
            "Action": "glacier:DeleteArchive",
            "Resource": format!("arn:aws:glacier:us-east-1:{ACCOUNT}:vaults/{vault}")
        }]
    })
    .to_string()
}

/// The workers and everything their answered requests promised.
pub(crate) struct Harness {
    workers: Vec<Worker>,
}

/// A round of requests in flight; [`Round::finish`] ends it.
pub(crate) struct Round {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<Worker>>,
}

impl Round {
    /// Stops the workers (after the test killed what it kills) and waits for their last
    /// requests to be answered or to fail.
    pub(crate) async fn finish(self, harness: &mut Harness) -> anyhow::Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            harness.workers.push(t.await?);
        }
        harness.workers.sort_by_key(|w| w.id);
        Ok(())
    }
}

impl Harness {
    pub(crate) fn new(seed: u64, workers: usize) -> Harness {
        Harness {
            workers: (0..workers).map(|id| Worker::new(seed, id)).collect(),
        }
    }

    /// Takes ServiceUnavailableException answers for the outages the test injects: such a
    /// request promised nothing.
    #[allow(dead_code)] // The single-node crash test injects no outage.
    pub(crate) fn with_outages(mut self) -> Harness {
        for w in &mut self.workers {
            w.outages = true;
        }
        self
    }

    /// Creates the archive vault through `endpoint`.
    pub(crate) async fn create_vault(endpoint: &str) -> anyhow::Result<()> {
        client(endpoint)
            .create_vault()
            .vault_name(VAULT)
            .send()
            .await?;
        Ok(())
    }

    /// Starts every worker on one of `endpoints` (in turn).
    pub(crate) fn start(&mut self, endpoints: &[String]) -> Round {
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = std::mem::take(&mut self.workers)
            .into_iter()
            .map(|mut w| {
                let endpoint = endpoints[w.id % endpoints.len()].clone();
                let stop = Arc::clone(&stop);
                tokio::spawn(async move {
                    w.run(endpoint, stop).await;
                    w
                })
            })
            .collect();
        Round { stop, tasks }
    }

    /// Requests answered so far, and the promises they made: (answered, archives, parts,
    /// deletions, jobs, locked vaults).
    pub(crate) fn summary(&self) -> String {
        let sum = |f: &dyn Fn(&Worker) -> usize| self.workers.iter().map(f).sum::<usize>();
        format!(
            "{} requests answered; promised: {} archives, {} parts, {} deletions, {} jobs, {} locked vaults",
            sum(&|w| w.answered),
            sum(&|w| w.archives.len()),
            sum(&|w| w.parts.len()),
            sum(&|w| w.deleted.len()),
            sum(&|w| w.jobs.len()),
            sum(&|w| w.locks.values().filter(|l| **l == Lock::Locked).count()),
        )
    }

    pub(crate) fn answered(&self) -> usize {
        self.workers.iter().map(|w| w.answered).sum()
    }

    /// Through the API at `endpoint`: no request had an error answer; every acknowledged part
    /// of an unfinished upload is listed with its hash; every acknowledged job completes with
    /// its archive's bytes; every lock is in the state its last answer left it.
    pub(crate) async fn check_api(&self, endpoint: &str) -> anyhow::Result<()> {
        let errors: Vec<_> = self.workers.iter().flat_map(|w| &w.errors).collect();
        anyhow::ensure!(errors.is_empty(), "error answers: {errors:#?}");
        let g = client(endpoint);
        for w in &self.workers {
            for (upload_id, range, hash) in &w.parts {
                let parts = g
                    .list_parts()
                    .vault_name(VAULT)
                    .upload_id(upload_id)
                    .send()
                    .await?;
                anyhow::ensure!(
                    parts
                        .parts()
                        .iter()
                        .any(|p| p.range_in_bytes() == Some(range.as_str())
                            && p.sha256_tree_hash() == Some(hash.as_str())),
                    "acknowledged part {range} of {upload_id} is listed with its hash"
                );
            }
            for (job, archive, hash) in &w.jobs {
                let mut waited = 0;
                let status = loop {
                    let d = g
                        .describe_job()
                        .vault_name(VAULT)
                        .job_id(job)
                        .send()
                        .await?;
                    if d.completed() {
                        break d.status_code().cloned();
                    }
                    waited += 1;
                    // A job whose claim died with a node (or whose claim's answer was lost as
                    // PostgreSQL restarted) waits out the engine's 30-second lease.
                    anyhow::ensure!(waited < 1000, "job {job} never completed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                };
                // As on AWS, a retrieval whose archive is deleted before it completes may fail.
                let deleted = w.deleted.contains(archive) || w.maybe_deleted.contains(archive);
                if deleted && status == Some(aws_sdk_glacier::types::StatusCode::Failed) {
                    continue;
                }
                let out = g
                    .get_job_output()
                    .vault_name(VAULT)
                    .job_id(job)
                    .send()
                    .await?;
                let bytes = out.body.collect().await?.into_bytes();
                anyhow::ensure!(
                    TreeHash::of(&bytes) == *hash,
                    "job {job} streams its archive"
                );
            }
            for (vault, lock) in &w.locks {
                let got = g.get_vault_lock().vault_name(vault).send().await;
                let state = match &got {
                    Ok(l) => l.state().unwrap_or_default().to_owned(),
                    Err(e) => format!("{:?}", e.as_service_error().map(|e| e.meta().code())),
                };
                let expected = match lock {
                    Lock::Locked => "Locked",
                    Lock::InProgress(_) => "InProgress",
                    Lock::None => "Some(Some(\"ResourceNotFoundException\"))",
                    Lock::Unknown => continue,
                };
                anyhow::ensure!(
                    state == expected,
                    "vault {vault}: lock {state}, not {expected}"
                );
            }
        }
        Ok(())
    }

    /// The stores themselves, opened directly once no server runs: every acknowledged archive
    /// is there, byte-exact (each segment's bytes hash to its recorded tree hash and leaves);
    /// every stored archive is one an upload or completion was sent for; acknowledged deletions
    /// stayed deleted; the vault's counters match its archives; every referenced blob exists.
    pub(crate) async fn check_stores(
        &self,
        meta: &dyn MetadataStore,
        blobs: &dyn BlobStore,
    ) -> anyhow::Result<usize> {
        let key = VaultKey {
            account: ACCOUNT.into(),
            name: VAULT.into(),
        };
        let mut stored = Vec::new();
        let mut after: Option<ArchiveCursor> = None;
        loop {
            let query = ArchiveQuery {
                after: after.take(),
                limit: 500,
                ..Default::default()
            };
            let page = meta.list_archives(&key, &query).await?;
            after = page.items.last().map(|a| ArchiveCursor {
                created: a.created,
                id: a.id.clone(),
            });
            stored.extend(page.items);
            if !page.more {
                break;
            }
        }
        let v = meta.get_vault(&key).await?;
        anyhow::ensure!(v.archive_count as usize == stored.len(), "archive count");
        anyhow::ensure!(
            v.size == stored.iter().map(|a| a.size).sum::<u64>(),
            "vault size"
        );
        let attempted: HashSet<_> = self.workers.iter().flat_map(|w| &w.attempted).collect();
        let ids: HashSet<_> = stored.iter().map(|a| a.id.as_str()).collect();
        for summary in &stored {
            anyhow::ensure!(
                attempted.contains(&summary.tree_hash),
                "archive {} ({}) is none that was sent",
                summary.id,
                summary.tree_hash
            );
            let archive = meta.get_archive(&key, &summary.id).await?;
            let mut whole = TreeHasher::new();
            for seg in &archive.segments {
                let bytes = glacier_storage::blob::read_all(blobs, &seg.blob, 0, seg.size).await?;
                let mut h = TreeHasher::new();
                h.update(&bytes);
                let h = h.finish_with_leaves();
                anyhow::ensure!(
                    (h.tree, &h.leaves) == (seg.tree_hash, &seg.leaves),
                    "segment {} of {} is intact",
                    seg.blob,
                    archive.id
                );
                whole.update(&bytes);
            }
            anyhow::ensure!(
                whole.finish().0 == archive.tree_hash,
                "archive {} is intact",
                archive.id
            );
        }
        for w in &self.workers {
            for (id, (hash, size)) in &w.archives {
                let a = stored.iter().find(|a| &a.id == id);
                anyhow::ensure!(
                    a.is_some_and(|a| a.tree_hash == *hash && a.size == *size),
                    "acknowledged archive {id} is stored with its hash and size"
                );
            }
            for id in &w.deleted {
                anyhow::ensure!(!ids.contains(id.as_str()), "deleted archive {id} came back");
            }
        }
        let referenced = meta.referenced_blobs().await?;
        let listed: HashSet<_> = blobs.list().await?.into_iter().collect();
        anyhow::ensure!(
            referenced.is_subset(&listed),
            "every referenced blob exists"
        );
        Ok(stored.len())
    }
}
