//! Layer1: one async method per operation of the Glacier 2012-06-01 API, named as in the seed's
//! `boto.glacier.layer1.Layer1`, taking and returning the wire types of `glacier-core`.
//!
//! Every request carries `x-amz-glacier-version` and a SigV4 signature (the `aws-sigv4` crate)
//! with `x-amz-content-sha256`. Transient failures are retried in one loop
//! ([`glacier_core::retry::RetryPolicy`]: exponential backoff, full jitter), reading a small
//! response body being part of each attempt: throttling, 408, 5xx, transport errors and broken
//! bodies for operations that are safe to repeat; only throttling for those that are not (a
//! repeated InitiateJob would start a second job). `LimitExceededException` is never retried.

use crate::credentials::Credentials;
use crate::error::{BoxError, GlacierError, Result};
use crate::transport::{Body, HttpTransport, ResponseBody, Transport, empty, full};
use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};
use glacier_core::headers as h;
pub use glacier_core::retry::RetryPolicy;
use glacier_core::{LinearHash, Operation, TreeHash, wire};
use http::{Method, header};
use http_body_util::BodyExt;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

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

    async fn body(&self) -> Result<Body> {
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

/// Told of every body chunk sent or received, e.g. to draw a progress bar. Repeated attempts
/// are counted again.
pub type ProgressFn = Arc<dyn Fn(Transfer, u64) + Send + Sync>;

/// The direction of a counted chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    Sent,
    Received,
    /// A part upload or a job-output download began (the count is 0).
    Started,
    /// It ended, however it ended (the count is 0).
    Finished,
}

/// Reports [`Transfer::Finished`] when dropped: when a download's body is done with.
struct FinishGuard(ProgressFn);

impl Drop for FinishGuard {
    fn drop(&mut self) {
        (self.0)(Transfer::Finished, 0);
    }
}

/// Caps bandwidth: bytes are let through at `rate` per second on average, shared by every
/// request of a client (all parts and chunks in flight together). A virtual clock: each chunk
/// reserves the time its bytes take at the rate and waits until its slot.
pub struct RateLimiter {
    rate: f64,
    next: std::sync::Mutex<tokio::time::Instant>,
}

impl RateLimiter {
    pub fn new(bytes_per_second: u64) -> Arc<RateLimiter> {
        Arc::new(RateLimiter {
            rate: bytes_per_second.max(1) as f64,
            next: std::sync::Mutex::new(tokio::time::Instant::now()),
        })
    }

    /// Waits until `n` more bytes may pass.
    pub async fn take(&self, n: u64) {
        let wake = {
            let Ok(mut next) = self.next.lock() else {
                return;
            };
            let now = tokio::time::Instant::now();
            let start = (*next).max(now);
            *next = start + Duration::from_secs_f64(n as f64 / self.rate);
            start
        };
        tokio::time::sleep_until(wake).await;
    }
}

/// Frames of at most this many bytes go through a rate limiter, so that pacing is smooth.
const PACED_FRAME: usize = 64 * 1024;

