//! Glacier's error codes, with the HTTP status and fault type each one is answered with.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Who is at fault, as the `type` field of Glacier's error body says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorType {
    Client,
    Server,
}

macro_rules! error_codes {
    ($($name:ident => $status:expr, $ty:ident;)*) => {
        /// An error code of the Glacier API (the `code` field of the error body).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($name,)*
        }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name,)*];

            /// The HTTP status Glacier answers this error with.
            pub fn status(self) -> u16 {
                match self {
                    $(ErrorCode::$name => $status,)*
                }
            }

            pub fn error_type(self) -> ErrorType {
                match self {
                    $(ErrorCode::$name => ErrorType::$ty,)*
                }
            }

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$name => stringify!($name),)*
                }
            }
        }
    };
}

error_codes! {
    AccessDeniedException => 403, Client;
    IncompleteSignatureException => 400, Client;
    InsufficientCapacityException => 400, Client;
    InvalidParameterValueException => 400, Client;
    InvalidSignatureException => 403, Client;
    LimitExceededException => 400, Client;
    MissingAuthenticationTokenException => 403, Client;
    MissingParameterValueException => 400, Client;
    NoLongerSupportedException => 400, Client;
    PolicyEnforcedException => 400, Client;
    RequestTimeoutException => 408, Client;
    ResourceNotFoundException => 404, Client;
    SerializationException => 400, Client;
    ServiceUnavailableException => 500, Server;
    // Not in Glacier's model: what the server answers when it is too busy to take a request
    // in (S3's code for it), so that every client backs off and retries.
    SlowDown => 503, Server;
    ThrottlingException => 400, Client;
    UnrecognizedClientException => 403, Client;
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ErrorCode {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        ErrorCode::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_match_the_service_model() {
        assert_eq!(ErrorCode::ResourceNotFoundException.status(), 404);
        assert_eq!(ErrorCode::InvalidParameterValueException.status(), 400);
        assert_eq!(ErrorCode::RequestTimeoutException.status(), 408);
        assert_eq!(ErrorCode::ServiceUnavailableException.status(), 500);
        assert_eq!(
            ErrorCode::ServiceUnavailableException.error_type(),
            ErrorType::Server
        );
        for c in ErrorCode::ALL {
            assert_eq!(c.as_str().parse::<ErrorCode>(), Ok(*c));
        }
    }
}
