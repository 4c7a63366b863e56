//! Layer1 against the real server: in-process (the router, no socket) and over HTTP on a
//! loopback port; and the retry rules, with a transport that fails on purpose.

use async_trait::async_trait;
use bytes::Bytes;
use glacier_client::error::BoxError;
use glacier_client::transport::{Body, InProcess, ResponseBody, Transport};
use glacier_client::{Credentials, GlacierError, Layer1, Payload, RetryPolicy};
use glacier_core::wire::{JobParameters, VaultNotificationConfig};
use glacier_core::{ErrorCode, JobStatus, LockState, RetrievalStrategy};
use glacier_core::{LinearHash, MIB, TreeHash};
use glacier_server::{AppState, Identity, ServerConfig, Settings};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

type R = anyhow::Result<()>;

const KEY: &str = "AKIDLAYER1TEST";
const SECRET: &str = "layer1-secret";

struct Server {
    state: Arc<AppState>,
    _dir: tempfile::TempDir,
}

async fn server() -> anyhow::Result<Server> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let identities = vec![Identity {
        access_key_id: KEY.into(),
        secret_access_key: SECRET.into(),
        account_id: "123456789012".into(),
    }];
    let state = AppState::open_local(
        &data,
        Settings::new("us-east-1"),
        ServerConfig::new(identities),
    )
    .await?;
    Ok(Server { state, _dir: dir })
}

fn quick() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    }
}

/// A Layer1 that calls the router in-process; the job engine runs in the background.
fn in_process(s: &Server, shutdown: &CancellationToken) -> anyhow::Result<Layer1> {
    tokio::spawn(Arc::clone(&s.state.service).run_jobs(shutdown.clone()));
    let transport = Arc::new(InProcess::new(glacier_server::app(Arc::clone(&s.state))));
    Ok(Layer1::builder()
        .endpoint("http://glacier.local")
        .credentials(Credentials::new(KEY, SECRET))
        .transport(transport)
        .retry(quick())
        .build()?)
}

/// A Layer1 over HTTP to the server on a loopback port.
async fn over_http(s: &Server, shutdown: &CancellationToken) -> anyhow::Result<Layer1> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    tokio::spawn(glacier_server::run(
        listener,
        Arc::clone(&s.state),
        shutdown.clone(),
    ));
    Ok(Layer1::builder()
        .endpoint(endpoint)
        .credentials(Credentials::new(KEY, SECRET))
        .retry(quick())
        .build()?)
}

fn hashes(data: &[u8]) -> (LinearHash, TreeHash) {
    (LinearHash::of(data), TreeHash::of(data))
}

