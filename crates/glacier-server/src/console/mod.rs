//! The web console (`glacier serve --console`): a small page served from the binary under
//! `/console/`, and the read-only JSON API it reads under `/console/api/`.
//!
//! Signing in never sends the secret: the page signs `POST /console/api/session` with SigV4
//! in the browser (WebCrypto), which [`crate::auth::authenticate`] verifies as it verifies
//! every Glacier request, and the answer sets a session cookie (`HttpOnly`,
//! `SameSite=Strict`, `Secure` over TLS) whose token the identity's secret signed
//! ([`session`]). API requests carry the cookie and the `x-glacier-console` header (which a
//! cross-site form or script include cannot send); each view is one [`crate::Service`] call
//! that authorizes every piece as the Glacier operation that would read it.

mod session;
#[cfg(test)]
mod tests;

use crate::auth::Authenticated;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::Router;
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use glacier_core::{ErrorCode, validate};
use glacier_storage::VaultKey;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The session cookie.
const COOKIE: &str = "glacier-console";
/// The header every API request of the page carries.
const CONSOLE_HEADER: &str = "x-glacier-console";
/// What the page's own files may do: nothing loaded from elsewhere, no inline script.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/console.js");
const STYLE: &str = include_str!("assets/console.css");
const ICON: &str = include_str!("assets/icon.svg");

/// The console's routes, for [`crate::app`] when the console is on.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::permanent("/console/") }),
        )
        .route(
            "/console/",
            get(|| asset(INDEX, "text/html; charset=utf-8")),
        )
        .route(
            "/console/console.js",
            get(|| asset(SCRIPT, "text/javascript; charset=utf-8")),
        )
        .route(
            "/console/console.css",
            get(|| asset(STYLE, "text/css; charset=utf-8")),
        )
        .route("/console/icon.svg", get(|| asset(ICON, "image/svg+xml")))
        .route("/console/api/info", get(info))
        .route(
            "/console/api/session",
            get(whoami).post(sign_in).delete(sign_out),
        )
        .route("/console/api/overview", get(overview))
        .route("/console/api/usage", get(usage))
        .route("/console/api/vaults/{vault}", get(vault))
        .route("/console/api/vaults/{vault}/archives", get(archives))
        .route("/console/{*rest}", get(not_found))
}

async fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

async fn not_found(req: Request) -> ApiError {
    ApiError::not_found(format!("The console has no page {}", req.uri().path()))
}

/// An API answer: JSON, never cached.
fn api<T: Serialize>(body: T) -> Response {
    let mut resp = crate::handlers::json(&body);
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Info {
    /// The region to scope the sign-in signature to.
    region: String,
}

/// What the sign-in page needs before anyone is signed in.
async fn info(State(state): State<Arc<AppState>>) -> Response {
    api(Info {
        region: state.service.settings.region.clone(),
    })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SessionInfo {
    signed_in: bool,
    account_id: String,
    access_key_id: String,
    expires: String,
}

impl SessionInfo {
    fn new(caller: &Authenticated, ends: time::OffsetDateTime) -> SessionInfo {
        SessionInfo {
            signed_in: true,
            account_id: caller.account_id.clone(),
            access_key_id: caller.access_key_id.clone(),
            expires: glacier_core::format_date(ends),
        }
    }
}

fn cookie(state: &AppState, value: &str, max_age: i64) -> HeaderValue {
    let secure = if state.service.settings.secure_transport {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/console/api; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("glacier-console=; Path=/console/api; Max-Age=0"))
}

/// `POST /console/api/session`, signed with SigV4 as any Glacier request: starts a session.
async fn sign_in(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let req = match crate::auth::authenticate(&state, req, crate::auth::Payload::Buffered).await {
        Ok(req) => req,
        Err(e) => return e.into_response(),
    };
    let Some(caller) = req.extensions().get::<Authenticated>().cloned() else {
        return ApiError::internal("a verified sign-in has no caller").into_response();
    };
    let Some(identity) = state.identity(&caller.access_key_id) else {
        return ApiError::internal("a verified sign-in has no identity").into_response();
    };
    let lifetime = state.config.console_session.unwrap_or_default();
    let ends = state.service.now() + lifetime;
    let token = session::mint(&identity, ends);
    tracing::info!(access_key = %caller.access_key_id, account = %caller.account_id, "console sign-in");
    let mut resp = api(SessionInfo::new(&caller, ends));
    let max_age = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
    resp.headers_mut()
        .insert(header::SET_COOKIE, cookie(&state, &token, max_age));
    resp
}

/// `DELETE /console/api/session`: forgets the session cookie.
async fn sign_out(State(state): State<Arc<AppState>>, _: ConsoleRequest) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, cookie(&state, "", 0));
    resp
}

