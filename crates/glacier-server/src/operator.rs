//! The operator's view (`--metrics-listen`): Prometheus `/metrics`, `/health` and `/ready`, on a
//! listener of their own, apart from the API (no signature, nothing of the archives). Each
//! endpoint is one [`Service`] call.

use crate::service::Service;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;

/// `/metrics`, `/health` (the process answers) and `/ready` (both stores answer).
pub(crate) fn router(service: Arc<Service>) -> axum::Router {
    axum::Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(|| async { "ok\n" }))
        .route("/ready", get(ready))
        .with_state(service)
}

async fn metrics(State(service): State<Arc<Service>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        service.metrics_text().await,
    )
        .into_response()
}

async fn ready(State(service): State<Arc<Service>>) -> Response {
    match service.ready().await {
        Ok(()) => (StatusCode::OK, "ready\n".to_owned()).into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why).into_response(),
    }
}
