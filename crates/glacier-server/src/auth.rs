//! Who is calling: every request's SigV4 signature is verified here, before any handler runs.
//!
//! [`authenticate`] is a middleware. It reads the signature from the `Authorization` header or
//! a presigned query string, finds the identity of its access key, checks the request time and
//! the credential scope, settles the payload hash (`x-amz-content-sha256` as sent, which the
//! body then has to match as it streams; else the SHA-256 of the small body it buffers) and
//! compares signatures in constant time. A verified request carries an [`Authenticated`]
//! extension; handlers take it through the extractor of the same name.

use crate::config::Identity;
use crate::error::ApiError;
use crate::sigv4::{self, Scope, Signed, Whitespace};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use bytes::Bytes;
use glacier_core::{ErrorCode, headers as h};
use http_body::Frame;
use sha2::{Digest as _, Sha256};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use time::OffsetDateTime;

/// How far a request's time may be from the server's.
const MAX_SKEW: time::Duration = time::Duration::minutes(15);
/// The longest validity a presigned request may ask for (7 days).
const MAX_PRESIGNED_EXPIRY: u64 = 7 * 24 * 3600;
/// The largest body buffered to hash when the client sends no `x-amz-content-sha256`.
pub(crate) const MAX_UNHASHED_BODY: usize = 1024 * 1024;

/// A parsed SigV4 signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SignedRequest {
    pub access_key_id: String,
    pub scope: Scope,
    pub signed_headers: Vec<String>,
    pub signature: String,
    /// The request time as signed, `YYYYMMDDTHHMMSSZ`.
    pub amz_date: String,
    /// Presigned requests: for how many seconds after `amz_date` the signature is valid.
    pub expires: Option<u64>,
}

/// The caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Authenticated {
    /// The account `-` in a path stands for.
    pub account_id: String,
    pub access_key_id: String,
}

fn incomplete(msg: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::IncompleteSignatureException, msg)
}

fn invalid_signature(msg: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidSignatureException, msg)
}

/// Parses `Credential=AKID/DATE/REGION/SERVICE/aws4_request`.
fn parse_credential(raw: &str) -> Result<(String, Scope), ApiError> {
    let parts: Vec<&str> = raw.split('/').collect();
    match parts.as_slice() {
        [key, date, region, service, "aws4_request"] if !key.is_empty() => Ok((
            key.to_string(),
            Scope {
                date: date.to_string(),
                region: region.to_string(),
                service: service.to_string(),
            },
        )),
        _ => Err(incomplete(format!(
            "Credential {raw:?} is not of the form ACCESS_KEY/DATE/REGION/SERVICE/aws4_request"
        ))),
    }
}

fn build(
    credential: &str,
    signed: &str,
    signature: &str,
    amz_date: String,
    expires: Option<u64>,
) -> Result<SignedRequest, ApiError> {
    let (access_key_id, scope) = parse_credential(credential)?;
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(incomplete("Signature must be 64 hex digits"));
    }
    if signed.is_empty() {
        return Err(incomplete(
            "SignedHeaders must name at least the host header",
        ));
    }
    Ok(SignedRequest {
        access_key_id,
        scope,
        signed_headers: signed.split(';').map(str::to_owned).collect(),
        signature: signature.to_owned(),
        amz_date,
        expires,
    })
}

