//! Streaming a request body into a new blob while hashing it.

use crate::error::{ApiError, ApiResult};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use glacier_core::{ErrorCode, LeafHasher, TreeHash};
use glacier_storage::{BlobStore, Segment};

/// What the client said the body is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// `Content-Length`.
    pub len: u64,
    /// `x-amz-sha256-tree-hash`.
    pub tree_hash: TreeHash,
}

/// Writes `body` to a new blob, hashing as it goes, and commits the blob only when the body
/// is exactly as long and hashes exactly as `expected` says. Memory stays bounded by the
/// blob writer's buffer, whatever the body's size. On any failure nothing is left behind.
///
/// The body's `x-amz-content-sha256` is checked by the body itself (see `crate::auth`): a
/// mismatch arrives here as the stream's last item, an error.
pub(crate) async fn ingest<S, E>(
    blobs: &dyn BlobStore,
    mut body: S,
    expected: &Expected,
) -> ApiResult<Segment>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Into<axum::BoxError>,
{
    // A refusal here goes out before the body is read; the connection reads the rest of the
    // body first (`crate::serve`), so that a client still sending it reads the answer.
    let mut writer = blobs
        .create(Some(expected.len))
        .await
        .map_err(ApiError::from)?;
    let mut hasher = LeafHasher::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(ApiError::from_body)?;
        if hasher.len() + chunk.len() as u64 > expected.len {
            return Err(ApiError::invalid(format!(
                "The request body is longer than its Content-Length, {}",
                expected.len
            )));
        }
        hasher.update(&chunk);
        writer.write(&chunk).await.map_err(ApiError::from)?;
    }
    if hasher.len() != expected.len {
        return Err(ApiError::new(
            ErrorCode::RequestTimeoutException,
            format!(
                "The request body ended after {} of {} bytes",
                hasher.len(),
                expected.len
            ),
        ));
    }
    let hashes = hasher.finish();
    if hashes.tree != expected.tree_hash {
        return Err(ApiError::invalid(format!(
            "Checksum mismatch: expected {}, computed {}",
            expected.tree_hash, hashes.tree
        )));
    }
    let blob = writer.commit().await.map_err(ApiError::from)?;
    Ok(Segment {
        blob,
        size: hashes.len,
        tree_hash: hashes.tree,
        leaves: hashes.leaves,
    })
}
