//! The retrieval engine as users meet it (issue 23): `restore`, `migrate` and `get` of many
//! archives against a `glacier serve` whose retrievals take seconds, as Amazon Glacier's take
//! hours — about one retrieval's delay for any number of archives, nothing retrieved twice
//! across an interrupted run and its rerun, expired outputs asked for again, a retrieval
//! policy waited out, local edits kept, other tools' file names read, migrations reported.

use base64::Engine;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

#[path = "common/cli.rs"]
mod cli_run;
mod common;

use cli_run::{Via, glacier, json};

const DELAY: std::time::Duration = std::time::Duration::from_secs(3);

/// A `glacier serve` in `dir` whose retrievals (and inventories) take [`DELAY`].
fn delayed_server(dir: &Path) -> anyhow::Result<(common::KillOnDrop, String)> {
    let (server, endpoint) = common::start(
        &dir.join("data"),
        &["--retrieval-delay", "expedited=3s,standard=3s,bulk=3s"],
    )?;
    Ok((common::KillOnDrop(server), endpoint))
}

/// How many archive retrievals `vault` has had (its jobs, listed).
fn archive_retrievals(via: &Via<'_>, vault: &str) -> usize {
    json(via, &["job", "list", "--vault", vault])
        .as_array()
        .map_or(0, |j| {
            j.iter()
                .filter(|j| j["action"] == "ArchiveRetrieval")
                .count()
        })
}

/// Issue 23's first step: `restore` asks for every archive's retrieval at once and downloads
/// each as its job completes, so that six archives wait about one retrieval delay, not six
/// (before, 12 files took twenty 10-second delays, one archive after another); each
/// retrieval is started once.
#[test]
fn restore_waits_about_one_retrieval_delay_for_many_archives() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (_server, endpoint) = delayed_server(dir.path())?;
    let via = Via::Endpoint(&endpoint);
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src)?;
    for i in 0..6u8 {
        std::fs::write(
            src.join(format!("f{i}.bin")),
            vec![i; 1000 + usize::from(i)],
        )?;
    }
    let s = src.to_str().unwrap_or_default();
    json(&via, &["sync", s, "--vault", "many"]);
    let dst = dir.path().join("dst");
    let d = dst.to_str().unwrap_or_default();
    // The plan first: what would be retrieved, at which tier, for what on AWS.
    let dry = json(
        &via,
        &[
            "restore",
            d,
            "--vault",
            "many",
            "--dry-run",
            "--tier",
            "bulk",
        ],
    );
    let plan = &dry["plan"];
    assert_eq!(
        (plan["archives"].as_u64(), plan["tier"].as_str()),
        (Some(6), Some("Bulk")),
        "{dry}"
    );
    assert_eq!(plan["bytes"].as_u64(), Some(6 * 1000 + 15), "{dry}");
    assert!(plan["cost_usd"].is_number(), "{dry}");
    assert_eq!(
        archive_retrievals(&via, "many"),
        0,
        "a dry run retrieves nothing"
    );
    let started = std::time::Instant::now();
    let restored = json(&via, &["restore", d, "--vault", "many", "--tier", "bulk"]);
    let took = started.elapsed();
    assert_eq!(restored["restored"].as_array().map(Vec::len), Some(6));
    for i in 0..6u8 {
        let name = format!("f{i}.bin");
        assert_eq!(
            std::fs::read(dst.join(&name))?,
            std::fs::read(src.join(&name))?
        );
    }
    // The inventory's delay, then the archives' together, and polling; one archive after
    // another would be seven delays.
    assert!(took < DELAY * 4, "the restore took {took:?}");
    assert_eq!(
        archive_retrievals(&via, "many"),
        6,
        "each archive retrieved once"
    );
    Ok(())
}

