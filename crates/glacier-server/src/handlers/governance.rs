use super::{empty, json};
use crate::error::{ApiError, ApiResult};
use crate::extract::{AccountPath, ItemPath, JsonBody, VaultPath};
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::Response;
use glacier_core::headers as h;
use glacier_core::wire;
use std::sync::Arc;

/// `POST …/tags?operation=add|remove`.
pub(crate) async fn change_tags(
    State(s): State<Arc<AppState>>,
    VaultPath(key): VaultPath,
    RawQuery(query): RawQuery,
    JsonBody(body): JsonBody<serde_json::Value>,
) -> ApiResult<Response> {
    let operation = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "operation")
        .map(|(_, v)| v.into_owned());
    let parse = |e: serde_json::Error| {
        ApiError::invalid(format!("The request body is not the JSON expected: {e}"))
    };
    match operation.as_deref() {
        Some("add") => {
            s.service
                .add_tags(&key, serde_json::from_value(body).map_err(parse)?)
                .await?
        }
        Some("remove") => {
            s.service
                .remove_tags(&key, serde_json::from_value(body).map_err(parse)?)
                .await?
        }
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "Invalid operation {other:?}: use add or remove"
            )));
        }
        None => return Err(ApiError::missing("operation")),
    }
    Ok(empty(StatusCode::NO_CONTENT, &[]))
}

pub(crate) async fn list_tags(
    State(s): State<Arc<AppState>>,
    VaultPath(key): VaultPath,
) -> ApiResult<Response> {
    Ok(json(&s.service.list_tags(&key).await?))
}

pub(crate) async fn set_access_policy(
    State(s): State<Arc<AppState>>,
    VaultPath(key): VaultPath,
    JsonBody(doc): JsonBody<wire::PolicyDocument>,
) -> ApiResult<Response> {
    s.service.set_access_policy(&key, doc).await?;
    Ok(empty(StatusCode::NO_CONTENT, &[]))
}

pub(crate) async fn get_access_policy(
    State(s): State<Arc<AppState>>,
    VaultPath(key): VaultPath,
) -> ApiResult<Response> {
    Ok(json(&s.service.get_access_policy(&key).await?))
}

pub(crate) async fn delete_access_policy(
    State(s): State<Arc<AppState>>,
    VaultPath(key): VaultPath,
) -> ApiResult<Response> {
    s.service.delete_access_policy(&key).await?;
    Ok(empty(StatusCode::NO_CONTENT, &[]))
}

pub(crate) async fn initiate_lock(
    State(s): State<Arc<AppState>>,
    VaultPath(key): VaultPath,
    JsonBody(doc): JsonBody<wire::PolicyDocument>,
) -> ApiResult<Response> {
    let id = s.service.initiate_lock(&key, doc).await?;
    let location = format!("/{}/vaults/{}/lock-policy", key.account, key.name);
    Ok(empty(
        StatusCode::CREATED,
        &[(LOCATION.as_str(), location), (h::LOCK_ID, id)],
    ))
}

pub(crate) async fn get_lock(
    State(s): State<Arc<AppState>>,
    VaultPath(key): VaultPath,
) -> ApiResult<Response> {
    Ok(json(&s.service.get_lock(&key).await?))
}

pub(crate) async fn complete_lock(
    State(s): State<Arc<AppState>>,
    ItemPath(key, lock_id): ItemPath,
) -> ApiResult<Response> {
    s.service.complete_lock(&key, &lock_id).await?;
    Ok(empty(StatusCode::NO_CONTENT, &[]))
}

pub(crate) async fn abort_lock(
    State(s): State<Arc<AppState>>,
    VaultPath(key): VaultPath,
) -> ApiResult<Response> {
    s.service.abort_lock(&key).await?;
    Ok(empty(StatusCode::NO_CONTENT, &[]))
}

pub(crate) async fn get_retrieval_policy(
    State(s): State<Arc<AppState>>,
    AccountPath(account): AccountPath,
) -> ApiResult<Response> {
    Ok(json(&s.service.get_retrieval_policy(&account).await?))
}

pub(crate) async fn set_retrieval_policy(
    State(s): State<Arc<AppState>>,
    AccountPath(account): AccountPath,
    JsonBody(body): JsonBody<wire::DataRetrievalPolicyBody>,
) -> ApiResult<Response> {
    s.service.set_retrieval_policy(&account, body).await?;
    Ok(empty(StatusCode::NO_CONTENT, &[]))
}

pub(crate) async fn purchase_capacity(
    State(s): State<Arc<AppState>>,
    AccountPath(account): AccountPath,
) -> ApiResult<Response> {
    let id = s.service.purchase_capacity(&account).await?;
    let location = format!("/{account}/provisioned-capacity/{id}");
    Ok(empty(
        StatusCode::CREATED,
        &[(LOCATION.as_str(), location), (h::CAPACITY_ID, id)],
    ))
}

pub(crate) async fn list_capacity(
    State(s): State<Arc<AppState>>,
    AccountPath(account): AccountPath,
) -> ApiResult<Response> {
    Ok(json(&s.service.list_capacity(&account).await?))
}
