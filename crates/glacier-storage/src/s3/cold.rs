//! Restores of objects in S3's archive storage classes (Flexible Retrieval, Deep Archive), which
//! `object_store` does not speak: HeadObject for the object's class and `x-amz-restore`, and
//! RestoreObject, each one request signed with `aws-sigv4` using `object_store`'s credentials
//! (keys, profile or the instance's role alike).
//!
//! A retrieval polls with [`Restorer::thaw`]: a HEAD, and a RestoreObject only when the object
//! is archived and neither restored for long enough nor being restored. AWS's answers:
//! 202 (started), 200 (already restored: its expiry moved), 409 `RestoreAlreadyInProgress`
//! (under way: not an error), 503 (Expedited capacity, or the store busy: tried again next
//! poll); any other refusal fails the retrieval with the store's message.

use crate::blob::{Thaw, Thawed};
use crate::{Result, StorageError};
use glacier_core::Tier;
use object_store::aws::AwsCredentialProvider;
use object_store::path::Path;
use std::time::{Duration, SystemTime};
use time::OffsetDateTime;

/// Where RestoreObject and HeadObject go, and as whom.
pub(super) struct Restorer {
    pub(super) http: reqwest::Client,
    /// `https://s3.REGION.amazonaws.com` or the configured endpoint (path-style addressing).
    pub(super) endpoint: reqwest::Url,
    pub(super) bucket: String,
    pub(super) region: String,
    pub(super) credentials: AwsCredentialProvider,
}

/// What a HeadObject says of an object's class and restore.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Head {
    /// `x-amz-storage-class`; absent for STANDARD.
    pub(super) class: Option<String>,
    pub(super) restore: Option<Restore>,
}

/// `x-amz-restore`.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Restore {
    Ongoing,
    /// Restored, readable until this time (if it could be read).
    Done(Option<OffsetDateTime>),
}

impl Restore {
    /// Parses `ongoing-request="true"` or `ongoing-request="false", expiry-date="DATE"`.
    pub(super) fn parse(value: &str) -> Option<Restore> {
        let value = value.trim();
        if value.starts_with("ongoing-request=\"true\"") {
            return Some(Restore::Ongoing);
        }
        if !value.starts_with("ongoing-request=\"false\"") {
            return None;
        }
        let expiry = value
            .split_once("expiry-date=\"")
            .and_then(|(_, rest)| rest.split('"').next())
            .and_then(|d| {
                OffsetDateTime::parse(d, &time::format_description::well_known::Rfc2822).ok()
            });
        Some(Restore::Done(expiry))
    }
}

impl Head {
    /// Whether the object must be restored before it is read.
    fn archived(&self) -> bool {
        matches!(self.class.as_deref(), Some("GLACIER" | "DEEP_ARCHIVE"))
    }
}

/// The RestoreObject body: `days` readable, at `tier`.
pub(super) fn restore_body(tier: Tier, days: u64) -> String {
    format!(
        "<RestoreRequest xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Days>{days}</Days>\
         <GlacierJobParameters><Tier>{}</Tier></GlacierJobParameters></RestoreRequest>",
        tier.as_str()
    )
}

/// The days a restore is asked for: S3 keeps a restored copy whole days (to the midnight UTC
/// after), so this covers `readable_for` from now and the hour a download may still run.
pub(super) fn restore_days(readable_for: Duration) -> u64 {
    const DAY: u64 = 86_400;
    (readable_for.as_secs() + 3_600).div_ceil(DAY).max(1)
}

fn failed(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> StorageError {
    StorageError::Backend {
        message: format!("object store: {what}"),
        source: Some(Box::new(e)),
    }
}

/// The `<Code>` and `<Message>` of an S3 error body, for people.
fn error_text(status: reqwest::StatusCode, body: &str) -> String {
    let tag = |name: &str| {
        body.split_once(&format!("<{name}>"))
            .and_then(|(_, rest)| rest.split_once(&format!("</{name}>")))
            .map(|(text, _)| text.to_owned())
    };
    match (tag("Code"), tag("Message")) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code,
        _ => format!("HTTP {status}"),
    }
}

impl Restorer {
    /// Whether the object at `path` can be read now, asking for its restore if it is archived
    /// and neither restored (for at least `thaw.readable_for` more) nor being restored.
    pub(super) async fn thaw(&self, path: &Path, thaw: &Thaw) -> Result<Thawed> {
        let Some(head) = self.head(path).await? else {
            tracing::error!(object = %path, "an archive's object is missing from the bucket");
            return Ok(Thawed::Refused(
                "S3 has no object for part of the archive (NoSuchKey)".to_owned(),
            ));
        };
        if !head.archived() {
            return Ok(Thawed::Readable);
        }
        let needed = OffsetDateTime::now_utc() + thaw.readable_for;
        match head.restore {
            Some(Restore::Ongoing) => return Ok(Thawed::Restoring),
            Some(Restore::Done(Some(expiry))) if expiry >= needed => return Ok(Thawed::Readable),
            // A date that does not parse cannot be compared: readable now.
            Some(Restore::Done(None)) => return Ok(Thawed::Readable),
            _ => {}
        }
        let body = restore_body(thaw.tier, restore_days(thaw.readable_for));
        let response = self
            .send(reqwest::Method::POST, path, "restore", body)
            .await?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        Ok(match status.as_u16() {
            // Restored already (its expiry is now later): readable.
            200 => Thawed::Readable,
            202 | 409 => Thawed::Restoring,
            s if s >= 500 => {
                return Err(StorageError::backend(format!(
                    "object store: restoring {path}: {}",
                    error_text(status, &text)
                )));
            }
            _ => {
                let reason = error_text(status, &text);
                tracing::warn!(object = %path, reason, "S3 refused a restore");
                Thawed::Refused(format!("S3 refused to restore the archive: {reason}"))
            }
        })
    }

