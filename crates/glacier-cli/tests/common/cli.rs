//! The `glacier` command line run as a user would: against the embedded local store or a
//! server, JSON output parsed.
#![allow(dead_code)] // Each test binary compiles this module; not all of them use all of it.

use conformance_aws_sdk::{ACCESS_KEY, SECRET_KEY};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// How the CLI reaches its Glacier.
pub(crate) enum Via<'a> {
    Local(&'a Path),
    Endpoint(&'a str),
}

/// Runs a command to its end.
pub(crate) fn glacier(via: &Via<'_>, args: &[&str]) -> Output {
    match command(via, args).output() {
        Ok(o) => o,
        Err(e) => panic!("running glacier: {e}"),
    }
}

/// The command line `glacier ARGS` against `via`, to run or spawn.
pub(crate) fn command(via: &Via<'_>, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_glacier"));
    let state = std::env::temp_dir().join(format!("glacier-cli-test-state-{}", std::process::id()));
    cmd.args(args)
        .env("GLACIER_STATE_DIR", state)
        .env_remove("GLACIER_ENDPOINT")
        .env("GLACIER_CONFIG", "/nonexistent/glacier.toml")
        .stdin(Stdio::null());
    match via {
        Via::Local(dir) => {
            // A local store other than the default must exist.
            let _ = std::fs::create_dir_all(dir);
            cmd.env("GLACIER_LOCAL_STORE", dir)
                .env_remove("AWS_ACCESS_KEY_ID")
                .env_remove("AWS_SECRET_ACCESS_KEY")
                .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
                .env("AWS_CONFIG_FILE", "/nonexistent/config")
        }
        Via::Endpoint(e) => cmd
            .env("GLACIER_ENDPOINT", e)
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
    };
    cmd
}

/// Runs a command that must succeed and print JSON.
pub(crate) fn json(via: &Via<'_>, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--output", "json", "--quiet"]);
    let out = glacier(via, &all);
    assert!(
        out.status.success(),
        "glacier {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    match serde_json::from_slice(&out.stdout) {
        Ok(v) => v,
        Err(e) => panic!(
            "glacier {args:?} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        ),
    }
}
