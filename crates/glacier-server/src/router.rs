//! The route table: every operation of the Glacier 2012-06-01 API, by method and path.

use crate::error::ApiError;
use crate::handlers::{archives, governance, jobs, multipart, notifications, vaults};
use crate::state::AppState;
use axum::Extension;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post, put};
use glacier_core::{ErrorCode, Operation, headers as h};
use std::sync::Arc;
use tracing::Instrument;

type Route = MethodRouter<Arc<AppState>>;

/// One method of a path, tagged with its operation, behind authentication.
fn tag(state: &Arc<AppState>, op: Operation, route: Route) -> Route {
    route
        .layer::<_, std::convert::Infallible>(middleware::from_fn_with_state(
            Arc::clone(state),
            signed,
        ))
        .layer(Extension(op))
}

/// The methods of one path.
fn ops(routes: impl IntoIterator<Item = Route>) -> Route {
    routes.into_iter().fold(Route::new(), Route::merge)
}

/// The server as a `Router`: [`crate::run`] serves it; tests call it with
/// `tower::ServiceExt::oneshot`, and the CLI in-process.
pub fn app(state: Arc<AppState>) -> Router {
    let op = |op: Operation, route: Route| tag(&state, op, route);
    let v = "/{account}/vaults/{vault}";
    let console = match state.config.console_session {
        Some(_) => crate::console::routes(),
        None => Router::new(),
    };
    console
        .route(
            "/{account}/vaults",
            op(Operation::ListVaults, get(vaults::list)),
        )
        .route(
            v,
            ops([
                op(Operation::CreateVault, put(vaults::create)),
                op(Operation::DescribeVault, get(vaults::describe)),
                op(Operation::DeleteVault, delete(vaults::delete)),
            ]),
        )
        .route(
            &format!("{v}/archives"),
            op(Operation::UploadArchive, post(archives::upload)),
        )
        .route(
            &format!("{v}/archives/{{id}}"),
            op(Operation::DeleteArchive, delete(archives::delete)),
        )
        .route(
            &format!("{v}/multipart-uploads"),
            ops([
                op(
                    Operation::InitiateMultipartUpload,
                    post(multipart::initiate),
                ),
                op(
                    Operation::ListMultipartUploads,
                    get(multipart::list_uploads),
                ),
            ]),
        )
        .route(
            &format!("{v}/multipart-uploads/{{id}}"),
            ops([
                op(Operation::UploadMultipartPart, put(multipart::upload_part)),
                op(Operation::ListParts, get(multipart::list_parts)),
                op(
                    Operation::CompleteMultipartUpload,
                    post(multipart::complete),
                ),
                op(Operation::AbortMultipartUpload, delete(multipart::abort)),
            ]),
        )
        .route(
            &format!("{v}/notification-configuration"),
            ops([
                op(Operation::SetVaultNotifications, put(notifications::set)),
                op(Operation::GetVaultNotifications, get(notifications::get)),
                op(
                    Operation::DeleteVaultNotifications,
                    delete(notifications::delete),
                ),
            ]),
        )
        .route(
            &format!("{v}/jobs"),
            ops([
                op(Operation::InitiateJob, post(jobs::initiate)),
                op(Operation::ListJobs, get(jobs::list)),
            ]),
        )
        .route(
            &format!("{v}/jobs/{{id}}"),
            op(Operation::DescribeJob, get(jobs::describe)),
        )
        .route(
            &format!("{v}/jobs/{{id}}/output"),
            op(Operation::GetJobOutput, get(jobs::output)),
        )
        .route(
            &format!("{v}/access-policy"),
            ops([
                op(
                    Operation::SetVaultAccessPolicy,
                    put(governance::set_access_policy),
                ),
                op(
                    Operation::GetVaultAccessPolicy,
                    get(governance::get_access_policy),
                ),
                op(
                    Operation::DeleteVaultAccessPolicy,
                    delete(governance::delete_access_policy),
                ),
            ]),
        )
        .route(
            &format!("{v}/lock-policy"),
            ops([
                op(
                    Operation::InitiateVaultLock,
                    post(governance::initiate_lock),
                ),
                op(Operation::GetVaultLock, get(governance::get_lock)),
                op(Operation::AbortVaultLock, delete(governance::abort_lock)),
            ]),
        )
        .route(
            &format!("{v}/lock-policy/{{id}}"),
            op(
                Operation::CompleteVaultLock,
                post(governance::complete_lock),
            ),
        )
        .route(
            &format!("{v}/tags"),
            ops([
                op(Operation::ListTagsForVault, get(governance::list_tags)),
                op(Operation::AddTagsToVault, post(governance::change_tags)),
            ]),
        )
        .route(
            "/{account}/policies/data-retrieval",
            ops([
                op(
                    Operation::GetDataRetrievalPolicy,
                    get(governance::get_retrieval_policy),
                ),
                op(
                    Operation::SetDataRetrievalPolicy,
                    put(governance::set_retrieval_policy),
                ),
            ]),
        )
        .route(
            "/{account}/provisioned-capacity",
            ops([
                op(
                    Operation::ListProvisionedCapacity,
                    get(governance::list_capacity),
                ),
                op(
                    Operation::PurchaseProvisionedCapacity,
                    post(governance::purchase_capacity),
                ),
            ]),
        )
        .fallback(unknown_operation)
        .method_not_allowed_fallback(unknown_operation)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            glacier_request,
        ))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state)
}

