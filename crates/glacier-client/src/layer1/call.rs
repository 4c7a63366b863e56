//! One request of one operation: built, signed with SigV4, sent with the one retry loop, and
//! its answer read (the expected status, else Glacier's error body).

use super::payload::Payload;
use super::progress::{FinishGuard, Transfer};
use super::rate::paced;
use super::{ArchiveCreated, ByteStream, Layer1};
use crate::error::{BoxError, GlacierError, Result};
use crate::transport::{Body, ResponseBody};
use bytes::Bytes;
use glacier_core::headers as h;
use glacier_core::{Operation, TreeHash, wire};
use http::{Method, header};
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::SystemTime;

/// One request of one operation.
pub(super) struct Call {
    pub(super) operation: Operation,
    pub(super) method: Method,
    pub(super) path: String,
    pub(super) query: Vec<(&'static str, String)>,
    pub(super) headers: Vec<(&'static str, String)>,
    pub(super) payload: Payload,
    /// Hex SHA-256 of the payload (the caller's linear hash for uploads).
    pub(super) payload_sha256: String,
    pub(super) ok: &'static [u16],
    /// Whether repeating the request after an unknown outcome is harmless.
    pub(super) idempotent: bool,
}

pub(super) const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub(super) fn seg(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, PATH_SEGMENT).to_string()
}

fn sha256_hex(data: &[u8]) -> String {
    glacier_core::TreeHash(glacier_core::treehash::sha256(data)).to_hex()
}

pub(super) fn header_str(resp: &http::Response<ResponseBody>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

impl Layer1 {
    pub(super) fn vault_path(&self, vault: &str) -> String {
        format!("/{}/vaults/{}", seg(&self.inner.account_id), seg(vault))
    }

    pub(super) fn call(
        &self,
        operation: Operation,
        method: Method,
        path: String,
        ok: &'static [u16],
    ) -> Call {
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

    pub(super) fn json_call<T: serde::Serialize>(
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
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&self.inner.identity)
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
    pub(super) fn output_body(&self, body: ResponseBody) -> ByteStream {
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
    /// second job, a repeated PurchaseProvisionedCapacity buy a second unit): the layer above
    /// finds out what happened (the retrieval engine looks for the job in the job list).
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
    pub(super) async fn send(&self, call: &Call) -> Result<http::Response<ResponseBody>> {
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
        if resp.headers().contains_key(h::ACCEPTS_TREE_SIGNED) {
            self.inner
                .tree_signed
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
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

    pub(super) async fn send_json<T: serde::de::DeserializeOwned>(&self, call: Call) -> Result<T> {
        let (_, bytes) = self.send_buffered(&call).await?;
        serde_json::from_slice(&bytes).map_err(|e| GlacierError::InvalidResponse {
            operation: call.operation,
            message: format!("the response body is not the JSON expected: {e}"),
        })
    }

    pub(super) async fn send_empty(&self, call: Call) -> Result<http::HeaderMap> {
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

pub(super) fn required(
    headers: &http::HeaderMap,
    operation: Operation,
    name: &str,
) -> Result<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| GlacierError::InvalidResponse {
            operation,
            message: format!("the response has no {name} header"),
        })
}

pub(super) fn list_query(call: &mut Call, limit: Option<u32>, marker: Option<&str>) {
    if let Some(l) = limit {
        call.query.push(("limit", l.to_string()));
    }
    if let Some(m) = marker {
        call.query.push(("marker", m.to_owned()));
    }
}

/// The `x-amz-sha256-tree-hash` of a response.
pub(super) fn tree_hash_header(
    headers: &http::HeaderMap,
    operation: Operation,
) -> Result<TreeHash> {
    let raw = required(headers, operation, h::TREE_HASH)?;
    raw.parse().map_err(|e| GlacierError::InvalidResponse {
        operation,
        message: format!("{}: {e}", h::TREE_HASH),
    })
}

pub(super) fn archive_created(
    headers: &http::HeaderMap,
    operation: Operation,
) -> Result<ArchiveCreated> {
    Ok(ArchiveCreated {
        location: required(headers, operation, "location")?,
        archive_id: required(headers, operation, h::ARCHIVE_ID)?,
        checksum: tree_hash_header(headers, operation)?,
    })
}

#[cfg(test)]
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(seg("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(seg("a b/c"), "a%20b%2Fc");
    }
}
