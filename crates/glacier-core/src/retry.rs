//! How often and how patiently transient failures are retried: one policy and one backoff
//! rule (exponential, full jitter) for every retry loop of the project — the client's requests
//! and the server's notification deliveries.

use std::time::Duration;

/// Attempts in all, and the exponential ceiling of the wait between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1` (`attempt` ≥ 1 attempts have failed): full jitter,
    /// `unit` (uniform in [0, 1), the caller's randomness) times `base_delay × 2^attempt`
    /// capped at `max_delay`.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max_delay);
        ceiling.mul_f64(unit.clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        for attempt in 0..20 {
            for unit in [0.0, 0.5, 0.999, 7.0] {
                let d = p.delay(attempt, unit);
                assert!(d <= Duration::from_secs(1), "{d:?}");
                assert!(d <= Duration::from_millis(100) * 2u32.saturating_pow(attempt.min(16)));
            }
        }
        assert_eq!(p.delay(2, 0.5), Duration::from_millis(200));
    }
}
