use super::{empty, json};
use crate::error::ApiResult;
use crate::extract::{AccountPath, ListQuery, ReadVault, VaultPath};
use crate::state::AppState;
use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::Response;
use std::sync::Arc;

pub(crate) async fn create(
    State(s): State<Arc<AppState>>,
    VaultPath(key): VaultPath,
) -> ApiResult<Response> {
    s.service.create_vault(&key).await?;
    let location = format!("/{}/vaults/{}", key.account, key.name);
    Ok(empty(StatusCode::CREATED, &[(LOCATION.as_str(), location)]))
}

pub(crate) async fn describe(
    State(s): State<Arc<AppState>>,
    VaultPath(key): VaultPath,
    read: Option<Extension<ReadVault>>,
) -> ApiResult<Response> {
    let read = read.map(|Extension(ReadVault(v))| v);
    Ok(json(&s.service.describe_vault(&key, read).await?))
}

pub(crate) async fn list(
    State(s): State<Arc<AppState>>,
    AccountPath(account): AccountPath,
    q: ListQuery,
) -> ApiResult<Response> {
    Ok(json(
        &s.service
            .list_vaults(&account, q.marker.as_deref(), q.limit)
            .await?,
    ))
}

pub(crate) async fn delete(
    State(s): State<Arc<AppState>>,
    VaultPath(key): VaultPath,
) -> ApiResult<Response> {
    s.service.delete_vault(&key).await?;
    Ok(empty(StatusCode::NO_CONTENT, &[]))
}
