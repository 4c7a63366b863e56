//! Extractors that turn a request's path, query and headers into validated values, rejecting
//! with Glacier-shaped errors. Each path extractor requires the caller's [`Authenticated`].

use crate::auth::Authenticated;
use crate::error::{ApiError, ApiResult};
use crate::service::Target;
use crate::state::AppState;
use axum::extract::{FromRequestParts, Path};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use glacier_core::{JobStatus, Operation, validate};
use glacier_storage::{JobFilter, VaultKey};
use std::collections::HashMap;
use std::sync::Arc;

/// The caller, the account the path names (`-` resolved to the caller's) and the path's other
/// parameters.
async fn params(
    parts: &mut Parts,
    state: &Arc<AppState>,
) -> ApiResult<(Authenticated, String, HashMap<String, String>)> {
    let auth = Authenticated::from_request_parts(parts, state).await?;
    let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
        .await
        .map_err(|e| ApiError::invalid(format!("Invalid request path: {e}")))?;
    let account = params.get("account").map(String::as_str).unwrap_or("-");
    validate::account_id(account)?;
    let account = if account == "-" {
        auth.account_id.clone()
    } else {
        account.to_owned()
    };
    Ok((auth, account, params))
}

/// Asks the service whether the caller may perform the route's operation on `target`.
async fn authorize(
    parts: &mut Parts,
    state: &AppState,
    caller: &Authenticated,
    target: Target<'_>,
) -> ApiResult<()> {
    let Some(mut action) = parts.extensions.get::<Operation>().copied() else {
        return Err(ApiError::internal(format!(
            "no operation is named for {} {}",
            parts.method,
            parts.uri.path()
        )));
    };
    // AddTagsToVault and RemoveTagsFromVault share a route; the query tells them apart.
    if action == Operation::AddTagsToVault
        && form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .any(|(k, v)| k == "operation" && v == "remove")
    {
        action = Operation::RemoveTagsFromVault;
    }
    let result = state
        .service
        .authorize_reading(&caller.account_id, action, target)
        .await;
    if let Err(e) = &result
        && e.code == glacier_core::ErrorCode::AccessDeniedException
    {
        tracing::info!(action = action.as_str(), caller = %caller.account_id, access_key = %caller.access_key_id, "access denied");
    }
    if let Some(vault) = result? {
        parts.extensions.insert(ReadVault(vault));
    }
    Ok(())
}

/// The vault as read while authorizing the request, when the store read it then (see
/// `VaultPolicies::vault`): the handler that needs it reads nothing more.
#[derive(Clone)]
pub(crate) struct ReadVault(pub(crate) glacier_storage::Vault);

fn vault_key(account: String, params: &HashMap<String, String>) -> ApiResult<VaultKey> {
    let name = params
        .get("vault")
        .ok_or_else(|| ApiError::missing("vaultName"))?;
    validate::vault_name(name)?;
    Ok(VaultKey {
        account,
        name: name.clone(),
    })
}

/// `/{account}/...`: the account the request acts on (`-` resolved to the caller's), which
/// must be the caller's.
pub(crate) struct AccountPath(pub(crate) String);

impl FromRequestParts<Arc<AppState>> for AccountPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> ApiResult<Self> {
        let (auth, account, _) = params(parts, state).await?;
        authorize(parts, state, &auth, Target::Account(&account)).await?;
        Ok(AccountPath(account))
    }
}

/// `/{account}/vaults/{vault}/...`, authorized for the route's operation.
pub(crate) struct VaultPath(pub(crate) VaultKey);

impl FromRequestParts<Arc<AppState>> for VaultPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> ApiResult<Self> {
        let (auth, account, params) = params(parts, state).await?;
        let key = vault_key(account, &params)?;
        authorize(parts, state, &auth, Target::Vault(&key, None)).await?;
        Ok(VaultPath(key))
    }
}

/// `/{account}/vaults/{vault}/{collection}/{id}`: an archive, upload or job of a vault.
pub(crate) struct ItemPath(pub(crate) VaultKey, pub(crate) String);

