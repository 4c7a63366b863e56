use super::{empty, json};
use crate::error::ApiResult;
use crate::extract::{JsonBody, VaultPath};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use glacier_core::wire::VaultNotificationConfig;
use std::sync::Arc;

pub(crate) async fn set(
    State(s): State<Arc<AppState>>,
    VaultPath(key): VaultPath,
    JsonBody(config): JsonBody<VaultNotificationConfig>,
) -> ApiResult<Response> {
    s.service.set_notifications(&key, config).await?;
    Ok(empty(StatusCode::NO_CONTENT, &[]))
}

pub(crate) async fn get(
    State(s): State<Arc<AppState>>,
    VaultPath(key): VaultPath,
) -> ApiResult<Response> {
    Ok(json(&s.service.get_notifications(&key).await?))
}

pub(crate) async fn delete(
    State(s): State<Arc<AppState>>,
    VaultPath(key): VaultPath,
) -> ApiResult<Response> {
    s.service.delete_notifications(&key).await?;
    Ok(empty(StatusCode::NO_CONTENT, &[]))
}
