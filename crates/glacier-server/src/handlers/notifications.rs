use super::{empty, json};
use crate::error::{ApiError, ApiResult};
use crate::extract::VaultPath;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use glacier_core::wire::VaultNotificationConfig;
use std::sync::Arc;

/// Notification configurations are small; a larger body is refused.
const MAX_CONFIG_BODY: usize = 64 * 1024;

pub(crate) async fn set(
    State(s): State<Arc<AppState>>,
    VaultPath(key): VaultPath,
    body: Body,
) -> ApiResult<Response> {
    let bytes = axum::body::to_bytes(body, MAX_CONFIG_BODY)
        .await
        .map_err(|e| ApiError::invalid(format!("Could not read the request body: {e}")))?;
    let config: VaultNotificationConfig = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::invalid(format!(
            "The notification configuration is not valid JSON: {e}"
        ))
    })?;
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
