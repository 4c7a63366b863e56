//! Durability: kill -9 the real `glacier serve` during concurrent uploads, restart it, and show
//! that every acknowledged archive and part is intact and nothing half-written is visible.

use conformance_aws_sdk::client;
use glacier_storage::{BlobStore, FsBlobStore, MetadataStore, SqliteMetadataStore};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;
#[path = "common/workload.rs"]
mod workload;
use common::start;
use workload::{Acked, VAULT, uploader};

type R = anyhow::Result<()>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_concurrent_uploads_loses_nothing_acknowledged() -> R {
    let dir = tempfile::tempdir()?;
    let data_dir = dir.path().join("data");
    let (mut server, endpoint) = start(&data_dir, &[])?;
    client(&endpoint)
        .create_vault()
        .vault_name(VAULT)
        .send()
        .await?;

    let acked = Arc::new(Mutex::new(Acked::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(60);
    let workers: Vec<_> = (0..6)
        .map(|w| {
            tokio::spawn(uploader(
                endpoint.clone(),
                w,
                Arc::clone(&acked),
                Arc::clone(&stop),
            ))
        })
        .collect();
    // Kill once a good number of writes were acknowledged, while the others are in flight.
    while Instant::now() < deadline {
        let n = acked
            .lock()
            .map(|a| a.archives.len() + a.parts.len())
            .unwrap_or(0);
        if n >= 40 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill()?; // SIGKILL
    server.wait()?;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await?;
    }
    let acked = std::mem::take(&mut *acked.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
    let interrupted = std::fs::read_dir(data_dir.join("tmp"))?.count();
    assert!(
        acked.archives.len() + acked.parts.len() >= 40,
        "the workload ran"
    );

    // Restart: recovery runs, then the API shows every acknowledged archive and part.
    let (mut server, endpoint) = start(&data_dir, &[])?;
    workload::check_api(&endpoint, &acked).await?;
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(server.id().to_string())
        .status();
    server.wait()?;

    assert_eq!(
        std::fs::read_dir(data_dir.join("tmp"))?.count(),
        0,
        "recovery removed interrupted writes"
    );

    // Open the stores directly: every archive's bytes hash to its recorded tree hash, the
    // counters match, every referenced blob exists, and nothing unreferenced or temporary is left.
    let meta = SqliteMetadataStore::open(data_dir.join("metadata.sqlite")).await?;
    let blobs = FsBlobStore::open(&data_dir).await?;
    let stored = workload::check_stores(&meta, &blobs, &acked).await?;
    let referenced = meta.referenced_blobs().await?;
    let on_disk: std::collections::HashSet<_> = blobs.list().await?.into_iter().collect();
    assert_eq!(on_disk, referenced, "no orphaned blob survives a restart");
    eprintln!(
        "crash test: {} acknowledged archives, {} acknowledged parts, {} archives stored, {interrupted} writes interrupted",
        acked.archives.len(),
        acked.parts.len(),
        stored.len()
    );
    Ok(())
}