/// Parses an `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`
/// header; the request time comes from `x-amz-date`, else `Date`.
pub(crate) fn parse_authorization(value: &str, parts: &Parts) -> Result<SignedRequest, ApiError> {
    let rest = value.trim().strip_prefix(sigv4::ALGORITHM).ok_or_else(|| {
        incomplete(
            "Authorization header must use the AWS4-HMAC-SHA256 algorithm (Signature Version 4)",
        )
    })?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for item in rest.split(',') {
        let Some((k, v)) = item.trim().split_once('=') else {
            continue;
        };
        match k.trim() {
            "Credential" => credential = Some(v.trim()),
            "SignedHeaders" => signed = Some(v.trim()),
            "Signature" => signature = Some(v.trim()),
            _ => {}
        }
    }
    let credential = credential
        .ok_or_else(|| incomplete("Authorization header requires a 'Credential' parameter"))?;
    let signed = signed
        .ok_or_else(|| incomplete("Authorization header requires a 'SignedHeaders' parameter"))?;
    let signature = signature
        .ok_or_else(|| incomplete("Authorization header requires a 'Signature' parameter"))?;
    let (date_header, amz_date) = match (single(parts, "x-amz-date")?, single(parts, "date")?) {
        (Some(v), _) => ("x-amz-date", v.to_owned()),
        (None, Some(v)) => ("date", http_date_to_amz(v)?),
        (None, None) => {
            return Err(incomplete(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header",
            ));
        }
    };
    let request = build(credential, signed, signature, amz_date, None)?;
    if !request.signed_headers.iter().any(|s| s == date_header) {
        return Err(invalid_signature(format!(
            "The {date_header} header must be one of the SignedHeaders"
        )));
    }
    Ok(request)
}

/// `Date: Tue, 24 Nov 2026 18:37:34 GMT` as `20261124T183734Z`.
fn http_date_to_amz(v: &str) -> Result<String, ApiError> {
    let t = OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822)
        .map_err(|e| incomplete(format!("Date header {v:?} is not an HTTP date: {e}")))?;
    Ok(format_amz(t))
}

/// `YYYYMMDDTHHMMSSZ`, the SigV4 request time.
const AMZ_DATE: &[time::format_description::BorrowedFormatItem<'_>] =
    time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");

fn format_amz(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(AMZ_DATE)
        .unwrap_or_default()
}

fn parse_amz(v: &str) -> Result<OffsetDateTime, ApiError> {
    time::PrimitiveDateTime::parse(v, AMZ_DATE)
        .map(|t| t.assume_utc())
        .map_err(|_| {
            incomplete(format!(
                "Invalid request date {v:?}: expected YYYYMMDDTHHMMSSZ"
            ))
        })
}

/// Parses a presigned query string (`X-Amz-Algorithm`, `X-Amz-Credential`, ...), if present.
pub(crate) fn parse_presigned(query: &str) -> Result<Option<SignedRequest>, ApiError> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let Some(algorithm) = get("X-Amz-Algorithm") else {
        return Ok(None);
    };
    if algorithm != sigv4::ALGORITHM {
        return Err(incomplete("X-Amz-Algorithm must be AWS4-HMAC-SHA256"));
    }
    let missing = |k: &str| incomplete(format!("{k} is missing from the presigned query"));
    let credential = get("X-Amz-Credential").ok_or_else(|| missing("X-Amz-Credential"))?;
    let signed = get("X-Amz-SignedHeaders").ok_or_else(|| missing("X-Amz-SignedHeaders"))?;
    let signature = get("X-Amz-Signature").ok_or_else(|| missing("X-Amz-Signature"))?;
    let date = get("X-Amz-Date").ok_or_else(|| missing("X-Amz-Date"))?;
    let expires = get("X-Amz-Expires").ok_or_else(|| missing("X-Amz-Expires"))?;
    let expires = match expires.parse::<u64>() {
        Ok(n) if (1..=MAX_PRESIGNED_EXPIRY).contains(&n) => n,
        _ => {
            return Err(incomplete(format!(
                "X-Amz-Expires must be a number of seconds from 1 to {MAX_PRESIGNED_EXPIRY}, not {expires:?}"
            )));
        }
    };
    build(
        credential,
        signed,
        signature,
        date.to_owned(),
        Some(expires),
    )
    .map(Some)
}

/// The raw query without its `X-Amz-Signature` pair: what a presigned signature covers.
fn query_without_signature(query: &str) -> String {
    query
        .split('&')
        .filter(|p| !p.starts_with("X-Amz-Signature="))
        .collect::<Vec<_>>()
        .join("&")
}

impl AppState {
    pub(crate) fn identity(&self, access_key_id: &str) -> Option<Identity> {
        self.identities()
            .iter()
            .find(|i| i.access_key_id == access_key_id)
            .cloned()
    }
}

