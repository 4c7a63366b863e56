//! Who is calling: the SigV4 credential a request was signed with, parsed into [`Authenticated`].
//!
//! Requests must carry a SigV4 signature, in the `Authorization` header or as a presigned query
//! string. The signature itself is not yet verified (that arrives with the security work); the
//! parsed request is the seam where verification drops in, and handlers cannot run without it.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use glacier_core::ErrorCode;
use std::sync::Arc;

/// The parts of a SigV4 signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    pub access_key_id: String,
    /// The credential scope: date, region, service.
    pub date: String,
    pub region: String,
    pub service: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

/// The caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// The account `-` in a path stands for.
    pub account_id: String,
    pub access_key_id: String,
}

fn incomplete(msg: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::IncompleteSignatureException, msg)
}

/// Parses `Credential=AKID/DATE/REGION/SERVICE/aws4_request`.
fn parse_credential(raw: &str) -> Result<(String, String, String, String), ApiError> {
    let parts: Vec<&str> = raw.split('/').collect();
    match parts.as_slice() {
        [key, date, region, service, "aws4_request"] if !key.is_empty() => Ok((
            key.to_string(),
            date.to_string(),
            region.to_string(),
            service.to_string(),
        )),
        _ => Err(incomplete(format!(
            "Credential {raw:?} is not of the form ACCESS_KEY/DATE/REGION/SERVICE/aws4_request"
        ))),
    }
}

/// Parses an `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.
pub fn parse_authorization(value: &str) -> Result<SignedRequest, ApiError> {
    let rest = value.trim().strip_prefix("AWS4-HMAC-SHA256").ok_or_else(|| {
        incomplete("Authorization header must use the AWS4-HMAC-SHA256 algorithm (Signature Version 4)")
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
    build(credential, signed, signature)
}

fn build(credential: &str, signed: &str, signature: &str) -> Result<SignedRequest, ApiError> {
    let (access_key_id, date, region, service) = parse_credential(credential)?;
    if signature.is_empty() || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(incomplete("Signature must be hex digits"));
    }
    Ok(SignedRequest {
        access_key_id,
        date,
        region,
        service,
        signed_headers: signed.split(';').map(str::to_owned).collect(),
        signature: signature.to_owned(),
    })
}

/// Parses a presigned query string (`X-Amz-Algorithm`, `X-Amz-Credential`, ...), if present.
pub fn parse_presigned(query: &str) -> Result<Option<SignedRequest>, ApiError> {
    let pairs: Vec<(String, String)> = form_pairs(query);
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let Some(algorithm) = get("X-Amz-Algorithm") else {
        return Ok(None);
    };
    if algorithm != "AWS4-HMAC-SHA256" {
        return Err(incomplete("X-Amz-Algorithm must be AWS4-HMAC-SHA256"));
    }
    let credential =
        get("X-Amz-Credential").ok_or_else(|| incomplete("X-Amz-Credential is missing"))?;
    let signed =
        get("X-Amz-SignedHeaders").ok_or_else(|| incomplete("X-Amz-SignedHeaders is missing"))?;
    let signature =
        get("X-Amz-Signature").ok_or_else(|| incomplete("X-Amz-Signature is missing"))?;
    build(credential, signed, signature).map(Some)
}

fn form_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

impl FromRequestParts<Arc<AppState>> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let signed = match parts.headers.get(axum::http::header::AUTHORIZATION) {
            Some(v) => {
                let v = v
                    .to_str()
                    .map_err(|_| incomplete("Authorization header is not ASCII"))?;
                parse_authorization(v)?
            }
            None => parse_presigned(parts.uri.query().unwrap_or(""))?.ok_or_else(|| {
                ApiError::new(
                    ErrorCode::MissingAuthenticationTokenException,
                    "Missing Authentication Token",
                )
            })?,
        };
        Ok(state.authenticate(&signed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_headers() {
        let h = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/glacier/aws4_request, SignedHeaders=host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
        let s = parse_authorization(h).unwrap();
        assert_eq!(s.access_key_id, "AKIDEXAMPLE");
        assert_eq!(
            (s.region.as_str(), s.service.as_str()),
            ("us-east-1", "glacier")
        );
        assert_eq!(s.signed_headers, vec!["host", "x-amz-date"]);
        for bad in [
            "AWS AKID:sig",
            "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=ab",
            "AWS4-HMAC-SHA256 Credential=AKID/2015/us-east-1/glacier/aws4_request, SignedHeaders=host",
            "AWS4-HMAC-SHA256 Credential=AKID/us-east-1/aws4_request, SignedHeaders=host, Signature=ab",
            "AWS4-HMAC-SHA256 Credential=AKID/2015/r/s/aws4_request, SignedHeaders=host, Signature=zz",
        ] {
            let e = parse_authorization(bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::IncompleteSignatureException, "{bad}");
        }
    }

    #[test]
    fn presigned_queries() {
        let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20150830%2Fus-east-1%2Fglacier%2Faws4_request&X-Amz-SignedHeaders=host&X-Amz-Signature=abcd&limit=3";
        let s = parse_presigned(q).unwrap();
        assert_eq!(s.map(|s| s.access_key_id), Some("AKID".to_string()));
        assert_eq!(parse_presigned("limit=3"), Ok(None));
    }
}
