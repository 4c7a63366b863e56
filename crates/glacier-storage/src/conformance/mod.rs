//! The behaviour every backend must show, written once against the traits, one module per
//! table family as the stores are laid out; [`metadata`] runs every metadata case and
//! [`blob_store`] every blob case. A failure panics with what differed. Compiled for this
//! crate's tests only, with the helpers that give a test a fresh PostgreSQL database or bucket
//! prefix from the `GLACIER_TEST_*` variables `scripts/test` sets.

mod archives;
mod blobs;
mod governance;
mod jobs;
mod usage;

pub(crate) use blobs::blob_store;

use crate::blob::{BlobKey, BlobStore, read_all};
use crate::meta::*;
use crate::{Result, StorageError};
use glacier_core::TreeHash;
use glacier_core::multipart::PartInfo;
use glacier_core::{InventoryFormat, JobStatus, LockState, Tier};
use time::OffsetDateTime;

/// Every metadata case, on `store`.
pub(crate) async fn metadata(store: std::sync::Arc<dyn MetadataStore>) {
    archives::metadata_store(store.as_ref()).await;
    jobs::jobs(store.as_ref()).await;
    governance::governance(store.as_ref()).await;
    governance::admission(store.as_ref()).await;
    governance::policies_follow_writes(store.as_ref()).await;
    usage::usage(store.as_ref()).await;
    usage::usage_history(store.as_ref()).await;
    governance::lock_races(store).await;
}

pub(super) fn ok<T>(what: &str, r: Result<T>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: unexpected error: {e}"),
    }
}

pub(super) fn not_found<T: std::fmt::Debug>(what: &str, r: Result<T>) {
    match r {
        Err(StorageError::NotFound { .. }) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

pub(super) fn invalid<T: std::fmt::Debug>(what: &str, r: Result<T>) -> String {
    match r {
        Err(StorageError::Invalid(msg)) => msg,
        other => panic!("{what}: expected Invalid, got {other:?}"),
    }
}

pub(super) fn conflict<T: std::fmt::Debug>(what: &str, r: Result<T>) -> String {
    match r {
        Err(StorageError::Conflict(msg)) => msg,
        other => panic!("{what}: expected Conflict, got {other:?}"),
    }
}

pub(super) fn segment(tag: &str, data: &[u8]) -> Segment {
    let mut h = glacier_core::TreeHasher::new();
    h.update(data);
    let h = h.finish_with_leaves();
    Segment {
        blob: BlobKey(format!("{tag:0>32}")),
        size: data.len() as u64,
        tree_hash: h.tree,
        leaves: h.leaves,
    }
}

/// Whether a test that needs an outside service (PostgreSQL, an S3 store) given by the
/// environment variable `var` runs: `None` skips it, unless `scripts/test`, which always starts
/// the services, set `GLACIER_REQUIRE_SERVICES` — then a missing one is an error.
pub(crate) fn service(var: &str) -> Result<Option<String>> {
    match std::env::var(var) {
        Ok(v) => Ok(Some(v)),
        Err(_) if std::env::var_os("GLACIER_REQUIRE_SERVICES").is_some() => Err(
            StorageError::backend(format!("GLACIER_REQUIRE_SERVICES is set but {var} is not")),
        ),
        Err(_) => {
            eprintln!("{var} is not set: skipping a test that needs it");
            Ok(None)
        }
    }
}

/// A fresh database for one test on the PostgreSQL server at `$GLACIER_TEST_POSTGRES_URL`
/// (`scripts/postgres.sh` starts one); `None` when there is none (see [`service`]).
pub(crate) async fn postgres_database() -> Result<Option<String>> {
    let Some(url) = service("GLACIER_TEST_POSTGRES_URL")? else {
        return Ok(None);
    };
    let (server, _) = url
        .rsplit_once('/')
        .ok_or_else(|| StorageError::Invalid(format!("no database in {url}")))?;
    let name = format!("t{}", hex::encode(rand::random::<[u8; 8]>()));
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await?;
    Ok(Some(format!("{server}/{name}")))
}

/// A fresh prefix for one test in the S3 bucket `$GLACIER_TEST_S3_URL` (`s3://BUCKET`) at the
/// first of the endpoints `$GLACIER_TEST_S3_ENDPOINT` (space-separated; `scripts/garage.sh`
/// starts them), with `$GLACIER_TEST_S3_REGION` and the key `$GLACIER_TEST_S3_KEY_ID`,
/// `$GLACIER_TEST_S3_SECRET`; `None` when there is none (see [`service`]).
pub(crate) fn s3_config() -> Result<Option<crate::S3Config>> {
    let Some(url) = service("GLACIER_TEST_S3_URL")? else {
        return Ok(None);
    };
    let mut config = crate::S3Config::from_url(&url)?;
    config.prefix = format!("t{}", hex::encode(rand::random::<[u8; 8]>()));
    config.endpoint = service("GLACIER_TEST_S3_ENDPOINT")?
        .and_then(|e| e.split_whitespace().next().map(str::to_owned));
    config.region = std::env::var("GLACIER_TEST_S3_REGION").ok();
    config.access_key_id = service("GLACIER_TEST_S3_KEY_ID")?;
    config.secret_access_key = service("GLACIER_TEST_S3_SECRET")?;
    Ok(Some(config))
}
