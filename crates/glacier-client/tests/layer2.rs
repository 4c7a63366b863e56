//! Layer2 against the real server, in-process and over HTTP: vaults, uploads (single, multipart
//! from files and readers, concurrent, resumed), retrieval, verified downloads (sequential,
//! concurrent, resumed), and faults injected between client and server: corrupted and
//! truncated output is re-fetched, never written as good data.

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::TryStreamExt;
use glacier_client::error::BoxError;
use glacier_client::layer2::WaitOptions;
use glacier_client::transport::{Body, InProcess, ResponseBody, Transport};
use glacier_client::{ConcurrentDownloader, Credentials, Layer1, Layer2, RetryPolicy, Source};
use glacier_core::{InventoryFormat, JobStatus};
use glacier_core::{MIB, TreeHash};
use glacier_server::{AppState, Identity, ServerConfig, Settings};
use http_body_util::BodyExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

type R = anyhow::Result<()>;

const KEY: &str = "AKIDLAYER2TEST";
const SECRET: &str = "layer2-secret";

struct Fixture {
    state: Arc<AppState>,
    shutdown: CancellationToken,
    dir: tempfile::TempDir,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn fixture() -> anyhow::Result<Fixture> {
    fixture_with(Settings::new("us-east-1")).await
}

async fn fixture_with(settings: Settings) -> anyhow::Result<Fixture> {
    let dir = tempfile::tempdir()?;
    let identities = vec![Identity {
        access_key_id: KEY.into(),
        secret_access_key: SECRET.into(),
        account_id: "123456789012".into(),
    }];
    let state = AppState::open_local(
        &dir.path().join("data"),
        settings,
        ServerConfig::new(identities),
    )
    .await?;
    let shutdown = CancellationToken::new();
    tokio::spawn(Arc::clone(&state.service).run_jobs(shutdown.clone()));
    Ok(Fixture {
        state,
        shutdown,
        dir,
    })
}

fn layer2(transport: Arc<dyn Transport>) -> anyhow::Result<Layer2> {
    let retry = RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    };
    let l1 = Layer1::builder()
        .endpoint("http://glacier.local")
        .credentials(Credentials::new(KEY, SECRET))
        .transport(transport)
        .retry(retry)
        .build()?;
    Ok(Layer2::new(l1))
}

fn in_process(f: &Fixture) -> Arc<dyn Transport> {
    Arc::new(InProcess::new(glacier_server::app(Arc::clone(&f.state))))
}

fn data(len: u64, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 31 + i / MIB * 7) as u8).wrapping_add(seed))
        .collect()
}

fn write(f: &Fixture, name: &str, bytes: &[u8]) -> anyhow::Result<std::path::PathBuf> {
    let p = f.dir.path().join(name);
    std::fs::write(&p, bytes)?;
    Ok(p)
}

fn quick_wait() -> WaitOptions {
    WaitOptions {
        first_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        timeout: Duration::from_secs(30),
    }
}

