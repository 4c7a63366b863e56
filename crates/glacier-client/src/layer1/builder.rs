//! Building a [`Layer1`]: endpoint, region, credentials, transport, retries, rate, progress.

use super::progress::ProgressFn;
use super::rate::RateLimiter;
use super::{Inner, Layer1, RetryPolicy};
use crate::credentials::Credentials;
use crate::error::{GlacierError, Result};
use crate::transport::{HttpTransport, Transport};
use std::sync::Arc;
use std::time::Duration;

/// Builds a [`Layer1`].
pub struct Layer1Builder {
    progress: Option<ProgressFn>,
    limiter: Option<Arc<RateLimiter>>,
    endpoint: Option<String>,
    region: String,
    credentials: Option<Credentials>,
    account_id: String,
    transport: Option<Arc<dyn Transport>>,
    retry: RetryPolicy,
    read_timeout: Duration,
}

impl Layer1Builder {
    /// A custom endpoint, e.g. `http://127.0.0.1:9090`. Default: `https://glacier.{region}.amazonaws.com`.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    pub fn credentials(mut self, c: Credentials) -> Self {
        self.credentials = Some(c);
        self
    }

    /// The account every path names; default `-`, the caller's own.
    pub fn account_id(mut self, id: impl Into<String>) -> Self {
        self.account_id = id.into();
        self
    }

    /// Another transport, e.g. [`crate::transport::InProcess`] around the server's router.
    pub fn transport(mut self, t: Arc<dyn Transport>) -> Self {
        self.transport = Some(t);
        self
    }

    /// Caps the bandwidth of request bodies and job output, across all requests in flight.
    pub fn limit_rate(mut self, bytes_per_second: u64) -> Self {
        self.limiter = Some(RateLimiter::new(bytes_per_second));
        self
    }

    /// Counts the bytes of every request and job-output body as they move.
    pub fn progress(mut self, f: ProgressFn) -> Self {
        self.progress = Some(f);
        self
    }

    pub fn retry(mut self, r: RetryPolicy) -> Self {
        self.retry = r;
        self
    }

    /// Longest wait for the next bytes of a response over HTTP (default 5 minutes).
    pub fn read_timeout(mut self, t: Duration) -> Self {
        self.read_timeout = t;
        self
    }

    /// Resolves what was not given: credentials from the environment or the shared files.
    pub fn build(self) -> Result<Layer1> {
        let endpoint = self
            .endpoint
            .unwrap_or_else(|| format!("https://glacier.{}.amazonaws.com", self.region));
        let uri: http::Uri = endpoint
            .parse()
            .map_err(|e| GlacierError::InvalidInput(format!("endpoint {endpoint:?}: {e}")))?;
        let (Some(scheme), Some(authority)) = (uri.scheme().cloned(), uri.authority().cloned())
        else {
            return Err(GlacierError::InvalidInput(format!(
                "endpoint {endpoint:?} needs a scheme and a host"
            )));
        };
        let credentials = match self.credentials {
            Some(c) => c,
            None => Credentials::resolve()?,
        };
        let transport = match self.transport {
            Some(t) => t,
            None => Arc::new(
                HttpTransport::new(self.read_timeout)
                    .map_err(|e| GlacierError::InvalidInput(format!("HTTP client: {e}")))?,
            ),
        };
        Ok(Layer1 {
            inner: Arc::new(Inner {
                progress: self.progress,
                limiter: self.limiter,
                scheme,
                authority,
                region: self.region,
                identity: aws_credential_types::Credentials::new(
                    credentials.access_key_id,
                    credentials.secret_access_key,
                    credentials.session_token,
                    None,
                    "glacier-client",
                )
                .into(),
                account_id: self.account_id,
                transport,
                retry: self.retry,
                tree_signed: std::sync::atomic::AtomicBool::new(false),
            }),
        })
    }
}

impl Layer1 {
    pub fn builder() -> Layer1Builder {
        Layer1Builder {
            progress: None,
            limiter: None,
            endpoint: None,
            region: "us-east-1".into(),
            credentials: None,
            account_id: "-".into(),
            transport: None,
            retry: RetryPolicy::default(),
            read_timeout: Duration::from_secs(300),
        }
    }
}