/// As `restore`, `migrate` asks for a batch's retrievals at once and copies each archive as
/// its job completes: six archives wait about one retrieval delay, not six; each archive is
/// retrieved once and arrives verified.
#[test]
fn migrate_waits_about_one_retrieval_delay_for_many_archives() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (_server, endpoint) = delayed_server(dir.path())?;
    let via = Via::Endpoint(&endpoint);
    let mut files = Vec::new();
    for i in 0..6u8 {
        let f = dir.path().join(format!("f{i}.bin"));
        std::fs::write(&f, vec![i; 2000 + usize::from(i)])?;
        files.push(f.to_str().unwrap_or_default().to_owned());
    }
    let mut args = vec!["upload"];
    args.extend(files.iter().map(String::as_str));
    args.extend(["--vault", "many"]);
    json(&via, &args);
    let dst = dir.path().join("copy");
    std::fs::create_dir_all(&dst)?;
    let to = format!("local:{}", dst.display());
    let started = std::time::Instant::now();
    let report = json(
        &via,
        &[
            "migrate", "--from", &endpoint, "--to", &to, "--vault", "many",
        ],
    );
    let took = started.elapsed();
    assert_eq!(report["vaults"][0]["copied"], 6, "{report}");
    assert!(took < DELAY * 4, "the migration took {took:?}");
    assert_eq!(
        archive_retrievals(&via, "many"),
        6,
        "each archive retrieved once"
    );
    Ok(())
}

/// AWS's timing four hours a second (`--aws-timing --time-scale 14400`): a day is 6 s, an
/// inventory job about 1 s, a Standard retrieval 0.75–1.25 s.
const AWS_TIMING: [&str; 3] = ["--aws-timing", "--time-scale", "14400"];

/// Waits for the vault's first daily inventory (a scaled day after its first upload).
fn first_inventory(via: &Via<'_>, vault: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while json(via, &["vault", "describe", vault])["last_inventory_date"].is_null() {
        assert!(
            Instant::now() < deadline,
            "no inventory of {vault} was taken"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Against AWS's own timing, sped up: a restore before the vault's first daily inventory says
/// there is none yet; after it, a restore of eight archives takes about the inventory job and
/// one Standard retrieval — not eight retrievals one after another.
#[test]
fn restore_against_aws_timing_takes_about_one_scaled_retrieval() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (_server, endpoint) = server(
        dir.path(),
        &[&AWS_TIMING[..], &["--timing-seed", "23"]].concat(),
    )?;
    let via = Via::Endpoint(&endpoint);
    let src = synced(&via, dir.path(), "timed", 8, 2000)?;
    let dst = dir.path().join("dst");
    let d = dst.to_str().unwrap_or_default();
    let early = glacier(&via, &["restore", d, "--vault", "timed"]);
    assert!(!early.status.success());
    let said = String::from_utf8_lossy(&early.stderr);
    assert!(
        said.contains("no inventory yet") && said.contains("run the command again then"),
        "{said}"
    );
    first_inventory(&via, "timed");
    let started = Instant::now();
    let restored = json(&via, &["restore", d, "--vault", "timed"]);
    let took = started.elapsed();
    assert_eq!(
        restored["restored"].as_array().map(Vec::len),
        Some(8),
        "{restored}"
    );
    same_files(&src, &dst)?;
    // At least the inventory job's 0.875 s and one retrieval's 0.75 s; at most their windows'
    // ends, a quarter late for polling, and slack — where eight in turn would take 6 s or more.
    assert!(
        took >= Duration::from_millis(1625),
        "the restore took {took:?}"
    );
    assert!(
        took < Duration::from_millis(5500),
        "the restore took {took:?}"
    );
    Ok(())
}

/// The same restore through the faults the real service has now and then (`--faults`: a tenth
/// of the requests throttled, failed, timed out, dropped or slowed): the sync and the restore
/// both finish, every file verified, each archive retrieved once.
#[test]
fn sync_and_restore_survive_injected_faults() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let faults = [
        "--faults",
        "throttle=0.05,internal=0.02,timeout=0.01,reset=0.01,slow=0.01",
        "--faults-seed",
        "11",
    ];
    let (_server, endpoint) = server(dir.path(), &[&AWS_TIMING[..], &faults].concat())?;
    let via = Via::Endpoint(&endpoint);
    let src = synced(&via, dir.path(), "weathered", 12, 3000)?;
    let dst = dir.path().join("dst");
    first_inventory(&via, "weathered");
    let restored = json(
        &via,
        &[
            "restore",
            dst.to_str().unwrap_or_default(),
            "--vault",
            "weathered",
        ],
    );
    assert_eq!(
        restored["restored"].as_array().map(Vec::len),
        Some(12),
        "{restored}"
    );
    same_files(&src, &dst)?;
    assert_eq!(
        archive_retrievals(&via, "weathered"),
        12,
        "each archive retrieved once"
    );
    Ok(())
}