async fn uploads_and_downloads(f: &Fixture, g: &Layer2) -> R {
    let vault = g.create_vault("l2").await?;
    assert_eq!((vault.name.as_str(), vault.number_of_archives), ("l2", 0));
    assert!(g.list_vaults().await?.iter().any(|v| v.name == "l2"));

    let body = data(9 * MIB + 3, 1);
    let path = write(f, "src.bin", &body)?;
    let single = vault.upload_archive(&path, Some("single")).await?;
    let mut seen_upload = None;
    let multipart = vault
        .create_archive_from_file(Source::File(path.clone()), Some("parts"), |id| {
            seen_upload = Some(id.to_owned())
        })
        .await?;
    assert!(seen_upload.is_some(), "the callback learns the upload id");
    let reader = vault
        .create_archive_from_file(
            Source::Reader(Box::new(std::io::Cursor::new(body.clone()))),
            Some("reader"),
            |_| {},
        )
        .await?;
    let concurrent = vault
        .concurrent_create_archive_from_file(&path, Some("concurrent"), MIB, 4)
        .await?;

    // The Writer: an AsyncWrite fed in odd-sized writes, two parts in flight.
    let mut writer = vault
        .create_archive_writer(2 * MIB, Some("writer"))
        .await?
        .with_concurrency(2);
    assert!(!writer.upload_id().is_empty());
    for chunk in body.chunks(300_007) {
        writer.write_all(chunk).await?;
    }
    assert!(writer.archive_id().is_none());
    writer.shutdown().await?;
    let written = writer.archive_id().map(str::to_owned).unwrap_or_default();
    assert_eq!(writer.current_uploaded_size(), body.len() as u64);
    assert_eq!(writer.current_tree_hash(), TreeHash::of(&body));
    assert!(
        writer.write_all(b"more").await.is_err(),
        "a closed writer takes no more data"
    );

    // Resume: an upload with one part missing and one part of wrong bytes.
    let upload = g
        .layer1
        .initiate_multipart_upload("l2", 4 * MIB, Some("resumed"))
        .await?;
    let first = &body[..4 * MIB as usize];
    let wrong = data(4 * MIB, 99);
    for (start, part) in [(0u64, first), (4 * MIB, wrong.as_slice())] {
        g.layer1
            .upload_part(
                "l2",
                &upload.upload_id,
                Some(glacier_core::LinearHash::of(part)),
                TreeHash::of(part),
                (start, start + 4 * MIB - 1),
                Bytes::copy_from_slice(part).into(),
            )
            .await?;
    }
    let resumed = vault
        .resume_archive_from_file(&upload.upload_id, Source::File(path.clone()))
        .await?;
    assert_eq!(vault.list_jobs(None, None).await?.len(), 0);

    // Resuming from a reader: the first part is there already and is not sent again.
    let upload2 = g
        .layer1
        .initiate_multipart_upload("l2", 4 * MIB, None)
        .await?;
    let first_part = Bytes::copy_from_slice(&body[..4 * MIB as usize]);
    g.layer1
        .upload_part(
            "l2",
            &upload2.upload_id,
            Some(glacier_core::LinearHash::of(&first_part)),
            TreeHash::of(&first_part),
            (0, 4 * MIB - 1),
            first_part.into(),
        )
        .await?;
    let resumed_reader = vault
        .resume_archive_from_file(
            &upload2.upload_id,
            Source::Reader(Box::new(std::io::Cursor::new(body.clone()))),
        )
        .await?;

    for (id, what) in [
        (&written, "writer"),
        (&resumed_reader, "resumed reader"),
        (&single, "single"),
        (&multipart, "multipart"),
        (&reader, "reader"),
        (&concurrent, "concurrent"),
        (&resumed, "resumed"),
    ] {
        let mut job = vault.retrieve_archive(id, None, Some(what)).await?;
        job.wait(quick_wait(), None).await?;
        assert_eq!(
            (job.status_code.as_str(), job.archive_size),
            ("Succeeded", body.len() as u64),
            "{what}"
        );
        assert_eq!(
            job.sha256_treehash,
            Some(TreeHash::of(&body).to_hex()),
            "{what}"
        );
        let out = f.dir.path().join(format!("{what}.out"));
        job.download_to_file(&out, 2 * MIB, true, 3).await?;
        assert_eq!(std::fs::read(&out)?, body, "{what}: sequential download");
        let out2 = f.dir.path().join(format!("{what}.concurrent"));
        ConcurrentDownloader {
            part_size: MIB,
            concurrency: 4,
            retries: 3,
        }
        .download(&job, &out2)
        .await?;
        assert_eq!(std::fs::read(&out2)?, body, "{what}: concurrent download");
        let part = job.get_output(Some((MIB, 2 * MIB - 1)), true).await?;
        assert_eq!(part.data.as_ref(), &body[MIB as usize..2 * MIB as usize]);
    }
    assert_eq!(
        vault
            .list_jobs(Some(true), Some(JobStatus::Succeeded))
            .await?
            .len(),
        7
    );

    // Inventory jobs through Layer2.
    let mut inv = vault.retrieve_inventory_job(Default::default()).await?;
    inv.wait(quick_wait(), None).await?;
    let doc = inv.get_output(None, false).await?;
    assert!(String::from_utf8_lossy(&doc.data).contains(&resumed));
    // Parsed incrementally, in both formats.
    for format in [None, Some(InventoryFormat::Csv)] {
        let request = glacier_client::layer2::InventoryRequest {
            format,
            ..Default::default()
        };
        let mut job = vault.retrieve_inventory_job(request).await?;
        job.wait(quick_wait(), None).await?;
        let entries: Vec<_> = job.inventory().await?.try_collect().await?;
        assert_eq!(entries.len(), 7);
        assert!(
            entries.iter().all(|e| e.size == body.len() as u64
                && e.sha256_tree_hash == TreeHash::of(&body).to_hex())
        );
        assert!(
            entries
                .iter()
                .any(|e| e.archive_id == resumed && e.archive_description == "resumed")
        );
    }

    for id in [
        single,
        multipart,
        reader,
        concurrent,
        resumed,
        written,
        resumed_reader,
    ] {
        vault.delete_archive(&id).await?;
    }
    vault.delete().await?;
    let gone = g.get_vault("l2").await.err();
    assert_eq!(
        gone.as_ref().and_then(|e| e.code()),
        Some(glacier_core::ErrorCode::ResourceNotFoundException)
    );
    assert!(glacier_client::regions().contains(&"us-east-1"));
    Ok(())
}

