use super::archives::{archive_created, expected_body};
use super::{empty, json};
use crate::error::{ApiError, ApiResult};
use crate::extract::{
    ItemPath, ListQuery, VaultPath, hash_header, header, number_header, required_header,
};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CONTENT_RANGE, LOCATION};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use glacier_core::headers as h;
use glacier_core::{range, validate};
use std::sync::Arc;

pub(crate) async fn initiate(
    State(s): State<Arc<AppState>>,
    VaultPath(key): VaultPath,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let part_size = validate::part_size(required_header(&headers, h::PART_SIZE)?)?;
    let description = header(&headers, h::ARCHIVE_DESCRIPTION)?.map(str::to_owned);
    let id = s
        .service
        .initiate_upload(&key, part_size, description)
        .await?;
    Ok(empty(
        StatusCode::CREATED,
        &[
            (
                LOCATION.as_str(),
                format!(
                    "/{}/vaults/{}/multipart-uploads/{id}",
                    key.account, key.name
                ),
            ),
            (h::MULTIPART_UPLOAD_ID, id),
        ],
    ))
}

pub(crate) async fn upload_part(
    State(s): State<Arc<AppState>>,
    ItemPath(key, id): ItemPath,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let span = range::content_range(required_header(&headers, CONTENT_RANGE.as_str())?)?;
    let expected = expected_body(&headers)?;
    let tree_hash = s
        .service
        .upload_part(&key, &id, span, expected, body.into_data_stream())
        .await?;
    Ok(empty(
        StatusCode::NO_CONTENT,
        &[(h::TREE_HASH, tree_hash.to_hex())],
    ))
}

pub(crate) async fn list_parts(
    State(s): State<Arc<AppState>>,
    ItemPath(key, id): ItemPath,
    q: ListQuery,
) -> ApiResult<Response> {
    Ok(json(
        &s.service
            .list_parts(&key, &id, q.marker.as_deref(), q.limit)
            .await?,
    ))
}

pub(crate) async fn list_uploads(
    State(s): State<Arc<AppState>>,
    VaultPath(key): VaultPath,
    q: ListQuery,
) -> ApiResult<Response> {
    Ok(json(
        &s.service
            .list_uploads(&key, q.marker.as_deref(), q.limit)
            .await?,
    ))
}

pub(crate) async fn complete(
    State(s): State<Arc<AppState>>,
    ItemPath(key, id): ItemPath,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let size = number_header(&headers, h::ARCHIVE_SIZE)?;
    let tree_hash =
        hash_header(&headers, h::TREE_HASH)?.ok_or_else(|| ApiError::missing(h::TREE_HASH))?;
    let stored = s
        .service
        .complete_upload(&key, &id, size, tree_hash)
        .await?;
    Ok(archive_created(&key, stored))
}

pub(crate) async fn abort(
    State(s): State<Arc<AppState>>,
    ItemPath(key, id): ItemPath,
) -> ApiResult<Response> {
    s.service.abort_upload(&key, &id).await?;
    Ok(empty(StatusCode::NO_CONTENT, &[]))
}