/// A `glacier serve` in `dir` with `extra` flags.
fn server(dir: &Path, extra: &[&str]) -> anyhow::Result<(common::KillOnDrop, String)> {
    let (server, endpoint) = common::start(&dir.join("data"), extra)?;
    Ok((common::KillOnDrop(server), endpoint))
}

/// Files `f0.bin`… of `size + i` bytes each in `dir/src`, synced to `vault`; the source dir.
fn synced(
    via: &Via<'_>,
    dir: &Path,
    vault: &str,
    n: u8,
    size: usize,
) -> anyhow::Result<std::path::PathBuf> {
    let src = dir.join("src");
    std::fs::create_dir_all(&src)?;
    for i in 0..n {
        std::fs::write(
            src.join(format!("f{i}.bin")),
            vec![i; size + usize::from(i)],
        )?;
    }
    json(
        via,
        &["sync", src.to_str().unwrap_or_default(), "--vault", vault],
    );
    Ok(src)
}

/// Every file of `src` is in `dst` with the same content.
fn same_files(src: &Path, dst: &Path) -> anyhow::Result<()> {
    for f in std::fs::read_dir(src)? {
        let name = f?.file_name();
        assert_eq!(
            std::fs::read(dst.join(&name))?,
            std::fs::read(src.join(&name))?,
            "{name:?}"
        );
    }
    Ok(())
}

/// A restore killed (as by a crash, or Ctrl-C) once its retrievals were asked for, and run
/// again: together they start each archive's retrieval once — the rerun uses the jobs the
/// first run started — and the rerun restores every file.
#[test]
fn an_interrupted_restore_and_its_rerun_retrieve_each_archive_once() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (_server, endpoint) = delayed_server(dir.path())?;
    let via = Via::Endpoint(&endpoint);
    let src = synced(&via, dir.path(), "crash", 6, 1000)?;
    let dst = dir.path().join("dst");
    let d = dst.to_str().unwrap_or_default();
    let mut first = cli_run::command(&via, &["restore", d, "--vault", "crash", "--quiet"]);
    let mut child = common::KillOnDrop(first.spawn()?);
    let deadline = Instant::now() + DELAY * 4;
    while archive_retrievals(&via, "crash") < 6 {
        assert!(
            Instant::now() < deadline,
            "the first run never asked for the retrievals"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.0.kill()?;
    let _ = child.0.wait();
    assert!(!dst.join("f0.bin").exists(), "killed before any download");
    let rerun = json(&via, &["restore", d, "--vault", "crash"]);
    assert_eq!(
        rerun["restored"].as_array().map(Vec::len),
        Some(6),
        "{rerun}"
    );
    assert_eq!(rerun["plan"]["retrievals"]["reused"], 6, "{rerun}");
    assert_eq!(rerun["plan"]["retrievals"]["started"], 0, "{rerun}");
    assert_eq!(
        archive_retrievals(&via, "crash"),
        6,
        "each archive retrieved once"
    );
    same_files(&src, &dst)
}

/// Outputs kept a short time (`--job-expiry 2s`) and downloads slowed (`--limit-rate`) so
/// that the last archives' outputs expire before their turn: those are asked for again and
/// the restore completes, every file verified.
#[test]
fn outputs_that_expire_before_their_download_are_asked_for_again() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (_server, endpoint) = server(
        dir.path(),
        &["--retrieval-delay", "1s", "--job-expiry", "2s"],
    )?;
    let via = Via::Endpoint(&endpoint);
    let src = synced(&via, dir.path(), "expiry", 6, 100_000)?;
    let dst = dir.path().join("dst");
    let d = dst.to_str().unwrap_or_default();
    // Four downloads at once share 100 KB/s: the first four take about 4 s, well past the
    // other two outputs' 2 s.
    let out = glacier(
        &via,
        &["restore", d, "--vault", "expiry", "--limit-rate", "100K"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("expired before it was downloaded; asking for it again"),
        "{stderr}"
    );
    same_files(&src, &dst)
}

/// A data retrieval policy that admits only part of the bytes: the restore starts what it
/// may, says it waits for the rest, and finishes once the service admits them (here the
/// policy is lifted; on AWS the sliding hour moves on) — it does not fail.
#[test]
fn a_retrieval_policy_that_admits_part_makes_the_restore_wait_then_finish() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (_server, endpoint) = server(dir.path(), &["--retrieval-delay", "1s"])?;
    let via = Via::Endpoint(&endpoint);
    let src = synced(&via, dir.path(), "policy", 6, 1000)?;
    let rt = tokio::runtime::Runtime::new()?;
    let client = conformance_aws_sdk::client(&endpoint);
    let set = |bytes_per_hour: Option<i64>| {
        let rule = aws_sdk_glacier::types::DataRetrievalRule::builder();
        let rule = match bytes_per_hour {
            Some(n) => rule.strategy("BytesPerHour").bytes_per_hour(n),
            None => rule.strategy("None"),
        };
        rt.block_on(
            client
                .set_data_retrieval_policy()
                .account_id("-")
                .policy(
                    aws_sdk_glacier::types::DataRetrievalPolicy::builder()
                        .rules(rule.build())
                        .build(),
                )
                .send(),
        )
        .map(|_| ())
        .map_err(anyhow::Error::new)
    };
    // Two archives of about 1,000 bytes fit an hour's 2,500 bytes; the others wait.
    set(Some(2500))?;
    let dst = dir.path().join("dst");
    let d = dst.to_str().unwrap_or_default();
    let mut restore = cli_run::command(&via, &["restore", d, "--vault", "policy"]);
    restore
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = restore.spawn()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while archive_retrievals(&via, "policy") < 2 {
        assert!(Instant::now() < deadline, "no retrieval was started");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        archive_retrievals(&via, "policy"),
        2,
        "the policy admits two"
    );
    set(None)?;
    let out = child.wait_with_output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("4 held back until the service admits them")
            && stderr.contains("data retrieval policy"),
        "{stderr}"
    );
    assert_eq!(archive_retrievals(&via, "policy"), 6);
    same_files(&src, &dst.clone())
}

