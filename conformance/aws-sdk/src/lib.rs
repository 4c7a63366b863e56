//! Test support for driving glacier-server with the official AWS SDK for Rust.
//!
//! [`TestServer`] runs the server in-process on an ephemeral loopback port with a fresh data
//! directory; [`TestServer::client`] is an `aws_sdk_glacier::Client` pointed at it.

use aws_sdk_glacier::config::retry::RetryConfig;
use aws_sdk_glacier::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_glacier::error::{ProvideErrorMetadata, SdkError};
use glacier_server::{AppState, Identity, ServerConfig, Settings};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub mod faults;
pub use faults::{Faults, FaultyBlobs};

pub const ACCESS_KEY: &str = "AKIDSDKCONFORMANCE01";
pub const SECRET_KEY: &str = "sdk-conformance-secret";
pub const ACCOUNT: &str = "444455556666";
/// A second identity, in another account, for cross-account tests.
pub const OTHER_ACCESS_KEY: &str = "AKIDSDKCONFORMANCE02";
pub const OTHER_SECRET_KEY: &str = "sdk-conformance-other-secret";
pub const OTHER_ACCOUNT: &str = "777788889999";
pub const MIB: usize = 1 << 20;

pub struct TestServer {
    pub endpoint: String,
    dir: tempfile::TempDir,
    shutdown: CancellationToken,
}

impl TestServer {
    pub async fn start() -> anyhow::Result<TestServer> {
        TestServer::start_with(Settings::new("us-east-1")).await
    }

    /// Starts a server with these settings (retrieval delays, job expiry, webhooks).
    pub async fn start_with(settings: Settings) -> anyhow::Result<TestServer> {
        let dir = tempfile::tempdir()?;
        let state = AppState::open_local(&dir.path().join("data"), settings, config()).await?;
        TestServer::serve(dir, state).await
    }

    /// Starts a server that injects faults into requests as `glacier serve --faults RATES
    /// --faults-seed SEED` does.
    pub async fn start_injecting(rates: &str, seed: u64) -> anyhow::Result<TestServer> {
        let dir = tempfile::tempdir()?;
        let config = ServerConfig {
            faults: Some((rates.parse().map_err(anyhow::Error::msg)?, Some(seed))),
            ..config()
        };
        let state =
            AppState::open_local(&dir.path().join("data"), Settings::new("us-east-1"), config)
                .await?;
        TestServer::serve(dir, state).await
    }

    /// Starts a server whose blob files are reached through [`FaultyBlobs`]: the returned
    /// [`Faults`] make its reads, writes or deletions fail.
    pub async fn start_faulty() -> anyhow::Result<(TestServer, Arc<Faults>)> {
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data)?;
        let meta = glacier_storage::SqliteMetadataStore::open(data.join("metadata.sqlite")).await?;
        let files = glacier_storage::FsBlobStore::open(&data).await?;
        let faults = Arc::new(Faults::default());
        let blobs = FaultyBlobs::new(Arc::new(files), Arc::clone(&faults));
        let service = glacier_server::Service::new(
            Arc::new(meta),
            Arc::new(blobs),
            Settings::new("us-east-1"),
        );
        let state = AppState::new(Arc::new(service), config());
        Ok((TestServer::serve(dir, state).await?, faults))
    }

    async fn serve(dir: tempfile::TempDir, state: Arc<AppState>) -> anyhow::Result<TestServer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let shutdown = CancellationToken::new();
        tokio::spawn(glacier_server::run(listener, state, shutdown.clone()));
        Ok(TestServer {
            endpoint,
            dir,
            shutdown,
        })
    }

    pub fn client(&self) -> aws_sdk_glacier::Client {
        client(&self.endpoint)
    }

    /// A client as the SDK's users run it: the standard retry mode, 10 attempts.
    pub fn retrying_client(&self) -> aws_sdk_glacier::Client {
        let conf = client(&self.endpoint)
            .config()
            .to_builder()
            .retry_config(RetryConfig::standard().with_max_attempts(10))
            .build();
        aws_sdk_glacier::Client::from_conf(conf)
    }

    /// A client signing with these credentials (another identity, or a wrong secret).
    pub fn client_as(&self, access_key: &str, secret: &str) -> aws_sdk_glacier::Client {
        client_with(&self.endpoint, access_key, secret)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Committed blob files, to show that a refused request stored nothing.
    pub fn blob_files(&self) -> Vec<String> {
        files_under(&self.data_dir().join("blobs"))
    }

    pub fn tmp_files(&self) -> Vec<String> {
        files_under(&self.data_dir().join("tmp"))
    }
}

