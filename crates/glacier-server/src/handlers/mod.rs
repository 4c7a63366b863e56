//! Request handlers, one module per resource family. A handler extracts, calls one service
//! function and shapes the response.

pub(crate) mod archives;
pub(crate) mod governance;
pub(crate) mod jobs;
pub(crate) mod multipart;
pub(crate) mod notifications;
pub(crate) mod vaults;

use crate::error::ApiError;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// An empty response with a status and headers.
pub(crate) fn empty(status: StatusCode, headers: &[(&'static str, String)]) -> Response {
    with_headers(status.into_response(), headers)
}

/// Adds headers to a response; a value that is not a valid header value is left out.
pub(crate) fn with_headers(mut resp: Response, headers: &[(&'static str, String)]) -> Response {
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_str(value) {
            resp.headers_mut().insert(HeaderName::from_static(name), v);
        }
    }
    resp
}

/// A 200 response with a JSON body.
pub(crate) fn json<T: serde::Serialize>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => crate::error::json_response(StatusCode::OK, body),
        Err(e) => ApiError::internal(e).into_response(),
    }
}