/// A local file changed after its archive was made is kept (and named) unless --overwrite;
/// one that differs but is older is replaced; one with the vault's content is left alone
/// whatever its mtime.
#[test]
fn restore_keeps_local_edits_unless_overwrite() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("store");
    let via = Via::Local(&store);
    let src = synced(&via, dir.path(), "edits", 3, 100)?;
    let dst = dir.path().join("dst");
    let d = dst.to_str().unwrap_or_default();
    json(&via, &["restore", d, "--vault", "edits"]);
    let long_ago = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    std::fs::write(dst.join("f0.bin"), b"edited here")?;
    std::fs::write(dst.join("f1.bin"), b"stale copy")?;
    std::fs::File::options()
        .write(true)
        .open(dst.join("f1.bin"))?
        .set_modified(long_ago)?;
    std::fs::File::options()
        .write(true)
        .open(dst.join("f2.bin"))?
        .set_modified(long_ago)?;
    let again = json(&via, &["restore", d, "--vault", "edits"]);
    assert_eq!(again["kept"], serde_json::json!(["f0.bin"]), "{again}");
    let restored: Vec<&str> = again["restored"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["path"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(restored, ["f1.bin"], "{again}");
    assert_eq!(std::fs::read(dst.join("f0.bin"))?, b"edited here");
    let out = glacier(&via, &["restore", d, "--vault", "edits"]);
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("kept f0.bin: changed here after it was archived (--overwrite replaces it)")
    );
    json(&via, &["restore", d, "--vault", "edits", "--overwrite"]);
    same_files(&src, &dst)
}

