//! `ApiError`: every failure the server answers, as Glacier answers it.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use glacier_core::ErrorCode;
use glacier_core::validate::Invalid;
use glacier_core::wire::ErrorBody;
use glacier_storage::StorageError;

/// An error with its Glacier code; `IntoResponse` writes the Glacier JSON error body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// A failure inside the server ([`ApiError::internal`]), which the response carries as
    /// [`InternalError`] for the request metrics to count.
    internal: bool,
}

/// The mark of a response that reports a failure inside the server (a store failing), as
/// opposed to a 500 the service means (a full disk's refusal): what `internal_errors` counts
/// where responses are written.
#[derive(Clone, Copy, Debug)]
pub(crate) struct InternalError;

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            internal: false,
        }
    }

    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::InvalidParameterValueException, message)
    }

    pub fn missing(what: &str) -> ApiError {
        ApiError::new(
            ErrorCode::MissingParameterValueException,
            format!("Required parameter missing: {what}"),
        )
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::ResourceNotFoundException, message)
    }

    /// A failure reading a request body: the error the body itself raised (a payload that does
    /// not match its signed hash, a body that stopped making progress), found however deeply
    /// it is wrapped; else a body that stopped arriving.
    pub fn from_body(e: impl Into<axum::BoxError>) -> ApiError {
        let mut e: axum::BoxError = e.into();
        loop {
            e = match e.downcast::<ApiError>() {
                Ok(api) => return *api,
                Err(e) => e,
            };
            e = match e.downcast::<axum::Error>() {
                Ok(axum_error) => axum_error.into_inner(),
                Err(other) => {
                    let mut source = other.source();
                    while let Some(s) = source {
                        if let Some(api) = s.downcast_ref::<ApiError>() {
                            return api.clone();
                        }
                        source = s.source();
                    }
                    return ApiError::new(
                        ErrorCode::RequestTimeoutException,
                        format!("Failed to read the request body: {other}"),
                    );
                }
            };
        }
    }

    /// An internal failure: the cause is logged, the client gets a generic 500.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(%cause, "internal error");
        ApiError {
            internal: true,
            ..ApiError::new(
                ErrorCode::ServiceUnavailableException,
                "The service could not complete the request; try again",
            )
        }
    }
}

impl From<glacier_core::UnknownName> for ApiError {
    fn from(e: glacier_core::UnknownName) -> Self {
        ApiError::invalid(e.to_string())
    }
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        ApiError::invalid(e.0)
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound { kind, id } => {
                let mut kind = kind.to_string();
                if let Some(first) = kind.get_mut(..1) {
                    first.make_ascii_uppercase();
                }
                ApiError::not_found(format!("{kind} not found: {id}"))
            }
            StorageError::NotEmpty { vault, archives } => ApiError::invalid(format!(
                "Vault not empty or recently written to: {vault} holds {archives} archives"
            )),
            StorageError::Invalid(m) | StorageError::Conflict(m) => ApiError::invalid(m),
            StorageError::LimitExceeded(m) => ApiError::new(ErrorCode::LimitExceededException, m),
            StorageError::Full(m) => {
                tracing::warn!(cause = %m, "upload refused");
                ApiError::new(ErrorCode::ServiceUnavailableException, m)
            }
            // The service turns refusals into their own errors; one reaching here is a bug.
            e @ (StorageError::Io(_)
            | StorageError::Backend { .. }
            | StorageError::NotAdmitted { .. }) => {
                ApiError::internal(format!("{:#}", anyhow::Error::new(e)))
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = ErrorBody {
            code: self.code.as_str().to_owned(),
            message: self.message,
            error_type: self.code.error_type(),
        };
        // An ErrorBody of strings always serializes.
        let mut response = json_response(status, serde_json::to_vec(&body).unwrap_or_default());
        if self.internal {
            response.extensions_mut().insert(InternalError);
        }
        response
    }
}

/// A JSON response with `Content-Type: application/json` exactly (boto 2 accepts nothing else).
pub(crate) fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;
