//! Crash consistency: the real `glacier serve` is killed with SIGKILL at random moments while
//! seeded workers upload archives and parts, complete uploads, delete archives, start jobs and
//! lock vaults (see `common/harness.rs`); after every kill it restarts on the same data
//! directory. At the end every promise an answer made holds, the metadata database passes
//! SQLite's integrity check, and nothing temporary or unreferenced is left.
//!
//! `GLACIER_CRASH_SEED=N` repeats a run, `GLACIER_CRASH_KILLS=N` lengthens it.

use glacier_storage::{BlobStore, FsBlobStore, MetadataStore, SqliteMetadataStore};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Duration;

mod common;
#[path = "common/harness.rs"]
mod harness;
use common::{KillOnDrop, start};
use harness::Harness;

type R = anyhow::Result<()>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_moments_loses_nothing_acknowledged() -> R {
    let (seed, kills) = harness::seed_and_kills(50);
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir()?;
    let data_dir = dir.path().join("data");
    let (child, mut endpoint) = start(&data_dir, &[])?;
    let mut server = KillOnDrop(child);
    Harness::create_vault(&endpoint).await?;
    let mut h = Harness::new(seed, 4);
    let mut interrupted = 0;
    for _ in 0..kills {
        let round = h.start(std::slice::from_ref(&endpoint));
        tokio::time::sleep(Duration::from_millis(rng.random_range(10..400))).await;
        server.0.kill()?; // SIGKILL
        server.0.wait()?;
        round.finish(&mut h).await?;
        interrupted += std::fs::read_dir(data_dir.join("tmp"))?.count();
        let (child, e) = start(&data_dir, &[])?;
        server = KillOnDrop(child);
        endpoint = e;
    }
    anyhow::ensure!(
        h.answered() >= 5 * kills,
        "the workload ran: {}",
        h.summary()
    );
    h.check_api(&endpoint).await?;
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(server.0.id().to_string())
        .status();
    server.0.wait()?;

    anyhow::ensure!(
        std::fs::read_dir(data_dir.join("tmp"))?.count() == 0,
        "recovery removed interrupted writes"
    );
    let db = rusqlite::Connection::open(data_dir.join("metadata.sqlite"))?;
    let integrity: String = db.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    anyhow::ensure!(integrity == "ok", "integrity check: {integrity}");
    drop(db);
    let meta = SqliteMetadataStore::open(data_dir.join("metadata.sqlite")).await?;
    let blobs = FsBlobStore::open(&data_dir).await?;
    let stored = h.check_stores(&meta, &blobs).await?;
    let referenced = meta.referenced_blobs().await?;
    let on_disk: std::collections::HashSet<_> = blobs.list().await?.into_iter().collect();
    anyhow::ensure!(on_disk == referenced, "no orphaned blob survives a restart");
    eprintln!(
        "crash harness, seed {seed}: {kills} kills, {interrupted} writes interrupted, {stored} archives stored; {}",
        h.summary()
    );
    Ok(())
}