/// Archives written by other tools are restored under the names their descriptions hold
/// (FastGlacier's XML, JSON with a Path) or `--names` gives; those with no name are counted
/// and said, with the command that gets one.
#[test]
fn restore_reads_other_tools_names_and_says_which_archives_have_none() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("store");
    let via = Via::Local(&store);
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let described = [
        (
            "fast",
            format!(
                "<m><v>4</v><p>{}</p><lm>20190501T100059Z</lm></m>",
                b64("photos/été.jpg")
            ),
        ),
        (
            "json",
            r#"{"Path":"docs\\report.txt","UTCDateModified":"20100310T110623Z"}"#.to_owned(),
        ),
        ("plain", "backup of 2014".to_owned()),
    ];
    let mut ids = std::collections::HashMap::new();
    for (name, description) in &described {
        let f = dir.path().join(name);
        std::fs::write(&f, name.as_bytes())?;
        let up = json(
            &via,
            &[
                "upload",
                f.to_str().unwrap_or_default(),
                "--vault",
                "tools",
                "--description",
                description,
            ],
        );
        ids.insert(
            *name,
            up[0]["archive_id"].as_str().unwrap_or_default().to_owned(),
        );
    }
    let dst = dir.path().join("dst");
    let d = dst.to_str().unwrap_or_default();
    let out = glacier(&via, &["restore", d, "--vault", "tools"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(dst.join("photos/été.jpg"))?, b"fast");
    assert_eq!(std::fs::read(dst.join("docs/report.txt"))?, b"json");
    let mtime = std::fs::metadata(dst.join("photos/été.jpg"))?.modified()?;
    assert_eq!(
        mtime,
        std::time::UNIX_EPOCH + Duration::from_secs(1_556_704_859)
    );
    assert!(
        stdout.contains(&format!("1 archive has no file name in its description: `glacier get {} --vault tools -O FILE` retrieves one", ids["plain"])),
        "{stdout}"
    );
    let names = dir.path().join("names.csv");
    std::fs::write(
        &names,
        format!("archive id,name\n{},old/backup.tar\n", ids["plain"]),
    )?;
    let named = json(
        &via,
        &[
            "restore",
            d,
            "--vault",
            "tools",
            "--names",
            names.to_str().unwrap_or_default(),
        ],
    );
    assert_eq!(named["unnamed"], serde_json::json!([]), "{named}");
    assert_eq!(std::fs::read(dst.join("old/backup.tar"))?, b"plain");
    Ok(())
}

/// `migrate --delete-source`: every archive copied, verified, recorded in the report (one
/// JSON line each: id, size, tree hash, description, name, destination, when verified), then
/// deleted at the source; a rerun copies nothing again.
#[test]
fn migrate_reports_each_archive_and_deletes_the_source_after_verifying() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (_server, endpoint) = server(dir.path(), &[])?;
    let via = Via::Endpoint(&endpoint);
    synced(&via, dir.path(), "moving", 4, 3000)?;
    let dst = dir.path().join("copy");
    std::fs::create_dir_all(&dst)?;
    let to = format!("local:{}", dst.display());
    let args = [
        "migrate",
        "--from",
        &endpoint,
        "--to",
        &to,
        "--vault",
        "moving",
        "--delete-source",
    ];
    let summary = json(&via, &args);
    let vault = &summary["vaults"][0];
    assert_eq!(vault["copied"], 4, "{summary}");
    let report = std::fs::read_to_string(vault["report"].as_str().unwrap_or_default())?;
    let lines: Vec<Value> = report
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let copies: Vec<&Value> = lines
        .iter()
        .filter(|l| l.get("destination").is_some())
        .collect();
    assert_eq!(copies.len(), 4, "{report}");
    for c in &copies {
        assert_eq!(
            c["sha256_tree_hash"].as_str().map(str::len),
            Some(64),
            "{c}"
        );
        assert!(
            c["name"].as_str().is_some_and(|n| n.starts_with('f')),
            "{c}"
        );
        assert!(c["verified_at"].is_string() && c["size"].is_u64(), "{c}");
    }
    let deletions = lines.iter().filter(|l| l["source_deleted"] == true).count();
    assert_eq!(deletions, 4, "{report}");
    let left = json(&via, &["inventory", "--vault", "moving"]);
    assert_eq!(left["archives"].as_array().map(Vec::len), Some(0), "{left}");
    let copied = json(&Via::Local(&dst), &["inventory", "--vault", "moving"]);
    assert_eq!(copied["archives"].as_array().map(Vec::len), Some(4));
    let again = json(&via, &args);
    assert_eq!(again["vaults"][0]["copied"], 0, "{again}");
    Ok(())
}

/// `get` of several archives retrieves them together into a directory, each under the file
/// name its description holds.
#[test]
fn get_of_several_archives_retrieves_them_together() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (_server, endpoint) = delayed_server(dir.path())?;
    let via = Via::Endpoint(&endpoint);
    let mut ids = Vec::new();
    for i in 0..3u8 {
        let f = dir.path().join(format!("g{i}"));
        std::fs::write(&f, vec![i; 500])?;
        let up = json(
            &via,
            &[
                "upload",
                f.to_str().unwrap_or_default(),
                "--vault",
                "several",
            ],
        );
        ids.push(up[0]["archive_id"].as_str().unwrap_or_default().to_owned());
    }
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out)?;
    let started = Instant::now();
    let mut args = vec!["get"];
    args.extend(ids.iter().map(String::as_str));
    args.extend(["--vault", "several", "-O", out.to_str().unwrap_or_default()]);
    let got = glacier(&via, &args);
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    let took = started.elapsed();
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(std::fs::read(out.join(id))?, vec![i as u8; 500]);
    }
    assert!(took < DELAY * 2, "three archives took {took:?}");
    Ok(())
}