/// Paths and methods of no operation: 404 for the signed, what authentication says to others.
async fn unknown_operation(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let what = format!("{} {}", req.method(), req.uri().path());
    match crate::auth::authenticate(&state, req, crate::auth::Payload::Buffered).await {
        Err(e) => e.into_response(),
        Ok(_) => ApiError::new(
            ErrorCode::ResourceNotFoundException,
            format!("No Glacier operation is served at {what}"),
        )
        .into_response(),
    }
}

/// Verifies the request's signature (its body too, unless the operation streams it) and
/// refuses requests without the API version header, as Glacier does.
async fn signed(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let op = req.extensions().get::<Operation>().copied();
    let payload = if op.is_some_and(|o| o.streams_body()) {
        crate::auth::Payload::Streamed
    } else {
        crate::auth::Payload::Buffered
    };
    let started = std::time::Instant::now();
    let bytes_in = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or(0);
    let resp = match crate::auth::authenticate(&state, req, payload).await {
        Err(e) => e.into_response(),
        Ok(req) => match (version_error(&req), op.and_then(|op| state.fault(op))) {
            (Some(e), _) => e.into_response(),
            (None, None) => next.run(req).await,
            (None, Some(fault)) => crate::faults::inject(fault, req, next).await,
        },
    };
    if let Some(op) = op {
        let bytes_out = http_body::Body::size_hint(resp.body())
            .exact()
            .or_else(|| {
                resp.headers()
                    .get(header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok()?.parse().ok())
            })
            .unwrap_or(0);
        state.service.metrics.request(
            op,
            resp.status().as_u16(),
            started.elapsed(),
            bytes_in,
            bytes_out,
        );
    }
    resp
}

/// Gives every response an `x-amzn-RequestId`, logged with the request, and says that uploads
/// may sign their tree hash instead of their payload (`h::ACCEPTS_TREE_SIGNED`); counts the
/// responses that report a failure inside the server (`InternalError`).
async fn glacier_request(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let request_id = crate::config::random_string(52, crate::config::REQUEST_ID_ALPHABET);
    let span = tracing::info_span!("request", id = %request_id, method = %req.method(), path = %req.uri().path());
    async move {
        let mut resp = match framing_error(&req) {
            Some(e) => {
                let mut resp = e.into_response();
                resp.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                resp
            }
            None => next.run(req).await,
        };
        tracing::info!(status = resp.status().as_u16(), "done");
        if resp
            .extensions()
            .get::<crate::error::InternalError>()
            .is_some()
        {
            state.service.metrics.internal_error();
        }
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert(h::REQUEST_ID, v);
        }
        resp.headers_mut()
            .insert(h::ACCEPTS_TREE_SIGNED, HeaderValue::from_static("1"));
        resp
    }
    .instrument(span)
    .await
}

/// The error of a request with a transfer coding other than `chunked` alone (hyper decodes
/// only the chunked framing and would hand the handler still-coded bytes). A request framed
/// both by `Transfer-Encoding` and `Content-Length` never gets here with both: hyper goes by
/// the chunked framing and closes the connection after answering (RFC 9112 §6.3), so nothing
/// smuggled behind it runs (tests/hostile_cases.rs).
fn framing_error(req: &Request) -> Option<ApiError> {
    let codings: Vec<_> = req
        .headers()
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .collect();
    match codings.as_slice() {
        [] => None,
        [one] if one.as_bytes().eq_ignore_ascii_case(b"chunked") => None,
        _ => Some(ApiError::invalid(format!(
            "Invalid Transfer-Encoding: {:?}; only chunked is accepted",
            codings
                .iter()
                .map(|c| String::from_utf8_lossy(c.as_bytes()))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The error of a request without the one API version.
fn version_error(req: &Request) -> Option<ApiError> {
    match req.headers().get(h::GLACIER_VERSION) {
        None => Some(ApiError::missing(h::GLACIER_VERSION)),
        Some(v) if v.as_bytes() != h::API_VERSION.as_bytes() => Some(ApiError::invalid(format!(
            "Invalid {}: {:?}; the only version is {}",
            h::GLACIER_VERSION,
            String::from_utf8_lossy(v.as_bytes()),
            h::API_VERSION
        ))),
        Some(_) => None,
    }
}
