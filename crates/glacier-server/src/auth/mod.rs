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
mod parse;
mod scope;
#[cfg(test)]
pub(crate) mod tests;

pub(crate) use parse::signature_of;
#[cfg(fuzzing)]
pub(crate) use parse::{parse_authorization, parse_presigned};

pub(crate) use crate::body::MAX_UNHASHED_BODY;
use crate::body::{HashChecked, buffer, hash_mismatch};
use crate::sigv4::{self, Scope, Signed, Whitespace};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use glacier_core::{ErrorCode, headers as h};
use parse::{check_path, incomplete, invalid_signature, query_without_signature, single};
use scope::check_time_and_scope;
use sha2::{Digest as _, Sha256};

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

impl AppState {
    pub(crate) fn identity(&self, access_key_id: &str) -> Option<Identity> {
        self.identities()
            .iter()
            .find(|i| i.access_key_id == access_key_id)
            .cloned()
    }
}

/// Verifies a request: its caller, or the 403 (or 400, for a malformed signature) it gets.
/// Every declared payload hash is verified before the handler runs, except for the bodies
/// an upload streams ([`Payload::Streamed`]), which check it as they stream.
async fn verify(state: &AppState, req: Request, payload: Payload) -> Result<Request, ApiError> {
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
            if payload == Payload::Streamed
                && !signed.signed_headers.iter().any(|s| s == h::TREE_HASH)
            {
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
            if payload == Payload::Streamed {
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

/// How a request's body reaches its handler, which decides when its payload hash is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Payload {
    /// Streamed to the handler (an upload): the body checks its hash as it streams.
    Streamed,
    /// Read whole (at most [`MAX_UNHASHED_BODY`]) and checked before the handler runs.
    Buffered,
}

/// The middleware: verified requests go on with their [`Authenticated`] caller, the rest are
/// answered here. The caller (never a secret) is logged with the request.
pub(crate) async fn authenticate(
    state: &AppState,
    req: Request,
    payload: Payload,
) -> Result<Request, ApiError> {
    let result = verify(state, req, payload).await;
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