async fn exercise(g: &Layer1) -> R {
    // Vaults.
    assert_eq!(g.create_vault("l1").await?, "/123456789012/vaults/l1");
    let d = g.describe_vault("l1").await?;
    assert_eq!((d.vault_name.as_str(), d.number_of_archives), ("l1", 0));
    assert!(
        g.list_vaults(Some(10), None)
            .await?
            .vault_list
            .iter()
            .any(|v| v.vault_name == "l1")
    );

    // A single-request upload from memory and one streamed from a file range.
    let data: Vec<u8> = (0..(2 * MIB + 17) as usize)
        .map(|i| (i % 253) as u8)
        .collect();
    let (linear, tree) = hashes(&data);
    let a = g
        .upload_archive(
            "l1",
            Payload::Bytes(Bytes::from(data.clone())),
            Some(linear),
            tree,
            Some("from memory"),
        )
        .await?;
    assert_eq!((a.checksum, a.archive_id.len()), (tree, 138));
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("f");
    std::fs::write(&file, &data)?;
    let (_, tree2) = hashes(&data[100..MIB as usize + 100]);
    let b = g
        .upload_archive(
            "l1",
            Payload::File {
                path: file.clone(),
                offset: 100,
                len: MIB,
            },
            // Not given: not needed by this server, which takes the signed tree hash.
            None,
            tree2,
            None,
        )
        .await?;
    assert_eq!(b.checksum, tree2);

    // Multipart: parts from the file, listed, completed.
    let up = g
        .initiate_multipart_upload("l1", MIB, Some("parts"))
        .await?;
    for (i, chunk) in data.chunks(MIB as usize).enumerate() {
        let (l, t) = hashes(chunk);
        let start = i as u64 * MIB;
        let part = Payload::File {
            path: file.clone(),
            offset: start,
            len: chunk.len() as u64,
        };
        assert_eq!(
            g.upload_part(
                "l1",
                &up.upload_id,
                Some(l),
                t,
                (start, start + chunk.len() as u64 - 1),
                part
            )
            .await?,
            t
        );
    }
    let parts = g.list_parts("l1", &up.upload_id, Some(2), None).await?;
    assert_eq!((parts.parts.len(), parts.marker.is_some()), (2, true));
    assert_eq!(
        g.list_multipart_uploads("l1", None, None)
            .await?
            .uploads_list
            .len(),
        1
    );
    let c = g
        .complete_multipart_upload("l1", &up.upload_id, tree, data.len() as u64)
        .await?;
    assert_eq!(c.checksum, tree);
    let other = g.initiate_multipart_upload("l1", MIB, None).await?;
    g.abort_multipart_upload("l1", &other.upload_id).await?;

    // Notifications.
    let config = VaultNotificationConfig {
        sns_topic: Some("arn:aws:sns:us-east-1:123456789012:t".into()),
        events: Some(vec!["ArchiveRetrievalCompleted".into()]),
    };
    g.set_vault_notifications("l1", &config).await?;
    assert_eq!(g.get_vault_notifications("l1").await?, config);
    g.delete_vault_notifications("l1").await?;

    // Jobs: retrieve the multipart archive, stream a verified range.
    let job = g
        .initiate_job(
            "l1",
            &JobParameters {
                job_type: Some("archive-retrieval".into()),
                archive_id: Some(c.archive_id.clone()),
                ..Default::default()
            },
        )
        .await?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !g.describe_job("l1", &job.job_id).await?.completed {
        anyhow::ensure!(Instant::now() < deadline, "job did not complete");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        g.list_jobs("l1", Some(true), Some(JobStatus::Succeeded), None, None)
            .await?
            .job_list
            .len(),
        1
    );
    let whole = g.get_job_output("l1", &job.job_id, None).await?;
    assert_eq!((whole.status, whole.checksum), (200, Some(tree)));
    assert_eq!(whole.body.collect().await?.as_ref(), data.as_slice());
    let part = g
        .get_job_output("l1", &job.job_id, Some((MIB, 2 * MIB - 1)))
        .await?;
    assert_eq!(
        (part.status, part.checksum),
        (
            206,
            Some(TreeHash::of(&data[MIB as usize..2 * MIB as usize]))
        )
    );
    assert_eq!(
        part.body.collect().await?.as_ref(),
        &data[MIB as usize..2 * MIB as usize]
    );

    // Errors keep the service's status, code and message.
    match g.describe_vault("no-such-vault").await {
        Err(GlacierError::UnexpectedHttpResponse {
            status: 404,
            code,
            message,
            request_id,
            ..
        }) => {
            assert_eq!(code, Some(ErrorCode::ResourceNotFoundException));
            assert!(message.contains("no-such-vault"), "{message}");
            assert!(request_id.is_some());
        }
        other => anyhow::bail!("expected a 404, got {other:?}"),
    }

    // The rest of the API: tags, access policy, vault lock, retrieval policy, capacity.
    let tags: std::collections::BTreeMap<String, String> = [
        ("team".to_string(), "a".to_string()),
        ("x".to_string(), "y".to_string()),
    ]
    .into();
    g.add_tags_to_vault("l1", &tags).await?;
    g.remove_tags_from_vault("l1", &["x".to_string()]).await?;
    assert_eq!(g.list_tags_for_vault("l1").await?.len(), 1);
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"glacier:ListJobs","Resource":"*"}]}"#;
    g.set_vault_access_policy("l1", policy).await?;
    assert_eq!(g.get_vault_access_policy("l1").await?, policy);
    g.delete_vault_access_policy("l1").await?;
    assert_eq!(
        g.get_vault_access_policy("l1")
            .await
            .err()
            .and_then(|e| e.status()),
        Some(404)
    );
    let lock_id = g.initiate_vault_lock("l1", policy).await?;
    assert_eq!(g.get_vault_lock("l1").await?.state, LockState::InProgress);
    g.abort_vault_lock("l1").await?;
    let lock_id2 = g.initiate_vault_lock("l1", policy).await?;
    assert_ne!(lock_id, lock_id2);
    g.complete_vault_lock("l1", &lock_id2).await?;
    assert_eq!(g.get_vault_lock("l1").await?.state, LockState::Locked);
    let e = g.abort_vault_lock("l1").await.err();
    assert_eq!(
        e.as_ref().and_then(GlacierError::code),
        Some(ErrorCode::AccessDeniedException)
    );
    let rule = glacier_core::wire::DataRetrievalRule {
        strategy: Some(RetrievalStrategy::BytesPerHour),
        bytes_per_hour: Some(1 << 30),
    };
    g.set_data_retrieval_policy(&glacier_core::wire::DataRetrievalPolicy {
        rules: Some(vec![rule.clone()]),
    })
    .await?;
    assert_eq!(g.get_data_retrieval_policy().await?.rules, Some(vec![rule]));
    let unit = g.purchase_provisioned_capacity().await?;
    assert!(
        g.list_provisioned_capacity()
            .await?
            .iter()
            .any(|u| u.capacity_id == unit)
    );

    for id in [a.archive_id, b.archive_id, c.archive_id] {
        g.delete_archive("l1", &id).await?;
    }
    g.delete_vault("l1").await?;
    Ok(())
}

