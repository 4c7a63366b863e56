//! A self-hosted server that speaks the Amazon Glacier 2012-06-01 REST API.
//!
//! Start reading at `router.rs`: the route table. Requests flow serve (connections) →
//! router → authentication and extractors → a handler → one [`Service`] call → the storage
//! traits of `glacier-storage`.
//!
//! The public surface is what `glacier serve`, the CLI's local store and the tests use:
//! [`AppState`] (open it, hand it to [`run`] or [`app`]), its [`Settings`] and
//! [`ServerConfig`], and the loaders of identities and notification topics.

mod auth;
mod clock;
mod config;
mod error;
mod extract;
mod handlers;
mod policy;
mod router;
mod serve;
mod service;
pub mod sigv4;
mod state;

pub use clock::Clock;
pub use config::{
    ConfigError, Identity, IdentitySource, Limits, RetrievalDelay, ServerConfig,
    default_max_connections, load_identities, load_topics,
};
pub use glacier_storage::S3Config;
pub use router::app;
pub use service::{
    DEFAULT_EXPEDITED_RATE, DEFAULT_FREE_TIER_BYTES_PER_DAY, DEFAULT_RESERVE, OpenError, Service,
    Settings, Storage,
};
pub use state::AppState;

use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// How often a server sweeps orphan blobs (a blob is deleted at the second sweep that finds it
/// unreferenced).
const ORPHAN_SWEEP: std::time::Duration = std::time::Duration::from_secs(3600);

/// Serves `state` on `listener` (HTTP/1.1, within the configured [`config::Limits`]), with
/// the job engine running beside it, until `shutdown` is cancelled; then lets the requests in
/// flight finish, up to the shutdown timeout, and returns.
pub async fn run(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let engine = tokio::spawn(Arc::clone(&state.service).run_jobs(shutdown.clone()));
    let sweeps =
        tokio::spawn(Arc::clone(&state.service).run_sweeps(ORPHAN_SWEEP, shutdown.clone()));
    let limits = state.config.limits;
    let served = serve::serve(listener, app(state), limits, shutdown).await;
    for (task, what) in [(engine, "job engine"), (sweeps, "orphan sweeper")] {
        if let Err(e) = task.await {
            tracing::error!(error = %e, "{what} stopped abnormally");
        }
    }
    served
}
