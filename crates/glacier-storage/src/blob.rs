//! The blob store: immutable byte objects written once, durably, under keys it chooses.

use crate::Result;
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use glacier_core::Tier;
use std::fmt;
use std::time::Duration;

/// The name of one stored blob. Keys are chosen by the store and never reused.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobKey(pub String);

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobKey({})", self.0)
    }
}

/// A blob store. Blobs are written through a [`BlobWriter`], which makes them visible only once
/// committed, and only after they are durable.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Starts writing a new blob. `upload` is the size of a client's upload, which a store
    /// with limited room admits only while it leaves its reserve free (else
    /// [`StorageError::Full`](crate::StorageError::Full)); `None` for what the service writes
    /// itself (job output), which the reserve is kept for.
    async fn create(&self, upload: Option<u64>) -> Result<Box<dyn BlobWriter>>;

    /// Streams `len` bytes of a blob from `offset`.
    async fn read(
        &self,
        key: &BlobKey,
        offset: u64,
        len: u64,
    ) -> Result<BoxStream<'static, Result<Bytes>>>;

    /// Deletes blobs; a key that does not exist is not an error.
    async fn delete(&self, keys: &[BlobKey]) -> Result<()>;

    /// Every committed blob, for reclaiming the ones no metadata refers to.
    async fn list(&self) -> Result<Vec<BlobKey>>;

    /// Whether the store answers (for a readiness check): cheap, reads no blob.
    async fn ready(&self) -> Result<()>;

    /// The class uploads are kept in (S3's storage classes; a directory is `Standard`).
    fn class(&self) -> StorageClass {
        StorageClass::Standard
    }

    /// Whether a blob can be read now; if it is archived ([`StorageClass::restores`]), asks the
    /// store to restore it (at `thaw.tier`, readable for `thaw.readable_for`) unless a restore
    /// is under way or done. Cheap to repeat: it is how a retrieval polls.
    async fn thaw(&self, _key: &BlobKey, _thaw: &Thaw) -> Result<Thawed> {
        Ok(Thawed::Readable)
    }
}

/// The storage class uploads are written in (`glacier serve --s3-storage-class`), as S3 names
/// them. What the service writes itself (job outputs, inventories) stays `Standard`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StorageClass {
    #[default]
    Standard,
    /// S3 Glacier Instant Retrieval: read at once, billed at least 128 KiB an object.
    GlacierIr,
    /// S3 Glacier Flexible Retrieval: restored before a read (Expedited 1–5 minutes, Standard
    /// 3–5 hours, Bulk 5–12 hours), 40 KB of charges an object.
    Glacier,
    /// S3 Glacier Deep Archive: restored before a read (Standard within 12 hours, Bulk within
    /// 48; no Expedited), 40 KB of charges an object.
    DeepArchive,
}

impl StorageClass {
    pub const ALL: [StorageClass; 4] = [
        StorageClass::Standard,
        StorageClass::GlacierIr,
        StorageClass::Glacier,
        StorageClass::DeepArchive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StorageClass::Standard => "STANDARD",
            StorageClass::GlacierIr => "GLACIER_IR",
            StorageClass::Glacier => "GLACIER",
            StorageClass::DeepArchive => "DEEP_ARCHIVE",
        }
    }

    /// Whether objects of this class are restored before they can be read.
    pub fn restores(self) -> bool {
        matches!(self, StorageClass::Glacier | StorageClass::DeepArchive)
    }

    /// Whether a restore of this class offers `tier` (Deep Archive has no Expedited).
    pub fn offers(self, tier: Tier) -> bool {
        !(self == StorageClass::DeepArchive && tier == Tier::Expedited)
    }

    /// Objects smaller than this are written `Standard` instead: below it the class's
    /// per-object charges cost more than Standard's price. At AWS's US East prices
    /// (Standard $0.023, Flexible Retrieval $0.0036, Deep Archive $0.00099, Instant Retrieval
    /// $0.004 per GB-month), 8 KB at Standard's and 32 KB at the class's price an object break
    /// even with Standard at 9.8 KB (Deep Archive) and 15.4 KB (Flexible Retrieval); Instant
    /// Retrieval's 128 KiB minimum at 22.3 KB.
    pub fn standard_below(self) -> u64 {
        match self {
            StorageClass::Standard => 0,
            StorageClass::DeepArchive => 10 * 1024,
            StorageClass::Glacier => 16 * 1024,
            StorageClass::GlacierIr => 22 * 1024,
        }
    }

    /// The class a blob of `size` bytes written for an upload is given (`None`: what the
    /// service writes itself).
    pub fn for_upload(self, size: Option<u64>) -> StorageClass {
        match size {
            Some(n) if n >= self.standard_below() => self,
            _ => StorageClass::Standard,
        }
    }
}

impl fmt::Display for StorageClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for StorageClass {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<StorageClass, String> {
        StorageClass::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!(
                    "{s:?} is not a storage class: STANDARD, GLACIER_IR, GLACIER or DEEP_ARCHIVE"
                )
            })
    }
}

/// What a retrieval asks of an archived blob: a restore at its tier, kept readable long enough
/// for the job's output to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thaw {
    pub tier: Tier,
    pub readable_for: Duration,
}

/// Whether a blob can be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Thawed {
    Readable,
    /// A restore is under way.
    Restoring,
    /// The store refused to restore it, for this reason.
    Refused(String),
}

/// A blob being written. Dropping it without [`BlobWriter::commit`] discards what was written.
#[async_trait]
pub trait BlobWriter: Send {
    async fn write(&mut self, data: &[u8]) -> Result<()>;

    /// Makes the blob durable and visible, and returns its key.
    async fn commit(self: Box<Self>) -> Result<BlobKey>;
}

/// Reads a whole blob range into memory (tests and small objects only).
pub async fn read_all(
    store: &dyn BlobStore,
    key: &BlobKey,
    offset: u64,
    len: u64,
) -> Result<Vec<u8>> {
    use futures_util::TryStreamExt;
    let mut out = Vec::new();
    let mut s = store.read(key, offset, len).await?;
    while let Some(chunk) = s.try_next().await? {
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_classes_parse_and_keep_small_uploads_standard() {
        for c in StorageClass::ALL {
            assert_eq!(c.as_str().parse(), Ok(c));
        }
        assert_eq!("deep_archive".parse(), Ok(StorageClass::DeepArchive));
        let refused = "DEEP".parse::<StorageClass>().unwrap_err();
        assert!(refused.contains("DEEP_ARCHIVE"), "{refused}");
        let deep = StorageClass::DeepArchive;
        assert_eq!(deep.for_upload(Some(1 << 20)), deep);
        assert_eq!(deep.for_upload(Some(100)), StorageClass::Standard);
        assert_eq!(deep.for_upload(None), StorageClass::Standard, "job outputs");
        assert_eq!(
            StorageClass::Standard.for_upload(Some(1)),
            StorageClass::Standard
        );
        assert!(deep.restores() && StorageClass::Glacier.restores());
        assert!(!StorageClass::GlacierIr.restores());
        assert!(!deep.offers(Tier::Expedited) && deep.offers(Tier::Bulk));
        assert!(StorageClass::Glacier.offers(Tier::Expedited));
    }
}
