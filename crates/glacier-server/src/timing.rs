//! How long things take in the service: each kind of job, a job's output, a Vault Lock in
//! progress, and the windows that retrieval allowances are counted over. Either as the operator
//! configures them (`--retrieval-delay`, `--job-expiry`; the default) or as AWS documents them
//! (`--aws-timing`), and with `--time-scale N` every one divided by N, so that the same timing
//! runs in seconds in tests and demos.

use crate::config::RetrievalDelay;
use glacier_core::Tier;
use rand::{Rng, SeedableRng, rngs::StdRng};
use std::time::Duration;

const MINUTE: u64 = 60;
const HOUR: u64 = 3600;

/// When something completes: each occurrence draws its own time in `[min, max]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub min: Duration,
    pub max: Duration,
}

impl Window {
    pub const fn exactly(d: Duration) -> Window {
        Window { min: d, max: d }
    }

    const fn secs(min: u64, max: u64) -> Window {
        Window {
            min: Duration::from_secs(min),
            max: Duration::from_secs(max),
        }
    }

    fn draw(self, rng: &mut impl Rng) -> Duration {
        let span = self.max.saturating_sub(self.min);
        let nanos = u64::try_from(span.as_nanos()).unwrap_or(u64::MAX);
        self.min + Duration::from_nanos(rng.random_range(0..=nanos))
    }

    fn scaled(self, n: f64) -> Window {
        Window {
            min: self.min.div_f64(n),
            max: self.max.div_f64(n),
        }
    }
}

/// The service's durations (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    pub expedited: Window,
    pub standard: Window,
    pub bulk: Window,
    /// An inventory retrieval job.
    pub inventory: Window,
    /// How long a finished job and its output stay available.
    pub job_expiry: Duration,
    /// How long a Vault Lock stays `InProgress` before it lapses.
    pub lock_window: Duration,
    /// The sliding window of the `BytesPerHour` retrieval policy.
    pub policy_window: Duration,
    /// The sliding window of the `FreeTier` retrieval policy's daily allowance.
    pub free_tier_window: Duration,
    /// The window that Expedited retrievals are counted over (per capacity unit: 3 in it).
    pub capacity_window: Duration,
    /// How often each vault's inventory is taken, as AWS takes it (about daily, when the vault
    /// changed): inventory jobs return that snapshot and DescribeVault its totals. `None`: an
    /// inventory lists what is committed when its job completes, and the totals are live.
    pub daily_inventory: Option<Duration>,
    /// What job times are drawn from: the same seed draws the same times, job after job.
    pub seed: Option<u64>,
}

impl Timing {
    /// Each tier's jobs complete exactly `delay` after they are initiated (inventories as
    /// Standard); outputs are kept `job_expiry`; the rest as AWS documents it.
    pub fn fixed(delay: RetrievalDelay, job_expiry: Duration) -> Timing {
        Timing {
            expedited: Window::exactly(delay.expedited),
            standard: Window::exactly(delay.standard),
            bulk: Window::exactly(delay.bulk),
            inventory: Window::exactly(delay.standard),
            job_expiry,
            daily_inventory: None,
            ..Timing::aws()
        }
    }

    /// As AWS documents it: retrievals within their tier's window (Expedited 1–5 minutes,
    /// Standard 3–5 hours, Bulk 5–12 hours), an inventory in about 4 hours, outputs kept 24
    /// hours, a lock in progress for 24 hours, a policy's sliding hour, the free tier's day,
    /// Expedited capacity counted per 5 minutes, and each vault's inventory taken daily.
    pub fn aws() -> Timing {
        let window = |tier: Tier| {
            let (min, max) = tier.aws_window();
            Window { min, max }
        };
        Timing {
            expedited: window(Tier::Expedited),
            standard: window(Tier::Standard),
            bulk: window(Tier::Bulk),
            inventory: Window::secs(3 * HOUR + 30 * MINUTE, 4 * HOUR + 30 * MINUTE),
            job_expiry: Duration::from_secs(24 * HOUR),
            lock_window: Duration::from_secs(24 * HOUR),
            policy_window: Duration::from_secs(HOUR),
            free_tier_window: Duration::from_secs(24 * HOUR),
            capacity_window: Duration::from_secs(5 * MINUTE),
            daily_inventory: Some(Duration::from_secs(24 * HOUR)),
            seed: None,
        }
    }

    /// Every duration divided by `n` (time runs `n` times as fast); `n` must be positive.
    pub fn scaled(self, n: f64) -> Timing {
        Timing {
            expedited: self.expedited.scaled(n),
            standard: self.standard.scaled(n),
            bulk: self.bulk.scaled(n),
            inventory: self.inventory.scaled(n),
            job_expiry: self.job_expiry.div_f64(n),
            lock_window: self.lock_window.div_f64(n),
            policy_window: self.policy_window.div_f64(n),
            free_tier_window: self.free_tier_window.div_f64(n),
            capacity_window: self.capacity_window.div_f64(n),
            daily_inventory: self.daily_inventory.map(|d| d.div_f64(n)),
            seed: self.seed,
        }
    }

    pub fn retrieval(&self, tier: Tier) -> Window {
        match tier {
            Tier::Expedited => self.expedited,
            Tier::Standard => self.standard,
            Tier::Bulk => self.bulk,
        }
    }

    /// What each job's time in its window is drawn by.
    pub(crate) fn draws(&self) -> Draws {
        Draws(std::sync::Mutex::new(match self.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        }))
    }
}

impl Default for Timing {
    /// No retrieval delay; outputs kept 24 hours.
    fn default() -> Timing {
        Timing::fixed(RetrievalDelay::default(), Duration::from_secs(24 * HOUR))
    }
}

/// Draws each job's time in its window, in the order jobs are initiated.
pub(crate) struct Draws(std::sync::Mutex<StdRng>);

impl Draws {
    pub(crate) fn draw(&self, window: Window) -> Duration {
        match self.0.lock() {
            Ok(mut rng) => window.draw(&mut *rng),
            // A panic while drawing leaves nothing half-done: draw from a fresh generator.
            Err(_) => window.draw(&mut rand::rng()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_fall_in_their_window_and_repeat_with_a_seed() {
        let timing = Timing {
            seed: Some(7),
            ..Timing::aws().scaled(3600.0)
        };
        let standard = timing.retrieval(Tier::Standard);
        assert_eq!(
            (standard.min, standard.max),
            (Duration::from_secs(3), Duration::from_secs(5))
        );
        assert_eq!(timing.job_expiry, Duration::from_secs(24));
        assert_eq!(timing.lock_window, Duration::from_secs(24));
        let run = || {
            let draws = timing.draws();
            (0..100)
                .map(|_| draws.draw(timing.bulk))
                .collect::<Vec<_>>()
        };
        let first = run();
        assert!(
            first
                .iter()
                .all(|d| timing.bulk.min <= *d && *d <= timing.bulk.max)
        );
        assert_eq!(first, run(), "the same seed draws the same times");
        let distinct: std::collections::HashSet<_> = first.iter().collect();
        assert!(distinct.len() > 90, "times spread over the window");
        assert_eq!(
            Window::exactly(Duration::from_secs(2)).draw(&mut rand::rng()),
            Duration::from_secs(2)
        );
    }
}
