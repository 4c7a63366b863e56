//! The route table: every operation of the Glacier 2012-06-01 API, by method and path.

use crate::error::ApiError;
use crate::handlers::{archives, governance, jobs, multipart, notifications, vaults};
use crate::state::AppState;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use glacier_core::{ErrorCode, headers as h};
use std::sync::Arc;

/// The server as a `Router`, ready for `axum::serve` or `tower::ServiceExt::oneshot`.
pub fn app(state: Arc<AppState>) -> Router {
    let v = "/{account}/vaults/{vault}";
    Router::new()
        .route("/{account}/vaults", get(vaults::list))
        .route(
            v,
            put(vaults::create)
                .get(vaults::describe)
                .delete(vaults::delete),
        )
        .route(&format!("{v}/archives"), post(archives::upload))
        .route(
            &format!("{v}/archives/{{id}}"),
            axum::routing::delete(archives::delete),
        )
        .route(
            &format!("{v}/multipart-uploads"),
            post(multipart::initiate).get(multipart::list_uploads),
        )
        .route(
            &format!("{v}/multipart-uploads/{{id}}"),
            put(multipart::upload_part)
                .get(multipart::list_parts)
                .post(multipart::complete)
                .delete(multipart::abort),
        )
        .route(
            &format!("{v}/notification-configuration"),
            put(notifications::set)
                .get(notifications::get)
                .delete(notifications::delete),
        )
        .route(&format!("{v}/jobs"), post(jobs::initiate).get(jobs::list))
        .route(&format!("{v}/jobs/{{id}}"), get(jobs::describe))
        .route(&format!("{v}/jobs/{{id}}/output"), get(jobs::output))
        .route(
            &format!("{v}/access-policy"),
            put(governance::set_access_policy)
                .get(governance::get_access_policy)
                .delete(governance::delete_access_policy),
        )
        .route(
            &format!("{v}/lock-policy"),
            post(governance::initiate_lock)
                .get(governance::get_lock)
                .delete(governance::abort_lock),
        )
        .route(
            &format!("{v}/lock-policy/{{id}}"),
            post(governance::complete_lock),
        )
        .route(
            &format!("{v}/tags"),
            get(governance::list_tags).post(governance::change_tags),
        )
        .route(
            "/{account}/policies/data-retrieval",
            get(governance::get_retrieval_policy).put(governance::set_retrieval_policy),
        )
        .route(
            "/{account}/provisioned-capacity",
            get(governance::list_capacity).post(governance::purchase_capacity),
        )
        .fallback(unknown_operation)
        .method_not_allowed_fallback(unknown_operation)
        .layer(middleware::from_fn(glacier_request))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state)
}

async fn unknown_operation(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        ErrorCode::ResourceNotFoundException,
        format!("No Glacier operation is served at {method} {}", uri.path()),
    )
}

/// Gives every response an `x-amzn-RequestId` (logged with the request) and refuses requests
/// without the API version header, as Glacier does.
async fn glacier_request(req: Request, next: Next) -> Response {
    let request_id = crate::config::random_string(
        52,
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
    );
    let span = tracing::info_span!("request", id = %request_id, method = %req.method(), path = %req.uri().path());
    let _enter = span.enter();
    let version = req
        .headers()
        .get(h::GLACIER_VERSION)
        .map(|v| v.as_bytes().to_vec());
    let mut resp = match version.as_deref() {
        None => ApiError::missing(h::GLACIER_VERSION).into_response(),
        Some(v) if v != h::API_VERSION.as_bytes() => ApiError::invalid(format!(
            "Invalid {}: {:?}; the only version is {}",
            h::GLACIER_VERSION,
            String::from_utf8_lossy(v),
            h::API_VERSION
        ))
        .into_response(),
        Some(_) => {
            drop(_enter);
            let resp = next.run(req).await;
            let _enter = span.enter();
            resp
        }
    };
    tracing::info!(status = resp.status().as_u16(), "done");
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-amzn-requestid", v);
    }
    resp
}
