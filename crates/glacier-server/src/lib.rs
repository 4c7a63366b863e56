//! A self-hosted server that speaks the Amazon Glacier 2012-06-01 REST API.
//!
//! Start reading at [`router::app`]: the route table. Requests flow
//! router → extractors (auth, path, headers) → a handler → one [`service::Service`] call →
//! the storage traits of `glacier-storage`.

pub mod auth;
mod clock;
pub mod config;
pub mod error;
mod extract;
mod handlers;
pub mod policy;
pub mod router;
mod serve;
pub mod service;
pub mod sigv4;
pub mod state;

pub use clock::Clock;
pub use config::{Identity, IdentitySource, RetrievalDelay, ServerConfig};
pub use error::ApiError;
pub use router::app;
pub use service::{Service, Settings};
pub use state::AppState;

use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Serves `state` on `listener` (HTTP/1.1, within the configured [`config::Limits`]), with
/// the job engine running beside it, until `shutdown` is cancelled; then lets the requests in
/// flight finish, up to the shutdown timeout, and returns.
pub async fn run(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let engine = tokio::spawn(Arc::clone(&state.service).run_jobs(shutdown.clone()));
    let limits = state.config.limits;
    let served = serve::serve(listener, app(state), limits, shutdown).await;
    if let Err(e) = engine.await {
        tracing::error!(error = %e, "job engine stopped abnormally");
    }
    served
}
