//! What the server counts, for the operator's `/metrics` (served by `operator.rs`): a
//! Prometheus registry that the router's request layer, job initiation and the job engine
//! count into.
//!
//! Counters are this process's since it started (every node has its own, as Prometheus
//! expects); the usage gauges (vaults, archives and bytes per account, jobs in progress) are
//! read from the metadata store at each scrape, so every node reports the whole store.

use glacier_core::{JobStatus, JobType, Operation};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Metric, Registry};
use std::time::Duration;

// Labels are the API's own names (`Operation`, `JobType`, `JobStatus`), as the enums spell them.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    kind: &'static str,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FaultLabels {
    operation: &'static str,
    fault: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AccountLabels {
    account: String,
}

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
    internal_errors: Counter,
    injected_faults: Family<FaultLabels, Counter>,
    jobs_in_progress: Gauge,
    vaults: Family<AccountLabels, Gauge>,
    archives: Family<AccountLabels, Gauge>,
    stored_bytes: Family<AccountLabels, Gauge>,
    usage_errors: Counter,
}

/// A new metric of its kind's default, registered under `name`.
fn add<M: Metric + Clone + Default>(registry: &mut Registry, name: &str, help: &str) -> M {
    add_metric(registry, name, help, M::default())
}

fn add_metric<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M {
    registry.register(name, help, metric.clone());
    metric
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut r = Registry::with_prefix("glacier");
        let latency = Family::<OperationLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 18))
        });
        Metrics {
            requests: add(
                &mut r,
                "requests",
                "API requests answered, by operation and HTTP status",
            ),
            latency: add_metric(
                &mut r,
                "request_duration_seconds",
                "Time from a request's head to its response's head, by operation",
                latency,
            ),
            bytes_in: add(
                &mut r,
                "request_bytes",
                "Request body bytes declared by Content-Length",
            ),
            bytes_out: add(
                &mut r,
                "response_bytes",
                "Response body bytes declared by Content-Length",
            ),
            jobs_initiated: add(
                &mut r,
                "jobs_initiated",
                "Jobs initiated on this node, by kind (status: InProgress)",
            ),
            jobs_completed: add(
                &mut r,
                "jobs_completed",
                "Jobs this node's engine completed, by kind and status",
            ),
            retrievals: add(
                &mut r,
                "retrievals",
                "Archive retrievals admitted or refused by the retrieval policy and capacity",
            ),
            internal_errors: add(
                &mut r,
                "internal_errors",
                "Failures inside the server (a store failing), in requests (500 ServiceUnavailableException) and the job engine",
            ),
            injected_faults: add(
                &mut r,
                "injected_faults",
                "Requests given a fault on purpose (serve --faults), by operation and fault",
            ),
            jobs_in_progress: add(
                &mut r,
                "jobs_in_progress",
                "Jobs not yet completed in the whole store",
            ),
            vaults: add(&mut r, "vaults", "Vaults per account"),
            archives: add(&mut r, "archives", "Archives per account"),
            stored_bytes: add(&mut r, "stored_bytes", "Bytes of archives per account"),
            usage_errors: add(
                &mut r,
                "usage_read_errors",
                "Scrapes whose read of the store's usage failed (the usage gauges are then stale)",
            ),
            registry: r,
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
        let operation = op.as_str();
        self.requests
            .get_or_create(&RequestLabels { operation, status })
            .inc();
        self.latency
            .get_or_create(&OperationLabels { operation })
            .observe(took.as_secs_f64());
        self.bytes_in.inc_by(bytes_in);
        self.bytes_out.inc_by(bytes_out);
    }

    pub(crate) fn job_initiated(&self, kind: JobType) {
        self.jobs_initiated
            .get_or_create(&JobLabels {
                kind: kind.as_str(),
                status: JobStatus::InProgress.as_str(),
            })
            .inc();
    }

    pub(crate) fn job_completed(&self, kind: JobType, status: JobStatus) {
        self.jobs_completed
            .get_or_create(&JobLabels {
                kind: kind.as_str(),
                status: status.as_str(),
            })
            .inc();
    }

    pub(crate) fn retrieval(&self, admitted: bool) {
        let outcome = if admitted { "admitted" } else { "refused" };
        self.retrievals
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    pub(crate) fn injected_fault(&self, op: Operation, fault: crate::faults::Fault) {
        self.injected_faults
            .get_or_create(&FaultLabels {
                operation: op.as_str(),
                fault: fault.as_str(),
            })
            .inc();
    }

    /// A failure inside the server: a response marked [`crate::error::InternalError`], or a
    /// round of the job engine that failed.
    pub(crate) fn internal_error(&self) {
        self.internal_errors.inc();
    }

    /// The text exposition, the usage gauges set from `usage` first (kept as they were when it
    /// could not be read).
    pub(crate) fn render(&self, usage: Option<&glacier_storage::Usage>) -> String {
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