#[tokio::test]
async fn layer2_in_process() -> R {
    let f = fixture().await?;
    let g = layer2(in_process(&f))?;
    uploads_and_downloads(&f, &g).await
}

#[tokio::test]
async fn layer2_over_http() -> R {
    let f = fixture().await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let app = glacier_server::app(Arc::clone(&f.state));
    let shutdown = f.shutdown.clone();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
    });
    let retry = RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    };
    let l1 = Layer1::builder()
        .endpoint(endpoint)
        .credentials(Credentials::new(KEY, SECRET))
        .retry(retry)
        .build()?;
    uploads_and_downloads(&f, &Layer2::new(l1)).await
}

/// What to do to the job output responses passing through.
#[derive(Clone, Copy)]
enum Fault {
    /// Flip a byte of the first `n` ranged outputs.
    Corrupt(u32),
    /// Cut the first `n` ranged outputs short.
    Truncate(u32),
}

struct Faulty {
    inner: Arc<dyn Transport>,
    fault: Fault,
    outputs: AtomicU32,
}

#[async_trait]
impl Transport for Faulty {
    async fn send(
        &self,
        request: http::Request<Body>,
    ) -> Result<http::Response<ResponseBody>, BoxError> {
        let ranged_output =
            request.uri().path().ends_with("/output") && request.headers().contains_key("range");
        let resp = self.inner.send(request).await?;
        if !ranged_output {
            return Ok(resp);
        }
        let n = self.outputs.fetch_add(1, Ordering::SeqCst);
        let (parts, body) = resp.into_parts();
        let mut bytes = body.collect().await?.to_bytes().to_vec();
        match self.fault {
            Fault::Corrupt(k) if n < k => {
                if let Some(b) = bytes.get_mut(7) {
                    *b ^= 0xff;
                }
            }
            Fault::Truncate(k) if n < k => bytes.truncate(bytes.len() / 2),
            _ => {}
        }
        let body = glacier_client::transport::full(Bytes::from(bytes)).boxed_unsync();
        Ok(http::Response::from_parts(parts, body))
    }
}

