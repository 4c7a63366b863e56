//! End-to-end: the real `glacier` binary, against the embedded local store and against a
//! `glacier serve` on an ephemeral port, JSON output parsed and checked.

use conformance_aws_sdk::{ACCESS_KEY, SECRET_KEY};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};

#[path = "common/cli.rs"]
mod cli_run;
mod common;

use cli_run::{Via, glacier, json};

/// `upload FILE --vault VAULT` a part of 1 MiB at a time, at `limit` bytes a second, then
/// `last` (how it reports): an upload slow enough to interrupt.
fn throttled_upload(file: &Path, vault: &str, limit: &str, last: &str) -> Vec<String> {
    [
        "upload",
        file.to_str().unwrap_or_default(),
        "--vault",
        vault,
        "--part-size",
        "1",
        "--concurrency",
        "1",
        "--limit-rate",
        limit,
        last,
    ]
    .map(str::to_owned)
    .to_vec()
}

fn workflow(via: &Via<'_>, dir: &Path) -> anyhow::Result<()> {
    let data: Vec<u8> = (0..3_000_017u32).map(|i| (i % 241) as u8).collect();
    let file = dir.join("photo.raw");
    std::fs::write(&file, &data)?;
    let f = file.to_str().unwrap_or_default();

    assert_eq!(json(via, &["vault", "create", "cli"])["name"], "cli");
    assert!(
        json(via, &["vault", "list"])
            .as_array()
            .is_some_and(|v| v.iter().any(|v| v["name"] == "cli"))
    );
    let up = json(via, &["upload", f, "--vault", "cli"]);
    let archive_id = up[0]["archive_id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(archive_id.len(), 138);
    let multi = json(
        via,
        &[
            "upload",
            f,
            "--vault",
            "cli",
            "--part-size",
            "1",
            "--description",
            "in parts",
        ],
    );
    let multi_id = multi[0]["archive_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let d = json(via, &["vault", "describe", "cli"]);
    assert_eq!(
        (d["archives"].as_u64(), d["size"].as_u64()),
        (Some(2), Some(2 * data.len() as u64))
    );

    let tree = json(via, &["treehash", f]);
    let expected = glacier_core::TreeHash::of(&data).to_hex();
    assert_eq!(tree[0]["sha256_tree_hash"], expected.as_str());

    // A dry run says what a retrieval means and starts nothing.
    let jobs_before = json(via, &["job", "list", "--vault", "cli"])
        .as_array()
        .map_or(0, Vec::len);
    let dry = json(
        via,
        &["retrieve", &archive_id, "--vault", "cli", "--dry-run"],
    );
    assert_eq!(
        (dry["size"].as_u64(), dry["download_requests"].as_u64()),
        (Some(data.len() as u64), Some(1))
    );
    let jobs_after = json(via, &["job", "list", "--vault", "cli"])
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(
        jobs_after,
        jobs_before + 1,
        "only the inventory the dry run read was started"
    );

    // get: retrieve + wait + download, byte-exact; no partial file left behind.
    let back = dir.join("back.raw");
    let got = json(
        via,
        &[
            "get",
            &archive_id,
            "--vault",
            "cli",
            "-O",
            back.to_str().unwrap_or_default(),
        ],
    );
    assert_eq!(
        (got["size"].as_u64(), got["sha256_tree_hash"].as_str()),
        (Some(data.len() as u64), Some(expected.as_str()))
    );
    assert_eq!(std::fs::read(&back)?, data);
    assert!(!dir.join("back.raw.partial").exists());

    // retrieve, job list/describe/wait, download.
    let job = json(
        via,
        &[
            "retrieve",
            &multi_id,
            "--vault",
            "cli",
            "--range",
            "0-1048575",
        ],
    );
    let job_id = job["job_id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(
        json(via, &["job", "wait", &job_id, "--vault", "cli"])["status"],
        "Succeeded"
    );
    assert_eq!(
        json(via, &["job", "describe", &job_id, "--vault", "cli"])["retrieval_byte_range"],
        "0-1048575"
    );
    assert!(
        json(via, &["job", "list", "--vault", "cli"])
            .as_array()
            .is_some_and(|j| j.len() >= 2)
    );
    let part = dir.join("part.raw");
    json(
        via,
        &[
            "download",
            &job_id,
            "--vault",
            "cli",
            "-O",
            part.to_str().unwrap_or_default(),
        ],
    );
    assert_eq!(std::fs::read(&part)?, &data[..1 << 20]);

    // Inventory in JSON and CSV.
    let inv = json(via, &["inventory", "--vault", "cli"]);
    let ids: Vec<&str> = inv["archives"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["archive_id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids, vec![archive_id.as_str(), multi_id.as_str()]);
    assert_eq!(inv["archives"][1]["description"], "in parts");
    let cached = json(via, &["inventory", "--vault", "cli", "--cached"]);
    assert_eq!(
        cached, inv,
        "the cached inventory, with its date, without a new job"
    );
    let csv = glacier(
        via,
        &["inventory", "--vault", "cli", "--format", "csv", "--quiet"],
    );
    assert!(
        String::from_utf8_lossy(&csv.stdout)
            .starts_with("ArchiveId,ArchiveDescription,CreationDate,Size,SHA256TreeHash")
    );

    // Multipart listing, deletion, vault deletion.
    assert_eq!(
        json(via, &["multipart", "list", "--vault", "cli"]),
        Value::Array(vec![])
    );
    for id in [&archive_id, &multi_id] {
        assert_eq!(
            json(via, &["delete", id, "--vault", "cli"]),
            serde_json::json!({"archive_id": id, "vault": "cli", "deleted": true})
        );
    }
    json(via, &["vault", "delete", "cli"]);
    Ok(())
}

#[test]
fn every_command_against_the_local_store() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("store");
    std::fs::create_dir_all(&store)?;
    let via = Via::Local(&store);
    workflow(&via, dir.path())?;
    let status = json(&via, &["status"]);
    assert_eq!(
        status["target"],
        serde_json::json!({"kind": "local", "path": store.display().to_string(), "served_by": null})
    );
    Ok(())
}

#[test]
fn every_command_against_a_server() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (server, endpoint) = common::start(&dir.path().join("data"), &[])?;
    let _server = common::KillOnDrop(server);
    workflow(&Via::Endpoint(&endpoint), dir.path())
}

#[test]
fn standard_input_uploads_as_one_archive() -> anyhow::Result<()> {
    use std::io::Write;
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("store");
    std::fs::create_dir_all(&store)?;
    let via = Via::Local(&store);
    json(&via, &["vault", "create", "pipe"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_glacier"))
        .args([
            "upload",
            "-",
            "--vault",
            "pipe",
            "--part-size",
            "1",
            "-o",
            "json",
            "-q",
        ])
        .env("GLACIER_LOCAL_STORE", &store)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let data: Vec<u8> = (0..2_500_000u32).map(|i| (i % 199) as u8).collect();
    child
        .stdin
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdin"))?
        .write_all(&data)?;
    let out = child.wait_with_output()?;
    assert!(out.status.success());
    let up: Value = serde_json::from_slice(&out.stdout)?;
    let id = up[0]["archive_id"].as_str().unwrap_or_default().to_owned();
    let back = dir.path().join("back");
    json(
        &via,
        &[
            "get",
            &id,
            "--vault",
            "pipe",
            "-O",
            back.to_str().unwrap_or_default(),
        ],
    );
    assert_eq!(std::fs::read(&back)?, data);
    Ok(())
}

#[test]
fn bad_input_gets_one_line_and_a_failure_exit() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("store");
    std::fs::create_dir_all(&store)?;
    let via = Via::Local(&store);
    let unreachable = glacier(&Via::Endpoint("http://127.0.0.1:9"), &["vault", "list"]);
    let stderr = String::from_utf8_lossy(&unreachable.stderr);
    assert_eq!(unreachable.status.code(), Some(1));
    assert!(
        stderr.contains("could not reach") && stderr.trim_end().lines().count() == 1,
        "{stderr}"
    );
    let cases: [(&[&str], &str); 5] = [
        // Ids may begin with '-' (they are URL-safe base64): not taken for an option.
        (
            &["delete", "-starts-with-a-dash", "--vault", "nope"],
            "Vault not found",
        ),
        (
            &["upload", "/no/such/file", "--vault", "v"],
            "cannot read /no/such/file",
        ),
        (&["vault", "describe", "nope"], "Vault not found"),
        (
            &["get", "no-such-archive", "--vault", "nope", "-O", "/tmp/x"],
            "vault nope",
        ),
        (
            &["vault", "list", "--endpoint", "http://127.0.0.1:9"],
            "no credentials",
        ),
    ];
    for (args, says) in cases {
        let out = glacier(&via, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(says),
            "{args:?}: {stderr}"
        );
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    }
    Ok(())
}

#[test]
fn shell_completions() {
    let dir = Path::new("/nonexistent");
    for shell in ["bash", "zsh", "fish"] {
        let out = glacier(&Via::Local(dir), &["completions", shell]);
        assert!(out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("glacier"),
            "{shell}"
        );
    }
}

#[test]
fn sync_and_restore_through_mt2_descriptions() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("store");
    std::fs::create_dir_all(&store)?;
    let via = Via::Local(&store);
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("photos"))?;
    std::fs::write(src.join("notes.txt"), b"first")?;
    std::fs::write(src.join("photos").join("été 2024.jpg"), vec![7u8; 300_000])?;
    std::fs::write(src.join("skip.tmp"), b"x")?;
    json(&via, &["vault", "create", "docs"]);
    let s = src.to_str().unwrap_or_default();
    let state = dir.path().join("state");
    let run = |args: &[&str]| -> anyhow::Result<Value> {
        let mut all = args.to_vec();
        all.extend(["--output", "json", "--quiet"]);
        let out = Command::new(env!("CARGO_BIN_EXE_glacier"))
            .args(&all)
            .env("GLACIER_LOCAL_STORE", &store)
            .env("GLACIER_STATE_DIR", &state)
            .env("GLACIER_CONFIG", "/nonexistent/glacier.toml")
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(serde_json::from_slice(&out.stdout)?)
    };
    let dry = run(&[
        "sync",
        s,
        "--vault",
        "docs",
        "--exclude",
        "*.tmp",
        "--dry-run",
    ])?;
    assert_eq!(dry["would_upload"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        run(&["vault", "describe", "docs"])?["archives"],
        0,
        "a dry run uploads nothing"
    );
    assert_eq!(
        run(&["sync", s, "--vault", "docs", "--exclude", "*.tmp"])?["uploaded"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(
        run(&["sync", s, "--vault", "docs", "--exclude", "*.tmp"])?["unchanged"],
        2
    );
    std::fs::write(src.join("notes.txt"), b"second version")?;
    let again = run(&["sync", s, "--vault", "docs", "--exclude", "*.tmp"])?;
    assert_eq!(again["uploaded"][0]["path"], "notes.txt");

    // The journal is lost: the inventory alone is enough to restore.
    std::fs::remove_dir_all(&state)?;
    let out = dir.path().join("out");
    let o = out.to_str().unwrap_or_default();
    let restored = run(&["restore", o, "--vault", "docs"])?;
    assert_eq!(restored["restored"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        std::fs::read(out.join("notes.txt"))?,
        b"second version",
        "the newest archive of a path wins"
    );
    assert_eq!(
        std::fs::read(out.join("photos").join("été 2024.jpg"))?,
        vec![7u8; 300_000]
    );
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    assert_eq!(
        mtime(&out.join("notes.txt")).map(|t| t
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .ok()),
        mtime(&src.join("notes.txt")).map(|t| t
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .ok())
    );
    assert!(!out.join("skip.tmp").exists());
    assert_eq!(
        run(&["restore", o, "--vault", "docs"])?["restored"]
            .as_array()
            .map(Vec::len),
        Some(0),
        "nothing left to restore"
    );

    // Purge: every archive (three, counting the replaced version), then the vault.
    let purged = run(&["vault", "purge", "docs", "--yes"])?;
    assert_eq!(
        (
            purged["archives_deleted"].as_u64(),
            purged["vault_deleted"].as_bool()
        ),
        (Some(3), Some(true))
    );
    let vaults = run(&["vault", "list"])?;
    assert!(
        vaults
            .as_array()
            .is_some_and(|v| v.iter().all(|v| v["name"] != "docs"))
    );
    Ok(())
}

/// `--limit-rate` caps bandwidth: a lower bound on the time taken (never flaky on a slow
/// machine), against an unlimited run that is far faster.
#[test]
fn limit_rate_caps_uploads_and_downloads() -> anyhow::Result<()> {
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("store");
    std::fs::create_dir_all(&store)?;
    let via = Via::Local(&store);
    let file = dir.path().join("f");
    std::fs::write(&file, vec![3u8; 3 << 20])?;
    let f = file.to_str().unwrap_or_default();
    json(&via, &["vault", "create", "slow"]);
    let t = Instant::now();
    let up = json(
        &via,
        &["upload", f, "--vault", "slow", "--limit-rate", "2M"],
    );
    assert!(
        t.elapsed() >= Duration::from_millis(1200),
        "3 MiB at 2 MiB/s took {:?}",
        t.elapsed()
    );
    let id = up[0]["archive_id"].as_str().unwrap_or_default().to_owned();
    let out = dir.path().join("out");
    let t = Instant::now();
    json(
        &via,
        &[
            "get",
            &id,
            "--vault",
            "slow",
            "-O",
            out.to_str().unwrap_or_default(),
            "--limit-rate",
            "4M",
        ],
    );
    assert!(
        t.elapsed() >= Duration::from_millis(600),
        "3 MiB at 4 MiB/s took {:?}",
        t.elapsed()
    );
    assert_eq!(std::fs::read(&out)?.len(), 3 << 20);
    Ok(())
}

#[test]
fn migrate_copies_vaults_verified_and_resumes() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("store");
    std::fs::create_dir_all(&store)?;
    let local = Via::Local(&store);
    json(&local, &["vault", "create", "old"]);
    let mut files = Vec::new();
    for (i, size) in [10_000usize, 1 << 20, 2_500_000].into_iter().enumerate() {
        let f = dir.path().join(format!("f{i}"));
        std::fs::write(
            &f,
            (0..size)
                .map(|j| ((i * 7 + j) % 251) as u8)
                .collect::<Vec<u8>>(),
        )?;
        files.push(f);
    }
    for f in &files {
        json(
            &local,
            &[
                "upload",
                f.to_str().unwrap_or_default(),
                "--vault",
                "old",
                "--part-size",
                "1",
            ],
        );
    }
    let (mut server, endpoint) = common::start(&dir.path().join("data"), &[])?;
    let state = dir.path().join("state");
    let migrate = || -> anyhow::Result<Value> {
        let out = Command::new(env!("CARGO_BIN_EXE_glacier"))
            .args([
                "migrate",
                "--from",
                &format!("local:{}", store.display()),
                "--to",
                &endpoint,
                "--output",
                "json",
                "--quiet",
            ])
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("GLACIER_STATE_DIR", &state)
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(serde_json::from_slice(&out.stdout)?)
    };
    let first = migrate()?;
    assert_eq!(first["vaults"][0]["copied"], 3);
    let again = migrate()?;
    assert_eq!(
        (
            again["vaults"][0]["copied"].as_u64(),
            again["vaults"][0]["already_copied"].as_u64()
        ),
        (Some(0), Some(3))
    );

    let remote = Via::Endpoint(&endpoint);
    let summary = |via: &Via<'_>| -> Vec<(String, u64, String)> {
        let inv = json(via, &["inventory", "--vault", "old"]);
        let mut v: Vec<_> = inv["archives"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| {
                        (
                            e["description"].as_str().unwrap_or_default().to_owned(),
                            e["size"].as_u64().unwrap_or(0),
                            e["sha256_tree_hash"]
                                .as_str()
                                .unwrap_or_default()
                                .to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    assert_eq!(
        summary(&remote),
        summary(&local),
        "same descriptions, sizes and tree hashes"
    );
    let bad = glacier(
        &local,
        &["migrate", "--from", "s3://bucket/prefix", "--to", "local"],
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("as a destination"),
        "S3 is only a destination"
    );
    let _ = server.kill();
    let _ = server.wait();
    Ok(())
}

#[test]
fn ctrl_c_stops_cleanly_and_says_how_to_continue() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("store");
    std::fs::create_dir_all(&store)?;
    let via = Via::Local(&store);
    json(&via, &["vault", "create", "int"]);
    let file = dir.path().join("f");
    let data = vec![9u8; 4 << 20];
    std::fs::write(&file, &data)?;
    let state = dir.path().join("state");
    let upload = |limit: &str, report: &str| {
        Command::new(env!("CARGO_BIN_EXE_glacier"))
            .args(throttled_upload(&file, "int", limit, report))
            .env("GLACIER_LOCAL_STORE", &store)
            .env("GLACIER_STATE_DIR", &state)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
    };
    let child = upload("1M", "-q")?;
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let out = child.wait_with_output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("run the same command again"), "{stderr}");
    let out = upload("1G", "--output=json")?.wait_with_output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // The parts stored before the interruption count towards the total shown, not towards
    // the bytes sent (the rate): the progress ends at the whole file. (Before, the resumed
    // upload's progress ended short of it, the parts it skipped never counted.)
    let last: Value = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .rfind(|e| e["event"] == "progress")
        .unwrap_or_default();
    let (sent, skipped) = (
        last["bytes"].as_u64().unwrap_or(0),
        last["skipped"].as_u64().unwrap_or(0),
    );
    assert!(
        skipped > 0 && sent + skipped == data.len() as u64,
        "{stderr}"
    );
    let uploaded: Value = serde_json::from_slice(&out.stdout)?;
    let id = uploaded[0]["archive_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let back = dir.path().join("back");
    json(
        &via,
        &[
            "get",
            &id,
            "--vault",
            "int",
            "-O",
            back.to_str().unwrap_or_default(),
        ],
    );
    assert_eq!(std::fs::read(&back)?, data);
    Ok(())
}

#[test]
fn serve_prints_the_generated_credentials_path() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let print_path = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_glacier"))
            .args(["serve", "--print-credentials-path", "--data-dir"])
            .arg(&data)
            .env_remove("GLACIER_ACCESS_KEY_ID")
            .env_remove("GLACIER_SECRET_ACCESS_KEY")
            .output()
    };
    let out = print_path()?;
    assert!(out.status.success(), "{out:?}");
    let printed = String::from_utf8(out.stdout)?;
    let path = std::path::Path::new(printed.trim());
    assert_eq!(path, data.join("credentials.toml"));
    let text = std::fs::read_to_string(path)?;
    assert!(text.contains("access_key_id") && text.contains("secret_access_key"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(path)?.permissions().mode() & 0o777, 0o600);
    }
    // Asked again, the same file: the identity is generated once.
    let again = print_path()?;
    assert_eq!(String::from_utf8(again.stdout)?, printed);
    assert_eq!(std::fs::read_to_string(path)?, text);
    Ok(())
}

/// Regression: Ctrl-C during an upload from standard input left its multipart upload behind
/// (AWS bills stored parts until an upload is aborted) and said to run the command again,
/// which cannot continue it; and a file changed before the rerun of its interrupted upload
/// left the old upload and its state file behind. Now the first is aborted at Ctrl-C and the
/// message says so; the second is aborted by the rerun, which starts over.
#[test]
fn interrupted_uploads_that_cannot_continue_are_aborted() -> anyhow::Result<()> {
    use std::io::Write;
    let dir = tempfile::tempdir()?;
    let (server, endpoint) = common::start(&dir.path().join("data"), &[])?;
    let _server = common::KillOnDrop(server);
    let via = Via::Endpoint(&endpoint);
    json(&via, &["vault", "create", "int"]);
    let state = dir.path().join("state");
    let command = |args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_glacier"));
        c.args(args)
            .env("GLACIER_ENDPOINT", &endpoint)
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("GLACIER_CONFIG", "/nonexistent/glacier.toml")
            .env("GLACIER_STATE_DIR", &state)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    };
    let uploads = || {
        json(&via, &["multipart", "list", "--vault", "int"])
            .as_array()
            .map_or(0, Vec::len)
    };
    let wait_for_upload = || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while uploads() == 0 {
            assert!(std::time::Instant::now() < deadline, "no upload began");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    let interrupt = |child: std::process::Child| -> anyhow::Result<String> {
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        let out = child.wait_with_output()?;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(130), "{stderr}");
        Ok(stderr)
    };

    // Standard input, still open: interrupted after its first part.
    let mut child = command(&["upload", "-", "--vault", "int", "--part-size", "1M", "-q"])
        .stdin(Stdio::piped())
        .spawn()?;
    let mut pipe = child.stdin.take();
    if let Some(p) = pipe.as_mut() {
        p.write_all(&vec![1u8; 3 << 20])?;
    }
    wait_for_upload();
    let stderr = interrupt(child)?;
    drop(pipe);
    assert!(
        stderr.contains("aborted") && !stderr.contains("again to continue"),
        "{stderr}"
    );
    assert_eq!(uploads(), 0, "the upload of standard input was aborted");

    // A file, interrupted, then changed before the rerun.
    let file = dir.path().join("f");
    std::fs::write(&file, vec![9u8; 4 << 20])?;
    let upload = |limit: &str| {
        let args = throttled_upload(&file, "int", limit, "-q");
        command(&args.iter().map(String::as_str).collect::<Vec<_>>()).spawn()
    };
    let child = upload("1M")?;
    wait_for_upload();
    let stderr = interrupt(child)?;
    assert!(stderr.contains("run the same command again"), "{stderr}");
    std::fs::write(&file, vec![7u8; 5 << 20])?;
    let out = upload("1G")?.wait_with_output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        uploads(),
        0,
        "the interrupted upload of the old file was aborted"
    );
    let left = std::fs::read_dir(state.join("uploads"))?.count();
    assert_eq!(left, 0, "no state file is left");
    Ok(())
}