/// Chunks that pass the limiter first (split into small ones).
fn paced<S>(
    chunks: S,
    limiter: Arc<RateLimiter>,
) -> impl Stream<Item = std::result::Result<http_body::Frame<Bytes>, BoxError>>
where
    S: Stream<Item = std::result::Result<Bytes, BoxError>>,
{
    use futures_util::StreamExt;
    chunks
        .flat_map(|chunk| {
            let pieces: Vec<std::result::Result<Bytes, BoxError>> = match chunk {
                Ok(mut b) => {
                    let mut v = Vec::new();
                    while b.len() > PACED_FRAME {
                        v.push(Ok(b.split_to(PACED_FRAME)));
                    }
                    v.push(Ok(b));
                    v
                }
                Err(e) => vec![Err(e)],
            };
            futures_util::stream::iter(pieces)
        })
        .then(move |chunk| {
            let limiter = Arc::clone(&limiter);
            async move {
                if let Ok(b) = &chunk {
                    limiter.take(b.len() as u64).await;
                }
                chunk.map(http_body::Frame::data)
            }
        })
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

/// Builds a [`Layer1`].
pub struct Layer1Builder {
    progress: Option<ProgressFn>,
    limiter: Option<Arc<RateLimiter>>,
    endpoint: Option<String>,
    region: String,
    credentials: Option<Credentials>,
    account_id: String,
    transport: Option<Arc<dyn Transport>>,
    retry: RetryPolicy,
    read_timeout: Duration,
}

impl Layer1Builder {
    /// A custom endpoint, e.g. `http://127.0.0.1:9090`. Default: `https://glacier.{region}.amazonaws.com`.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    pub fn credentials(mut self, c: Credentials) -> Self {
        self.credentials = Some(c);
        self
    }

    /// The account every path names; default `-`, the caller's own.
    pub fn account_id(mut self, id: impl Into<String>) -> Self {
        self.account_id = id.into();
        self
    }

    /// Another transport, e.g. [`crate::transport::InProcess`] around the server's router.
    pub fn transport(mut self, t: Arc<dyn Transport>) -> Self {
        self.transport = Some(t);
        self
    }

    /// Caps the bandwidth of request bodies and job output, across all requests in flight.
    pub fn limit_rate(mut self, bytes_per_second: u64) -> Self {
        self.limiter = Some(RateLimiter::new(bytes_per_second));
        self
    }

    /// Counts the bytes of every request and job-output body as they move.
    pub fn progress(mut self, f: ProgressFn) -> Self {
        self.progress = Some(f);
        self
    }

    pub fn retry(mut self, r: RetryPolicy) -> Self {
        self.retry = r;
        self
    }

    /// Longest wait for the next bytes of a response over HTTP (default 5 minutes).
    pub fn read_timeout(mut self, t: Duration) -> Self {
        self.read_timeout = t;
        self
    }

    /// Resolves what was not given: credentials from the environment or the shared files.
    pub fn build(self) -> Result<Layer1> {
        let endpoint = self
            .endpoint
            .unwrap_or_else(|| format!("https://glacier.{}.amazonaws.com", self.region));
        let uri: http::Uri = endpoint
            .parse()
            .map_err(|e| GlacierError::InvalidInput(format!("endpoint {endpoint:?}: {e}")))?;
        let (Some(scheme), Some(authority)) = (uri.scheme().cloned(), uri.authority().cloned())
        else {
            return Err(GlacierError::InvalidInput(format!(
                "endpoint {endpoint:?} needs a scheme and a host"
            )));
        };
        let credentials = match self.credentials {
            Some(c) => c,
            None => Credentials::resolve()?,
        };
        let transport = match self.transport {
            Some(t) => t,
            None => Arc::new(
                HttpTransport::new(self.read_timeout)
                    .map_err(|e| GlacierError::InvalidInput(format!("HTTP client: {e}")))?,
            ),
        };
        Ok(Layer1 {
            inner: Arc::new(Inner {
                progress: self.progress,
                limiter: self.limiter,
                scheme,
                authority,
                region: self.region,
                credentials,
                account_id: self.account_id,
                transport,
                retry: self.retry,
            }),
        })
    }
}

struct Inner {
    progress: Option<ProgressFn>,
    limiter: Option<Arc<RateLimiter>>,
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    region: String,
    credentials: Credentials,
    account_id: String,
    transport: Arc<dyn Transport>,
    retry: RetryPolicy,
}

/// The low-level client. Cheap to clone; clones share the transport.
#[derive(Clone)]
pub struct Layer1 {
    inner: Arc<Inner>,
}

/// One request of one operation.
struct Call {
    operation: Operation,
    method: Method,
    path: String,
    query: Vec<(&'static str, String)>,
    headers: Vec<(&'static str, String)>,
    payload: Payload,
    /// Hex SHA-256 of the payload (the caller's linear hash for uploads).
    payload_sha256: String,
    ok: &'static [u16],
    /// Whether repeating the request after an unknown outcome is harmless.
    idempotent: bool,
}

const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn seg(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, PATH_SEGMENT).to_string()
}

fn sha256_hex(data: &[u8]) -> String {
    glacier_core::TreeHash(glacier_core::treehash::sha256(data)).to_hex()
}

fn header_str(resp: &http::Response<ResponseBody>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

impl Layer1 {
    pub fn builder() -> Layer1Builder {
        Layer1Builder {
            progress: None,
            limiter: None,
            endpoint: None,
            region: "us-east-1".into(),
            credentials: None,
            account_id: "-".into(),
            transport: None,
            retry: RetryPolicy::default(),
            read_timeout: Duration::from_secs(300),
        }
    }

    pub fn region(&self) -> &str {
        &self.inner.region
    }

    fn vault_path(&self, vault: &str) -> String {
        format!("/{}/vaults/{}", seg(&self.inner.account_id), seg(vault))
    }

    fn call(&self, operation: Operation, method: Method, path: String, ok: &'static [u16]) -> Call {
        Call {
            operation,
            method,
            path,
            query: Vec::new(),
            headers: Vec::new(),
            payload: Payload::Empty,
            payload_sha256: sha256_hex(&[]),
            ok,
            idempotent: true,
        }
    }

    fn json_call<T: serde::Serialize>(
        &self,
        operation: Operation,
        method: Method,
        path: String,
        ok: &'static [u16],
        body: &T,
    ) -> Result<Call> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| GlacierError::InvalidInput(format!("{operation}: {e}")))?;
        let mut call = self.call(operation, method, path, ok);
        call.payload_sha256 = sha256_hex(&bytes);
        call.payload = Payload::Bytes(bytes.into());
        Ok(call)
    }