/// Checks the request time against the clock and the credential scope against the request
/// time and, with `--strict-scope`, the server's region and `glacier`.
fn check_time_and_scope(
    req: &SignedRequest,
    now: OffsetDateTime,
    strict_region: Option<&str>,
) -> Result<(), ApiError> {
    let at = parse_amz(&req.amz_date)?;
    if req.scope.date != req.amz_date[..8] {
        return Err(invalid_signature(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}'",
            req.scope.date,
            &req.amz_date[..8]
        )));
    }
    let now_amz = format_amz(now);
    match req.expires {
        None if at < now - MAX_SKEW => {
            return Err(invalid_signature(format!(
                "Signature expired: {} is now earlier than {} ({} - 15 min.)",
                req.amz_date,
                format_amz(now - MAX_SKEW),
                now_amz
            )));
        }
        Some(secs) if now > at + time::Duration::seconds(secs.cast_signed()) => {
            return Err(invalid_signature(format!(
                "Signature expired: the presigned request was valid for {secs} s from {}; it is now {now_amz}",
                req.amz_date
            )));
        }
        _ if at > now + MAX_SKEW => {
            return Err(invalid_signature(format!(
                "Signature not yet current: {} is still later than {} ({} + 15 min.)",
                req.amz_date,
                format_amz(now + MAX_SKEW),
                now_amz
            )));
        }
        _ => {}
    }
    if let Some(region) = strict_region {
        if req.scope.region != region {
            return Err(invalid_signature(format!(
                "Credential should be scoped to a valid region, not '{}'; this server's region is '{region}'",
                req.scope.region
            )));
        }
        if req.scope.service != "glacier" {
            return Err(invalid_signature(format!(
                "Credential should be scoped to correct service: 'glacier', not '{}'",
                req.scope.service
            )));
        }
    }
    if !req.signed_headers.iter().any(|s| s == "host") {
        return Err(invalid_signature(
            "'Host' must be a 'SignedHeader' in the AWS Authorization",
        ));
    }
    Ok(())
}

/// The one value of a header the signature depends on; two of them are refused, since which
/// one counts would be a guess.
fn single<'a>(parts: &'a Parts, name: &str) -> Result<Option<&'a str>, ApiError> {
    let mut all = parts.headers.get_all(name).iter();
    let first = all.next();
    if all.next().is_some() {
        return Err(incomplete(format!(
            "The request has more than one {name} header; send exactly one"
        )));
    }
    first
        .map(|v| {
            v.to_str()
                .map_err(|_| incomplete(format!("The {name} header is not ASCII")))
        })
        .transpose()
}

/// Reads the signature of a request's parts.
pub(crate) fn signature_of(parts: &Parts) -> Result<SignedRequest, ApiError> {
    let query = parts.uri.query().unwrap_or("");
    match single(parts, axum::http::header::AUTHORIZATION.as_str())? {
        Some(_) if parse_presigned(query).is_ok_and(|p| p.is_some()) => Err(incomplete(
            "The request is signed twice, in its Authorization header and its query; use one",
        )),
        Some(v) => parse_authorization(v, parts),
        None => parse_presigned(query)?.ok_or_else(|| {
            ApiError::new(
                ErrorCode::MissingAuthenticationTokenException,
                "Missing Authentication Token: sign the request with AWS Signature Version 4",
            )
        }),
    }
}

/// Refuses `.` and `..` path segments, written out or percent-encoded: signatures cover the
/// path as sent and routing acts on it as sent, so no segment may stand for another path.
fn check_path(path: &str) -> Result<(), ApiError> {
    for segment in path.split('/') {
        let decoded: Vec<u8> = percent_encoding::percent_decode_str(segment).collect();
        if decoded == b"." || decoded == b".." {
            return Err(ApiError::invalid(format!(
                "Invalid request path {path:?}: '.' and '..' segments (also percent-encoded) are not allowed"
            )));
        }
    }
    Ok(())
}

