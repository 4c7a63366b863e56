//! Layer1: one async method per operation of the Glacier 2012-06-01 API, named as in the seed's
//! `boto.glacier.layer1.Layer1`, taking and returning the wire types of `glacier-core`.
//!
//! Every request carries `x-amz-glacier-version` and a SigV4 signature (the `aws-sigv4` crate)
//! with `x-amz-content-sha256`. Transient failures are retried in one loop
//! ([`glacier_core::retry::RetryPolicy`]: exponential backoff, full jitter), reading a small
//! response body being part of each attempt: throttling, 408, 5xx, transport errors and broken
//! bodies for operations that are safe to repeat, uploads included (as the AWS SDKs repeat
//! them); only throttling for InitiateJob, InitiateVaultLock and PurchaseProvisionedCapacity (a
//! repeat could start a second job or buy a second unit). `LimitExceededException` is never
//! retried.
//!
//! Modules by seam: `payload` (what a request sends), `call` (building, signing, sending,
//! retrying, reading answers), `operations` (the 33 methods), `builder`, `rate` (the
//! bandwidth cap), `progress` (the progress callback).

mod builder;
mod call;
mod operations;
mod payload;
mod progress;
mod rate;

pub use builder::Layer1Builder;
pub use glacier_core::retry::RetryPolicy;
pub use payload::Payload;
pub use progress::{ProgressFn, Transfer};
pub use rate::RateLimiter;

use crate::error::{GlacierError, Result};
use crate::transport::{ResponseBody, Transport};
use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};
use glacier_core::{LinearHash, Operation, TreeHash, headers as h};
use http_body_util::BodyExt;
use std::sync::Arc;

/// What UploadArchive and CompleteMultipartUpload answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveCreated {
    pub location: String,
    pub archive_id: String,
    /// The tree hash the service computed.
    pub checksum: TreeHash,
}

/// What InitiateMultipartUpload answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadInitiated {
    pub location: String,
    pub upload_id: String,
}

/// What InitiateJob answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInitiated {
    pub location: String,
    pub job_id: String,
}

/// GetJobOutput's answer; the body streams.
pub struct JobOutput {
    /// 200 for the whole output, 206 for a range.
    pub status: u16,
    pub content_range: Option<String>,
    pub content_type: Option<String>,
    pub content_length: Option<u64>,
    /// The tree hash of the returned bytes, when Glacier computed one.
    pub checksum: Option<TreeHash>,
    pub accept_ranges: Option<String>,
    pub archive_description: Option<String>,
    pub body: ByteStream,
}

/// A response body as a stream of chunks.
pub struct ByteStream(ResponseBody);

impl ByteStream {
    /// Reads the whole body into memory.
    pub async fn collect(self) -> Result<Bytes> {
        let collected = self
            .0
            .collect()
            .await
            .map_err(|e| GlacierError::Transport {
                operation: Operation::GetJobOutput,
                source: e,
            })?;
        Ok(collected.to_bytes())
    }

    /// The body as a stream of chunks.
    pub fn into_stream(self) -> impl Stream<Item = Result<Bytes>> + Send {
        self.0
            .into_data_stream()
            .map_err(|e| GlacierError::Transport {
                operation: Operation::GetJobOutput,
                source: e,
            })
    }
}

struct Inner {
    progress: Option<ProgressFn>,
    limiter: Option<Arc<RateLimiter>>,
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    region: String,
    /// The credentials as the signer takes them, built once.
    identity: aws_smithy_runtime_api::client::identity::Identity,
    account_id: String,
    transport: Arc<dyn Transport>,
    retry: RetryPolicy,
    /// The server said uploads may sign their tree hash instead of their payload
    /// (`h::ACCEPTS_TREE_SIGNED`); AWS never does.
    tree_signed: std::sync::atomic::AtomicBool,
}

/// The low-level client. Cheap to clone; clones share the transport.
#[derive(Clone)]
pub struct Layer1 {
    inner: Arc<Inner>,
}

impl Layer1 {
    pub fn region(&self) -> &str {
        &self.inner.region
    }

    /// Tells the progress callback, if any, of `n` bytes of `what`.
    pub(crate) fn report(&self, what: Transfer, n: u64) {
        if let Some(progress) = &self.inner.progress {
            progress(what, n);
        }
    }

    /// Whether a response of this endpoint has said that an upload may send
    /// `x-amz-content-sha256: UNSIGNED-PAYLOAD` with a signed tree hash (glacier-server does;
    /// AWS does not). Then [`Layer1::upload_archive`] and [`Layer1::upload_part`] do, and an
    /// upload's linear SHA-256 need not be computed at all.
    pub fn accepts_tree_signed_payload(&self) -> bool {
        self.inner
            .tree_signed
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// What an upload's `x-amz-content-sha256` says: `UNSIGNED-PAYLOAD` where the server takes
    /// the signed tree hash instead, else the payload's SHA-256 (computed here if not given).
    async fn payload_hash(&self, payload: &Payload, linear: Option<LinearHash>) -> Result<String> {
        if self.accepts_tree_signed_payload() {
            return Ok(h::UNSIGNED_PAYLOAD.to_owned());
        }
        Ok(match linear {
            Some(l) => l,
            None => payload.linear_hash().await?,
        }
        .to_hex())
    }
}