    async fn request(&self, call: &Call) -> Result<http::Request<Body>> {
        let mut uri = format!(
            "{}://{}{}",
            self.inner.scheme, self.inner.authority, call.path
        );
        if !call.query.is_empty() {
            let mut q = form_urlencoded::Serializer::new(String::new());
            for (k, v) in &call.query {
                q.append_pair(k, v);
            }
            uri.push('?');
            uri.push_str(&q.finish());
        }
        let mut req = http::Request::builder()
            .method(call.method.clone())
            .uri(&uri)
            .header(header::HOST, self.inner.authority.as_str())
            .header(h::GLACIER_VERSION, h::API_VERSION);
        for (k, v) in &call.headers {
            req = req.header(*k, v);
        }
        if call.method != Method::GET && call.method != Method::DELETE || !call.payload.is_empty() {
            req = req.header(header::CONTENT_LENGTH, call.payload.len());
        }
        let mut body = call.payload.body().await?;
        if let Some(limiter) = self.inner.limiter.clone()
            && !call.payload.is_empty()
        {
            body = BodyExt::boxed(http_body_util::StreamBody::new(paced(
                body.into_data_stream(),
                limiter,
            )));
        }
        if let Some(progress) = self.inner.progress.clone() {
            body = body
                .map_frame(move |f| {
                    if let Some(d) = f.data_ref() {
                        progress(Transfer::Sent, d.len() as u64);
                    }
                    f
                })
                .boxed();
        }
        let mut req = req
            .body(body)
            .map_err(|e| GlacierError::InvalidInput(format!("{}: {e}", call.operation)))?;
        self.sign(&mut req, &call.payload_sha256)
            .map_err(|e| GlacierError::Credentials(format!("signing {}: {e}", call.operation)))?;
        Ok(req)
    }