/// The two identities; the SDK signs for us-east-1/glacier, and the server holds it to that.
fn config() -> ServerConfig {
    ServerConfig {
        strict_scope: true,
        ..ServerConfig::new(vec![
            Identity {
                access_key_id: ACCESS_KEY.into(),
                secret_access_key: SECRET_KEY.into(),
                account_id: ACCOUNT.into(),
            },
            Identity {
                access_key_id: OTHER_ACCESS_KEY.into(),
                secret_access_key: OTHER_SECRET_KEY.into(),
                account_id: OTHER_ACCOUNT.into(),
            },
        ])
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// An SDK client for a server at `endpoint` that knows [`ACCESS_KEY`], without retries.
pub fn client(endpoint: &str) -> aws_sdk_glacier::Client {
    client_with(endpoint, ACCESS_KEY, SECRET_KEY)
}

fn client_with(endpoint: &str, access_key: &str, secret: &str) -> aws_sdk_glacier::Client {
    let conf = aws_sdk_glacier::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            access_key,
            secret,
            None,
            None,
            "conformance",
        ))
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_glacier::Client::from_conf(conf)
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// Polls DescribeJob until the job completes (30 s at most); its description then.
pub async fn wait_for_job(
    g: &aws_sdk_glacier::Client,
    vault: &str,
    job: &str,
) -> anyhow::Result<aws_sdk_glacier::operation::describe_job::DescribeJobOutput> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let d = g
            .describe_job()
            .vault_name(vault)
            .job_id(job)
            .send()
            .await?;
        if d.completed() {
            return Ok(d);
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "job {job} did not complete"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A finished job's whole output.
pub async fn job_output(
    g: &aws_sdk_glacier::Client,
    vault: &str,
    job: &str,
) -> anyhow::Result<Vec<u8>> {
    let out = g
        .get_job_output()
        .vault_name(vault)
        .job_id(job)
        .send()
        .await?;
    Ok(out.body.collect().await?.into_bytes().to_vec())
}

/// Deterministic bytes that differ per MiB and per seed.
pub fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 31 + i / MIB * 7) as u8).wrapping_add(seed))
        .collect()
}

/// Asserts that a call failed with this Glacier error code and HTTP status, and that the
/// message contains `contains`; returns the message.
pub fn expect_error<T: std::fmt::Debug, E, R>(
    result: Result<T, SdkError<E, R>>,
    code: &str,
    status: u16,
    contains: &str,
) -> String
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug + HasStatus,
{
    let err = match result {
        Ok(v) => panic!("expected {code}, got success: {v:?}"),
        Err(e) => e,
    };
    let got_status = err.raw_response().map(HasStatus::status_code);
    let meta = match &err {
        SdkError::ServiceError(se) => se.err().meta().clone(),
        other => panic!("expected a service error {code}, got {other:?}"),
    };
    assert_eq!(meta.code(), Some(code), "{meta:?}");
    assert_eq!(got_status, Some(status), "{meta:?}");
    let message = meta.message().unwrap_or_default().to_owned();
    assert!(
        message.to_lowercase().contains(&contains.to_lowercase()),
        "message {message:?} should mention {contains:?}"
    );
    message
}

/// The HTTP status of a raw response.
pub trait HasStatus {
    fn status_code(&self) -> u16;
}

impl HasStatus for aws_sdk_glacier::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}