fn slow_down() -> ApiError {
    ApiError::new(
        ErrorCode::SlowDown,
        "The server holds as many request bodies as it allows; reduce your request rate and retry",
    )
}

/// Reads a body that is not streamed to its handler (at most [`MAX_UNHASHED_BODY`]), within
/// the server's budget of buffered bodies ([`crate::config::Limits::buffered_bodies`]),
/// reserved before a byte is read; past the budget the request gets `SlowDown`.
async fn buffer(
    state: &AppState,
    body: Body,
    too_large: impl Fn() -> ApiError,
) -> Result<Held, ApiError> {
    let hint = http_body::Body::size_hint(&body);
    if hint.exact() == Some(0) {
        return Ok(Held::default());
    }
    let max = MAX_UNHASHED_BODY as u64;
    if hint.lower() > max {
        return Err(too_large());
    }
    // A body of unknown length (chunked) reserves the most it may be.
    let reserve = u32::try_from(hint.upper().unwrap_or(max).min(max)).unwrap_or(u32::MAX);
    let permit = Arc::clone(&state.buffered)
        .try_acquire_many_owned(reserve)
        .map_err(|_| slow_down())?;
    let data = axum::body::to_bytes(body, MAX_UNHASHED_BODY)
        .await
        .map_err(|e| {
            let e = e.into_inner();
            if e.is::<http_body_util::LengthLimitError>() {
                too_large()
            } else {
                ApiError::from_body(e)
            }
        })?;
    Ok(Held {
        data: Some(data),
        _permit: Some(permit),
    })
}

fn hash_mismatch(got: &[u8], want: &[u8]) -> ApiError {
    invalid_signature(format!(
        "The value passed in as x-amz-content-sha256 does not match the computed payload hash. Computed digest: {} expected hash: {}",
        hex::encode(got),
        hex::encode(want)
    ))
}

/// Verifies a request: its caller, or the 403 (or 400, for a malformed signature) it gets.
/// Every declared payload hash is verified before the handler runs, except for the bodies
/// an upload streams (`streams_body`), which check it as they stream.
async fn verify(state: &AppState, req: Request, streams_body: bool) -> Result<Request, ApiError> {
    let (mut parts, body) = req.into_parts();
    check_path(parts.uri.path())?;
    let signed = signature_of(&parts)?;
    let identity = state.identity(&signed.access_key_id).ok_or_else(|| {
        ApiError::new(
            ErrorCode::UnrecognizedClientException,
            "The security token included in the request is invalid.",
        )
    })?;
    let strict = state
        .config
        .strict_scope
        .then_some(state.service.settings.region.as_str());
    check_time_and_scope(&signed, state.service.now(), strict)?;
    let secret = &identity.secret_access_key;
    let body = match single(&parts, h::CONTENT_SHA256)?.map(str::to_owned) {
        Some(v) if v == sigv4::UNSIGNED_PAYLOAD => {
            // An upload's body is then authenticated by the tree hash it is checked against
            // (`h::ACCEPTS_TREE_SIGNED`) — only if the signature covers that hash.
            if streams_body && !signed.signed_headers.iter().any(|s| s == h::TREE_HASH) {
                return Err(incomplete(format!(
                    "An upload with {}: {} must sign {}: the tree hash is what authenticates its body",
                    h::CONTENT_SHA256,
                    sigv4::UNSIGNED_PAYLOAD,
                    h::TREE_HASH
                )));
            }
            check_signature(&parts, &signed, secret, &[v])?;
            body
        }
        Some(v) => {
            let mut want = [0u8; 32];
            hex::decode_to_slice(&v, &mut want).map_err(|_| {
                incomplete(format!(
                    "x-amz-content-sha256 must be UNSIGNED-PAYLOAD or 64 hex digits, not {v:?}"
                ))
            })?;
            // The signature covers the declared hash: checked before any byte is read.
            check_signature(&parts, &signed, secret, &[v])?;
            if streams_body {
                Body::new(HashChecked::new(body, want))
            } else {
                let held = buffer(state, body, || {
                    ApiError::invalid(format!(
                        "The request body is larger than {MAX_UNHASHED_BODY} bytes"
                    ))
                })
                .await?;
                let got: [u8; 32] = Sha256::digest(held.bytes()).into();
                if got != want {
                    return Err(hash_mismatch(&got, &want));
                }
                Body::new(held)
            }
        }
        None => {
            let held = buffer(state, body, || {
                ApiError::missing(&format!(
                    "{} (required for request bodies over {MAX_UNHASHED_BODY} bytes)",
                    h::CONTENT_SHA256
                ))
            })
            .await?;
            let mut hashes = vec![hex::encode(Sha256::digest(held.bytes()))];
            if signed.expires.is_some() {
                hashes.push(sigv4::UNSIGNED_PAYLOAD.to_owned());
            }
            check_signature(&parts, &signed, secret, &hashes)?;
            Body::new(held)
        }
    };
    parts.extensions.insert(Authenticated {
        account_id: identity.account_id.clone(),
        access_key_id: identity.access_key_id.clone(),
    });
    Ok(Request::from_parts(parts, body))
}

