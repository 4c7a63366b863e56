//! Running the real `glacier serve` binary in tests.

use conformance_aws_sdk::{ACCESS_KEY, ACCOUNT, SECRET_KEY};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Starts `glacier serve` on a free loopback port with `data_dir` and `extra` flags, knowing
/// the conformance identity; returns the process and its endpoint URL.
pub(crate) fn start(data_dir: &Path, extra: &[&str]) -> anyhow::Result<(Child, String)> {
    start_command(Command::new(env!("CARGO_BIN_EXE_glacier")), data_dir, extra)
}

/// As [`start`], through `command`: the binary itself, or a shell that runs it (with
/// `exec`, so that the child is the server) after setting up its limits.
pub(crate) fn start_command(
    mut command: Command,
    data_dir: &Path,
    extra: &[&str],
) -> anyhow::Result<(Child, String)> {
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(extra);
    launch(command)
}

/// Runs `command` (a `glacier serve` command line), knowing the conformance identity, until
/// it prints the address it listens on; returns the process and its endpoint URL.
pub(crate) fn launch(command: Command) -> anyhow::Result<(Child, String)> {
    let (child, mut urls) = launch_reading(command, 1)?;
    Ok((child, urls.remove(0)))
}

/// As [`launch`], reading the first `lines` lines the server prints (its endpoint, then with
/// `--metrics-listen` the metrics endpoint), each's URL.
pub(crate) fn launch_reading(
    mut command: Command,
    lines: usize,
) -> anyhow::Result<(Child, Vec<String>)> {
    let mut child = command
        .env("GLACIER_ACCESS_KEY_ID", ACCESS_KEY)
        .env("GLACIER_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("GLACIER_ACCOUNT_ID", ACCOUNT)
        .env("GLACIER_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut reader = BufReader::new(stdout);
    let mut urls = Vec::new();
    for _ in 0..lines.max(1) {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let url = line
            .trim()
            .rsplit(' ')
            .next()
            .filter(|e| e.starts_with("http://") || e.starts_with("https://"))
            .ok_or_else(|| anyhow::anyhow!("server did not start: {line:?}"))?
            .to_owned();
        urls.push(url);
    }
    Ok((child, urls))
}

/// A child process killed (and reaped) when this goes out of scope, a failed assertion too.
#[allow(dead_code)] // Each test binary compiles this module; not all of them use this.
pub(crate) struct KillOnDrop(pub(crate) Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The body of an InitiateVaultLock for `vault` of the conformance account: a policy (its
/// statement id `sid`, so that two lock attempts differ) denying archive deletion to anyone.
#[allow(dead_code)] // Each test binary compiles this module; not all of them use this.
pub(crate) fn deny_deletes_lock_body(vault: &str, sid: &str) -> String {
    let p = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": sid, "Principal": "*", "Effect": "Deny",
            "Action": "glacier:DeleteArchive",
            "Resource": format!("arn:aws:glacier:us-east-1:{ACCOUNT}:vaults/{vault}")
        }]
    });
    serde_json::json!({ "Policy": p.to_string() }).to_string()
}
