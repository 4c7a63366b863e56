//! Interrupted transfers resume: kill -9 the CLI in the middle of an upload and of a download,
//! run the same command again, and only what was missing moves; the result is byte-exact.

use conformance_aws_sdk::{ACCESS_KEY, SECRET_KEY, client};

const MIB: u64 = 1 << 20;
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;

fn cli(endpoint: &str, state: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_glacier"));
    cmd.args(args)
        .args(["--endpoint", endpoint, "--output", "json"])
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("GLACIER_STATE_DIR", state)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Bytes the run reported moving: its last JSON progress event.
fn bytes_moved(stderr: &[u8]) -> u64 {
    String::from_utf8_lossy(stderr)
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["event"] == "progress")
        .and_then(|v| v["bytes"].as_u64())
        .unwrap_or(0)
}

/// Polls `done` until it says true, then kills the child; fails if the child ends first.
async fn kill_when(child: &mut Child, mut done: impl AsyncFnMut() -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        anyhow::ensure!(
            child.try_wait()?.is_none(),
            "the command finished before it could be interrupted"
        );
        if done().await {
            child.kill()?;
            child.wait()?;
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "the transfer did not progress");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_upload_and_download_resume() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (mut server, endpoint) = common::start(&dir.path().join("data"), &[])?;
    let g = client(&endpoint);
    g.create_vault().vault_name("resume").send().await?;
    let state = dir.path().join("state");
    let parts = 160u64;
    let data: Vec<u8> = (0..parts * MIB).map(|i| ((i * 13) % 251) as u8).collect();
    let file = dir.path().join("big.bin");
    std::fs::write(&file, &data)?;
    let f = file.to_str().unwrap_or_default();
    let upload = [
        "upload",
        f,
        "--vault",
        "resume",
        "--part-size",
        "1",
        "--concurrency",
        "1",
    ];

    // Kill the upload once some parts are on the server.
    let mut child = cli(&endpoint, &state, &upload).spawn()?;
    let uploaded = async || -> u64 {
        let Ok(list) = g.list_multipart_uploads().vault_name("resume").send().await else {
            return 0;
        };
        let Some(id) = list
            .uploads_list()
            .first()
            .and_then(|u| u.multipart_upload_id())
        else {
            return 0;
        };
        g.list_parts()
            .vault_name("resume")
            .upload_id(id)
            .send()
            .await
            .map_or(0, |p| p.parts().len() as u64)
    };
    kill_when(&mut child, async || uploaded().await >= 10).await?;
    let before = uploaded().await;
    assert!(
        before >= 10 && before < parts,
        "{before} parts were uploaded before the kill"
    );

    let out = cli(&endpoint, &state, &upload).output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        bytes_moved(&out.stderr),
        (parts - before) * MIB,
        "only the missing parts were sent"
    );
    let up: Value = serde_json::from_slice(&out.stdout)?;
    let archive_id = up[0]["archive_id"].as_str().unwrap_or_default().to_owned();

    // Retrieve, then kill the download once some chunks are verified and recorded.
    let job: Value = serde_json::from_slice(
        &cli(
            &endpoint,
            &state,
            &["retrieve", &archive_id, "--vault", "resume"],
        )
        .output()?
        .stdout,
    )?;
    let job_id = job["job_id"].as_str().unwrap_or_default().to_owned();
    let wait = cli(
        &endpoint,
        &state,
        &["job", "wait", &job_id, "--vault", "resume"],
    )
    .output()?;
    assert!(wait.status.success());
    let target = dir.path().join("back.bin");
    let t = target.to_str().unwrap_or_default();
    let download = [
        "download",
        &job_id,
        "--vault",
        "resume",
        "-O",
        t,
        "--chunk-size",
        "1",
        "--concurrency",
        "1",
    ];
    let sidecar = dir.path().join("back.bin.partial.glacier-download");
    let chunks_done = || {
        std::fs::read_to_string(&sidecar).map_or(0, |s| s.lines().count().saturating_sub(1) as u64)
    };
    let mut child = cli(&endpoint, &state, &download).spawn()?;
    kill_when(&mut child, async || chunks_done() >= 10).await?;
    let done = chunks_done();
    assert!(
        !target.exists(),
        "nothing looks complete after an interruption"
    );

    let out = cli(&endpoint, &state, &download).output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        bytes_moved(&out.stderr) <= (parts - done) * MIB,
        "only the missing chunks were fetched"
    );
    assert_eq!(std::fs::read(&target)?, data, "byte-exact");
    assert!(!sidecar.exists());
    let _ = server.kill();
    let _ = server.wait();
    Ok(())
}
