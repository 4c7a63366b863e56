//! Job-completion notifications. The self-hosted server cannot reach Amazon SNS, so a topic is
//! delivered to an HTTP(S) webhook: the URL configured for its ARN (`--notifications FILE`), or
//! the topic itself when it is an http(s) URL. The POST body is an SNS-style envelope whose
//! `Message` is the DescribeJob JSON. Delivery retries with backoff; a failure never fails a job.

use super::Service;
use glacier_core::retry::RetryPolicy;
use glacier_storage::{JobRecord, JobSpec, VaultKey};
use std::collections::HashMap;
use std::time::Duration;

/// Attempts per delivery and their backoff (the project's one backoff rule: exponential, full
/// jitter).
const DELIVERY: RetryPolicy = RetryPolicy {
    max_attempts: 5,
    base_delay: Duration::from_millis(500),
    max_delay: Duration::from_secs(30),
};

pub(super) struct Notifier {
    http: reqwest::Client,
    topics: HashMap<String, String>,
}

impl Notifier {
    pub(super) fn new(topics: HashMap<String, String>) -> Notifier {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Notifier { http, topics }
    }

    fn url_of(&self, topic: &str) -> Option<String> {
        if topic.starts_with("http://") || topic.starts_with("https://") {
            return Some(topic.to_owned());
        }
        self.topics.get(topic).cloned()
    }

    /// Posts `message` (sent at `at`) to each topic's webhook in the background.
    fn deliver(&self, topics: Vec<String>, message: String, at: time::OffsetDateTime) {
        for topic in topics {
            let Some(url) = self.url_of(&topic) else {
                tracing::warn!(%topic, "no webhook is configured for this topic; notification dropped");
                continue;
            };
            let envelope = serde_json::json!({
                "Type": "Notification",
                "MessageId": crate::config::random_string(36, b"0123456789abcdef"),
                "TopicArn": topic,
                "Subject": "Notification From AWS Glacier",
                "Message": message,
                "Timestamp": glacier_core::format_date(at),
            });
            let http = self.http.clone();
            tokio::spawn(async move {
                for attempt in 1..=DELIVERY.max_attempts {
                    match http.post(&url).json(&envelope).send().await {
                        Ok(r) if r.status().is_success() => {
                            tracing::info!(%topic, %url, "notification delivered");
                            return;
                        }
                        Ok(r) => {
                            tracing::warn!(%topic, %url, status = r.status().as_u16(), attempt, "notification refused")
                        }
                        Err(e) => {
                            tracing::warn!(%topic, %url, error = %e, attempt, "notification failed")
                        }
                    }
                    if attempt < DELIVERY.max_attempts {
                        tokio::time::sleep(DELIVERY.delay(attempt, rand::random())).await;
                    }
                }
                tracing::error!(%topic, %url, attempts = DELIVERY.max_attempts, "notification given up");
            });
        }
    }
}

impl Service {
    /// Notifies the job's own topic and the vault's, if the vault subscribes to this event.
    pub(super) async fn notify_completion(&self, key: &VaultKey, job: &JobRecord) {
        let event = match job.spec {
            JobSpec::Archive { .. } => "ArchiveRetrievalCompleted",
            JobSpec::Inventory { .. } => "InventoryRetrievalCompleted",
        };
        let mut topics: Vec<String> = job.sns_topic.iter().cloned().collect();
        match self.meta.get_notifications(key).await {
            Ok(Some(n)) if n.events.iter().any(|e| e == event) => topics.push(n.sns_topic),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "reading the vault's notification configuration"),
        }
        topics.dedup();
        if topics.is_empty() {
            return;
        }
        match serde_json::to_string(&self.job_description(&self.vault_arn(key).await, job)) {
            Ok(message) => self.notifier.deliver(topics, message, self.now()),
            Err(e) => tracing::error!(error = %e, "serializing a job description"),
        }
    }
}
