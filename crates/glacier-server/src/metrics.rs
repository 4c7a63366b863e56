//! The operator's view (`--metrics-listen`): Prometheus metrics, `/health` and `/ready`, on a
//! listener of their own, apart from the API (no signature, nothing of the archives).
//!
//! Counters are this process's since it started (every node has its own, as Prometheus
//! expects); the usage gauges (vaults, archives and bytes per account, jobs in progress) are
//! read from the metadata store at each scrape, so every node reports the whole store.

use crate::state::AppState;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use glacier_core::Operation;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    kind: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AccountLabels {
    account: String,
}

/// Failures inside the server, counted where they are turned into a 500 (`ApiError::internal`).
pub(crate) static INTERNAL_ERRORS: std::sync::LazyLock<Counter> =
    std::sync::LazyLock::new(Counter::default);

/// Everything the server counts. One per service; cheap to update from any task.
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<OperationLabels, Histogram>,
    bytes_in: Counter,
    bytes_out: Counter,
    jobs_initiated: Family<JobLabels, Counter>,
    jobs_completed: Family<JobLabels, Counter>,
    retrievals: Family<OutcomeLabels, Counter>,
    jobs_in_progress: Gauge,
    vaults: Family<AccountLabels, Gauge>,
    archives: Family<AccountLabels, Gauge>,
    stored_bytes: Family<AccountLabels, Gauge>,
    usage_errors: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::with_prefix("glacier");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "API requests answered, by operation and HTTP status",
            requests.clone(),
        );
        let latency = Family::<OperationLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 18))
        });
        registry.register(
            "request_duration_seconds",
            "Time from a request's head to its response's head, by operation",
            latency.clone(),
        );
        let bytes_in = Counter::default();
        registry.register(
            "request_bytes",
            "Request body bytes declared by Content-Length",
            bytes_in.clone(),
        );
        let bytes_out = Counter::default();
        registry.register(
            "response_bytes",
            "Response body bytes declared by Content-Length",
            bytes_out.clone(),
        );
        let jobs_initiated = Family::<JobLabels, Counter>::default();
        registry.register(
            "jobs_initiated",
            "Jobs initiated on this node, by kind (status: InProgress)",
            jobs_initiated.clone(),
        );
        let jobs_completed = Family::<JobLabels, Counter>::default();
        registry.register(
            "jobs_completed",
            "Jobs this node's engine completed, by kind and status",
            jobs_completed.clone(),
        );
        let retrievals = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "retrievals",
            "Archive retrievals admitted or refused by the retrieval policy and capacity",
            retrievals.clone(),
        );
        registry.register(
            "internal_errors",
            "Failures inside the server (a store failing), in requests (500 ServiceUnavailableException) and the job engine; counted for the whole process",
            INTERNAL_ERRORS.clone(),
        );
        let jobs_in_progress = Gauge::default();
        registry.register(
            "jobs_in_progress",
            "Jobs not yet completed in the whole store",
            jobs_in_progress.clone(),
        );
        let vaults = Family::<AccountLabels, Gauge>::default();
        registry.register("vaults", "Vaults per account", vaults.clone());
        let archives = Family::<AccountLabels, Gauge>::default();
        registry.register("archives", "Archives per account", archives.clone());
        let stored_bytes = Family::<AccountLabels, Gauge>::default();
        registry.register(
            "stored_bytes",
            "Bytes of archives per account",
            stored_bytes.clone(),
        );
        let usage_errors = Counter::default();
        registry.register(
            "usage_read_errors",
            "Scrapes whose read of the store's usage failed (the usage gauges are then stale)",
            usage_errors.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            bytes_in,
            bytes_out,
            jobs_initiated,
            jobs_completed,
            retrievals,
            jobs_in_progress,
            vaults,
            archives,
            stored_bytes,
            usage_errors,
        }
    }

    pub(crate) fn request(
        &self,
        op: Operation,
        status: u16,
        took: Duration,
        bytes_in: u64,
        bytes_out: u64,
    ) {
        let operation = op.as_str().to_owned();
        self.requests
            .get_or_create(&RequestLabels {
                operation: operation.clone(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&OperationLabels { operation })
            .observe(took.as_secs_f64());
        self.bytes_in.inc_by(bytes_in);
        self.bytes_out.inc_by(bytes_out);
    }

    pub(crate) fn job_initiated(&self, kind: &str) {
        self.jobs_initiated
            .get_or_create(&JobLabels {
                kind: kind.to_owned(),
                status: "InProgress".to_owned(),
            })
            .inc();
    }

    pub(crate) fn job_completed(&self, kind: &str, status: &str) {
        self.jobs_completed
            .get_or_create(&JobLabels {
                kind: kind.to_owned(),
                status: status.to_owned(),
            })
            .inc();
    }

    pub(crate) fn retrieval(&self, admitted: bool) {
        let outcome = if admitted { "admitted" } else { "refused" };
        self.retrievals
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// The text exposition, the usage gauges set from `usage` first (kept as they were when it
    /// could not be read).
    fn render(&self, usage: Option<&glacier_storage::Usage>) -> String {
        match usage {
            Some(usage) => {
                self.vaults.clear();
                self.archives.clear();
                self.stored_bytes.clear();
                for a in &usage.accounts {
                    let labels = AccountLabels {
                        account: a.account.clone(),
                    };
                    self.vaults.get_or_create(&labels).set(gauge(a.vaults));
                    self.archives.get_or_create(&labels).set(gauge(a.archives));
                    self.stored_bytes.get_or_create(&labels).set(gauge(a.bytes));
                }
                self.jobs_in_progress.set(gauge(usage.jobs_in_progress));
            }
            None => {
                self.usage_errors.inc();
            }
        }
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

fn gauge(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// `/metrics`, `/health` (the process answers) and `/ready` (both stores answer).
pub(crate) fn router(state: Arc<AppState>) -> axum::Router {
    axum::Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(|| async { "ok\n" }))
        .route("/ready", get(ready))
        .with_state(state)
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let usage = match state.service.meta.usage().await {
        Ok(u) => Some(u),
        Err(e) => {
            tracing::warn!(error = %e, "reading the store's usage for /metrics");
            None
        }
    };
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.service.metrics.render(usage.as_ref()),
    )
        .into_response()
}

async fn ready(State(state): State<Arc<AppState>>) -> Response {
    let meta = state.service.meta.next_deadline().await.err();
    let blobs = state.service.blobs.ready().await.err();
    match (meta, blobs) {
        (None, None) => (StatusCode::OK, "ready\n".to_owned()).into_response(),
        (meta, blobs) => {
            let mut why = String::new();
            if let Some(e) = meta {
                why.push_str(&format!("metadata store: {e}\n"));
            }
            if let Some(e) = blobs {
                why.push_str(&format!("blob store: {e}\n"));
            }
            (StatusCode::SERVICE_UNAVAILABLE, why).into_response()
        }
    }
}
