//! Running a server: the API (and the operator's endpoints) on their listeners with the job
//! engine, the orphan sweeper and the usage sampler beside them; [`run_until_signal`] also owns
//! what a process serving it needs — SIGTERM/Ctrl-C to stop gracefully, SIGHUP to reload the
//! certificate and the identities.

use crate::{AppState, Tls};
use std::path::PathBuf;
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
    run_tls(listener, state, None, shutdown).await
}

/// Serves `/metrics` (Prometheus), `/health` and `/ready` for `state` on `listener` until
/// `shutdown` is cancelled.
pub async fn serve_metrics(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        crate::operator::router(Arc::clone(&state.service)),
    )
    .with_graceful_shutdown(shutdown.cancelled_owned())
    .await
}

/// [`run`], over TLS when `tls` is given (every connection then is).
pub async fn run_tls(
    listener: TcpListener,
    state: Arc<AppState>,
    tls: Option<Arc<Tls>>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let engine = tokio::spawn(Arc::clone(&state.service).run_jobs(shutdown.clone()));
    let sweeps =
        tokio::spawn(Arc::clone(&state.service).run_sweeps(ORPHAN_SWEEP, shutdown.clone()));
    let every = state.service.settings.usage_interval;
    let samples =
        tokio::spawn(Arc::clone(&state.service).run_usage_samples(every, shutdown.clone()));
    let inventories =
        tokio::spawn(Arc::clone(&state.service).run_daily_inventories(shutdown.clone()));
    let limits = state.config.limits;
    let served = crate::serve::serve(listener, crate::app(state), limits, tls, shutdown).await;
    for (task, what) in [
        (engine, "job engine"),
        (sweeps, "orphan sweeper"),
        (samples, "usage sampler"),
        (inventories, "daily inventories"),
    ] {
        if let Err(e) = task.await {
            tracing::error!(error = %e, "{what} stopped abnormally");
        }
    }
    served
}

/// Where a server listens: the API, and the operator's endpoints apart from it.
pub struct Listeners {
    pub api: TcpListener,
    /// `/metrics`, `/health` and `/ready` ([`serve_metrics`]).
    pub metrics: Option<TcpListener>,
}

/// How [`run_until_signal`] serves.
#[derive(Default)]
pub struct RunOptions {
    /// Serve HTTPS with this certificate; SIGHUP reloads its files.
    pub tls: Option<Arc<Tls>>,
    /// The identities file SIGHUP reloads (keys added work at once, keys removed are refused
    /// at once); without one SIGHUP reloads only the certificate.
    pub credentials: Option<PathBuf>,
}

/// Serves `state` on `listeners` until SIGTERM or Ctrl-C, then lets the requests in flight
/// finish (up to the shutdown timeout) and returns; on SIGHUP reloads the certificate and the
/// identities file, keeping what was in force when one fails to load (and saying why).
pub async fn run_until_signal(
    state: Arc<AppState>,
    listeners: Listeners,
    options: RunOptions,
) -> std::io::Result<()> {
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: finishing requests in flight");
        signal.cancel();
    });
    reload_on_sighup(options.tls.clone(), options.credentials, Arc::clone(&state))?;
    let metrics = listeners.metrics.map(|listener| {
        tokio::spawn(serve_metrics(
            listener,
            Arc::clone(&state),
            shutdown.clone(),
        ))
    });
    let served = run_tls(listeners.api, state, options.tls, shutdown).await;
    if let Some(task) = metrics {
        match task.await {
            Ok(Err(e)) => tracing::error!(error = %e, "the metrics listener failed"),
            Err(e) => tracing::error!(error = %e, "the metrics listener stopped abnormally"),
            Ok(Ok(())) => {}
        }
    }
    served
}

/// At every SIGHUP reads the certificate and key again, and the identities file; what fails
/// to load keeps what was in force, and says why.
fn reload_on_sighup(
    tls: Option<Arc<Tls>>,
    credentials: Option<PathBuf>,
    state: Arc<AppState>,
) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = signal(SignalKind::hangup())?;
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                if let Some(tls) = &tls {
                    match tls.reload() {
                        Ok(()) => tracing::info!(
                            cert = %tls.files().cert.display(),
                            "TLS certificate reloaded; new connections use it"
                        ),
                        Err(e) => tracing::error!(
                            error = %e,
                            "TLS certificate not reloaded; the previous one stays in use"
                        ),
                    }
                }
                let Some(path) = &credentials else {
                    tracing::info!(
                        "SIGHUP: the identities come from no --credentials file; nothing to reload"
                    );
                    continue;
                };
                match crate::load_identities(Some(path), |_| None, path) {
                    Ok((ids, _)) if ids.is_empty() => tracing::error!(
                        path = %path.display(),
                        "identities not reloaded: the file lists none; the previous ones stay in force"
                    ),
                    Ok((ids, _)) => {
                        tracing::info!(path = %path.display(), count = ids.len(), "identities reloaded");
                        state.set_identities(ids);
                    }
                    Err(e) => tracing::error!(
                        error = %e,
                        "identities not reloaded; the previous ones stay in force"
                    ),
                }
            }
        });
    }
    #[cfg(not(unix))]
    drop((tls, credentials, state));
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