#[tokio::test]
async fn corrupted_and_truncated_chunks_are_refetched() -> R {
    let f = fixture().await?;
    let g = layer2(in_process(&f))?;
    let vault = g.create_vault("faults").await?;
    let body = data(5 * MIB + 11, 3);
    let path = write(&f, "faults.bin", &body)?;
    let id = vault.upload_archive(&path, None).await?;
    let mut job = vault.retrieve_archive(&id, None, None).await?;
    job.wait(quick_wait(), None).await?;

    for fault in [Fault::Corrupt(2), Fault::Truncate(2)] {
        let faulty = Arc::new(Faulty {
            inner: in_process(&f),
            fault,
            outputs: AtomicU32::new(0),
        });
        let g2 = layer2(faulty.clone())?;
        let job2 = g2.get_vault("faults").await?.get_job(&job.id).await?;
        let out = f.dir.path().join("faulty.out");
        job2.download_to_file(&out, MIB, true, 3).await?;
        assert_eq!(std::fs::read(&out)?, body, "the download is byte-exact");
        assert_eq!(
            faulty.outputs.load(Ordering::SeqCst),
            6 + 2,
            "six chunks, two of them fetched twice"
        );

        faulty.outputs.store(0, Ordering::SeqCst);
        let out = f.dir.path().join("faulty.concurrent");
        ConcurrentDownloader {
            part_size: MIB,
            concurrency: 3,
            retries: 3,
        }
        .download(&job2, &out)
        .await?;
        assert_eq!(std::fs::read(&out)?, body);
    }

    // Too many bad answers: the download fails rather than write bad data.
    let faulty = Arc::new(Faulty {
        inner: in_process(&f),
        fault: Fault::Corrupt(100),
        outputs: AtomicU32::new(0),
    });
    let job3 = layer2(faulty)?
        .get_vault("faults")
        .await?
        .get_job(&job.id)
        .await?;
    let err = job3
        .download_to_file(&f.dir.path().join("bad.out"), MIB, true, 2)
        .await
        .err();
    assert!(
        matches!(
            err,
            Some(glacier_client::GlacierError::TreeHashDoesNotMatch { .. })
        ),
        "{err:?}"
    );
    Ok(())
}

#[tokio::test]
async fn an_interrupted_concurrent_download_resumes() -> R {
    let f = fixture().await?;
    let g = layer2(in_process(&f))?;
    let vault = g.create_vault("resume").await?;
    let body = data(4 * MIB, 5);
    let path = write(&f, "resume.bin", &body)?;
    let id = vault.upload_archive(&path, None).await?;
    let mut job = vault.retrieve_archive(&id, None, None).await?;
    job.wait(quick_wait(), None).await?;

    // A download interrupted by a broken connection: every output is cut short, so it fails
    // and leaves its state file behind.
    let failing = Arc::new(Faulty {
        inner: in_process(&f),
        fault: Fault::Truncate(u32::MAX),
        outputs: AtomicU32::new(0),
    });
    let out = f.dir.path().join("resume.out");
    let broken = layer2(failing)?
        .get_vault("resume")
        .await?
        .get_job(&job.id)
        .await?;
    let d = ConcurrentDownloader {
        part_size: MIB,
        concurrency: 1,
        retries: 0,
    };
    assert!(
        d.download(&broken, &out).await.is_err(),
        "every chunk is truncated"
    );
    let sidecar = f.dir.path().join("resume.out.glacier-download");
    let header = std::fs::read_to_string(&sidecar)?;
    // As if chunks 0 and 1 had been verified and written before the interruption.
    std::fs::write(
        &out,
        [&body[..2 * MIB as usize], &vec![0u8; 2 * MIB as usize][..]].concat(),
    )?;
    let line = |i: usize| {
        format!(
            "{i} {}\n",
            TreeHash::of(&body[i * MIB as usize..(i + 1) * MIB as usize]).to_hex()
        )
    };
    // Chunk 2 is recorded too, but its bytes never reached the disk (the machine went down
    // before the page cache was written back): resuming must not trust the record.
    std::fs::write(
        &sidecar,
        format!("{}{}{}{}", header, line(0), line(1), line(2)),
    )?;

    let counting = Arc::new(Faulty {
        inner: in_process(&f),
        fault: Fault::Corrupt(0),
        outputs: AtomicU32::new(0),
    });
    let healthy = layer2(counting.clone())?
        .get_vault("resume")
        .await?
        .get_job(&job.id)
        .await?;
    d.download(&healthy, &out).await?;
    assert!(
        std::fs::read(&out)? == body,
        "the resumed download is not the archive"
    );
    assert_eq!(
        counting.outputs.load(Ordering::SeqCst),
        2,
        "only the two missing chunks were fetched (the lost one among them)"
    );
    assert!(
        !sidecar.exists(),
        "the state file is removed when the download is complete"
    );
    Ok(())
}

/// Fails the first attempt of every part upload: a connection dropped halfway through the
/// body for even parts, a 500 for odd ones.
struct FlakyParts {
    inner: Arc<dyn Transport>,
    seen: std::sync::Mutex<std::collections::HashSet<String>>,
    faults: AtomicU32,
}

