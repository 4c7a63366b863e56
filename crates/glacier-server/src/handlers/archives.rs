use super::empty;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ItemPath, VaultPath, hash_header, header, number_header};
use crate::service::{Expected, Stored};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CONTENT_LENGTH, LOCATION};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use glacier_core::headers as h;
use glacier_storage::VaultKey;
use std::sync::Arc;

/// Reads what an upload's headers say its body is.
pub(crate) fn expected_body(headers: &HeaderMap) -> ApiResult<Expected> {
    let len = number_header(headers, CONTENT_LENGTH.as_str())?;
    let tree_hash =
        hash_header(headers, h::TREE_HASH)?.ok_or_else(|| ApiError::missing(h::TREE_HASH))?;
    Ok(Expected { len, tree_hash })
}

pub(crate) async fn upload(
    State(s): State<Arc<AppState>>,
    VaultPath(key): VaultPath,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let description = header(&headers, h::ARCHIVE_DESCRIPTION)?
        .unwrap_or("")
        .to_owned();
    let expected = expected_body(&headers)?;
    let stored = s
        .service
        .upload_archive(&key, description, expected, body.into_data_stream())
        .await?;
    Ok(archive_created(&key, stored))
}

/// The 201 of UploadArchive and CompleteMultipartUpload.
pub(crate) fn archive_created(key: &VaultKey, stored: Stored) -> Response {
    let location = format!(
        "/{}/vaults/{}/archives/{}",
        key.account, key.name, stored.archive_id
    );
    empty(
        StatusCode::CREATED,
        &[
            (LOCATION.as_str(), location),
            (h::ARCHIVE_ID, stored.archive_id),
            (h::TREE_HASH, stored.tree_hash.to_hex()),
        ],
    )
}

pub(crate) async fn delete(
    State(s): State<Arc<AppState>>,
    ItemPath(key, id): ItemPath,
) -> ApiResult<Response> {
    s.service.delete_archive(&key, &id).await?;
    Ok(empty(StatusCode::NO_CONTENT, &[]))
}
