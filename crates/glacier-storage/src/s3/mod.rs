//! Blobs as objects in any S3-compatible store (AWS S3, Garage, MinIO, Ceph RGW), through
//! `object_store`: every node of a deployment reads and writes the same bucket.
//!
//! Layout: `PREFIX/blobs/KEY`, KEY 32 random hex digits, written once and never renamed or
//! rewritten. A blob is one PUT when it is small, else the store's multipart upload of
//! [`PART_SIZE`] parts, at most [`PARTS_IN_FLIGHT`] in flight, so a writer holds a bounded
//! amount of memory whatever the blob's size. A blob becomes visible only when its PUT or its
//! multipart completion is acknowledged by the store; a writer dropped before its commit aborts
//! its multipart upload. Reads are ranged GETs of [`READ_CHUNK`] bytes, one after another.
//!
//! Uploads are written in [`S3Config::storage_class`] (those smaller than the class's
//! [`StorageClass::standard_below`] in STANDARD); what the service writes itself in STANDARD.
//! An archived object is restored before it is read ([`cold`]).

mod cold;

use crate::blob::{BlobKey, BlobStore, BlobWriter, StorageClass, Thaw, Thawed};
use crate::{Result, StorageError};
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    Attribute, Attributes, GetOptions, GetRange, ObjectStore, PutMultipartOptions, PutOptions,
    PutPayload, WriteMultipart,
};
use std::sync::Arc;
use std::time::Duration;

/// The size of the multipart upload parts a large blob is written in.
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts of one blob uploaded at once.
pub const PARTS_IN_FLIGHT: usize = 2;
/// Bytes fetched by one ranged GET when a blob is read. Each GET ends quickly whatever the
/// reader's pace, so a slow client never holds a request open past the store client's request
/// timeout, and a reader holds at most this much.
pub const READ_CHUNK: u64 = 8 * 1024 * 1024;

/// Where the objects are and how to reach them.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    pub bucket: String,
    /// Object names start with this (no leading or trailing `/`); may be empty.
    pub prefix: String,
    /// An S3-compatible endpoint, e.g. `http://127.0.0.1:3900`; AWS S3 when `None`.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// Credentials; when `None`, the standard AWS environment variables (or the instance's
    /// role on AWS).
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    /// How long one request to the store may take before it is abandoned (and retried while
    /// [`RETRY_TIMEOUTS`] of these have not passed).
    pub timeout: Duration,
    /// The class uploads are written in.
    pub storage_class: StorageClass,
}

/// The default of [`S3Config::timeout`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// A failed store request is retried (with backoff of at most 2 s, at most [`RETRIES`] times)
/// while less than this many [`S3Config::timeout`]s have passed since the first attempt: 3
/// minutes by default, object_store's own default, which rides out a Garage node frozen for a
/// while (a PUT behind one hung 30 s three times in a row before the cluster gave the node up);
/// with `--s3-timeout 2s` a hung store gets the Glacier client its 500 within about 14 s.
pub const RETRY_TIMEOUTS: u32 = 6;
/// At most this many retries of one store request.
pub const RETRIES: usize = 10;

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("timeout", &self.timeout)
            .field("storage_class", &self.storage_class)
            .finish_non_exhaustive()
    }
}