#[async_trait]
impl Transport for FlakyParts {
    async fn send(
        &self,
        request: http::Request<Body>,
    ) -> Result<http::Response<ResponseBody>, BoxError> {
        let range = request
            .headers()
            .get("content-range")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let Some(range) = range.filter(|_| request.method() == http::Method::PUT) else {
            return self.inner.send(request).await;
        };
        let key = format!("{} {range}", request.uri().path());
        let first = self.seen.lock().map_err(|_| "poisoned")?.insert(key);
        if !first {
            return self.inner.send(request).await;
        }
        let n = self.faults.fetch_add(1, Ordering::SeqCst);
        let start: u64 = range
            .trim_start_matches("bytes ")
            .split('-')
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if (start / MIB).is_multiple_of(2) {
            // Read some of the body, then drop the connection.
            let mut body = request.into_body();
            let _ = body.frame().await;
            return Err(format!("connection reset after part of the body (fault {n})").into());
        }
        let body = glacier_client::transport::full(Bytes::from_static(
            br#"{"code":"ServiceUnavailableException","message":"injected","type":"Server"}"#,
        ));
        Ok(http::Response::builder()
            .status(500)
            .body(body.boxed_unsync())?)
    }
}

#[tokio::test]
async fn uploads_survive_dropped_connections_and_server_errors() -> R {
    let f = fixture().await?;
    let faulty = Arc::new(FlakyParts {
        inner: in_process(&f),
        seen: Default::default(),
        faults: AtomicU32::new(0),
    });
    let g = layer2(faulty.clone())?;
    let vault = g.create_vault("flaky").await?;
    let body = data(6 * MIB + 5, 8);
    let path = write(&f, "flaky.bin", &body)?;
    let from_file = vault
        .concurrent_create_archive_from_file(&path, None, MIB, 3)
        .await?;
    let mut writer = vault
        .create_archive_writer(MIB, None)
        .await?
        .with_concurrency(2);
    writer.write_all(&body).await?;
    writer.shutdown().await?;
    let from_writer = writer.archive_id().map(str::to_owned).unwrap_or_default();
    assert_eq!(
        faulty.faults.load(Ordering::SeqCst),
        14,
        "every one of the 7 parts of both uploads failed once"
    );

    let healthy = layer2(in_process(&f))?.get_vault("flaky").await?;
    for id in [from_file, from_writer] {
        let mut job = healthy.retrieve_archive(&id, None, None).await?;
        job.wait(quick_wait(), None).await?;
        let out = f.dir.path().join("flaky.out");
        job.download_to_file(&out, MIB, true, 0).await?;
        assert_eq!(std::fs::read(&out)?, body);
    }
    Ok(())
}

/// Records each upload's `x-amz-content-sha256` and signed headers; `as_aws` hides the
/// server's offer to take a signed tree hash, as AWS (which makes none) would.
struct Recording {
    inner: Arc<dyn Transport>,
    as_aws: bool,
    uploads: std::sync::Mutex<Vec<(String, String)>>,
}

#[async_trait]
impl Transport for Recording {
    async fn send(
        &self,
        request: http::Request<Body>,
    ) -> Result<http::Response<ResponseBody>, BoxError> {
        let upload =
            request.method() == http::Method::PUT || request.uri().path().ends_with("/archives");
        if upload && request.headers().contains_key("x-amz-sha256-tree-hash") {
            let header = |name: &str| {
                request
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned()
            };
            let entry = (header("x-amz-content-sha256"), header("authorization"));
            if let Ok(mut u) = self.uploads.lock() {
                u.push(entry);
            }
        }
        let mut resp = self.inner.send(request).await?;
        if self.as_aws {
            resp.headers_mut()
                .remove(glacier_core::headers::ACCEPTS_TREE_SIGNED);
        }
        Ok(resp)
    }
}

