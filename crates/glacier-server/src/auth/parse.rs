//! A request's signature as it states it: the `Authorization` header or a presigned query
//! string, its credential and scope, the request time in its formats, the path's form.

use super::SignedRequest;
use crate::error::ApiError;
use crate::sigv4::{self, Scope};
use axum::http::request::Parts;
use glacier_core::ErrorCode;
use time::OffsetDateTime;

/// The longest validity a presigned request may ask for (7 days).
pub(super) const MAX_PRESIGNED_EXPIRY: u64 = 7 * 24 * 3600;

pub(super) fn incomplete(msg: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::IncompleteSignatureException, msg)
}

pub(super) fn invalid_signature(msg: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidSignatureException, msg)
}

/// Parses `Credential=AKID/DATE/REGION/SERVICE/aws4_request`.
pub(super) fn parse_credential(raw: &str) -> Result<(String, Scope), ApiError> {
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

pub(super) fn build(
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
pub(super) fn http_date_to_amz(v: &str) -> Result<String, ApiError> {
    let t = OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822)
        .map_err(|e| incomplete(format!("Date header {v:?} is not an HTTP date: {e}")))?;
    Ok(format_amz(t))
}

/// `YYYYMMDDTHHMMSSZ`, the SigV4 request time.
pub(super) const AMZ_DATE: &[time::format_description::BorrowedFormatItem<'_>] =
    time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");

pub(super) fn format_amz(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(AMZ_DATE)
        .unwrap_or_default()
}

pub(super) fn parse_amz(v: &str) -> Result<OffsetDateTime, ApiError> {
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
pub(super) fn query_without_signature(query: &str) -> String {
    query
        .split('&')
        .filter(|p| !p.starts_with("X-Amz-Signature="))
        .collect::<Vec<_>>()
        .join("&")
}

/// The one value of a header the signature depends on; two of them are refused, since which
/// one counts would be a guess.
pub(super) fn single<'a>(parts: &'a Parts, name: &str) -> Result<Option<&'a str>, ApiError> {
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
pub(super) fn check_path(path: &str) -> Result<(), ApiError> {
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