    fn sign(
        &self,
        req: &mut http::Request<Body>,
        payload_sha256: &str,
    ) -> std::result::Result<(), BoxError> {
        use aws_sigv4::http_request::{
            PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign,
        };
        let c = &self.inner.credentials;
        let identity: aws_smithy_runtime_api::client::identity::Identity =
            aws_credential_types::Credentials::new(
                c.access_key_id.clone(),
                c.secret_access_key.clone(),
                c.session_token.clone(),
                None,
                "glacier-client",
            )
            .into();
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.inner.region)
            .name("glacier")
            .time(SystemTime::now())
            .settings(settings)
            .build()?
            .into();
        let headers: Vec<(String, String)> = req
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let signable = SignableRequest::new(
            req.method().as_str(),
            req.uri().to_string(),
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Precomputed(payload_sha256.to_owned()),
        )?;
        let (instructions, _signature) = sign(signable, &params)?.into_parts();
        instructions.apply_to_request_http1x(req);
        Ok(())
    }

    /// A job output body, paced by the rate limit and counted by the progress callback.
    fn output_body(&self, body: ResponseBody) -> ByteStream {
        let body = match self.inner.limiter.clone() {
            Some(limiter) => {
                http_body_util::StreamBody::new(paced(body.into_data_stream(), limiter))
                    .boxed_unsync()
            }
            None => body,
        };
        match self.inner.progress.clone() {
            Some(progress) => ByteStream({
                progress(Transfer::Started, 0);
                let guard = FinishGuard(Arc::clone(&progress));
                body.map_frame(move |f| {
                    let _in_flight = &guard;
                    if let Some(d) = f.data_ref() {
                        progress(Transfer::Received, d.len() as u64);
                    }
                    f
                })
                .boxed_unsync()
            }),
            None => ByteStream(body),
        }
    }

    /// Runs `attempt` until it succeeds, a failure is not worth repeating, or the policy's
    /// attempts are spent: the one retry loop of the client. Transient failures (throttling,
    /// 408, 5xx, transport errors, a body that broke off) are retried for calls that are safe
    /// to repeat; only throttling for those that are not (a repeated InitiateJob would start a
    /// second job).
    async fn retrying<T, F, Fut>(&self, call: &Call, attempt: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let policy = &self.inner.retry;
        let mut failed = 0;
        loop {
            let err = match attempt().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            failed += 1;
            let retry = if call.idempotent {
                err.is_transient()
            } else {
                err.is_throttling()
            };
            if !retry || failed >= policy.max_attempts {
                return Err(err);
            }
            let wait = policy.delay(failed, rand::random());
            tracing::debug!(operation = call.operation.as_str(), attempt = failed, ?wait, error = %err, "retrying");
            tokio::time::sleep(wait).await;
        }
    }

    /// Sends a call whose body the caller streams (job output); returns the response of the
    /// expected status.
    async fn send(&self, call: &Call) -> Result<http::Response<ResponseBody>> {
        self.retrying(call, || self.attempt(call)).await
    }

    /// Sends a call and reads its whole (small) body as part of each attempt, so that a body
    /// that breaks off is retried like any other transport failure.
    async fn send_buffered(&self, call: &Call) -> Result<(http::HeaderMap, Bytes)> {
        self.retrying(call, || async {
            let (parts, body) = self.attempt(call).await?.into_parts();
            let bytes = body
                .collect()
                .await
                .map_err(|source| GlacierError::Transport {
                    operation: call.operation,
                    source,
                })?
                .to_bytes();
            Ok((parts.headers, bytes))
        })
        .await
    }

    async fn attempt(&self, call: &Call) -> Result<http::Response<ResponseBody>> {
        let req = self.request(call).await?;
        // Requests with a body (archives, parts) count as transfers in flight while they go.
        let tracked = self
            .inner
            .progress
            .clone()
            .filter(|_| !call.payload.is_empty());
        if let Some(p) = &tracked {
            p(Transfer::Started, 0);
        }
        let sent = self.inner.transport.send(req).await;
        if let Some(p) = &tracked {
            p(Transfer::Finished, 0);
        }
        let resp = sent.map_err(|source| GlacierError::Transport {
            operation: call.operation,
            source,
        })?;
        let status = resp.status().as_u16();
        if call.ok.contains(&status) {
            return Ok(resp);
        }
        let request_id = header_str(&resp, h::REQUEST_ID);
        let body = read_limited(resp.into_body(), 64 * 1024).await;
        let parsed: Option<wire::ErrorBody> = serde_json::from_slice(&body).ok();
        let (raw_code, message) = match parsed {
            Some(e) => (e.code, e.message),
            None => (
                status.to_string(),
                String::from_utf8_lossy(&body).into_owned(),
            ),
        };
        Err(GlacierError::UnexpectedHttpResponse {
            operation: call.operation,
            status,
            code: raw_code.parse().ok(),
            raw_code,
            message,
            request_id,
        })
    }

    async fn send_json<T: serde::de::DeserializeOwned>(&self, call: Call) -> Result<T> {
        let (_, bytes) = self.send_buffered(&call).await?;
        serde_json::from_slice(&bytes).map_err(|e| GlacierError::InvalidResponse {
            operation: call.operation,
            message: format!("the response body is not the JSON expected: {e}"),
        })
    }

    async fn send_empty(&self, call: Call) -> Result<http::HeaderMap> {
        Ok(self.send_buffered(&call).await?.0)
    }
}

/// Reads at most `limit` bytes of a body (error bodies are small; a broken one reads as empty).
async fn read_limited(mut body: ResponseBody, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(data) = frame.into_data() {
            out.extend_from_slice(&data);
            if out.len() >= limit {
                out.truncate(limit);
                break;
            }
        }
    }
    out
}

fn required(headers: &http::HeaderMap, operation: Operation, name: &str) -> Result<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| GlacierError::InvalidResponse {
            operation,
            message: format!("the response has no {name} header"),
        })
}

fn list_query(call: &mut Call, limit: Option<u32>, marker: Option<&str>) {
    if let Some(l) = limit {
        call.query.push(("limit", l.to_string()));
    }
    if let Some(m) = marker {
        call.query.push(("marker", m.to_owned()));
    }
}