impl S3Config {
    /// Parses `s3://BUCKET[/PREFIX]`.
    pub fn from_url(url: &str) -> Result<S3Config> {
        let rest = url.strip_prefix("s3://").ok_or_else(|| {
            StorageError::Invalid(format!("{url:?} is not an s3://BUCKET[/PREFIX] URL"))
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(StorageError::Invalid(format!("{url:?} names no bucket")));
        }
        Ok(S3Config {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
            endpoint: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            timeout: DEFAULT_TIMEOUT,
            storage_class: StorageClass::Standard,
        })
    }
}

pub struct S3BlobStore {
    store: Arc<dyn ObjectStore>,
    /// `PREFIX/blobs`.
    root: Path,
    class: StorageClass,
    restorer: cold::Restorer,
}

fn backend(what: &str, e: object_store::Error) -> StorageError {
    match e {
        object_store::Error::NotFound { path, .. } => {
            StorageError::not_found(crate::Resource::Blob, path)
        }
        e => StorageError::Backend {
            message: format!("object store: {what}"),
            source: Some(Box::new(e)),
        },
    }
}

impl S3BlobStore {
    /// Connects to the bucket and lists under the prefix once, so that a wrong endpoint, bucket
    /// or credentials fail here rather than at the first upload.
    pub async fn open(config: &S3Config) -> Result<S3BlobStore> {
        let mut b = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(&config.bucket);
        if let Some(e) = &config.endpoint {
            b = b.with_endpoint(e);
        }
        if let Some(r) = &config.region {
            b = b.with_region(r);
        }
        if let (Some(id), Some(secret)) = (&config.access_key_id, &config.secret_access_key) {
            b = b.with_access_key_id(id).with_secret_access_key(secret);
            if let Some(t) = &config.session_token {
                b = b.with_token(t);
            }
        }
        let retry = object_store::RetryConfig {
            backoff: object_store::BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(2),
                base: 2.0,
            },
            max_retries: RETRIES,
            retry_timeout: config.timeout * RETRY_TIMEOUTS,
        };
        // Client options replace the builder's, plain HTTP allowed or not among them.
        let plain = config
            .endpoint
            .as_deref()
            .is_some_and(|e| e.starts_with("http://"));
        let client = object_store::ClientOptions::new()
            .with_allow_http(plain)
            .with_timeout(config.timeout)
            .with_connect_timeout(config.timeout.min(Duration::from_secs(5)));
        // Over HTTPS a body goes unsigned (`UNSIGNED-PAYLOAD`), as the AWS SDKs send S3 bodies:
        // TLS protects it on the way, and signing its SHA-256 would be a second pass over every
        // byte besides the tree hash. Over plain HTTP the signature is what lets the store
        // refuse a body damaged on the way, so it stays.
        let b = b
            .with_retry(retry)
            .with_client_options(client)
            .with_unsigned_payload(!plain);
        let region = b
            .get_config_value(&object_store::aws::AmazonS3ConfigKey::Region)
            .unwrap_or_else(|| "us-east-1".to_owned());
        let endpoint = b
            .get_config_value(&object_store::aws::AmazonS3ConfigKey::Endpoint)
            .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        let store = b.build().map_err(|e| backend("configuring S3", e))?;
        let restorer = cold::Restorer {
            http: reqwest::Client::builder()
                .timeout(config.timeout)
                .build()
                .map_err(|e| StorageError::backend(format!("object store: HTTP client: {e}")))?,
            endpoint: reqwest::Url::parse(&endpoint).map_err(|e| {
                StorageError::Invalid(format!("S3 endpoint {endpoint:?} is not a URL: {e}"))
            })?,
            bucket: config.bucket.clone(),
            region,
            credentials: Arc::clone(store.credentials()),
        };
        let root = if config.prefix.is_empty() {
            Path::from("blobs")
        } else {
            Path::from(format!("{}/blobs", config.prefix))
        };
        store
            .list_with_delimiter(Some(&root))
            .await
            .map_err(|e| backend(&format!("reaching bucket {:?}", config.bucket), e))?;
        Ok(S3BlobStore {
            store: Arc::new(store),
            root,
            class: config.storage_class,
            restorer,
        })
    }

