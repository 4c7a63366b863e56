//! Sustained load on the real `glacier serve`, on SQLite + files and on two nodes sharing
//! PostgreSQL + S3 (Garage): 200 concurrent aws-sdk-glacier clients mixing uploads, multipart
//! uploads, lists, describes, jobs and downloads for a bounded time, loopback only. Every request
//! must succeed; each server's RSS, sampled every second, must not keep growing; p50/p99 latency
//! per operation is printed. The shared-store test skips when no shared store is given (see
//! `glacier_storage::testing::postgres_database`).
//!
//! `GLACIER_LOAD_SECONDS=N` (default 15) and `GLACIER_LOAD_CLIENTS=N` (default 200) lengthen or
//! widen a run.

use aws_sdk_glacier::primitives::ByteStream;
use aws_sdk_glacier::types::JobParameters;
use conformance_aws_sdk::{client, data};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;
#[allow(dead_code)]
#[path = "common/store.rs"]
mod store;

type R = anyhow::Result<()>;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The server's resident set, KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

#[derive(Default)]
struct Stats {
    latencies: HashMap<&'static str, Vec<Duration>>,
    errors: Vec<String>,
}

/// One client: a mix of operations on vault `load`, until `until`.
async fn client_loop(
    g: aws_sdk_glacier::Client,
    id: usize,
    archives: Arc<Vec<String>>,
    jobs: Arc<Vec<String>>,
    stats: Arc<Mutex<Stats>>,
    until: Instant,
) {
    let mut n = 0usize;
    while Instant::now() < until {
        n += 1;
        let pick = (id * 7 + n * 13) % 100;
        let started = Instant::now();
        let (op, result): (&'static str, anyhow::Result<()>) = match pick {
            0..10 => (
                "UploadArchive",
                g.upload_archive()
                    .vault_name("load")
                    .body(ByteStream::from(data(16 * 1024 + n, id as u8)))
                    .send()
                    .await
                    .map(drop)
                    .map_err(Into::into),
            ),
            10..15 => ("MultipartUpload", multipart(&g, id, n).await),
            15..45 => (
                "DescribeVault",
                g.describe_vault()
                    .vault_name("load")
                    .send()
                    .await
                    .map(drop)
                    .map_err(Into::into),
            ),
            45..55 => (
                "ListVaults",
                g.list_vaults().send().await.map(drop).map_err(Into::into),
            ),
            55..65 => (
                "ListJobs",
                g.list_jobs()
                    .vault_name("load")
                    .limit(10)
                    .send()
                    .await
                    .map(drop)
                    .map_err(Into::into),
            ),
            65..70 => (
                "InitiateJob",
                g.initiate_job()
                    .vault_name("load")
                    .job_parameters(
                        JobParameters::builder()
                            .r#type("archive-retrieval")
                            .archive_id(&archives[n % archives.len()])
                            .build(),
                    )
                    .send()
                    .await
                    .map(drop)
                    .map_err(Into::into),
            ),
            70..80 => (
                "DescribeJob",
                g.describe_job()
                    .vault_name("load")
                    .job_id(&jobs[n % jobs.len()])
                    .send()
                    .await
                    .map(drop)
                    .map_err(Into::into),
            ),
            80..90 => ("GetJobOutput", output(&g, &jobs[n % jobs.len()]).await),
            _ => (
                "ListMultipartUploads",
                g.list_multipart_uploads()
                    .vault_name("load")
                    .limit(10)
                    .send()
                    .await
                    .map(drop)
                    .map_err(Into::into),
            ),
        };
        let took = started.elapsed();
        if let Ok(mut s) = stats.lock() {
            match result {
                Ok(()) => s.latencies.entry(op).or_default().push(took),
                Err(e) => s.errors.push(format!("{op}: {e:?}")),
            }
        }
    }
}

async fn multipart(g: &aws_sdk_glacier::Client, id: usize, n: usize) -> anyhow::Result<()> {
    const MIB: usize = 1 << 20;
    let body = data(MIB + 1000, (id + n) as u8);
    let up = g
        .initiate_multipart_upload()
        .vault_name("load")
        .part_size(MIB.to_string())
        .send()
        .await?;
    let upload_id = up.upload_id().unwrap_or_default();
    for (i, chunk) in body.chunks(MIB).enumerate() {
        g.upload_multipart_part()
            .vault_name("load")
            .upload_id(upload_id)
            .range(format!("bytes {}-{}/*", i * MIB, i * MIB + chunk.len() - 1))
            .body(ByteStream::from(chunk.to_vec()))
            .send()
            .await?;
    }
    g.complete_multipart_upload()
        .vault_name("load")
        .upload_id(upload_id)
        .archive_size(body.len().to_string())
        .checksum(glacier_core::TreeHash::of(&body).to_hex())
        .send()
        .await?;
    Ok(())
}