/// The `x-amz-sha256-tree-hash` of a response.
fn tree_hash_header(headers: &http::HeaderMap, operation: Operation) -> Result<TreeHash> {
    let raw = required(headers, operation, h::TREE_HASH)?;
    raw.parse().map_err(|e| GlacierError::InvalidResponse {
        operation,
        message: format!("{}: {e}", h::TREE_HASH),
    })
}

fn archive_created(headers: &http::HeaderMap, operation: Operation) -> Result<ArchiveCreated> {
    Ok(ArchiveCreated {
        location: required(headers, operation, "location")?,
        archive_id: required(headers, operation, h::ARCHIVE_ID)?,
        checksum: tree_hash_header(headers, operation)?,
    })
}

/// The operations, in the order of the seed's Layer1, then the rest of the API.
impl Layer1 {
    pub async fn abort_multipart_upload(&self, vault: &str, upload_id: &str) -> Result<()> {
        let path = format!(
            "{}/multipart-uploads/{}",
            self.vault_path(vault),
            seg(upload_id)
        );
        self.send_empty(self.call(
            Operation::AbortMultipartUpload,
            Method::DELETE,
            path,
            &[204],
        ))
        .await
        .map(drop)
    }

    /// Completes a multipart upload; `sha256_treehash` is the tree hash of the whole archive.
    pub async fn complete_multipart_upload(
        &self,
        vault: &str,
        upload_id: &str,
        sha256_treehash: TreeHash,
        archive_size: u64,
    ) -> Result<ArchiveCreated> {
        let path = format!(
            "{}/multipart-uploads/{}",
            self.vault_path(vault),
            seg(upload_id)
        );
        let mut call = self.call(
            Operation::CompleteMultipartUpload,
            Method::POST,
            path,
            &[201],
        );
        call.headers = vec![
            (h::TREE_HASH, sha256_treehash.to_hex()),
            (h::ARCHIVE_SIZE, archive_size.to_string()),
        ];
        let headers = self.send_empty(call).await?;
        archive_created(&headers, Operation::CompleteMultipartUpload)
    }

    /// Creates a vault (idempotent); returns its location.
    pub async fn create_vault(&self, vault: &str) -> Result<String> {
        let headers = self
            .send_empty(self.call(
                Operation::CreateVault,
                Method::PUT,
                self.vault_path(vault),
                &[201],
            ))
            .await?;
        required(&headers, Operation::CreateVault, "location")
    }

    pub async fn delete_archive(&self, vault: &str, archive_id: &str) -> Result<()> {
        let path = format!("{}/archives/{}", self.vault_path(vault), seg(archive_id));
        self.send_empty(self.call(Operation::DeleteArchive, Method::DELETE, path, &[204]))
            .await
            .map(drop)
    }

    pub async fn delete_vault(&self, vault: &str) -> Result<()> {
        self.send_empty(self.call(
            Operation::DeleteVault,
            Method::DELETE,
            self.vault_path(vault),
            &[204],
        ))
        .await
        .map(drop)
    }

    pub async fn delete_vault_notifications(&self, vault: &str) -> Result<()> {
        let path = format!("{}/notification-configuration", self.vault_path(vault));
        self.send_empty(self.call(
            Operation::DeleteVaultNotifications,
            Method::DELETE,
            path,
            &[204],
        ))
        .await
        .map(drop)
    }

    pub async fn describe_job(
        &self,
        vault: &str,
        job_id: &str,
    ) -> Result<wire::GlacierJobDescription> {
        let path = format!("{}/jobs/{}", self.vault_path(vault), seg(job_id));
        self.send_json(self.call(Operation::DescribeJob, Method::GET, path, &[200]))
            .await
    }

    pub async fn describe_vault(&self, vault: &str) -> Result<wire::DescribeVaultOutput> {
        self.send_json(self.call(
            Operation::DescribeVault,
            Method::GET,
            self.vault_path(vault),
            &[200],
        ))
        .await
    }

    /// Downloads a job's output, or the inclusive `byte_range` of it; the body streams.
    pub async fn get_job_output(
        &self,
        vault: &str,
        job_id: &str,
        byte_range: Option<(u64, u64)>,
    ) -> Result<JobOutput> {
        let path = format!("{}/jobs/{}/output", self.vault_path(vault), seg(job_id));
        let mut call = self.call(Operation::GetJobOutput, Method::GET, path, &[200, 206]);
        if let Some((start, end)) = byte_range {
            call.headers.push(("range", format!("bytes={start}-{end}")));
        }
        let resp = self.send(&call).await?;
        let checksum = match resp.headers().contains_key(h::TREE_HASH) {
            true => Some(tree_hash_header(resp.headers(), Operation::GetJobOutput)?),
            false => None,
        };
        Ok(JobOutput {
            status: resp.status().as_u16(),
            content_range: header_str(&resp, "content-range"),
            content_type: header_str(&resp, "content-type"),
            content_length: header_str(&resp, "content-length").and_then(|v| v.parse().ok()),
            checksum,
            accept_ranges: header_str(&resp, "accept-ranges"),
            archive_description: header_str(&resp, h::ARCHIVE_DESCRIPTION),
            body: self.output_body(resp.into_body()),
        })
    }