#[tokio::test]
async fn every_served_operation_in_process() -> R {
    let s = server().await?;
    let shutdown = CancellationToken::new();
    let g = in_process(&s, &shutdown)?;
    let r = exercise(&g).await;
    shutdown.cancel();
    r
}

#[tokio::test]
async fn every_served_operation_over_http() -> R {
    let s = server().await?;
    let shutdown = CancellationToken::new();
    let g = over_http(&s, &shutdown).await?;
    let r = exercise(&g).await;
    shutdown.cancel();
    r
}

/// Answers the first `failures` requests with `status`/`code` itself, then passes through.
struct Flaky {
    inner: InProcess<axum::Router>,
    failures: u32,
    status: u16,
    code: &'static str,
    seen: AtomicU32,
}

#[async_trait]
impl Transport for Flaky {
    async fn send(
        &self,
        request: http::Request<Body>,
    ) -> Result<http::Response<ResponseBody>, BoxError> {
        let n = self.seen.fetch_add(1, Ordering::SeqCst);
        if n < self.failures {
            let body = format!(
                r#"{{"code":"{}","message":"injected","type":"Server"}}"#,
                self.code
            );
            let body = glacier_client::transport::full(Bytes::from(body));
            use http_body_util::BodyExt;
            return Ok(http::Response::builder()
                .status(self.status)
                .body(body.boxed_unsync())?);
        }
        self.inner.send(request).await
    }
}

async fn flaky(
    s: &Server,
    failures: u32,
    status: u16,
    code: &'static str,
) -> anyhow::Result<(Layer1, Arc<Flaky>)> {
    let transport = Arc::new(Flaky {
        inner: InProcess::new(glacier_server::app(Arc::clone(&s.state))),
        failures,
        status,
        code,
        seen: AtomicU32::new(0),
    });
    let g = Layer1::builder()
        .endpoint("http://glacier.local")
        .credentials(Credentials::new(KEY, SECRET))
        .transport(transport.clone())
        .retry(quick())
        .build()?;
    Ok((g, transport))
}

