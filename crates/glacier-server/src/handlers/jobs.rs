use super::{empty, json, with_headers};
use crate::error::ApiResult;
use crate::extract::{ItemPath, JobsQuery, JsonBody, VaultPath, header};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::header::{
    ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION, RANGE,
};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use glacier_core::headers as h;
use glacier_core::range::http_range;
use glacier_core::wire::JobParameters;
use std::sync::Arc;

pub(crate) async fn initiate(
    State(s): State<Arc<AppState>>,
    VaultPath(key): VaultPath,
    JsonBody(params): JsonBody<JobParameters>,
) -> ApiResult<Response> {
    let id = s.service.initiate_job(&key, params).await?;
    Ok(empty(
        StatusCode::ACCEPTED,
        &[
            (
                LOCATION.as_str(),
                format!("/{}/vaults/{}/jobs/{id}", key.account, key.name),
            ),
            (h::JOB_ID, id),
        ],
    ))
}

pub(crate) async fn describe(
    State(s): State<Arc<AppState>>,
    ItemPath(key, id): ItemPath,
) -> ApiResult<Response> {
    Ok(json(&s.service.describe_job(&key, &id).await?))
}

pub(crate) async fn list(
    State(s): State<Arc<AppState>>,
    VaultPath(key): VaultPath,
    q: JobsQuery,
) -> ApiResult<Response> {
    Ok(json(
        &s.service
            .list_jobs(&key, &q.filter, q.after, q.limit)
            .await?,
    ))
}

pub(crate) async fn output(
    State(s): State<Arc<AppState>>,
    ItemPath(key, id): ItemPath,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let range = header(&headers, RANGE.as_str())?
        .map(http_range)
        .transpose()?;
    let out = s.service.job_output(&key, &id, range).await?;
    let status = if out.partial.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let mut headers = vec![
        (CONTENT_TYPE.as_str(), out.content_type.to_owned()),
        (CONTENT_LENGTH.as_str(), out.len.to_string()),
        (ACCEPT_RANGES.as_str(), "bytes".to_owned()),
    ];
    if let Some((span, total)) = out.partial {
        headers.push((
            CONTENT_RANGE.as_str(),
            format!("bytes {}-{}/{total}", span.start, span.end),
        ));
    }
    if let Some(hash) = out.tree_hash {
        headers.push((h::TREE_HASH, hash.to_hex()));
    }
    if let Some(d) = out.archive_description {
        headers.push((h::ARCHIVE_DESCRIPTION, d));
    }
    Ok(with_headers(
        (status, Body::from_stream(out.body)).into_response(),
        &headers,
    ))
}