    pub async fn get_vault_notifications(
        &self,
        vault: &str,
    ) -> Result<wire::VaultNotificationConfig> {
        let path = format!("{}/notification-configuration", self.vault_path(vault));
        self.send_json(self.call(Operation::GetVaultNotifications, Method::GET, path, &[200]))
            .await
    }

    /// Starts an archive retrieval or inventory job.
    pub async fn initiate_job(
        &self,
        vault: &str,
        job_data: &wire::JobParameters,
    ) -> Result<JobInitiated> {
        let path = format!("{}/jobs", self.vault_path(vault));
        let mut call =
            self.json_call(Operation::InitiateJob, Method::POST, path, &[202], job_data)?;
        call.idempotent = false;
        let headers = self.send_empty(call).await?;
        Ok(JobInitiated {
            location: required(&headers, Operation::InitiateJob, "location")?,
            job_id: required(&headers, Operation::InitiateJob, h::JOB_ID)?,
        })
    }

    pub async fn initiate_multipart_upload(
        &self,
        vault: &str,
        part_size: u64,
        description: Option<&str>,
    ) -> Result<UploadInitiated> {
        let path = format!("{}/multipart-uploads", self.vault_path(vault));
        let mut call = self.call(
            Operation::InitiateMultipartUpload,
            Method::POST,
            path,
            &[201],
        );
        call.idempotent = false;
        call.headers.push((h::PART_SIZE, part_size.to_string()));
        if let Some(d) = description {
            call.headers.push((h::ARCHIVE_DESCRIPTION, d.to_owned()));
        }
        let headers = self.send_empty(call).await?;
        Ok(UploadInitiated {
            location: required(&headers, Operation::InitiateMultipartUpload, "location")?,
            upload_id: required(
                &headers,
                Operation::InitiateMultipartUpload,
                h::MULTIPART_UPLOAD_ID,
            )?,
        })
    }

    /// Lists jobs; `completed` and `status_code` filter (`InProgress`, `Succeeded`, `Failed`).
    pub async fn list_jobs(
        &self,
        vault: &str,
        completed: Option<bool>,
        status_code: Option<glacier_core::JobStatus>,
        limit: Option<u32>,
        marker: Option<&str>,
    ) -> Result<wire::ListJobsOutput> {
        let path = format!("{}/jobs", self.vault_path(vault));
        let mut call = self.call(Operation::ListJobs, Method::GET, path, &[200]);
        if let Some(c) = completed {
            call.query.push(("completed", c.to_string()));
        }
        if let Some(s) = status_code {
            call.query.push(("statuscode", s.as_str().to_owned()));
        }
        list_query(&mut call, limit, marker);
        self.send_json(call).await
    }

    pub async fn list_multipart_uploads(
        &self,
        vault: &str,
        limit: Option<u32>,
        marker: Option<&str>,
    ) -> Result<wire::ListMultipartUploadsOutput> {
        let path = format!("{}/multipart-uploads", self.vault_path(vault));
        let mut call = self.call(Operation::ListMultipartUploads, Method::GET, path, &[200]);
        list_query(&mut call, limit, marker);
        self.send_json(call).await
    }

    pub async fn list_parts(
        &self,
        vault: &str,
        upload_id: &str,
        limit: Option<u32>,
        marker: Option<&str>,
    ) -> Result<wire::ListPartsOutput> {
        let path = format!(
            "{}/multipart-uploads/{}",
            self.vault_path(vault),
            seg(upload_id)
        );
        let mut call = self.call(Operation::ListParts, Method::GET, path, &[200]);
        list_query(&mut call, limit, marker);
        self.send_json(call).await
    }

