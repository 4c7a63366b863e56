//! The CLI as people use it: the real `glacier` binary in a fresh home directory (nothing
//! configured: the local store in `~/.local/share`, state in `~/.cache`), one test per bug
//! a new user met, named after it.

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod common;

/// A fresh home directory and the commands run in it.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        match tempfile::tempdir() {
            Ok(dir) => Home { dir },
            Err(e) => panic!("making a home directory: {e}"),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, data: &[u8]) -> PathBuf {
        let path = self.path(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir: {e}"));
        }
        std::fs::write(&path, data).unwrap_or_else(|e| panic!("writing {path:?}: {e}"));
        path
    }

    /// `glacier ARGS` as a user in this home would run it, in the home directory.
    fn command(&self, args: &[&str]) -> Command {
        self.command_as(false, args)
    }

    /// As [`Home::command`]; `unprivileged`: without the powers root has to read any file
    /// (the tests run as root in CI), so that permissions apply as they do to users.
    fn command_as(&self, unprivileged: bool, args: &[&str]) -> Command {
        let bin = env!("CARGO_BIN_EXE_glacier");
        let mut cmd = if unprivileged && rustix::process::geteuid().is_root() {
            let mut c = Command::new("setpriv");
            c.args([
                "--bounding-set",
                "-dac_override,-dac_read_search",
                "--",
                bin,
            ]);
            c
        } else {
            Command::new(bin)
        };
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("HOME", self.dir.path());
        for var in [
            "XDG_DATA_HOME",
            "XDG_CACHE_HOME",
            "XDG_CONFIG_HOME",
            "GLACIER_STATE_DIR",
            "GLACIER_LOCAL_STORE",
            "GLACIER_ENDPOINT",
            "GLACIER_PROFILE",
            "GLACIER_CONFIG",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_PROFILE",
        ] {
            cmd.env_remove(var);
        }
        cmd.stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, None)
    }

    fn run_with_stdin(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut cmd = self.command(args);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        if stdin.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("running glacier: {e}"));
        if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(data)
                .unwrap_or_else(|e| panic!("writing stdin: {e}"));
        }
        child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("waiting for glacier: {e}"))
    }

    /// Runs a command that must succeed; returns its standard output.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "glacier {args:?}: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// Runs a command that must succeed with `-o json`; returns what it printed.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json", "-q"]);
        let out = self.ok(&all);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?} printed {out:?}: {e}"))
    }

    /// Runs a command that must fail; returns its standard error.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "glacier {args:?} succeeded: {}",
            text(&out.stdout)
        );
        text(&out.stderr)
    }

    /// `glacier serve` as a user starts it (the default data directory, the identity generated
    /// there), until it prints its address; the process and its endpoint URL.
    fn serve(&self) -> anyhow::Result<(common::KillOnDrop, String)> {
        let mut child = self
            .command(&["serve", "--listen", "127.0.0.1:0"])
            .env("GLACIER_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take();
        let child = common::KillOnDrop(child);
        let mut line = String::new();
        if let Some(out) = stdout {
            std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line)?;
        }
        let endpoint = line.trim().rsplit(' ').next().unwrap_or_default();
        anyhow::ensure!(endpoint.starts_with("http://"), "serve printed {line:?}");
        Ok((child, endpoint.to_owned()))
    }

    /// The number of unfinished multipart uploads in `vault`.
    fn uploads(&self, vault: &str) -> usize {
        self.json(&["multipart", "list", "--vault", vault])
            .as_array()
            .map_or(0, Vec::len)
    }

    fn jobs(&self, vault: &str) -> usize {
        self.json(&["job", "list", "--vault", vault])
            .as_array()
            .map_or(0, Vec::len)
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

#[test]
fn a_closed_pipe_ends_the_command_quietly() {
    let home = Home::new();
    home.write("a.bin", &data(10));
    home.ok(&["upload", "a.bin", "--vault", "v"]);
    home.ok(&["inventory", "--vault", "v"]);
    home.write("big.bin", &data(3_000_000));
    let id = home.ok(&["upload", "big.bin", "--vault", "v"]);
    let id = id.trim();
    for args in [
        &["get", id, "--vault", "v", "-O", "-"][..],
        &["inventory", "--vault", "v", "--cached"][..],
        &["inventory", "--vault", "v", "--cached", "-o", "json"],
        &["inventory", "--vault", "v", "--cached", "--format", "csv"],
        &["vault", "list"],
        &["completions", "bash"],
    ] {
        let mut child = home
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        // The reader goes away before anything is written, as `| head -c 0` does.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn get_to_a_dash_writes_standard_output() {
    let home = Home::new();
    let bytes = data(3_000_001);
    home.write("f.bin", &bytes);
    let id = home.ok(&["upload", "f.bin", "--vault", "v"]);
    let out = home.run(&["get", id.trim(), "--vault", "v", "-O", "-"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stdout == bytes, "standard output is not the archive");
    assert!(!home.path("-").exists(), "a file named - was written");
}

#[test]
fn a_failed_stdin_upload_leaves_no_multipart_upload() {
    let home = Home::new();
    home.ok(&["vault", "create", "v"]);
    for _ in 0..2 {
        let out = home.run_with_stdin(&["upload", "-", "--vault", "v"], Some(b""));
        assert!(!out.status.success());
        assert!(text(&out.stderr).contains("empty"), "{}", text(&out.stderr));
    }
    assert_eq!(home.uploads("v"), 0);
}

#[test]
fn a_stdin_upload_reports_its_size() {
    let home = Home::new();
    let out = home.run_with_stdin(
        &["upload", "-", "--vault", "v", "-o", "json", "-q"],
        Some(&data(12_345)),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(v[0]["size"], 12_345, "{v}");
}

#[test]
fn get_into_a_directory_is_refused_before_retrieving() {
    let home = Home::new();
    home.write("f.bin", &data(2_000_000));
    let id = home.ok(&["upload", "f.bin", "--vault", "v"]);
    std::fs::create_dir(home.path("adir")).unwrap_or_else(|e| panic!("{e}"));
    let err = home.fails(&["get", id.trim(), "--vault", "v", "-O", "adir"]);
    assert!(err.contains("is a directory"), "{err}");
    let err = home.fails(&["get", id.trim(), "--vault", "v", "-O", "missing/f.bin"]);
    assert!(err.contains("not a directory"), "{err}");
    assert!(!home.path("adir.partial").exists());
    assert_eq!(home.jobs("v"), 0, "a retrieval was started");
}

/// Regression: `sync` stopped at the first directory it could not read, even one it was told
/// to exclude. Now an excluded directory is never entered, and what cannot be read is reported
/// and skipped: the rest goes up, the summary names what was skipped, the exit status is 1.
#[test]
fn sync_skips_what_it_cannot_read_and_never_enters_an_excluded_directory() {
    use std::os::unix::fs::PermissionsExt;
    let home = Home::new();
    home.write("tree/a.txt", b"a");
    home.write("tree/locked/secret.txt", b"s");
    home.write("tree/cache/x.bin", b"x");
    home.write("tree/z.txt", b"z");
    let mode = |rel: &str, m: u32| {
        std::fs::set_permissions(home.path(rel), std::fs::Permissions::from_mode(m))
            .unwrap_or_else(|e| panic!("chmod {rel}: {e}"));
    };
    mode("tree/locked", 0o000);
    mode("tree/cache", 0o000);
    let sync = |extra: &[&str]| {
        let mut args = vec![
            "sync",
            "tree",
            "--vault",
            "v",
            "--exclude",
            "cache",
            "-o",
            "json",
        ];
        args.extend(extra);
        let out = home.command_as(true, &args).output();
        out.unwrap_or_else(|e| panic!("running glacier: {e}"))
    };
    let out = sync(&[]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let summary: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)));
    let uploaded: Vec<&str> = summary["uploaded"]
        .as_array()
        .map(|a| a.iter().filter_map(|u| u["path"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(uploaded, ["a.txt", "z.txt"], "{summary}");
    assert_eq!(
        summary["unreadable"],
        serde_json::json!(["locked"]),
        "{summary}"
    );
    assert!(err.contains("locked") && !err.contains("cache"), "{err}");
    // Once readable, what was skipped goes up; the excluded directory is still never read.
    mode("tree/locked", 0o755);
    let out = sync(&[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(
        summary["uploaded"][0]["path"], "locked/secret.txt",
        "{summary}"
    );
    assert_eq!(summary["unchanged"], 2, "{summary}");
    mode("tree/cache", 0o755);
}

/// Regression: `sync` compared whole-second mtimes, so a file rewritten within the same second
/// at the same size was taken as unchanged and never uploaded. Now the nanosecond mtime, the
/// ctime and the inode count too.
#[test]
fn sync_sees_a_change_within_the_same_second() {
    let home = Home::new();
    let file = home.write("tree/f.txt", b"first");
    let at = |nanos: u32| {
        let t = std::time::UNIX_EPOCH + std::time::Duration::new(1_700_000_000, nanos);
        std::fs::File::options()
            .write(true)
            .open(&file)
            .and_then(|f| f.set_modified(t))
            .unwrap_or_else(|e| panic!("setting the mtime: {e}"));
    };
    at(100_000_000);
    home.ok(&["sync", "tree", "--vault", "v"]);
    std::fs::write(&file, b"other").unwrap_or_else(|e| panic!("{e}"));
    at(900_000_000);
    let run = home.json(&["sync", "tree", "--vault", "v"]);
    assert_eq!(run["uploaded"][0]["path"], "f.txt", "{run}");
    let again = home.json(&["sync", "tree", "--vault", "v"]);
    assert_eq!(
        (
            again["uploaded"].as_array().map(Vec::len),
            &again["unchanged"]
        ),
        (Some(0), &serde_json::json!(1)),
        "{again}"
    );
    home.ok(&["restore", "back", "--vault", "v"]);
    assert_eq!(
        std::fs::read(home.path("back/f.txt")).unwrap_or_default(),
        b"other"
    );
}

/// Regression: a mistyped `--local-store DIR` or `local:DIR` made a new store there (256 blob
/// directories, a key and a database) and reported success. Now only the default store is
/// made on first use; any other directory must exist.
#[test]
fn a_mistyped_local_store_is_refused_and_nothing_is_made() {
    let home = Home::new();
    let missing = home.path("no/such/store");
    let m = missing.to_str().unwrap_or_default();
    let err = home.fails(&["vault", "list", "--local-store", m]);
    assert!(
        err.contains("no local store") && err.contains("does not exist") && err.contains(m),
        "{err}"
    );
    let to = format!("local:{m}");
    home.ok(&["vault", "create", "v"]);
    let err = home.fails(&["migrate", "--from", "local", "--to", &to]);
    assert!(err.contains("does not exist"), "{err}");
    assert!(!home.path("no").exists(), "nothing was made");
    // A directory made for it is a new store; the default store is made on first use.
    std::fs::create_dir_all(&missing).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        home.json(&["vault", "list", "--local-store", m]),
        serde_json::json!([])
    );
    assert!(home.path(".local/share/glacier/local").is_dir());
}

/// Regression: `upload a b` printed "waiting: another glacier process is using the local
/// store" about itself (6 of 10 runs), also under -q: each file opened the store again while
/// the last opening was still being released. Now a command opens the store once.
#[test]
fn uploading_several_files_never_waits_for_itself() {
    let home = Home::new();
    for name in ["a.bin", "b.bin", "c.bin"] {
        home.write(name, name.as_bytes());
    }
    for _ in 0..5 {
        let out = home.run(&["upload", "a.bin", "b.bin", "c.bin", "--vault", "v", "-q"]);
        let err = text(&out.stderr);
        assert!(out.status.success() && err.is_empty(), "{err}");
        assert_eq!(text(&out.stdout).lines().count(), 3);
    }
}

/// Regression: `status` and `-v` said "the local store" while the commands went through the
/// `glacier serve` holding it. Now they say which.
#[test]
fn status_says_when_a_server_holds_the_local_store() -> anyhow::Result<()> {
    let home = Home::new();
    home.ok(&["vault", "create", "v"]);
    assert!(!home.ok(&["status"]).contains("through"));
    let (_server, endpoint) = home.serve()?;
    let status = home.ok(&["status"]);
    assert!(
        status.contains(&format!("through the glacier serve at {endpoint}")),
        "{status}"
    );
    let out = home.run(&["vault", "list", "-v"]);
    assert!(
        text(&out.stderr).contains(&format!("through the glacier serve at {endpoint}")),
        "{}",
        text(&out.stderr)
    );
    let json = home.json(&["status"]);
    assert_eq!(json["target"]["served_by"], endpoint.as_str(), "{json}");
    Ok(())
}

/// Regression: an unknown key in `~/.config/glacier/config.toml` (`endpont = …`) was ignored,
/// and the commands went to the local store. Now it is refused, naming the key and the keys
/// there are.
#[test]
fn unknown_keys_in_the_config_file_are_refused() {
    let home = Home::new();
    home.write(
        ".config/glacier/config.toml",
        b"endpont = \"http://127.0.0.1:1\"\n",
    );
    let err = home.fails(&["vault", "list"]);
    assert!(
        err.contains("endpont") && err.contains("endpoint") && err.contains("config.toml"),
        "{err}"
    );
    home.write(
        ".config/glacier/config.toml",
        b"[profile.aws]\nregoin = \"eu-west-1\"\n",
    );
    let err = home.fails(&["vault", "list", "--profile", "aws"]);
    assert!(err.contains("regoin") && err.contains("region"), "{err}");
    assert!(
        !home.path(".local/share/glacier").exists(),
        "nothing was made"
    );
}

/// Regression: several values were checked only after requests were made (`--description café`
/// after the vault was created), or refused with the wrong reason (`--range 1M-2M` "first <=
/// last", `--part-size 0` echoed as "0M", `--endpoint ftp://…` "is the server running?");
/// clap's usage errors took several lines and exit status 2, and flags before the command were
/// refused. Now each is one line naming what is wrong, exit status 1 (a JSON line under -o
/// json), before any request, and `glacier --endpoint URL vault list` works.
#[test]
fn usage_errors_are_one_line_before_any_request() -> anyhow::Result<()> {
    let home = Home::new();
    home.write("f.bin", b"x");
    for (args, says) in [
        (
            &["upload", "f.bin", "--vault", "v", "--description", "café"][..],
            "not printable ASCII",
        ),
        (
            &["retrieve", "ID", "--vault", "v", "--range", "1M-2M"],
            "plain numbers, without K, M or G",
        ),
        (
            &["vault", "list", "--endpoint", "ftp://example.com"],
            "http:// or https://",
        ),
        (&["vault", "lis"], "unrecognized subcommand 'lis'"),
        (&["upload"], "--vault <VAULT> <FILE>"),
    ] {
        let out = home.run(args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(says),
            "{args:?}: {err}"
        );
        let mut json_args = args.to_vec();
        json_args.extend(["-o", "json"]);
        let out = home.run(&json_args);
        let line: Value = serde_json::from_slice(&out.stderr)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", text(&out.stderr)));
        assert_eq!(line["event"], "error", "{line}");
    }
    assert!(
        !home.path(".local/share/glacier").exists(),
        "no store was opened, no vault made"
    );
    let (_server, endpoint) = home.serve()?;
    let exports = home.ok(&["serve", "--print-env", "--listen", "127.0.0.1:1"]);
    let mut cmd = home.command(&["--endpoint", &endpoint, "-o", "json", "vault", "list"]);
    for (k, v) in exports
        .lines()
        .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
        .filter(|(k, _)| k.starts_with("AWS_") && !k.starts_with("AWS_ENDPOINT"))
    {
        cmd.env(k, v);
    }
    let out = cmd.output()?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(serde_json::from_slice::<Value>(&out.stdout)?.is_array());
    Ok(())
}

/// Regression: messages a new user met: "created vault photos" for a vault that existed, names
/// and causes said twice ("vault nope: Vault not found: nope", "Permission denied (os error
/// 13): Permission denied (os error 13)"), "1 download requests", "retrieving N bytes" when
/// a finished job was used instead, and tables with two date formats.
#[test]
fn messages_say_each_thing_once_and_tables_one_date_format() {
    let home = Home::new();
    assert!(
        home.ok(&["vault", "create", "photos"])
            .starts_with("created vault photos")
    );
    assert!(
        home.ok(&["vault", "create", "photos"])
            .starts_with("vault photos exists already")
    );
    let err = home.fails(&["vault", "describe", "nope"]);
    assert_eq!(err.matches("nope").count(), 1, "{err}");
    home.write("f.bin", &data(3_000_000));
    let id = home.ok(&["upload", "f.bin", "--vault", "photos"]);
    let id = id.trim();
    home.ok(&["inventory", "--vault", "photos"]);
    let out = home.run(&["get", id, "--vault", "photos", "-O", "a.bin"]);
    let err = text(&out.stderr);
    assert!(err.contains("then 1 download request (size"), "{err}");
    let out = home.run(&["get", id, "--vault", "photos", "-O", "b.bin"]);
    let err = text(&out.stderr);
    assert!(
        err.contains("using the retrieval job") && !err.contains("retrieving 3000000 bytes"),
        "{err}"
    );
    let dry = home.ok(&["retrieve", id, "--vault", "photos", "--dry-run"]);
    assert!(dry.contains("in 1 request,"), "{dry}");
    // One date format in every table: 2026-12-06 15:23:41.
    // `2026-12-06 15:23:41` in a row, and never the ISO form `2026-12-06T…`.
    let shape = |w: &[u8], sep: u8| {
        w.len() >= 19
            && w.iter().take(19).enumerate().all(|(i, &b)| match i {
                4 | 7 => b == b'-',
                10 => b == sep,
                13 | 16 => b == b':',
                _ => b.is_ascii_digit(),
            })
    };
    let date = |s: &str| {
        let b = s.as_bytes();
        (0..b.len()).any(|i| shape(&b[i..], b' ')) && !(0..b.len()).any(|i| shape(&b[i..], b'T'))
    };
    for args in [
        &["vault", "list"][..],
        &["job", "list", "--vault", "photos"],
        &["inventory", "--vault", "photos", "--cached"],
    ] {
        let table = home.ok(args);
        // Every line but the header (which has no digit).
        let rows: Vec<&str> = table
            .lines()
            .filter(|l| l.bytes().any(|b| b.is_ascii_digit()))
            .collect();
        assert!(rows.iter().all(|r| date(r)), "{args:?}: {table}");
    }
    // A cause is said once.
    let locked = home.path("locked");
    std::fs::create_dir_all(&locked).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(locked.join("x"), b"x").unwrap_or_else(|e| panic!("{e}"));
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000))
        .unwrap_or_else(|e| panic!("{e}"));
    let out = home
        .command_as(true, &["upload", "locked/x", "--vault", "photos"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let err = text(&out.stderr);
    assert_eq!(err.matches("os error 13").count(), 1, "{err}");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn sync_refuses_a_file() {
    let home = Home::new();
    home.write("small.txt", b"hello");
    let err = home.fails(&["sync", "small.txt", "--vault", "v"]);
    assert!(err.contains("not a directory"), "{err}");
    let vaults = home.json(&["vault", "list"]);
    assert_eq!(vaults, serde_json::json!([]), "something was uploaded");
}

#[test]
fn a_non_ascii_name_keeps_its_description() {
    let home = Home::new();
    home.write("ünï.txt", b"unicode");
    let out = home.run(&["upload", "ünï.txt", "--vault", "v"]);
    assert!(out.status.success());
    assert!(text(&out.stderr).contains("mt2"), "{}", text(&out.stderr));
    let inv = home.json(&["inventory", "--vault", "v"]);
    let description = inv["archives"][0]["description"]
        .as_str()
        .unwrap_or_default();
    assert!(description.starts_with("mt2 "), "{description:?}");
    let table = home.ok(&["inventory", "--vault", "v", "--cached"]);
    assert!(table.contains("ünï.txt"), "{table}");
}

#[test]
fn an_mtime_before_1970_survives_sync_and_restore() {
    let home = Home::new();
    let file = home.write("tree/old.txt", b"from 1965");
    let when = std::time::UNIX_EPOCH - std::time::Duration::from_secs(157_000_000);
    std::fs::File::options()
        .write(true)
        .open(&file)
        .and_then(|f| f.set_modified(when))
        .unwrap_or_else(|e| panic!("{e}"));
    home.ok(&["sync", "tree", "--vault", "v"]);
    home.ok(&["restore", "back", "--vault", "v"]);
    let restored = std::fs::metadata(home.path("back/old.txt"))
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(restored, when);
}

#[test]
fn the_sync_journal_survives_a_removed_cache_and_is_rebuilt_from_the_inventory() {
    let home = Home::new();
    home.write("tree/a.txt", b"a");
    home.write("tree/sub/b.txt", b"bb");
    home.ok(&["sync", "tree", "--vault", "v"]);
    std::fs::remove_dir_all(home.path(".cache")).unwrap_or_else(|e| panic!("{e}"));
    let dry = home.json(&["sync", "tree", "--vault", "v", "--dry-run"]);
    assert_eq!(dry["would_upload"], serde_json::json!([]), "{dry}");
    assert_eq!(dry["unchanged"], 2);

    // Without the journal at all, the inventory says what the vault holds.
    std::fs::remove_dir_all(home.path(".local/share/glacier/sync"))
        .unwrap_or_else(|e| panic!("{e}"));
    let out = home.run(&["sync", "tree", "--vault", "v", "--dry-run", "-o", "json"]);
    assert!(out.status.success());
    assert!(
        text(&out.stderr).contains("rebuilt"),
        "{}",
        text(&out.stderr)
    );
    let dry: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(dry["would_upload"], serde_json::json!([]), "{dry}");
    // A real run after the rebuild uploads only what changed.
    home.write("tree/c.txt", b"ccc");
    let run = home.json(&["sync", "tree", "--vault", "v"]);
    assert_eq!(run["uploaded"].as_array().map(Vec::len), Some(1), "{run}");
}

#[test]
fn each_not_found_error_names_its_own_next_step() {
    let home = Home::new();
    home.write("f.bin", b"x");
    home.ok(&["upload", "f.bin", "--vault", "v"]);
    let cases: [(&[&str], &str); 5] = [
        (&["vault", "describe", "nope"], "glacier vault create"),
        (
            &["delete", "NOSUCHARCHIVE", "--vault", "v"],
            "glacier inventory",
        ),
        (
            &["job", "describe", "NOSUCHJOB", "--vault", "v"],
            "glacier job list",
        ),
        (
            &["multipart", "abort", "NOSUCHUPLOAD", "--vault", "v"],
            "glacier multipart list",
        ),
        (&["vault", "delete", "v"], "glacier vault purge"),
    ];
    for (args, step) in cases {
        let err = home.fails(args);
        assert!(err.contains(step), "{args:?}: {err}");
        if step != "glacier vault create" {
            assert!(!err.contains("vault list"), "{args:?}: {err}");
        }
    }
}

#[test]
fn resume_advice_only_where_a_rerun_resumes() {
    let home = Home::new();
    home.write("f.bin", b"x");
    let id = home.ok(&["upload", "f.bin", "--vault", "v"]);
    for args in [
        &["get", id.trim(), "--vault", "v", "-O", "missing/out.bin"][..],
        &[
            "get",
            id.trim(),
            "--vault",
            "v",
            "-O",
            "out.bin",
            "--chunk-size",
            "3",
        ],
        &["upload", "nonexistent.bin", "--vault", "v"],
    ] {
        let err = home.fails(args);
        assert!(!err.contains("again"), "{args:?}: {err}");
    }
}

#[test]
fn a_wrong_secret_is_one_line() -> anyhow::Result<()> {
    let home = Home::new();
    let (server, endpoint) = common::start(&home.path("server"), &[])?;
    let _server = common::KillOnDrop(server);
    let out = home
        .command(&["vault", "list", "--endpoint", &endpoint])
        .env("AWS_ACCESS_KEY_ID", conformance_aws_sdk::ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", "not-the-secret")
        .output()?;
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!err.contains("Canonical"), "{err}");
    assert!(err.contains("InvalidSignatureException"), "{err}");
    assert!(err.contains("secret"), "{err}");
    let verbose = home
        .command(&["vault", "list", "--endpoint", &endpoint, "-v"])
        .env("AWS_ACCESS_KEY_ID", conformance_aws_sdk::ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", "not-the-secret")
        .output()?;
    assert!(
        text(&verbose.stderr).contains("Canonical"),
        "-v shows it all"
    );
    Ok(())
}

#[test]
fn commands_on_one_local_store_wait_for_each_other() -> anyhow::Result<()> {
    let home = Home::new();
    home.ok(&["vault", "create", "v"]);
    // An upload from a pipe holds the store while its writer is slow.
    let mut upload = home
        .command(&["upload", "-", "--vault", "v", "-q"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut pipe = upload
        .stdin
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdin"))?;
    pipe.write_all(b"first part ")?;
    std::thread::sleep(std::time::Duration::from_millis(500));
    let list = home
        .command(&["vault", "list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    std::thread::sleep(std::time::Duration::from_millis(700));
    pipe.write_all(b"and the rest")?;
    drop(pipe);
    let uploaded = upload.wait_with_output()?;
    assert!(uploaded.status.success(), "{}", text(&uploaded.stderr));
    let listed = list.wait_with_output()?;
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    assert!(
        text(&listed.stderr).contains("waiting"),
        "{}",
        text(&listed.stderr)
    );
    assert!(text(&listed.stdout).contains('v'));
    Ok(())
}

#[test]
fn glacier_serve_serves_the_local_store_and_commands_go_through_it() -> anyhow::Result<()> {
    let home = Home::new();
    home.write("f.bin", b"made before the server started");
    let id = home.ok(&["upload", "f.bin", "--vault", "v"]);
    let (_server, endpoint) = home.serve()?;
    // The server serves what the command line put in the local store...
    let keys = home.ok(&["serve", "--print-credentials-path"]);
    assert!(!keys.trim().is_empty());
    // ...and while it holds the store, commands on it go through the server.
    let inv = home.json(&["inventory", "--vault", "v"]);
    assert_eq!(inv["archives"][0]["archive_id"], id.trim(), "{inv}");
    let status = home.json(&["vault", "describe", "v"]);
    assert_eq!(status["archives"], 1);
    assert!(endpoint.starts_with("http://127.0.0.1:"));
    Ok(())
}

#[test]
fn upload_goes_on_past_a_missing_file() {
    let home = Home::new();
    home.write("a", b"a");
    home.write("b", b"b");
    let out = home.run(&["upload", "a", "missing", "b", "--vault", "v"]);
    assert!(!out.status.success());
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(stdout.lines().any(|l| l.ends_with("  b")), "{stdout}");
    assert!(
        text(&out.stderr).contains("missing"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn one_command_archives_into_a_new_vault_and_prints_just_the_id() {
    let home = Home::new();
    home.write("photo.raw", &data(1000));
    let out = home.run(&["upload", "photo.raw", "--vault", "demo"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("created vault demo"));
    let id = text(&out.stdout);
    assert_eq!(id.trim().len(), 138, "{id:?}");
    assert_eq!(id.lines().count(), 1);
}

#[test]
fn dash_o_is_the_format_and_the_error_points_at_capital_o() {
    let home = Home::new();
    let err = home.fails(&["get", "X", "--vault", "v", "-o", "out.bin"]);
    assert!(err.contains("-O out.bin"), "{err}");
}

#[test]
fn sizes_take_suffixes_and_every_value_is_checked_before_any_request() {
    let home = Home::new();
    home.write("f.bin", &data(3_000_000));
    let ok = home.json(&["upload", "f.bin", "--vault", "v", "--part-size", "1M"]);
    assert_eq!(ok[0]["size"], 3_000_000);
    for (args, says) in [
        (
            &["upload", "f.bin", "--vault", "v", "--part-size", "3"][..],
            "power of two",
        ),
        (
            &["upload", "f.bin", "--vault", "v", "--part-size", "0"],
            "\"0\" is not a part size",
        ),
        (
            &["upload", "f.bin", "--vault", "v", "--concurrency", "0"],
            "concurrency",
        ),
        (
            &["get", "X", "--vault", "v", "-O", "o", "--chunk-size", "3M"],
            "power of two",
        ),
        (
            &["get", "X", "--vault", "v", "-O", "o", "--tier", "fast"],
            "tier",
        ),
        (&["vault", "create", ""], "vault name"),
    ] {
        let err = home.fails(args);
        assert!(err.to_lowercase().contains(says), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    }
    assert_eq!(home.jobs("v"), 0);
    assert_eq!(home.uploads("v"), 0);
    let out = home.run(&["get", "X", "--vault", "v", "-O", "o", "--tier", "BULK"]);
    assert!(!text(&out.stderr).contains("tier"), "{}", text(&out.stderr));
}

#[test]
fn errors_under_json_output_are_json() {
    let home = Home::new();
    let out = home.run(&["vault", "describe", "nope", "-o", "json"]);
    assert!(!out.status.success());
    let err: Value = serde_json::from_slice(&out.stderr).unwrap_or_default();
    assert_eq!(err["event"], "error", "{}", text(&out.stderr));
    assert!(err["message"].as_str().is_some_and(|m| m.contains("nope")));
}

#[test]
fn purge_has_a_dry_run() {
    let home = Home::new();
    home.write("f.bin", b"x");
    home.ok(&["upload", "f.bin", "--vault", "v"]);
    let dry = home.json(&["vault", "purge", "v", "--dry-run"]);
    assert_eq!(
        (dry["would_delete"].as_u64(), dry["size"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(home.json(&["vault", "describe", "v"])["archives"], 1);
    let purged = home.json(&["vault", "purge", "v", "--yes"]);
    assert_eq!(purged["archives_deleted"], 1, "{purged}");
}

/// Regression: `echo n | glacier vault purge V` deleted every archive and the vault: without a
/// terminal to ask on, the purge went ahead. Now it refuses, changing nothing, unless --yes.
#[test]
fn purge_without_a_terminal_refuses_unless_yes() {
    let home = Home::new();
    home.write("f.bin", b"x");
    home.ok(&["upload", "f.bin", "--vault", "v"]);
    for stdin in [&b"n\n"[..], b"y\n", b""] {
        let out = home.run_with_stdin(&["vault", "purge", "v"], Some(stdin));
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        let err = text(&out.stderr);
        assert!(
            err.contains("not a terminal") && err.contains("--yes"),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    assert_eq!(home.json(&["vault", "describe", "v"])["archives"], 1);
    let purged = home.json(&["vault", "purge", "v", "--yes"]);
    assert_eq!(purged["vault_deleted"], true, "{purged}");
}

#[test]
fn treehash_reads_stdin_and_goes_on_past_a_missing_file() {
    let home = Home::new();
    let bytes = data(2_500_000);
    home.write("f.bin", &bytes);
    let expected = glacier_core::TreeHash::of(&bytes).to_hex();
    let out = home.run_with_stdin(&["treehash", "-"], Some(&bytes));
    assert!(
        text(&out.stdout).starts_with(&expected),
        "{}",
        text(&out.stdout)
    );
    let out = home.run(&["treehash", "missing", "f.bin"]);
    assert!(!out.status.success());
    assert!(text(&out.stdout).contains(&expected));
    assert!(text(&out.stderr).contains("missing"));
}

/// The README's quick start, run as written (but for `cargo install`: the binary under test
/// is first on PATH) in a fresh home directory with a file to archive.
#[test]
fn the_readme_quick_start_works_as_written() -> anyhow::Result<()> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))?;
    let start = readme
        .find("## Quick start")
        .ok_or_else(|| anyhow::anyhow!("no quick start"))?;
    let block = readme[start..]
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .ok_or_else(|| anyhow::anyhow!("no sh block in the quick start"))?;
    let script: String = block
        .lines()
        .filter(|l| !l.trim_start().starts_with("cargo install"))
        .map(|l| format!("{l}\n"))
        .collect();
    let home = Home::new();
    let tar = data(5_000_000);
    home.write("2024.tar", &tar);
    let bin = Path::new(env!("CARGO_BIN_EXE_glacier"))
        .parent()
        .ok_or_else(|| anyhow::anyhow!("no bin dir"))?;
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("sh")
        .args(["-euc", &script])
        .current_dir(home.dir.path())
        .env("HOME", home.dir.path())
        .env("PATH", path)
        .env_remove("XDG_DATA_HOME")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("GLACIER_STATE_DIR")
        .env_remove("GLACIER_LOCAL_STORE")
        .env_remove("GLACIER_ENDPOINT")
        .output()?;
    assert!(out.status.success(), "{script}\n{}", text(&out.stderr));
    let restored = std::fs::read(home.path("2024-restored.tar"))?;
    assert!(restored == tar, "the restored file differs");
    Ok(())
}

#[test]
fn sync_keeps_empty_files_and_directories_reports_symlinks_and_excludes_whole_directories() {
    let home = Home::new();
    home.write("tree/a.txt", b"a");
    home.write("tree/empty.txt", b"");
    home.write("tree/cache/big.bin", b"not wanted");
    std::fs::create_dir_all(home.path("tree/nothing/here")).unwrap_or_else(|e| panic!("{e}"));
    std::os::unix::fs::symlink("a.txt", home.path("tree/link")).unwrap_or_else(|e| panic!("{e}"));
    let out = home.run(&[
        "sync",
        "tree",
        "--vault",
        "v",
        "--exclude",
        "cache",
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("link"), "{}", text(&out.stderr));
    let run: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let uploaded: Vec<&str> = run["uploaded"]
        .as_array()
        .map(|a| a.iter().filter_map(|u| u["path"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(uploaded, ["a.txt"], "{run}");
    assert_eq!(run["skipped_symlinks"], serde_json::json!(["link"]));
    home.ok(&["restore", "back", "--vault", "v"]);
    assert_eq!(
        std::fs::read(home.path("back/a.txt")).ok(),
        Some(b"a".to_vec())
    );
    assert_eq!(
        std::fs::metadata(home.path("back/empty.txt"))
            .map(|m| m.len())
            .ok(),
        Some(0)
    );
    assert!(home.path("back/nothing/here").is_dir());
    assert!(!home.path("back/cache").exists());
}

#[test]
fn serve_prints_ready_to_paste_settings_for_its_clients() -> anyhow::Result<()> {
    let home = Home::new();
    let env = home.ok(&["serve", "--listen", "127.0.0.1:9090", "--print-env"]);
    let keys = std::fs::read_to_string(home.ok(&["serve", "--print-credentials-path"]).trim())?;
    for line in env.lines() {
        assert!(line.starts_with("export "), "{env}");
    }
    let value = |name: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("export {name}=")))
            .map(str::to_owned)
            .unwrap_or_default()
    };
    assert!(keys.contains(&value("AWS_ACCESS_KEY_ID")), "{env}");
    assert!(keys.contains(&value("AWS_SECRET_ACCESS_KEY")), "{env}");
    // The settings reach the server they describe.
    let (_server, endpoint) = home.serve()?;
    let out = home
        .command(&["vault", "create", "paste"])
        .env("GLACIER_ENDPOINT", &endpoint)
        .env("AWS_ACCESS_KEY_ID", value("AWS_ACCESS_KEY_ID"))
        .env("AWS_SECRET_ACCESS_KEY", value("AWS_SECRET_ACCESS_KEY"))
        .output()?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    Ok(())
}

#[test]
fn flags_appear_only_on_commands_that_use_them() {
    let home = Home::new();
    home.write("f.bin", b"x");
    for args in [
        &["treehash", "f.bin", "--endpoint", "http://127.0.0.1:9"][..],
        &["vault", "list", "--limit-rate", "1M"],
        &[
            "migrate",
            "--from",
            "local",
            "--to",
            "local:x",
            "--region",
            "eu-west-1",
        ],
    ] {
        let err = home.fails(args);
        assert!(err.contains("unexpected argument"), "{args:?}: {err}");
    }
    let serve = home.ok(&["serve", "--help"]);
    assert!(
        !serve.contains("--limit-rate") && !serve.contains("--local-store"),
        "{serve}"
    );
    let upload = home.ok(&["upload", "--help"]);
    assert!(
        upload.contains("--limit-rate") && upload.contains("--endpoint"),
        "{upload}"
    );
}
