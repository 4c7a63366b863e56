//! The usage sampler: every account's totals added to the usage history the console graphs,
//! on a schedule all nodes share.

use super::Service;
use super::console::{USAGE_HISTORY, floor};
use std::sync::Arc;

impl Service {
    /// Samples every account's usage every `every`, on multiples of it (so that nodes
    /// sampling on the same schedule take one sample between them), until `shutdown`.
    pub async fn run_usage_samples(
        self: Arc<Self>,
        every: std::time::Duration,
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        let Ok(step) = time::Duration::try_from(every) else {
            return;
        };
        if step <= time::Duration::ZERO {
            return;
        }
        loop {
            let now = self.now();
            let at = floor(now, step);
            if let Err(e) = self.meta.sample_usage(at, now - USAGE_HISTORY).await {
                tracing::warn!(error = %e, "sampling usage for the console's graphs");
            }
            let wait = (at + step - self.now()).max(time::Duration::ZERO);
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait.try_into().unwrap_or_default()) => {}
            }
        }
    }
}