/// The plan's cost at the prices of the config file's `[retrieval_prices.TIER]` (another
/// region's), a wrong tier name refused with the file and the names that are; `migrate
/// --dry-run` plans each vault and copies nothing.
#[test]
fn plans_use_the_config_files_prices_and_migrate_dry_run_copies_nothing() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("store");
    let via = Via::Local(&store);
    synced(&via, dir.path(), "priced", 4, 1000)?;
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[retrieval_prices.bulk]\nper_gb = 0.0\nper_thousand_requests = 1000.0\n",
    )?;
    let dst = dir.path().join("dst");
    let plan = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["-o", "json", "--quiet"]);
        cli_run::command(&via, &all)
            .env("GLACIER_CONFIG", &config)
            .output()
    };
    let d = dst.to_str().unwrap_or_default();
    let out = plan(&[
        "restore",
        d,
        "--vault",
        "priced",
        "--dry-run",
        "--tier",
        "bulk",
    ])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(
        v["plan"]["cost_usd"], 4.0,
        "four requests at $1,000 per 1,000: {v}"
    );
    std::fs::write(
        &config,
        "[retrieval_prices.glacial]\nper_gb = 1.0\nper_thousand_requests = 1.0\n",
    )?;
    let out = plan(&["restore", d, "--vault", "priced", "--dry-run"])?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("[retrieval_prices.glacial]: not a tier"),
        "{stderr}"
    );
    let copy = dir.path().join("copy");
    std::fs::create_dir_all(&copy)?;
    let to = format!("local:{}", copy.display());
    let from = format!("local:{}", store.display());
    let dry = json(
        &via,
        &[
            "migrate",
            "--from",
            &from,
            "--to",
            &to,
            "--vault",
            "priced",
            "--dry-run",
        ],
    );
    assert_eq!(dry["vaults"][0]["plan"]["archives"], 4, "{dry}");
    let listed = json(&Via::Local(&copy), &["vault", "list"]);
    assert_eq!(
        listed,
        serde_json::json!([]),
        "nothing made at the destination"
    );
    Ok(())
}

/// `migrate --delete-source` from a vault whose policy denies deleting archives (as a Vault
/// Lock does): each archive is copied and the refusal reported per archive, in the summary and
/// the report; the run succeeds.
#[test]
fn migrate_reports_source_archives_a_policy_keeps() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (_server, endpoint) = server(dir.path(), &[])?;
    let via = Via::Endpoint(&endpoint);
    synced(&via, dir.path(), "locked", 2, 500)?;
    let policy = serde_json::from_str::<Value>(&common::deny_deletes_lock_body("locked", "keep"))?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(
        conformance_aws_sdk::client(&endpoint)
            .set_vault_access_policy()
            .account_id("-")
            .vault_name("locked")
            .policy(
                aws_sdk_glacier::types::VaultAccessPolicy::builder()
                    .policy(policy["Policy"].as_str().unwrap_or_default())
                    .build(),
            )
            .send(),
    )
    .map_err(anyhow::Error::new)?;
    let dst = dir.path().join("copy");
    std::fs::create_dir_all(&dst)?;
    let to = format!("local:{}", dst.display());
    let summary = json(
        &via,
        &[
            "migrate",
            "--from",
            &endpoint,
            "--to",
            &to,
            "--vault",
            "locked",
            "--delete-source",
        ],
    );
    let vault = &summary["vaults"][0];
    assert_eq!(
        (vault["copied"].as_u64(), vault["source_kept"].as_u64()),
        (Some(2), Some(2)),
        "{summary}"
    );
    let report = std::fs::read_to_string(vault["report"].as_str().unwrap_or_default())?;
    let kept = report
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| {
            l["source_deleted"] == false
                && l["source_kept"]
                    .as_str()
                    .is_some_and(|m| m.contains("AccessDenied"))
        })
        .count();
    assert_eq!(kept, 2, "{report}");
    let left = json(&via, &["inventory", "--vault", "locked"]);
    assert_eq!(
        left["archives"].as_array().map(Vec::len),
        Some(2),
        "the source keeps them"
    );
    Ok(())
}
