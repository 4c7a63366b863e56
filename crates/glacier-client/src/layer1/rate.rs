//! `--limit-rate`: one bandwidth cap shared by every request body and job output in flight.

use crate::error::BoxError;
use bytes::Bytes;
use futures_util::Stream;
use std::sync::Arc;
use std::time::Duration;

/// Caps bandwidth: bytes are let through at `rate` per second on average, shared by every
/// request of a client (all parts and chunks in flight together). A virtual clock: each chunk
/// reserves the time its bytes take at the rate and waits until its slot.
pub struct RateLimiter {
    rate: f64,
    next: std::sync::Mutex<tokio::time::Instant>,
}

impl RateLimiter {
    pub fn new(bytes_per_second: u64) -> Arc<RateLimiter> {
        Arc::new(RateLimiter {
            rate: bytes_per_second.max(1) as f64,
            next: std::sync::Mutex::new(tokio::time::Instant::now()),
        })
    }

    /// Waits until `n` more bytes may pass.
    pub async fn take(&self, n: u64) {
        let wake = {
            let Ok(mut next) = self.next.lock() else {
                return;
            };
            let now = tokio::time::Instant::now();
            let start = (*next).max(now);
            *next = start + Duration::from_secs_f64(n as f64 / self.rate);
            start
        };
        tokio::time::sleep_until(wake).await;
    }
}

/// Frames of at most this many bytes go through a rate limiter, so that pacing is smooth.
const PACED_FRAME: usize = 64 * 1024;

/// Chunks that pass the limiter first (split into small ones).
pub(super) fn paced<S>(
    chunks: S,
    limiter: Arc<RateLimiter>,
) -> impl Stream<Item = std::result::Result<http_body::Frame<Bytes>, BoxError>>
where
    S: Stream<Item = std::result::Result<Bytes, BoxError>>,
{
    use futures_util::StreamExt;
    chunks
        .flat_map(|chunk| {
            let pieces: Vec<std::result::Result<Bytes, BoxError>> = match chunk {
                Ok(mut b) => {
                    let mut v = Vec::new();
                    while b.len() > PACED_FRAME {
                        v.push(Ok(b.split_to(PACED_FRAME)));
                    }
                    v.push(Ok(b));
                    v
                }
                Err(e) => vec![Err(e)],
            };
            futures_util::stream::iter(pieces)
        })
        .then(move |chunk| {
            let limiter = Arc::clone(&limiter);
            async move {
                if let Ok(b) = &chunk {
                    limiter.take(b.len() as u64).await;
                }
                chunk.map(http_body::Frame::data)
            }
        })
}
