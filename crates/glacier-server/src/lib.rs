//! A self-hosted server that speaks the Amazon Glacier 2012-06-01 REST API.
//!
//! Start reading at `router.rs`: the route table. Requests flow serve (connections) →
//! router → authentication and extractors → a handler → one [`Service`] call → the storage
//! traits of `glacier-storage`.
//!
//! The public surface is what `glacier serve`, the CLI's local store and the tests use:
//! [`AppState`] (open it, hand it to [`run_until_signal`], [`run`] or [`app`]), its [`Settings`] and
//! [`ServerConfig`], and the loaders of identities and notification topics.

mod auth;
mod body;
mod clock;
mod config;
mod console;
mod error;
mod extract;
mod faults;
mod handlers;
mod metrics;
mod operator;
mod policy;
mod router;
mod run;
mod serve;
mod service;
pub mod sigv4;
mod state;
mod timing;
mod tls;

pub use clock::Clock;
pub use config::{
    ConfigError, Identity, IdentitySource, Limits, RetrievalDelay, ServerConfig,
    default_max_connections, load_identities, load_topics, read_toml,
};
pub use faults::{Fault, FaultRates};
pub use glacier_storage::{DEFAULT_RESERVE, OpenError, S3Config, Storage, StorageClass};
pub use router::app;
pub use run::{Listeners, RunOptions, run, run_tls, run_until_signal, serve_metrics};
pub use service::{DEFAULT_EXPEDITED_RATE, DEFAULT_FREE_TIER_BYTES_PER_DAY, Service, Settings};
pub use state::AppState;
pub use timing::{Timing, Window};
pub use tls::{Tls, TlsError, TlsFiles};

/// Entry points for `cargo fuzz` (the `fuzz/` crate, built with `--cfg fuzzing`): what a
/// request says, read as every request's is. Each must return (never panic) on any input.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    /// Lines of `data`: an `Authorization` value, a query, a path, an `x-amz-date` value. Parses
    /// the signature both ways (header, presigned query) and canonicalizes what it covers.
    pub fn sigv4(data: &str) {
        let mut lines = data.splitn(4, '\n');
        let (auth, query, path, date) = (
            lines.next().unwrap_or(""),
            lines.next().unwrap_or(""),
            lines.next().unwrap_or(""),
            lines.next().unwrap_or(""),
        );
        let mut request = http::Request::new(());
        if let Ok(v) = http::HeaderValue::from_str(date) {
            request.headers_mut().insert("x-amz-date", v);
        }
        let (parts, ()) = request.into_parts();
        let parsed = crate::auth::parse_authorization(auth, &parts);
        let _ = crate::auth::parse_presigned(query);
        let Ok(signed) = parsed else {
            return;
        };
        for whitespace in [
            crate::sigv4::Whitespace::Spaces,
            crate::sigv4::Whitespace::All,
        ] {
            let canonical = crate::sigv4::canonical_request(&crate::sigv4::Signed {
                method: "GET",
                path,
                query,
                headers: &parts.headers,
                signed_headers: &signed.signed_headers,
                payload_hash: "UNSIGNED-PAYLOAD",
                whitespace,
            });
            let to_sign = crate::sigv4::string_to_sign(&signed.amz_date, &signed.scope, &canonical);
            let key = crate::sigv4::signing_key("secret", &signed.scope);
            let _ = crate::sigv4::verify(&key, &to_sign, &signed.signature);
        }
    }

    /// Parses `data` as a vault access or lock policy and, if it parses, evaluates it for
    /// every action against a request with a few condition keys.
    pub fn policy(data: &str) {
        let Ok(policy) = crate::policy::Policy::parse(data) else {
            return;
        };
        let context = [
            (
                crate::policy::context_key("glacier:ArchiveAgeInDays"),
                "3".to_owned(),
            ),
            (
                crate::policy::context_key("aws:PrincipalAccount"),
                "111122223333".to_owned(),
            ),
            (
                crate::policy::context_key("glacier:ResourceTag/a"),
                "b".to_owned(),
            ),
        ];
        for action in glacier_core::Operation::ALL {
            let action = format!("glacier:{}", action.as_str());
            let _ = policy.evaluate(&crate::policy::Request {
                account: "111122223333",
                action: &action,
                resource: "arn:aws:glacier:us-east-1:111122223333:vaults/v",
                context: &context,
            });
        }
        let _ = policy.grants_any("111122223333");
        let _ = policy.reads("glacier:");
    }
}