    /// HeadObject; `None` if there is no such object.
    pub(super) async fn head(&self, path: &Path) -> Result<Option<Head>> {
        let response = self
            .send(reqwest::Method::HEAD, path, "", String::new())
            .await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(StorageError::backend(format!(
                "object store: HEAD {path}: HTTP {}",
                response.status()
            )));
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Ok(Some(Head {
            class: header("x-amz-storage-class"),
            restore: header("x-amz-restore").as_deref().and_then(Restore::parse),
        }))
    }

    /// One signed request to the object at `path` (with `query`, e.g. `restore`).
    async fn send(
        &self,
        method: reqwest::Method,
        path: &Path,
        query: &str,
        body: String,
    ) -> Result<reqwest::Response> {
        let mut url = self.endpoint.clone();
        url.path_segments_mut()
            .map_err(|()| StorageError::backend(format!("{} cannot be a base", self.endpoint)))?
            .pop_if_empty()
            .push(&self.bucket)
            .extend(path.parts().map(|p| p.as_ref().to_owned()));
        if !query.is_empty() {
            url.set_query(Some(query));
        }
        let mut request = http::Request::builder()
            .method(method.as_str())
            .uri(url.as_str())
            .body(body)
            .map_err(|e| failed("building a request", e))?;
        self.sign(&mut request).await?;
        let request = reqwest::Request::try_from(request.map(reqwest::Body::from))
            .map_err(|e| failed("building a request", e))?;
        self.http
            .execute(request)
            .await
            .map_err(|e| failed(&format!("{} {path}", method.as_str()), e))
    }

    async fn sign(&self, request: &mut http::Request<String>) -> Result<()> {
        use aws_sigv4::http_request::{
            PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
            SigningSettings, UriPathNormalizationMode, sign,
        };
        let credential = self
            .credentials
            .get_credential()
            .await
            .map_err(|e| failed("reading S3 credentials", e))?;
        let identity = aws_credential_types::Credentials::new(
            credential.key_id.clone(),
            credential.secret_key.clone(),
            credential.token.clone(),
            None,
            "object_store",
        )
        .into();
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| failed("signing", e))?
            .into();
        let payload = hex::encode(glacier_core::treehash::sha256(request.body().as_bytes()));
        let uri = request.uri().to_string();
        let signable = SignableRequest::new(
            request.method().as_str(),
            &uri,
            std::iter::empty(),
            SignableBody::Precomputed(payload),
        )
        .map_err(|e| failed("signing", e))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| failed("signing", e))?
            .into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_headers_parse() {
        assert_eq!(
            Restore::parse("ongoing-request=\"true\""),
            Some(Restore::Ongoing)
        );
        let done = Restore::parse(
            "ongoing-request=\"false\", expiry-date=\"Fri, 21 Dec 2012 00:00:00 GMT\"",
        );
        assert_eq!(
            done,
            Some(Restore::Done(Some(time::macros::datetime!(
                2012-12-21 00:00 UTC
            ))))
        );
        assert_eq!(
            Restore::parse("ongoing-request=\"false\", expiry-date=\"soon\""),
            Some(Restore::Done(None))
        );
        assert_eq!(Restore::parse("something else"), None);
    }

    #[test]
    fn restores_cover_the_output_and_a_download() {
        assert_eq!(restore_days(Duration::from_secs(3)), 1);
        assert_eq!(restore_days(Duration::from_secs(86_400)), 2);
        assert_eq!(restore_days(Duration::from_secs(2 * 86_400 - 3_600)), 2);
        assert!(restore_body(Tier::Bulk, 2).contains("<Days>2</Days>"));
        assert!(restore_body(Tier::Bulk, 2).contains("<Tier>Bulk</Tier>"));
    }

    #[test]
    fn error_bodies_say_code_and_message() {
        let body = "<Error><Code>InvalidObjectState</Code><Message>not valid</Message></Error>";
        assert_eq!(
            error_text(reqwest::StatusCode::FORBIDDEN, body),
            "InvalidObjectState: not valid"
        );
        assert_eq!(
            error_text(reqwest::StatusCode::FORBIDDEN, ""),
            "HTTP 403 Forbidden"
        );
    }
}