    pub async fn list_vaults(
        &self,
        limit: Option<u32>,
        marker: Option<&str>,
    ) -> Result<wire::ListVaultsOutput> {
        let path = format!("/{}/vaults", seg(&self.inner.account_id));
        let mut call = self.call(Operation::ListVaults, Method::GET, path, &[200]);
        list_query(&mut call, limit, marker);
        self.send_json(call).await
    }

    pub async fn set_vault_notifications(
        &self,
        vault: &str,
        config: &wire::VaultNotificationConfig,
    ) -> Result<()> {
        let path = format!("{}/notification-configuration", self.vault_path(vault));
        self.send_empty(self.json_call(
            Operation::SetVaultNotifications,
            Method::PUT,
            path,
            &[204],
            config,
        )?)
        .await
        .map(drop)
    }

    /// Uploads an archive in one request. `linear_hash` is the SHA-256 of the body and
    /// `tree_hash` its tree hash: the caller has them (or computes them once), nothing is re-hashed.
    pub async fn upload_archive(
        &self,
        vault: &str,
        archive: Payload,
        linear_hash: LinearHash,
        tree_hash: TreeHash,
        description: Option<&str>,
    ) -> Result<ArchiveCreated> {
        let path = format!("{}/archives", self.vault_path(vault));
        let mut call = self.call(Operation::UploadArchive, Method::POST, path, &[201]);
        call.payload = archive;
        call.payload_sha256 = linear_hash.to_hex();
        call.headers.push((h::TREE_HASH, tree_hash.to_hex()));
        if let Some(d) = description {
            call.headers.push((h::ARCHIVE_DESCRIPTION, d.to_owned()));
        }
        // A repeat after a lost answer could store the archive twice; retry only when refused.
        call.idempotent = false;
        let headers = self.send_empty(call).await?;
        archive_created(&headers, Operation::UploadArchive)
    }

    /// Uploads one part; `byte_range` is the part's inclusive range in the archive. Returns the
    /// tree hash the service computed.
    pub async fn upload_part(
        &self,
        vault: &str,
        upload_id: &str,
        linear_hash: LinearHash,
        tree_hash: TreeHash,
        byte_range: (u64, u64),
        part_data: Payload,
    ) -> Result<TreeHash> {
        let path = format!(
            "{}/multipart-uploads/{}",
            self.vault_path(vault),
            seg(upload_id)
        );
        let mut call = self.call(Operation::UploadMultipartPart, Method::PUT, path, &[204]);
        call.payload = part_data;
        call.payload_sha256 = linear_hash.to_hex();
        call.headers.push((h::TREE_HASH, tree_hash.to_hex()));
        call.headers.push((
            "content-range",
            format!("bytes {}-{}/*", byte_range.0, byte_range.1),
        ));
        let headers = self.send_empty(call).await?;
        tree_hash_header(&headers, Operation::UploadMultipartPart)
    }

    // ---- the rest of the 2012-06-01 API ----

    pub async fn set_vault_access_policy(&self, vault: &str, policy: &str) -> Result<()> {
        let path = format!("{}/access-policy", self.vault_path(vault));
        let body = wire::PolicyDocument {
            policy: Some(policy.to_owned()),
        };
        self.send_empty(self.json_call(
            Operation::SetVaultAccessPolicy,
            Method::PUT,
            path,
            &[204],
            &body,
        )?)
        .await
        .map(drop)
    }

    /// The vault's access policy document.
    pub async fn get_vault_access_policy(&self, vault: &str) -> Result<String> {
        let path = format!("{}/access-policy", self.vault_path(vault));
        let doc: wire::PolicyDocument = self
            .send_json(self.call(Operation::GetVaultAccessPolicy, Method::GET, path, &[200]))
            .await?;
        Ok(doc.policy.unwrap_or_default())
    }

    pub async fn delete_vault_access_policy(&self, vault: &str) -> Result<()> {
        let path = format!("{}/access-policy", self.vault_path(vault));
        self.send_empty(self.call(
            Operation::DeleteVaultAccessPolicy,
            Method::DELETE,
            path,
            &[204],
        ))
        .await
        .map(drop)
    }

    /// Starts locking a vault with `policy`; returns the lock id.
    pub async fn initiate_vault_lock(&self, vault: &str, policy: &str) -> Result<String> {
        let path = format!("{}/lock-policy", self.vault_path(vault));
        let body = wire::PolicyDocument {
            policy: Some(policy.to_owned()),
        };
        let mut call = self.json_call(
            Operation::InitiateVaultLock,
            Method::POST,
            path,
            &[201],
            &body,
        )?;
        call.idempotent = false;
        let headers = self.send_empty(call).await?;
        required(&headers, Operation::InitiateVaultLock, h::LOCK_ID)
    }