/// Where the server takes a signed tree hash, uploads (from a file in parts, and through the
/// Writer) send `UNSIGNED-PAYLOAD` and sign `x-amz-sha256-tree-hash` — the client hashes
/// each byte once; against a server that does not say so (AWS), every upload carries its
/// linear SHA-256. Either way the archive reads back byte for byte.
#[tokio::test]
async fn uploads_sign_the_tree_hash_where_the_server_takes_it() -> R {
    let f = fixture().await?;
    let body = data(5 * MIB + 3, 9);
    let path = write(&f, "tree-signed.bin", &body)?;
    for as_aws in [false, true] {
        let recording = Arc::new(Recording {
            inner: in_process(&f),
            as_aws,
            uploads: std::sync::Mutex::new(Vec::new()),
        });
        let g = layer2(Arc::clone(&recording) as Arc<dyn Transport>)?;
        let vault = g.create_vault(&format!("tree-signed-{as_aws}")).await?;
        let from_file = vault
            .concurrent_create_archive_from_file(&path, None, MIB, 3)
            .await?;
        let mut writer = vault.create_archive_writer(2 * MIB, None).await?;
        writer.write_all(&body).await?;
        writer.shutdown().await?;
        let from_writer = writer.archive_id().map(str::to_owned);
        let small = write(&f, "tree-signed-small.bin", &body[..MIB as usize])?;
        let single = vault.upload_archive(&small, None).await?;
        let uploads = recording
            .uploads
            .lock()
            .map(|u| u.clone())
            .unwrap_or_default();
        assert_eq!(
            uploads.len(),
            6 + 3 + 1,
            "as_aws {as_aws}: every upload recorded"
        );
        for (payload, authorization) in &uploads {
            assert!(
                authorization.contains("x-amz-sha256-tree-hash"),
                "the tree hash is signed: {authorization}"
            );
            if as_aws {
                assert_eq!(payload.len(), 64, "a linear hash: {payload}");
            } else {
                assert_eq!(payload, "UNSIGNED-PAYLOAD");
            }
        }
        for id in [Some(from_file), from_writer] {
            let Some(id) = id else {
                anyhow::bail!("the writer has no archive id");
            };
            let mut job = vault.retrieve_archive(&id, None, None).await?;
            job.wait(quick_wait(), None).await?;
            let out = f.dir.path().join(format!("tree-signed-{as_aws}.out"));
            job.download_to_file(&out, MIB, true, 2).await?;
            assert_eq!(std::fs::read(&out)?, body, "as_aws {as_aws}: read back");
        }
        let mut job = vault.retrieve_archive(&single, None, None).await?;
        job.wait(quick_wait(), None).await?;
        let out = f.dir.path().join(format!("tree-signed-small-{as_aws}.out"));
        job.download_to_file(&out, MIB, true, 1).await?;
        assert_eq!(std::fs::read(&out)?, &body[..MIB as usize]);
    }
    Ok(())
}

/// `Vault::retrieve_archives`: every retrieval asked for at once, a job already there for a
/// whole archive used instead of a new one, and each job handed out once as it completes.
#[tokio::test]
async fn many_archives_are_retrieved_together_and_jobs_are_reused() -> R {
    let f = fixture().await?;
    let g = layer2(in_process(&f))?;
    let vault = g.create_vault("many").await?;
    let mut ids = Vec::new();
    for seed in 0..4u8 {
        let path = write(&f, &format!("a{seed}"), &data(1000 + u64::from(seed), seed))?;
        ids.push(vault.upload_archive(&path, None).await?);
    }
    let earlier = vault.retrieve_archive(&ids[0], None, None).await?;
    let polling = glacier_client::layer2::Polling {
        first: Duration::from_millis(10),
        max: Duration::from_millis(50),
    };
    let options = glacier_client::layer2::RetrievalOptions {
        polling,
        ..Default::default()
    };
    let mut retrieval = vault.retrieve_archives(&ids, options).await?;
    assert_eq!(
        (retrieval.reused, retrieval.started, retrieval.remaining()),
        (1, 3, 4)
    );
    let mut got = Vec::new();
    while let Some(job) = retrieval.next().await {
        let job = job?;
        assert_eq!(job.status_code, JobStatus::Succeeded);
        got.push(job.archive_id.clone().unwrap_or_default());
        if job.archive_id.as_deref() == Some(&ids[0]) {
            assert_eq!(job.id, earlier.id, "the earlier job was used");
        }
    }
    got.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(got, want, "each archive once");
    let jobs = vault.list_jobs(None, None).await?;
    assert_eq!(jobs.len(), 4, "one job per archive");
    // An archive asked for again (its output expired) comes out once more, from a new job.
    retrieval.again(&ids[1]);
    let again = retrieval.next().await.transpose()?;
    assert_eq!(again.and_then(|j| j.archive_id), Some(ids[1].clone()));
    assert!(retrieval.next().await.is_none());
    Ok(())
}

