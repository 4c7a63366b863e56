//! When a request was signed, and for what: the request time against the clock (15 minutes
//! either way, a presigned URL's expiry), the credential scope against the request time and,
//! with `--strict-scope`, the server's region and service.

use super::SignedRequest;
use super::parse::{format_amz, invalid_signature, parse_amz};
use crate::error::ApiError;
use time::OffsetDateTime;

/// How far a request's time may be from the server's.
pub(super) const MAX_SKEW: time::Duration = time::Duration::minutes(15);

/// Checks the request time against the clock and the credential scope against the request
/// time and, with `--strict-scope`, the server's region and `glacier`.
pub(super) fn check_time_and_scope(
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
