//! The client's one error type, mirroring the seed's exceptions.

use glacier_core::{ErrorCode, Operation};

/// A boxed error from a transport or a body.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything a Glacier call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum GlacierError {
    /// The service answered with a status the operation does not expect (the seed's
    /// `UnexpectedHTTPResponseError`); the code and `message` come from Glacier's error body.
    #[error("{operation}: HTTP {status} {raw_code}: {message}")]
    UnexpectedHttpResponse {
        operation: Operation,
        status: u16,
        /// The error code, when it is one of the API's.
        code: Option<ErrorCode>,
        /// The code as the service sent it (the status, when the body had none).
        raw_code: String,
        message: String,
        request_id: Option<String>,
    },
    /// The service answered as expected, but not in the shape the operation defines (a body
    /// that is not its JSON, a header missing).
    #[error("{operation}: invalid response: {message}")]
    InvalidResponse {
        operation: Operation,
        message: String,
    },
    /// Data did not hash to the tree hash it should have (`TreeHashDoesNotMatchError`).
    #[error("tree hash mismatch for {what}: expected {expected}, computed {actual}")]
    TreeHashDoesNotMatch {
        what: String,
        expected: String,
        actual: String,
    },
    /// An upload could not be completed (`UploadArchiveError`).
    #[error("upload failed: {0}")]
    UploadArchive(String),
    /// A download could not be completed (`DownloadArchiveError`).
    #[error("download failed: {0}")]
    DownloadArchive(String),
    /// Something is wrong with an archive or its parts (`ArchiveError`).
    #[error("archive error: {0}")]
    Archive(String),
    /// The request never got an HTTP answer, or its body broke off.
    #[error("{operation}: transport error: {source}")]
    Transport {
        operation: Operation,
        #[source]
        source: BoxError,
    },
    #[error("credentials: {0}")]
    Credentials(String),
    /// A caller's argument cannot make a valid request.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl GlacierError {
    /// The Glacier error code, for errors the service answered with one of the API's.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            GlacierError::UnexpectedHttpResponse { code, .. } => *code,
            _ => None,
        }
    }

    /// The HTTP status, for errors the service answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            GlacierError::UnexpectedHttpResponse { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether repeating the same request may succeed: throttling, request timeouts, server
    /// errors and broken transports. `LimitExceededException` is not (it is a quota).
    pub fn is_transient(&self) -> bool {
        match self {
            GlacierError::UnexpectedHttpResponse { status, code, .. } => {
                *status >= 500
                    || *status == 408
                    || *status == 429
                    || matches!(
                        code,
                        Some(
                            ErrorCode::ThrottlingException
                                | ErrorCode::RequestTimeoutException
                                | ErrorCode::ServiceUnavailableException
                                | ErrorCode::SlowDown
                        )
                    )
            }
            GlacierError::Transport { .. } => true,
            _ => false,
        }
    }

    /// Whether the server certainly did not act on the request (throttled before processing),
    /// so that even an operation that is not idempotent may be repeated.
    pub fn is_throttling(&self) -> bool {
        matches!(self, GlacierError::UnexpectedHttpResponse { status, code, .. }
            if *status == 429
                || matches!(code, Some(ErrorCode::ThrottlingException | ErrorCode::SlowDown)))
    }
}

pub type Result<T, E = GlacierError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, code: &str) -> GlacierError {
        GlacierError::UnexpectedHttpResponse {
            operation: Operation::DescribeVault,
            status,
            code: code.parse().ok(),
            raw_code: code.into(),
            message: String::new(),
            request_id: None,
        }
    }

    #[test]
    fn transient_errors() {
        assert!(answer(500, "ServiceUnavailableException").is_transient());
        assert!(answer(408, "RequestTimeoutException").is_transient());
        assert!(answer(400, "ThrottlingException").is_transient());
        assert!(answer(400, "ThrottlingException").is_throttling());
        assert!(!answer(400, "LimitExceededException").is_transient());
        assert!(!answer(404, "ResourceNotFoundException").is_transient());
        assert_eq!(
            answer(404, "ResourceNotFoundException").code(),
            Some(ErrorCode::ResourceNotFoundException)
        );
        assert!(answer(503, "SlowDown").is_throttling());
        assert_eq!(answer(400, "SomethingNew").code(), None);
    }
}