/// Passes every request on, but loses the answer to the first `lose` archive InitiateJob
/// requests (the service started the job; the client sees a 500), as a proxy failing after
/// the service acted would.
struct LostJobAnswers {
    inner: Arc<dyn Transport>,
    lose: u32,
    lost: AtomicU32,
}

#[async_trait]
impl Transport for LostJobAnswers {
    async fn send(
        &self,
        request: http::Request<Body>,
    ) -> Result<http::Response<ResponseBody>, BoxError> {
        let initiate =
            request.method() == http::Method::POST && request.uri().path().ends_with("/jobs");
        let resp = self.inner.send(request).await?;
        if initiate && self.lost.fetch_add(1, Ordering::SeqCst) < self.lose {
            let body = glacier_client::transport::full(Bytes::from_static(
                br#"{"code":"ServiceUnavailableException","message":"answer lost","type":"Server"}"#,
            ));
            return Ok(http::Response::builder()
                .status(500)
                .body(body.boxed_unsync())?);
        }
        Ok(resp)
    }
}

/// An InitiateJob whose answer is lost may have started the job: the retrieval engine looks
/// in the job list before asking again, so each archive is retrieved (and paid for) once.
#[tokio::test]
async fn initiations_without_an_answer_are_found_in_the_job_list_not_repeated() -> R {
    let f = fixture().await?;
    let lossy = Arc::new(LostJobAnswers {
        inner: in_process(&f),
        lose: 2,
        lost: AtomicU32::new(0),
    });
    let g = layer2(lossy.clone())?;
    let vault = g.create_vault("lossy").await?;
    let mut ids = Vec::new();
    for seed in 0..3u8 {
        let path = write(&f, &format!("l{seed}"), &data(500 + u64::from(seed), seed))?;
        ids.push(vault.upload_archive(&path, None).await?);
    }
    let options = glacier_client::layer2::RetrievalOptions {
        polling: glacier_client::layer2::Polling {
            first: Duration::from_millis(10),
            max: Duration::from_millis(50),
        },
        ..Default::default()
    };
    let mut retrieval = vault.retrieve_archives(&ids, options).await?;
    let mut got = Vec::new();
    while let Some(job) = retrieval.next().await {
        got.push(job?.archive_id.unwrap_or_default());
    }
    got.sort();
    ids.sort();
    assert_eq!(got, ids, "each archive delivered once");
    assert_eq!(
        lossy.lost.load(Ordering::SeqCst),
        3,
        "two answers lost, one more asked for"
    );
    assert_eq!(
        vault.list_jobs(None, None).await?.len(),
        3,
        "no archive retrieved twice"
    );
    Ok(())
}

/// `Vault::inventory_job`: an inventory job in flight is used instead of a second one (an
/// inventory takes hours on AWS); once the vault's inventory is newer than every job, a new
/// job is started.
#[tokio::test]
async fn inventory_jobs_in_flight_are_reused() -> R {
    let mut settings = Settings::new("us-east-1");
    settings.timing = glacier_server::Timing::fixed(
        "300ms".parse().map_err(anyhow::Error::msg)?,
        std::time::Duration::from_secs(24 * 3600),
    );
    let f = fixture_with(settings).await?;
    let g = layer2(in_process(&f))?;
    let vault = g.create_vault("inv").await?;
    let path = write(&f, "x", &data(100, 1))?;
    vault.upload_archive(&path, None).await?;
    let first = vault
        .retrieve_inventory_job(glacier_client::layer2::InventoryRequest::default())
        .await?;
    let (job, reused) = vault.inventory_job().await?;
    assert!(
        !job.completed && reused && job.id == first.id,
        "the job in flight is used"
    );
    let mut finished = job;
    finished.wait(quick_wait(), None).await?;
    // The vault's last inventory is the one that job took: a finished job started before it
    // is not reused (it may lack what was written since), a new one is started.
    let vault = g.get_vault("inv").await?;
    let (next, reused) = vault.inventory_job().await?;
    assert!(!reused && next.id != first.id);
    Ok(())
}