async fn output(g: &aws_sdk_glacier::Client, job: &str) -> anyhow::Result<()> {
    let out = g
        .get_job_output()
        .vault_name("load")
        .job_id(job)
        .send()
        .await?;
    let checksum = out.checksum().map(str::to_owned);
    let bytes = out.body.collect().await?.into_bytes();
    anyhow::ensure!(
        checksum.as_deref() == Some(glacier_core::TreeHash::of(&bytes).to_hex().as_str()),
        "job output hashes to its checksum"
    );
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

/// One load at a time: each test is its backend's load, not the machine's share of two.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_clients_for_a_while_get_no_error_and_no_memory_growth() -> R {
    let _alone = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir()?;
    let (server, endpoint) = common::start(&dir.path().join("data"), &[])?;
    let pid = server.id();
    let _server = common::KillOnDrop(server);
    load(&[(pid, endpoint)]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_clients_on_two_nodes_sharing_postgres_and_s3() -> R {
    let _alone = ONE_AT_A_TIME.lock().await;
    let Some(store) = store::Store::fresh().await? else {
        return Ok(());
    };
    let nodes = [store.node(0, &[])?, store.node(1, &[])?];
    let servers: Vec<_> = nodes
        .iter()
        .map(|n| (n.child.id(), n.endpoint.clone()))
        .collect();
    load(&servers).await
}

/// Runs the load against `servers` (pid, endpoint), the clients spread over them evenly.
async fn load(servers: &[(u32, String)]) -> R {
    let seconds = env_or("GLACIER_LOAD_SECONDS", 15);
    let clients = env_or("GLACIER_LOAD_CLIENTS", 200) as usize;
    let sdks: Vec<_> = servers.iter().map(|(_, e)| client(e)).collect();
    let g = &sdks[0];
    g.create_vault().vault_name("load").send().await?;
    // Archives to retrieve, and finished jobs to describe and download.
    let mut archives = Vec::new();
    for i in 0..8u8 {
        let a = g
            .upload_archive()
            .vault_name("load")
            .body(ByteStream::from(data(64 * 1024, i)))
            .send()
            .await?;
        archives.push(a.archive_id().unwrap_or_default().to_owned());
    }
    let mut jobs = Vec::new();
    for a in &archives {
        let j = g
            .initiate_job()
            .vault_name("load")
            .job_parameters(
                JobParameters::builder()
                    .r#type("archive-retrieval")
                    .archive_id(a)
                    .build(),
            )
            .send()
            .await?;
        jobs.push(j.job_id().unwrap_or_default().to_owned());
    }
    for j in &jobs {
        let mut waited = 0;
        while !g
            .describe_job()
            .vault_name("load")
            .job_id(j)
            .send()
            .await?
            .completed()
        {
            waited += 1;
            anyhow::ensure!(waited < 200, "job {j} did not complete");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    let stats = Arc::new(Mutex::new(Stats::default()));
    let (archives, jobs) = (Arc::new(archives), Arc::new(jobs));
    let until = Instant::now() + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..clients)
        .map(|id| {
            tokio::spawn(client_loop(
                sdks[id % sdks.len()].clone(),
                id,
                Arc::clone(&archives),
                Arc::clone(&jobs),
                Arc::clone(&stats),
                until,
            ))
        })
        .collect();
    let mut rss = vec![Vec::new(); servers.len()];
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_secs(1)).await;
        for ((pid, _), samples) in servers.iter().zip(&mut rss) {
            samples.push(rss_kib(*pid));
        }
    }
    for t in tasks {
        t.await?;
    }
    let stats = std::mem::take(&mut *stats.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);

    let mut total = 0;
    let mut ops: Vec<_> = stats.latencies.into_iter().collect();
    ops.sort_by_key(|(op, _)| *op);
    for (op, mut l) in ops {
        l.sort();
        total += l.len();
        eprintln!(
            "{op:22} {:6} requests  p50 {:7.1} ms  p99 {:7.1} ms",
            l.len(),
            percentile(&l, 0.5).as_secs_f64() * 1e3,
            percentile(&l, 0.99).as_secs_f64() * 1e3
        );
    }
    eprintln!(
        "{clients} clients, {seconds} s, {} servers: {total} requests, {} errors; RSS (MiB) of each server each second: {:?}",
        servers.len(),
        stats.errors.len(),
        rss.iter()
            .map(|r| r.iter().map(|k| k / 1024).collect::<Vec<_>>())
            .collect::<Vec<_>>()
    );
    anyhow::ensure!(
        stats.errors.is_empty(),
        "errors under load: {:#?}",
        &stats.errors[..stats.errors.len().min(10)]
    );
    anyhow::ensure!(
        total as u64 >= seconds * 50,
        "the load ran: {total} requests"
    );
    // No growth: RSS climbs while 200 connections and the caches fill (about 20 s on a debug
    // build), then stays; the last third of the samples may exceed the middle third's peak by
    // at most a quarter and 16 MiB.
    for samples in &rss {
        anyhow::ensure!(
            samples.len() >= 3,
            "run at least 3 seconds to sample memory"
        );
        let third = samples.len() / 3;
        let middle = samples[third..samples.len() - third]
            .iter()
            .max()
            .copied()
            .unwrap_or(0);
        let late = samples[samples.len() - third..]
            .iter()
            .max()
            .copied()
            .unwrap_or(0);
        anyhow::ensure!(
            late <= middle * 5 / 4 + 16 * 1024,
            "server RSS grew from {middle} KiB to {late} KiB"
        );
    }
    Ok(())
}
