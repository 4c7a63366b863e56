//! The behaviour every backend must show, written once against the traits, one module per
//! table family as the stores are laid out; [`metadata`] runs every metadata case and
//! [`blob_store`] every blob case. A failure panics with what differed. Compiled for this
//! crate's tests only, with the helpers that give a test a fresh PostgreSQL database or bucket
//! prefix from the `GLACIER_TEST_*` variables `scripts/test` sets.

mod archives;
mod blobs;
mod governance;
mod inventories;
mod jobs;
mod usage;

pub(crate) use crate::testing::{postgres_database, s3_config, service};
pub(crate) use blobs::blob_store;

use crate::blob::{BlobKey, BlobStore, Thaw, Thawed, read_all};
use crate::meta::*;
use crate::{Result, StorageError};
use glacier_core::TreeHash;
use glacier_core::multipart::PartInfo;
use glacier_core::{InventoryFormat, JobStatus, LockState, Tier};
use time::OffsetDateTime;

/// Every metadata case, on `store`.
pub(crate) async fn metadata(store: std::sync::Arc<dyn MetadataStore>) {
    archives::metadata_store(store.as_ref()).await;
    archives::long_pages(store.as_ref()).await;
    jobs::jobs(store.as_ref()).await;
    governance::governance(store.as_ref()).await;
    governance::admission(store.as_ref()).await;
    governance::policies_follow_writes(store.as_ref()).await;
    inventories::inventories(store.as_ref()).await;
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