/// Whether `signed` is the signature of this request by `secret`, with one of these payload
/// hashes; if not, the error says what the canonical request should have been.
pub(crate) fn check_signature(
    parts: &Parts,
    signed: &SignedRequest,
    secret: &str,
    payload_hashes: &[String],
) -> Result<(), ApiError> {
    let raw_query = parts.uri.query().unwrap_or("");
    let query = if signed.expires.is_some() {
        query_without_signature(raw_query)
    } else {
        raw_query.to_owned()
    };
    let key = sigv4::signing_key(secret, &signed.scope);
    let mut foldings = vec![Whitespace::Spaces];
    if sigv4::has_inner_tabs(&parts.headers, &signed.signed_headers) {
        foldings.push(Whitespace::All);
    }
    let candidates = payload_hashes
        .iter()
        .flat_map(|p| foldings.iter().map(move |w| (p, *w)));
    let mut first = None;
    for (payload_hash, whitespace) in candidates {
        let canonical = sigv4::canonical_request(&Signed {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: &query,
            headers: &parts.headers,
            signed_headers: &signed.signed_headers,
            payload_hash,
            whitespace,
        });
        let to_sign = sigv4::string_to_sign(&signed.amz_date, &signed.scope, &canonical);
        if sigv4::verify(&key, &to_sign, &signed.signature) {
            return Ok(());
        }
        first.get_or_insert((canonical, to_sign));
    }
    let (canonical, to_sign) = first.unwrap_or_default();
    Err(invalid_signature(format!(
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\nThe Canonical String for this request should have been\n'{canonical}'\n\nThe String-to-Sign should have been\n'{to_sign}'\n"
    )))
}

/// The middleware: verified requests go on with their [`Authenticated`] caller, the rest are
/// answered here. The caller (never a secret) is logged with the request.
pub(crate) async fn authenticate(
    state: &AppState,
    req: Request,
    streams_body: bool,
) -> Result<Request, ApiError> {
    let result = verify(state, req, streams_body).await;
    match &result {
        Ok(req) => {
            if let Some(a) = req.extensions().get::<Authenticated>() {
                tracing::debug!(access_key = %a.access_key_id, account = %a.account_id, "authenticated");
            }
        }
        Err(e) => tracing::info!(code = %e.code, "authentication failed"),
    }
    result
}

/// A body that checks, as it streams, that it hashes to the `x-amz-content-sha256` the
/// signature covered; if not, its last item is an `InvalidSignatureException`.
struct HashChecked {
    inner: Body,
    hasher: Sha256,
    want: [u8; 32],
    done: bool,
}

impl HashChecked {
    fn new(inner: Body, want: [u8; 32]) -> HashChecked {
        HashChecked {
            inner,
            hasher: Sha256::new(),
            want,
            done: false,
        }
    }
}

