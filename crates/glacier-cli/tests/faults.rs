//! Storage faults against the real `glacier serve`: the request gets a Glacier error, the
//! server stays up, nothing half-written becomes visible, and it recovers when the fault ends.

mod common;

use aws_sdk_glacier::primitives::ByteStream;
use aws_sdk_glacier::types::JobParameters;
use conformance_aws_sdk::{MIB, client, data, expect_error};
use std::path::{Path, PathBuf};
use std::process::Command;

type R = anyhow::Result<()>;

/// A tmpfs of a given size mounted on a directory, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a `mib` MiB tmpfs on `dir` (created). Tests that need one run as root, as the
    /// test command does.
    fn mount(dir: &Path, mib: u64) -> anyhow::Result<Tmpfs> {
        std::fs::create_dir_all(dir)?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir)
            .status()?;
        anyhow::ensure!(
            status.success(),
            "mounting a {mib} MiB tmpfs on {} failed (this test needs root): {status}",
            dir.display()
        );
        Ok(Tmpfs(dir.to_path_buf()))
    }

    fn available(&self) -> anyhow::Result<u64> {
        let s = rustix::fs::statvfs(&self.0)?;
        Ok(s.f_bavail * s.f_frsize)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Regression: with the data directory's filesystem filled by uploads, InitiateJob and
/// DeleteArchive failed too (the metadata database had no room left), so nothing could be
/// retrieved or deleted and uploads never recovered. Now uploads stop at the reserve and the
/// rest goes on.
#[tokio::test]
async fn a_full_disk_still_retrieves_and_deletes_and_uploads_recover() -> R {
    let dir = tempfile::tempdir()?;
    let fs = Tmpfs::mount(&dir.path().join("data"), 64)?;
    let (server, endpoint) = common::start(&fs.0, &["--reserve", "8M"])?;
    let _server = common::KillOnDrop(server);
    let g = client(&endpoint);
    g.create_vault().vault_name("full").send().await?;

    let upload = |seed: u8| {
        g.upload_archive()
            .vault_name("full")
            .body(ByteStream::from(data(2 * MIB, seed)))
            .send()
    };
    let mut stored = Vec::new();
    let refused = loop {
        match upload(stored.len() as u8).await {
            Ok(r) => stored.push(r.archive_id().unwrap_or_default().to_owned()),
            Err(e) => break Err::<(), _>(e),
        }
        anyhow::ensure!(stored.len() < 64, "a 64 MiB disk took 128 MiB");
    };
    assert!(stored.len() >= 20, "only {} uploads fit", stored.len());
    expect_error(refused, "ServiceUnavailableException", 500, "kept free");
    let left = fs.available()?;
    assert!(
        left >= 6 * MIB as u64,
        "uploads left {left} bytes of the 8 MiB reserve"
    );

    // Retrievals still work: an archive job and an inventory, both to the end.
    let job = |p: JobParameters| g.initiate_job().vault_name("full").job_parameters(p).send();
    let archive_job = job(JobParameters::builder()
        .r#type("archive-retrieval")
        .archive_id(&stored[3])
        .build())
    .await?;
    let inventory_job = job(JobParameters::builder()
        .r#type("inventory-retrieval")
        .build())
    .await?;
    for j in [&archive_job, &inventory_job] {
        let id = j.job_id().unwrap_or_default();
        let mut waited = 0;
        while !g
            .describe_job()
            .vault_name("full")
            .job_id(id)
            .send()
            .await?
            .completed()
        {
            waited += 1;
            anyhow::ensure!(waited < 200, "job {id} did not finish");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    let out = g
        .get_job_output()
        .vault_name("full")
        .job_id(archive_job.job_id().unwrap_or_default())
        .send()
        .await?;
    assert!(out.body.collect().await?.into_bytes() == data(2 * MIB, 3));
    let inventory = g
        .get_job_output()
        .vault_name("full")
        .job_id(inventory_job.job_id().unwrap_or_default())
        .send()
        .await?;
    let inventory = inventory.body.collect().await?.into_bytes();
    assert!(
        std::str::from_utf8(&inventory)?.contains(&stored[0]),
        "the inventory lists the archives"
    );

    // Deletions succeed and give their space back (archives no job is retrieving); then
    // uploads go on.
    let left = fs.available()?;
    for id in &stored[4..8] {
        g.delete_archive()
            .vault_name("full")
            .archive_id(id)
            .send()
            .await?;
    }
    let freed = fs.available()?.saturating_sub(left);
    assert!(
        freed >= 7 * MIB as u64,
        "deleting 8 MiB freed {freed} bytes"
    );
    for seed in 0..3 {
        upload(100 + seed).await?;
    }
    Ok(())
}

/// Regression (found by the two-node crash harness, PostgreSQL restarted under the nodes): a
/// job whose completion failed after the engine had claimed it stayed in progress until the
/// claim lapsed (then five minutes, now 30 seconds). Now the engine retries it, with backoff, as soon as the
/// store takes writes again. The fault: a trigger that makes the metadata database refuse to
/// end any job, added while the server runs and dropped a few seconds later.
#[tokio::test]
async fn a_job_whose_completion_failed_completes_once_the_store_recovers() -> R {
    let dir = tempfile::tempdir()?;
    let data_dir = dir.path().join("data");
    let (server, endpoint) = common::start(&data_dir, &["--retrieval-delay", "1s"])?;
    let _server = common::KillOnDrop(server);
    let g = client(&endpoint);
    g.create_vault().vault_name("v").send().await?;
    let archive = g
        .upload_archive()
        .vault_name("v")
        .body(ByteStream::from(data(MIB, 1)))
        .send()
        .await?;
    let db = rusqlite::Connection::open(data_dir.join("metadata.sqlite"))?;
    db.busy_timeout(std::time::Duration::from_secs(5))?;
    db.execute_batch(
        "CREATE TRIGGER refuse_job_ends BEFORE UPDATE OF status ON jobs
         WHEN NEW.status <> OLD.status BEGIN SELECT RAISE(ABORT, 'injected fault'); END;",
    )?;
    let job = g
        .initiate_job()
        .vault_name("v")
        .job_parameters(
            JobParameters::builder()
                .r#type("archive-retrieval")
                .archive_id(archive.archive_id().unwrap_or_default())
                .build(),
        )
        .send()
        .await?;
    let id = job.job_id().unwrap_or_default();
    let completed = || async {
        anyhow::Ok(
            g.describe_job()
                .vault_name("v")
                .job_id(id)
                .send()
                .await?
                .completed(),
        )
    };
    // Due after 1 s; the engine claims it and fails to end it, again and again.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert!(!completed().await?, "the fault held the job back");
    db.execute_batch("DROP TRIGGER refuse_job_ends")?;
    let started = std::time::Instant::now();
    while !completed().await? {
        anyhow::ensure!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "the job did not complete after the store recovered"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let out = g.get_job_output().vault_name("v").job_id(id).send().await?;
    assert!(out.body.collect().await?.into_bytes() == data(MIB, 1));
    Ok(())
}

/// Regression: on a volume smaller than the 256 MiB reserve every upload was refused, the
/// server said so only at each refusal, and then with "0 bytes free" while the disk had room.
/// Now the default reserve is a tenth of a small volume, a reserve the volume cannot keep is
/// named at start, and a refusal names the real free space, the upload and the reserve.
#[tokio::test]
async fn a_small_volume_takes_uploads_and_a_reserve_it_cannot_keep_is_named() -> R {
    use std::io::Read;
    let dir = tempfile::tempdir()?;
    let fs = Tmpfs::mount(&dir.path().join("data"), 64)?;

    // The default reserve on 64 MiB: 6.4 MiB, so uploads go in.
    let (server, endpoint) = common::start(&fs.0, &[])?;
    let server = common::KillOnDrop(server);
    let g = client(&endpoint);
    g.create_vault().vault_name("small").send().await?;
    for seed in 0..4 {
        g.upload_archive()
            .vault_name("small")
            .body(ByteStream::from(data(2 * MIB, seed)))
            .send()
            .await?;
    }
    drop(server);

    // A reserve larger than the volume: said at start, and each refusal says what is free.
    let mut command = Command::new(env!("CARGO_BIN_EXE_glacier"));
    command.stderr(std::process::Stdio::piped());
    let (mut server, endpoint) = common::start_command(command, &fs.0, &["--reserve", "256M"])?;
    let g = client(&endpoint);
    let refused = g
        .upload_archive()
        .vault_name("small")
        .body(ByteStream::from(data(MIB, 9)))
        .send()
        .await;
    let free = fs.available()? as f64 / MIB as f64;
    let message = expect_error(
        refused,
        "ServiceUnavailableException",
        500,
        "would leave less than the 256.0 MiB kept free",
    );
    assert!(
        message.contains(&format!("The disk has {free:.1} MiB free")),
        "{message}"
    );
    let _ = server.kill();
    let _ = server.wait();
    let mut log = String::new();
    if let Some(mut e) = server.stderr.take() {
        e.read_to_string(&mut log)?;
    }
    assert!(
        log.contains("MiB free, no more than the 256.0 MiB uploads leave free"),
        "the start names the reserve and the free space ({free:.1} MiB): {log}"
    );
    Ok(())
}
