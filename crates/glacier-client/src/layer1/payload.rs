//! What a request sends: nothing, bytes in memory, or a range of a file.

use crate::error::{BoxError, GlacierError, Result};
use crate::transport::{Body, empty, full};
use bytes::Bytes;
use futures_util::TryStreamExt;
use glacier_core::LinearHash;
use http_body_util::BodyExt;
use std::path::PathBuf;

/// Bytes to send: nothing, bytes in memory, or a range of a file (re-read on each attempt, so
/// a retried upload never needs the data in memory).
#[derive(Debug, Clone)]
pub enum Payload {
    Empty,
    Bytes(Bytes),
    File {
        path: PathBuf,
        offset: u64,
        len: u64,
    },
}

impl Payload {
    pub fn len(&self) -> u64 {
        match self {
            Payload::Empty => 0,
            Payload::Bytes(b) => b.len() as u64,
            Payload::File { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(super) async fn body(&self) -> Result<Body> {
        match self {
            Payload::Empty => Ok(empty()),
            Payload::Bytes(b) => Ok(full(b.clone())),
            Payload::File { path, offset, len } => {
                use tokio::io::{AsyncReadExt, AsyncSeekExt};
                let mut file = tokio::fs::File::open(path).await?;
                file.seek(std::io::SeekFrom::Start(*offset)).await?;
                let stream =
                    tokio_util::io::ReaderStream::with_capacity(file.take(*len), 256 * 1024)
                        .map_ok(http_body::Frame::data)
                        .map_err(|e| -> BoxError { Box::new(e) });
                Ok(http_body_util::StreamBody::new(stream).boxed())
            }
        }
    }
}

impl Payload {
    /// The SHA-256 of the bytes, on a blocking thread.
    pub(super) async fn linear_hash(&self) -> Result<LinearHash> {
        match self {
            Payload::Empty => Ok(LinearHash::of(&[])),
            Payload::Bytes(b) => {
                let b = b.clone();
                tokio::task::spawn_blocking(move || LinearHash::of(&b))
                    .await
                    .map_err(|e| GlacierError::UploadArchive(format!("hashing task failed: {e}")))
            }
            Payload::File { path, offset, len } => {
                crate::utils::linear_hash_file_range(path.clone(), *offset, *len).await
            }
        }
    }
}

impl From<Bytes> for Payload {
    fn from(b: Bytes) -> Self {
        Payload::Bytes(b)
    }
}

impl From<Vec<u8>> for Payload {
    fn from(b: Vec<u8>) -> Self {
        Payload::Bytes(b.into())
    }
}