    pub async fn get_vault_lock(&self, vault: &str) -> Result<wire::GetVaultLockOutput> {
        let path = format!("{}/lock-policy", self.vault_path(vault));
        self.send_json(self.call(Operation::GetVaultLock, Method::GET, path, &[200]))
            .await
    }

    pub async fn complete_vault_lock(&self, vault: &str, lock_id: &str) -> Result<()> {
        let path = format!("{}/lock-policy/{}", self.vault_path(vault), seg(lock_id));
        self.send_empty(self.call(Operation::CompleteVaultLock, Method::POST, path, &[204]))
            .await
            .map(drop)
    }

    pub async fn abort_vault_lock(&self, vault: &str) -> Result<()> {
        let path = format!("{}/lock-policy", self.vault_path(vault));
        self.send_empty(self.call(Operation::AbortVaultLock, Method::DELETE, path, &[204]))
            .await
            .map(drop)
    }

    pub async fn add_tags_to_vault(
        &self,
        vault: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<()> {
        let path = format!("{}/tags", self.vault_path(vault));
        let body = wire::AddTagsToVaultInput {
            tags: Some(tags.clone()),
        };
        let mut call =
            self.json_call(Operation::AddTagsToVault, Method::POST, path, &[204], &body)?;
        call.query.push(("operation", "add".into()));
        self.send_empty(call).await.map(drop)
    }

    pub async fn remove_tags_from_vault(&self, vault: &str, tag_keys: &[String]) -> Result<()> {
        let path = format!("{}/tags", self.vault_path(vault));
        let body = wire::RemoveTagsFromVaultInput {
            tag_keys: Some(tag_keys.to_vec()),
        };
        let mut call = self.json_call(
            Operation::RemoveTagsFromVault,
            Method::POST,
            path,
            &[204],
            &body,
        )?;
        call.query.push(("operation", "remove".into()));
        self.send_empty(call).await.map(drop)
    }

    pub async fn list_tags_for_vault(&self, vault: &str) -> Result<BTreeMap<String, String>> {
        let path = format!("{}/tags", self.vault_path(vault));
        let out: wire::ListTagsForVaultOutput = self
            .send_json(self.call(Operation::ListTagsForVault, Method::GET, path, &[200]))
            .await?;
        Ok(out.tags)
    }

    pub async fn get_data_retrieval_policy(&self) -> Result<wire::DataRetrievalPolicy> {
        let path = format!("/{}/policies/data-retrieval", seg(&self.inner.account_id));
        let body: wire::DataRetrievalPolicyBody = self
            .send_json(self.call(Operation::GetDataRetrievalPolicy, Method::GET, path, &[200]))
            .await?;
        Ok(body.policy.unwrap_or_default())
    }

    pub async fn set_data_retrieval_policy(
        &self,
        policy: &wire::DataRetrievalPolicy,
    ) -> Result<()> {
        let path = format!("/{}/policies/data-retrieval", seg(&self.inner.account_id));
        let body = wire::DataRetrievalPolicyBody {
            policy: Some(policy.clone()),
        };
        self.send_empty(self.json_call(
            Operation::SetDataRetrievalPolicy,
            Method::PUT,
            path,
            &[204],
            &body,
        )?)
        .await
        .map(drop)
    }

    /// Buys a provisioned capacity unit; returns its id.
    pub async fn purchase_provisioned_capacity(&self) -> Result<String> {
        let path = format!("/{}/provisioned-capacity", seg(&self.inner.account_id));
        let mut call = self.call(
            Operation::PurchaseProvisionedCapacity,
            Method::POST,
            path,
            &[201],
        );
        call.idempotent = false;
        let headers = self.send_empty(call).await?;
        required(
            &headers,
            Operation::PurchaseProvisionedCapacity,
            h::CAPACITY_ID,
        )
    }

    pub async fn list_provisioned_capacity(
        &self,
    ) -> Result<Vec<wire::ProvisionedCapacityDescription>> {
        let path = format!("/{}/provisioned-capacity", seg(&self.inner.account_id));
        let out: wire::ListProvisionedCapacityOutput = self
            .send_json(self.call(
                Operation::ListProvisionedCapacity,
                Method::GET,
                path,
                &[200],
            ))
            .await?;
        Ok(out.provisioned_capacity_list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(seg("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(seg("a b/c"), "a%20b%2Fc");
    }
}