impl http_body::Body for HashChecked {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    this.hasher.update(data);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(e)) => Poll::Ready(Some(Err(e.into()))),
            None => {
                this.done = true;
                let got: [u8; 32] = std::mem::take(&mut this.hasher).finalize().into();
                if got == this.want {
                    Poll::Ready(None)
                } else {
                    Poll::Ready(Some(Err(Box::new(hash_mismatch(&got, &this.want)))))
                }
            }
        }
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A body read whole before its handler runs, holding its share of the buffered-body budget
/// until the handler is done with it.
#[derive(Default)]
struct Held {
    data: Option<Bytes>,
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Held {
    fn bytes(&self) -> &[u8] {
        self.data.as_deref().unwrap_or_default()
    }
}

impl http_body::Body for Held {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(
            self.data
                .take()
                .filter(|d| !d.is_empty())
                .map(|d| Ok(Frame::data(d))),
        )
    }

    fn is_end_stream(&self) -> bool {
        self.data.as_ref().is_none_or(Bytes::is_empty)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Authenticated>()
            .cloned()
            .ok_or_else(|| ApiError::internal("a request reached a handler unauthenticated"))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Signs `req` over `body` with `aws-sigv4`, the AWS SDKs' signer (not ours), for region
    /// `region` and service `glacier`, now: its headers (all of them) and its URI as they are.
    pub(crate) fn aws_sign<B>(
        req: &mut http::Request<B>,
        (key, secret): (&str, &str),
        region: &str,
        body: &[u8],
    ) -> anyhow::Result<()> {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        let identity: aws_smithy_runtime_api::client::identity::Identity =
            aws_credential_types::Credentials::new(key, secret, None, None, "test").into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name("glacier")
            .time(std::time::SystemTime::now())
            .settings(SigningSettings::default())
            .build()?
            .into();
        let url = req.uri().to_string();
        let headers = req
            .headers()
            .iter()
            .map(|(k, v)| Ok((k.as_str().to_owned(), v.to_str()?.to_owned())))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let signable = SignableRequest::new(
            req.method().as_str(),
            &url,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )?;
        let (instructions, _) = sign(signable, &params)?.into_parts();
        instructions.apply_to_request_http1x(req);
        Ok(())
    }
    use axum::http::Request as HttpRequest;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut b = HttpRequest::builder().uri("/-/vaults");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn authorization_headers() {
        let p = parts(&[("x-amz-date", "20150830T123600Z")]);
        let h = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/glacier/aws4_request, SignedHeaders=host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
        let s = parse_authorization(h, &p).unwrap();
        assert_eq!(s.access_key_id, "AKIDEXAMPLE");
        assert_eq!(
            (s.scope.region.as_str(), s.scope.service.as_str()),
            ("us-east-1", "glacier")
        );
        assert_eq!(s.signed_headers, vec!["host", "x-amz-date"]);
        assert_eq!(s.amz_date, "20150830T123600Z");
        for bad in [
            "AWS AKID:sig",
            "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=ab",
            "AWS4-HMAC-SHA256 Credential=AKID/2015/us-east-1/glacier/aws4_request, SignedHeaders=host",
            "AWS4-HMAC-SHA256 Credential=AKID/us-east-1/aws4_request, SignedHeaders=host, Signature=ab",
            "AWS4-HMAC-SHA256 Credential=AKID/2015/r/s/aws4_request, SignedHeaders=host, Signature=zz",
        ] {
            let e = parse_authorization(bad, &p).unwrap_err();
            assert_eq!(e.code, ErrorCode::IncompleteSignatureException, "{bad}");
        }
        let undated = parse_authorization(h, &parts(&[])).unwrap_err();
        assert!(undated.message.contains("X-Amz-Date"), "{undated:?}");
        let dated = parts(&[("date", "Sun, 30 Aug 2015 12:36:00 GMT")]);
        let unsigned_date = parse_authorization(h, &dated).unwrap_err();
        assert_eq!(unsigned_date.code, ErrorCode::InvalidSignatureException);
        let h2 = h.replace("host;x-amz-date", "date;host");
        assert_eq!(
            parse_authorization(&h2, &dated).unwrap().amz_date,
            "20150830T123600Z"
        );
    }

    #[test]
    fn presigned_queries() {
        let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20150830%2Fus-east-1%2Fglacier%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7&limit=3";
        let s = parse_presigned(q).unwrap().unwrap();
        assert_eq!((s.access_key_id.as_str(), s.expires), ("AKID", Some(60)));
        assert_eq!(parse_presigned("limit=3"), Ok(None));
        assert!(!query_without_signature(q).contains("Signature="));
        let forever = q.replace("X-Amz-Expires=60", "X-Amz-Expires=604801");
        assert!(parse_presigned(&forever).is_err());
    }

    #[test]
    fn times_and_scopes() {
        let now = time::macros::datetime!(2015-08-30 12:36:00 UTC);
        let mut r = SignedRequest {
            access_key_id: "AKID".into(),
            scope: Scope {
                date: "20150830".into(),
                region: "0".into(),
                service: "127".into(),
            },
            signed_headers: vec!["host".into(), "x-amz-date".into()],
            signature: String::new(),
            amz_date: "20150830T123600Z".into(),
            expires: None,
        };
        assert!(check_time_and_scope(&r, now, None).is_ok());
        let e = check_time_and_scope(&r, now, Some("us-east-1")).unwrap_err();
        assert!(e.message.contains("region"), "{e:?}");
        for (amz, ok) in [
            ("20150830T122100Z", true),
            ("20150830T122059Z", false),
            ("20150830T125100Z", true),
            ("20150830T125101Z", false),
        ] {
            r.amz_date = amz.into();
            assert_eq!(check_time_and_scope(&r, now, None).is_ok(), ok, "{amz}");
        }
        r.amz_date = "20150829T235959Z".into();
        assert!(check_time_and_scope(&r, now, None).is_err(), "scope date");
        r.amz_date = "20150830T120000Z".into();
        r.expires = Some(3600);
        assert!(check_time_and_scope(&r, now, None).is_ok());
        r.expires = Some(60);
        assert!(check_time_and_scope(&r, now, None).is_err());
        r.expires = None;
        r.amz_date = "20150830T123600Z".into();
        r.signed_headers = vec!["x-amz-date".into()];
        assert!(
            check_time_and_scope(&r, now, None).is_err(),
            "host unsigned"
        );
    }

    /// A request without `x-amz-content-sha256` is hashed from its body, which is buffered
    /// only up to 1 MiB, whether or not its length is declared.
    #[tokio::test]
    async fn unhashed_bodies_are_bounded() -> anyhow::Result<()> {
        use crate::config::{Identity, ServerConfig};
        use crate::service::Settings;
        use tower::ServiceExt;

        let dir = tempfile::tempdir()?;
        let app = crate::app(
            AppState::open_local(
                dir.path(),
                Settings::new("us-east-1"),
                ServerConfig::new(vec![Identity {
                    access_key_id: "AKIDBODY".into(),
                    secret_access_key: "body-secret".into(),
                    account_id: "111122223333".into(),
                }]),
            )
            .await?,
        );
        let send = |body: Vec<u8>, chunked: bool| {
            let app = app.clone();
            async move {
                let mut req = HttpRequest::builder()
                    .method("POST")
                    .uri("http://127.0.0.1/-/vaults/v/jobs")
                    .header("host", "127.0.0.1")
                    .header("x-amz-glacier-version", "2012-06-01");
                if !chunked {
                    req = req.header("content-length", body.len().to_string());
                }
                let stream = futures_util::stream::iter(
                    body.chunks(64 * 1024)
                        .map(|c| Ok::<_, std::io::Error>(Bytes::copy_from_slice(c)))
                        .collect::<Vec<_>>(),
                );
                let mut req = req.body(Body::from_stream(stream))?;
                aws_sign(&mut req, ("AKIDBODY", "body-secret"), "us-east-1", &body)?;
                let resp = app.oneshot(req).await?;
                let status = resp.status().as_u16();
                let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await?;
                anyhow::Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
            }
        };
        let json = br#"{"Type":"inventory-retrieval"}"#.to_vec();
        for chunked in [false, true] {
            // Small: verified (the vault does not exist, so 404 after authentication).
            let (status, body) = send(json.clone(), chunked).await?;
            assert_eq!(status, 404, "{body}");
            let (status, body) = send(vec![b' '; MAX_UNHASHED_BODY + 1], chunked).await?;
            assert_eq!(status, 400, "{body}");
            assert!(
                body.contains("MissingParameterValueException")
                    && body.contains("x-amz-content-sha256"),
                "{body}"
            );
        }
        Ok(())
    }

    /// Requests signed by `aws-sigv4` with random paths, queries, headers and bodies verify;
    /// any change to what was signed, or the wrong secret, fails.
    mod signed_by_aws_sigv4 {
        use super::*;
        use proptest::prelude::*;

        const SECRET: &str = "proptest-secret";

        fn signed_parts(
            method: &str,
            url: &str,
            headers: &[(String, String)],
            body: &[u8],
        ) -> Parts {
            let mut req = HttpRequest::builder().method(method).uri(url);
            for (k, v) in headers {
                req = req.header(k.as_str(), v.as_str());
            }
            let mut req = req.body(()).unwrap();
            aws_sign(&mut req, ("AKIDPROP", SECRET), "eu-west-1", body).unwrap();
            req.into_parts().0
        }

        fn check(parts: &Parts, secret: &str, body: &[u8]) -> Result<(), ApiError> {
            let signed = signature_of(parts)?;
            check_signature(parts, &signed, secret, &[hex::encode(Sha256::digest(body))])
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(300))]
            #[test]
            fn verify_and_mutations_fail(
                method in prop::sample::select(vec!["GET", "PUT", "POST", "DELETE"]),
                segments in prop::collection::vec("([A-Za-z0-9_~-]|%[0-9A-F]{2}){1,6}", 1..4),
                query in prop::collection::vec(("[A-Za-z0-9_-]{1,6}", "[ -~]{0,8}"), 0..4),
                extra in prop::collection::vec(("x-amz-meta-[a-z]{1,6}", "[!-~]([ -~]{0,10}[!-~])?"), 0..3),
                body in prop::collection::vec(any::<u8>(), 0..64),
                mutation in 0usize..7,
            ) {
                let enc = |v: &str| percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string();
                let path = format!("/{}", segments.join("/"));
                let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={}", enc(v))).collect();
                let query = query.join("&");
                let url = if query.is_empty() {
                    format!("http://127.0.0.1:9000{path}")
                } else {
                    format!("http://127.0.0.1:9000{path}?{query}")
                };
                let mut headers = vec![("host".to_string(), "127.0.0.1:9000".to_string())];
                headers.extend(extra.iter().cloned());
                let parts = signed_parts(method, &url, &headers, &body);
                prop_assert_eq!(check(&parts, SECRET, &body), Ok(()));

                let mut bad = parts.clone();
                let mut bad_body = body.clone();
                let mut secret = SECRET;
                match mutation {
                    0 => bad.method = if method == "GET" { http::Method::HEAD } else { http::Method::GET },
                    1 => bad.uri = url.replacen(&format!(":9000{path}"), &format!(":9000{path}x"), 1).parse().unwrap(),
                    2 => bad.uri = format!("{url}{}z=1", if query.is_empty() { "?" } else { "&" }).parse().unwrap(),
                    3 => { bad.headers.insert("host", http::HeaderValue::from_static("127.0.0.1:9001")); }
                    4 => { bad.headers.insert("x-amz-date", http::HeaderValue::from_static("20200101T000000Z")); }
                    5 => bad_body.push(b'!'),
                    _ => secret = "another-secret",
                }
                let err = check(&bad, secret, &bad_body).unwrap_err();
                prop_assert!(
                    matches!(err.code, ErrorCode::InvalidSignatureException | ErrorCode::IncompleteSignatureException),
                    "{:?}", err
                );
            }
        }
    }
}