#[tokio::test]
async fn transient_errors_are_retried_and_quotas_are_not() -> R {
    let s = server().await?;
    let (g, t) = flaky(&s, 2, 500, "ServiceUnavailableException").await?;
    g.create_vault("r").await?;
    assert_eq!(
        t.seen.load(Ordering::SeqCst),
        3,
        "two failures, then success"
    );

    let (g, t) = flaky(&s, 2, 400, "ThrottlingException").await?;
    g.describe_vault("r").await?;
    assert_eq!(t.seen.load(Ordering::SeqCst), 3);

    let (g, t) = flaky(&s, 10, 500, "ServiceUnavailableException").await?;
    let e = g.describe_vault("r").await.err();
    assert_eq!(e.and_then(|e| e.status()), Some(500));
    assert_eq!(
        t.seen.load(Ordering::SeqCst),
        4,
        "gives up after max_attempts"
    );

    let (g, t) = flaky(&s, 1, 400, "LimitExceededException").await?;
    assert!(g.create_vault("r").await.is_err());
    assert_eq!(
        t.seen.load(Ordering::SeqCst),
        1,
        "LimitExceededException is not retried"
    );

    let (g, t) = flaky(&s, 1, 500, "ServiceUnavailableException").await?;
    let params = JobParameters {
        job_type: Some("inventory-retrieval".into()),
        ..Default::default()
    };
    assert!(g.initiate_job("r", &params).await.is_err());
    assert_eq!(
        t.seen.load(Ordering::SeqCst),
        1,
        "InitiateJob is not repeated after an unknown outcome"
    );
    // An upload is repeated after a failure, as the AWS SDKs repeat it: a backup that stops
    // costs more than the rare second copy of an archive whose answer was lost.
    let (g, t) = flaky(&s, 2, 500, "ServiceUnavailableException").await?;
    let body = Bytes::from_static(b"repeated");
    g.upload_archive(
        "r",
        Payload::Bytes(body.clone()),
        None,
        glacier_core::TreeHash::of(&body),
        None,
    )
    .await?;
    assert_eq!(t.seen.load(Ordering::SeqCst), 3, "UploadArchive repeated");
    let (g, t) = flaky(&s, 1, 408, "RequestTimeoutException").await?;
    g.initiate_multipart_upload("r", 1 << 20, None).await?;
    assert_eq!(
        t.seen.load(Ordering::SeqCst),
        2,
        "InitiateMultipartUpload repeated"
    );

    let (g, t) = flaky(&s, 1, 400, "ThrottlingException").await?;
    g.initiate_job("r", &params).await?;
    assert_eq!(
        t.seen.load(Ordering::SeqCst),
        2,
        "but it is repeated when it was throttled"
    );
    Ok(())
}

/// Passes requests through, but breaks off the first `breaks` response bodies midway.
struct BrokenBodies {
    inner: InProcess<axum::Router>,
    breaks: u32,
    seen: AtomicU32,
}

#[async_trait]
impl Transport for BrokenBodies {
    async fn send(
        &self,
        request: http::Request<Body>,
    ) -> Result<http::Response<ResponseBody>, BoxError> {
        use http_body_util::BodyExt;
        let resp = self.inner.send(request).await?;
        if self.seen.fetch_add(1, Ordering::SeqCst) >= self.breaks {
            return Ok(resp);
        }
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await?.to_bytes();
        let half = bytes.slice(..bytes.len() / 2);
        let frames: Vec<Result<http_body::Frame<Bytes>, BoxError>> = vec![
            Ok(http_body::Frame::data(half)),
            Err("connection reset".into()),
        ];
        let body = http_body_util::StreamBody::new(futures_util::stream::iter(frames));
        Ok(http::Response::from_parts(parts, body.boxed_unsync()))
    }
}

#[tokio::test]
async fn truncated_response_bodies_are_retried() -> R {
    let s = server().await?;
    let plain = Layer1::builder()
        .endpoint("http://glacier.local")
        .credentials(Credentials::new(KEY, SECRET))
        .transport(Arc::new(InProcess::new(glacier_server::app(Arc::clone(
            &s.state,
        )))))
        .build()?;
    plain.create_vault("t").await?;
    let broken = Arc::new(BrokenBodies {
        inner: InProcess::new(glacier_server::app(Arc::clone(&s.state))),
        breaks: 2,
        seen: AtomicU32::new(0),
    });
    let g = Layer1::builder()
        .endpoint("http://glacier.local")
        .credentials(Credentials::new(KEY, SECRET))
        .transport(broken.clone())
        .retry(quick())
        .build()?;
    assert_eq!(g.describe_vault("t").await?.vault_name, "t");
    assert_eq!(
        broken.seen.load(Ordering::SeqCst),
        3,
        "two broken bodies, then a whole one"
    );
    Ok(())
}