    fn path(&self, key: &BlobKey) -> Result<Path> {
        let k = &key.0;
        if k.len() != 32 || !k.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StorageError::backend(format!("malformed blob key {k:?}")));
        }
        Ok(self.root.child(k.as_str()))
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn create(&self, upload: Option<u64>) -> Result<Box<dyn BlobWriter>> {
        let key = BlobKey(hex::encode(rand::random::<[u8; 16]>()));
        let mut attributes = Attributes::new();
        let class = self.class.for_upload(upload);
        if class != StorageClass::Standard {
            attributes.insert(Attribute::StorageClass, class.as_str().into());
        }
        Ok(Box::new(S3Writer {
            path: self.path(&key)?,
            key,
            store: Arc::clone(&self.store),
            buffer: Vec::new(),
            upload: None,
            attributes,
        }))
    }

    fn class(&self) -> StorageClass {
        self.class
    }

    async fn thaw(&self, key: &BlobKey, thaw: &Thaw) -> Result<Thawed> {
        if !self.class.restores() {
            return Ok(Thawed::Readable);
        }
        self.restorer.thaw(&self.path(key)?, thaw).await
    }

    async fn read(
        &self,
        key: &BlobKey,
        offset: u64,
        len: u64,
    ) -> Result<BoxStream<'static, Result<Bytes>>> {
        let path = self.path(key)?;
        if len == 0 {
            return Ok(futures_util::stream::empty().boxed());
        }
        let end = offset.checked_add(len).ok_or_else(|| {
            StorageError::backend(format!("blob {key}: {len} bytes at {offset} overflow"))
        })?;
        let first_end = end.min(offset.saturating_add(READ_CHUNK));
        let (first, size) = fetch(&self.store, &path, offset..first_end).await?;
        if size < end {
            return Err(StorageError::backend(format!(
                "blob {key} holds {size} bytes; asked for {len} bytes at {offset}"
            )));
        }
        let store = Arc::clone(&self.store);
        let rest = futures_util::stream::try_unfold(first_end, move |at| {
            let (store, path) = (Arc::clone(&store), path.clone());
            async move {
                if at >= end {
                    return Ok(None);
                }
                let until = end.min(at.saturating_add(READ_CHUNK));
                let (bytes, _) = fetch(&store, &path, at..until).await?;
                Ok(Some((bytes, until)))
            }
        });
        Ok(futures_util::stream::once(async { Ok(first) })
            .chain(rest)
            .boxed())
    }

    async fn delete(&self, keys: &[BlobKey]) -> Result<()> {
        for key in keys {
            match self.store.delete(&self.path(key)?).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(backend("deleting a blob", e)),
            }
        }
        Ok(())
    }

    async fn ready(&self) -> Result<()> {
        // A key no blob has (blob keys are 32 hex digits): not found is an answer.
        match self.store.head(&self.root.child("ready-probe")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(backend("reaching the bucket", e)),
        }
    }

    async fn list(&self) -> Result<Vec<BlobKey>> {
        let mut out = Vec::new();
        let mut listed = self.store.list(Some(&self.root));
        while let Some(meta) = listed
            .try_next()
            .await
            .map_err(|e| backend("listing blobs", e))?
        {
            if let Some(name) = meta.location.filename() {
                out.push(BlobKey(name.to_owned()));
            }
        }
        Ok(out)
    }
}

/// One ranged GET, read whole; with the object's size.
async fn fetch(
    store: &Arc<dyn ObjectStore>,
    path: &Path,
    range: std::ops::Range<u64>,
) -> Result<(Bytes, u64)> {
    let opts = GetOptions {
        range: Some(GetRange::Bounded(range.clone())),
        ..Default::default()
    };
    let got = store
        .get_opts(path, opts)
        .await
        .map_err(|e| backend("reading a blob", e))?;
    let size = got.meta.size;
    // S3 answers a range that runs past the end with the bytes there are.
    if got.range != range {
        return Err(StorageError::backend(format!(
            "blob {path} holds {size} bytes; asked for bytes {}..{}",
            range.start, range.end
        )));
    }
    let bytes = got
        .bytes()
        .await
        .map_err(|e| backend("reading a blob", e))?;
    Ok((bytes, size))
}

/// A blob being written: held in memory until it outgrows one part, then a multipart upload.
struct S3Writer {
    key: BlobKey,
    path: Path,
    store: Arc<dyn ObjectStore>,
    buffer: Vec<u8>,
    upload: Option<WriteMultipart>,
    /// The storage class, if not STANDARD.
    attributes: Attributes,
}