impl FromRequestParts<Arc<AppState>> for ItemPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> ApiResult<Self> {
        let (auth, account, params) = params(parts, state).await?;
        let key = vault_key(account, &params)?;
        let id = params.get("id").cloned().unwrap_or_default();
        let archive = parts
            .extensions
            .get::<Operation>()
            .is_some_and(|o| *o == Operation::DeleteArchive)
            .then_some(id.as_str());
        authorize(parts, state, &auth, Target::Vault(&key, archive)).await?;
        Ok(ItemPath(key, id))
    }
}

/// The `limit` and `marker` of a list operation.
pub(crate) struct ListQuery {
    pub(crate) limit: usize,
    pub(crate) marker: Option<String>,
}

/// A query string's parameters of these names; others are ignored, as Glacier does.
fn query_fields<const N: usize>(parts: &Parts, names: [&str; N]) -> [Option<String>; N] {
    let mut found = [const { None }; N];
    for (k, v) in form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes()) {
        if let Some(i) = names.iter().position(|n| *n == k) {
            found[i] = Some(v.into_owned());
        }
    }
    found
}

impl<S: Send + Sync> FromRequestParts<S> for ListQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> ApiResult<Self> {
        let [limit, marker] = query_fields(parts, ["limit", "marker"]);
        Ok(ListQuery {
            limit: validate::list_limit(limit.as_deref())?,
            marker,
        })
    }
}

/// ListJobs' query: which jobs (`completed`, `statuscode`), after which (the marker is a
/// job's place in the vault's list), how many.
pub(crate) struct JobsQuery {
    pub(crate) filter: JobFilter,
    pub(crate) after: Option<u64>,
    pub(crate) limit: usize,
}

impl<S: Send + Sync> FromRequestParts<S> for JobsQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> ApiResult<Self> {
        let [limit, marker, completed, status] =
            query_fields(parts, ["limit", "marker", "completed", "statuscode"]);
        let limit = validate::list_limit(limit.as_deref())?;
        let completed = match completed.as_deref() {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "Invalid completed: {other:?}; use true or false"
                )));
            }
        };
        let status = status.as_deref().map(str::parse::<JobStatus>).transpose()?;
        let after = marker
            .map(|m| {
                m.parse::<u64>()
                    .map_err(|_| ApiError::invalid(format!("Invalid marker: {m:?}")))
            })
            .transpose()?;
        Ok(JobsQuery {
            filter: JobFilter { completed, status },
            after,
            limit,
        })
    }
}

/// A header's value as text, if present.
pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &str) -> ApiResult<Option<&'a str>> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map_err(|_| ApiError::invalid(format!("Header {name} is not printable ASCII")))
        })
        .transpose()
}

pub(crate) fn required_header<'a>(headers: &'a HeaderMap, name: &str) -> ApiResult<&'a str> {
    header(headers, name)?.ok_or_else(|| ApiError::missing(name))
}

/// A header holding a SHA-256 in hex.
pub(crate) fn hash_header(
    headers: &HeaderMap,
    name: &str,
) -> ApiResult<Option<glacier_core::TreeHash>> {
    header(headers, name)?
        .map(|v| {
            v.parse().map_err(|_| {
                ApiError::invalid(format!("Invalid {name}: {v:?} is not 64 hex digits"))
            })
        })
        .transpose()
}

/// A header holding a whole number.
pub(crate) fn number_header(headers: &HeaderMap, name: &str) -> ApiResult<u64> {
    let v = required_header(headers, name)?;
    v.trim()
        .parse()
        .map_err(|_| ApiError::invalid(format!("Invalid {name}: {v:?} is not a whole number")))
}

/// A small JSON request body (job parameters, notification configurations), rejected in
/// Glacier's shape when it is too large or not the JSON expected.
pub(crate) struct JsonBody<T>(pub(crate) T);

/// The largest JSON body accepted.
const MAX_JSON_BODY: usize = 64 * 1024;

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, _: &S) -> ApiResult<Self> {
        let body = req.into_body();
        if http_body::Body::size_hint(&body)
            .upper()
            .is_some_and(|n| n > MAX_JSON_BODY as u64)
        {
            return Err(ApiError::invalid(format!(
                "The request body is larger than {MAX_JSON_BODY} bytes"
            )));
        }
        let bytes = axum::body::to_bytes(body, MAX_JSON_BODY)
            .await
            .map_err(ApiError::from_body)?;
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| {
            ApiError::invalid(format!("The request body is not the JSON expected: {e}"))
        })
    }
}
