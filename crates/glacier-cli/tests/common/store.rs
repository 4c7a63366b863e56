//! A fresh shared store (a PostgreSQL database and a prefix of the test bucket, from the
//! services `scripts/test` starts) and `glacier serve` nodes on it.

use glacier_storage::testing::{postgres_database, s3_config};
use glacier_storage::{PostgresMetadataStore, S3BlobStore, S3Config};
use std::process::{Child, Command};
use std::sync::Arc;

/// A fresh shared store: a new PostgreSQL database and a new prefix of the test bucket.
pub(crate) struct Store {
    pub(crate) postgres: String,
    pub(crate) s3: S3Config,
    /// The S3 endpoints of the Garage nodes; node `i` of the service talks to the `i`-th.
    pub(crate) s3_endpoints: Vec<String>,
    /// Shared, or exclusive for a test that freezes a Garage node: the other tests then wait
    /// rather than time their requests against a cluster that is losing a node.
    _cluster: Cluster,
}

pub(crate) enum Cluster {
    Shared {
        _held: tokio::sync::RwLockReadGuard<'static, ()>,
    },
    Exclusive {
        _held: tokio::sync::RwLockWriteGuard<'static, ()>,
    },
}

pub(crate) static CLUSTER: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// A `glacier serve` node, killed when the test ends (or fails).
pub(crate) struct Node {
    pub(crate) child: Child,
    pub(crate) endpoint: String,
    /// Where its `/metrics`, `/health` and `/ready` are, when started with `--metrics-listen`.
    pub(crate) metrics: Option<String>,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    pub(crate) fn kill_9(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Store {
    pub(crate) async fn fresh() -> anyhow::Result<Option<Store>> {
        Store::open_fresh(Cluster::Shared {
            _held: CLUSTER.read().await,
        })
        .await
    }

    pub(crate) async fn open_fresh(cluster: Cluster) -> anyhow::Result<Option<Store>> {
        let (Some(postgres), Some(s3)) = (postgres_database().await?, s3_config()?) else {
            return Ok(None);
        };
        let s3_endpoints = std::env::var("GLACIER_TEST_S3_ENDPOINT")?
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        Ok(Some(Store {
            postgres,
            s3,
            s3_endpoints,
            _cluster: cluster,
        }))
    }

    /// Starts node `i` of the service, with `extra` flags.
    pub(crate) fn node(&self, i: usize, extra: &[&str]) -> anyhow::Result<Node> {
        self.node_at(&self.s3_endpoints[i % self.s3_endpoints.len()], extra)
    }

    /// Starts a node of the service that reaches the bucket at `s3_endpoint`.
    pub(crate) fn node_at(&self, s3_endpoint: &str, extra: &[&str]) -> anyhow::Result<Node> {
        let s3 = &self.s3;
        let mut command = Command::new(env!("CARGO_BIN_EXE_glacier"));
        command
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--metadata",
                &self.postgres,
            ])
            .arg("--blobs")
            .arg(format!("s3://{}/{}", s3.bucket, s3.prefix))
            .arg("--s3-endpoint")
            .arg(s3_endpoint)
            .args(extra)
            .env(
                "AWS_ACCESS_KEY_ID",
                s3.access_key_id.as_deref().unwrap_or_default(),
            )
            .env(
                "AWS_SECRET_ACCESS_KEY",
                s3.secret_access_key.as_deref().unwrap_or_default(),
            );
        if let Some(region) = &s3.region {
            command.arg("--s3-region").arg(region);
        }
        let metered = extra.contains(&"--metrics-listen");
        let (child, mut urls) = super::common::launch_reading(command, 1 + usize::from(metered))?;
        let endpoint = urls.remove(0);
        Ok(Node {
            child,
            endpoint,
            metrics: urls.pop(),
        })
    }

    /// The store's two halves, opened directly.
    pub(crate) async fn open(
        &self,
    ) -> anyhow::Result<(Arc<PostgresMetadataStore>, Arc<S3BlobStore>)> {
        Ok((
            Arc::new(PostgresMetadataStore::open(&self.postgres).await?),
            Arc::new(S3BlobStore::open(&self.s3).await?),
        ))
    }
}