#[async_trait]
impl BlobWriter for S3Writer {
    async fn write(&mut self, data: &[u8]) -> Result<()> {
        if self.upload.is_none() {
            if self.buffer.len() + data.len() <= PART_SIZE {
                self.buffer.extend_from_slice(data);
                return Ok(());
            }
            let upload = self
                .store
                .put_multipart_opts(
                    &self.path,
                    PutMultipartOptions {
                        attributes: self.attributes.clone(),
                        ..Default::default()
                    },
                )
                .await
                .map_err(|e| backend("starting a multipart upload", e))?;
            let mut upload = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
            upload.write(&std::mem::take(&mut self.buffer));
            self.upload = Some(upload);
        }
        if let Some(upload) = self.upload.as_mut() {
            upload
                .wait_for_capacity(PARTS_IN_FLIGHT)
                .await
                .map_err(|e| backend("uploading a part", e))?;
            upload.write(data);
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<BlobKey> {
        match self.upload.take() {
            Some(upload) => {
                upload
                    .finish()
                    .await
                    .map_err(|e| backend("completing a multipart upload", e))?;
            }
            None => {
                let body = PutPayload::from(std::mem::take(&mut self.buffer));
                let opts = PutOptions {
                    attributes: std::mem::take(&mut self.attributes),
                    ..Default::default()
                };
                self.store
                    .put_opts(&self.path, body, opts)
                    .await
                    .map_err(|e| backend("writing a blob", e))?;
            }
        }
        Ok(self.key.clone())
    }
}

impl Drop for S3Writer {
    fn drop(&mut self) {
        // Not committed: the parts uploaded so far are the store's to discard.
        if let Some(upload) = self.upload.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(async move {
                if let Err(e) = upload.abort().await {
                    tracing::warn!(error = %e, "aborting an unfinished multipart upload");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::read_all;

    #[tokio::test]
    async fn conformance() -> Result<()> {
        let Some(config) = crate::conformance::s3_config()? else {
            return Ok(());
        };
        crate::conformance::blob_store(&S3BlobStore::open(&config).await?).await;
        Ok(())
    }

    /// The same in DEEP_ARCHIVE on an S3 that models it: uploads are restored before a read.
    #[tokio::test]
    async fn conformance_in_deep_archive() -> Result<()> {
        let Some(config) = crate::testing::cold_s3_config()? else {
            return Ok(());
        };
        crate::conformance::blob_store(&S3BlobStore::open(&config).await?).await;
        Ok(())
    }

    /// A blob of several parts, written in pieces that straddle part boundaries, reads back
    /// whole and in ranges across the boundaries; one dropped mid-way leaves nothing listed.
    #[tokio::test]
    async fn large_blobs_go_in_parts() -> Result<()> {
        let Some(config) = crate::conformance::s3_config()? else {
            return Ok(());
        };
        let store = S3BlobStore::open(&config).await?;
        let data: Vec<u8> = (0..(2 * PART_SIZE + 12_345) as u32)
            .map(|i| (i % 253) as u8)
            .collect();
        let mut w = store.create(None).await?;
        for chunk in data.chunks(3_000_001) {
            w.write(chunk).await?;
        }
        let key = w.commit().await?;
        assert_eq!(read_all(&store, &key, 0, data.len() as u64).await?, data);
        let at = PART_SIZE as u64 - 5;
        assert_eq!(
            read_all(&store, &key, at, 10).await?,
            data[at as usize..at as usize + 10]
        );
        // Several ranged GETs of READ_CHUNK, from an offset inside the first.
        let len = data.len() as u64 - 2;
        assert_eq!(
            read_all(&store, &key, 1, len).await?,
            data[1..data.len() - 1]
        );
        assert!(
            store.read(&key, 1, data.len() as u64).await.is_err(),
            "a read past the end fails before any byte is sent"
        );

        let mut dropped = store.create(None).await?;
        dropped.write(&data).await?;
        drop(dropped);
        assert_eq!(store.list().await?, vec![key.clone()]);
        store.delete(&[key]).await?;
        Ok(())
    }
}