/// `GET /console/api/session`: who is signed in. No session (none yet, expired, or from keys
/// no longer known) is an answer here, not an error, so that the page asks it on every load
/// without a refused request in the browser's log.
async fn whoami(caller: Result<Caller, ApiError>) -> Response {
    match caller {
        Ok(caller) => api(SessionInfo::new(&caller.auth, caller.ends)),
        Err(e) if e.code == ErrorCode::MissingAuthenticationTokenException => {
            api(serde_json::json!({"SignedIn": false, "Reason": e.message}))
        }
        Err(e) => e.into_response(),
    }
}

async fn overview(State(state): State<Arc<AppState>>, caller: Caller) -> ApiResult<Response> {
    let account = &caller.auth.account_id;
    Ok(api(state.service.console_overview(account).await?))
}

#[derive(Deserialize)]
struct UsageQuery {
    days: Option<String>,
}

async fn usage(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<UsageQuery>,
) -> ApiResult<Response> {
    let days = match q.days.as_deref() {
        None => 7,
        Some(d) => d
            .parse::<u32>()
            .ok()
            .filter(|d| (1..=90).contains(d))
            .ok_or_else(|| {
                ApiError::invalid(format!("Invalid days: {d:?}; a number from 1 to 90"))
            })?,
    };
    let account = &caller.auth.account_id;
    Ok(api(state.service.console_usage(account, days).await?))
}

fn vault_key(caller: &Caller, name: String) -> ApiResult<VaultKey> {
    validate::vault_name(&name)?;
    Ok(VaultKey {
        account: caller.auth.account_id.clone(),
        name,
    })
}

async fn vault(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let key = vault_key(&caller, name)?;
    let account = &caller.auth.account_id;
    Ok(api(state.service.console_vault(account, &key).await?))
}

#[derive(Deserialize)]
struct ArchiveSearch {
    search: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

async fn archives(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Query<ArchiveSearch>,
) -> ApiResult<Response> {
    let key = vault_key(&caller, name)?;
    let limit = validate::list_limit(q.limit.as_deref())?;
    let page = state
        .service
        .console_archives(
            &caller.auth.account_id,
            &key,
            q.search.as_deref().unwrap_or(""),
            q.after.as_deref(),
            limit,
        )
        .await?;
    Ok(api(page))
}

/// A request of the console's page: it carries the `x-glacier-console` header.
struct ConsoleRequest;

impl<S: Send + Sync> FromRequestParts<S> for ConsoleRequest {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> ApiResult<Self> {
        match parts.headers.get(CONSOLE_HEADER) {
            Some(v) if v.as_bytes() == b"1" => Ok(ConsoleRequest),
            _ => Err(ApiError::missing(&format!(
                "the {CONSOLE_HEADER}: 1 header (console API requests come from the console's page)"
            ))),
        }
    }
}

/// The signed-in caller of a console API request: its session cookie verified.
struct Caller {
    auth: Authenticated,
    ends: time::OffsetDateTime,
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> ApiResult<Self> {
        ConsoleRequest::from_request_parts(parts, state).await?;
        let token = parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::MissingAuthenticationTokenException,
                    "Sign in to the console: the request has no session",
                )
            })?;
        let (identity, ends) = session::verify(token, &state.identities(), state.service.now())?;
        Ok(Caller {
            auth: Authenticated {
                account_id: identity.account_id,
                access_key_id: identity.access_key_id,
            },
            ends,
        })
    }
}
