//! `glacier serve --config FILE`: every key a flag of `glacier serve`, flags winning over the
//! file, the file over the environment; an unknown key, a wrong type or a bad value refused
//! before anything starts, naming the key; and the `--credentials` file reloaded on SIGHUP
//! (a key added works at once, a key removed is refused at once, a broken file changes
//! nothing).

// Each test binary uses a part of the shared helpers.
#[allow(dead_code)]
mod common;

use aws_sdk_glacier::config::{BehaviorVersion, Credentials, Region};
use common::KillOnDrop;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

type R = anyhow::Result<()>;

fn sdk(endpoint: &str, key: &str, secret: &str) -> aws_sdk_glacier::Client {
    let conf = aws_sdk_glacier::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(key, secret, None, None, "test"))
        .retry_config(aws_sdk_glacier::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_glacier::Client::from_conf(conf)
}

fn identities(path: &Path, keys: &[(&str, &str)]) -> R {
    let text: String = keys
        .iter()
        .map(|(k, s)| {
            format!("[[identity]]\naccess_key_id = \"{k}\"\nsecret_access_key = \"{s}\"\naccount_id = \"111122223333\"\n")
        })
        .collect();
    std::fs::write(path, text)?;
    Ok(())
}

/// Starts `glacier serve --config config` with `flags` after it (no `--listen` or
/// `--data-dir` of its own: the file gives them).
fn serve(config: &Path, flags: &[&str]) -> anyhow::Result<(KillOnDrop, String)> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_glacier"));
    command.arg("serve").arg("--config").arg(config).args(flags);
    let (child, endpoint) = common::launch(command)?;
    Ok((KillOnDrop(child), endpoint))
}

#[tokio::test]
async fn the_config_file_sets_every_flag_and_flags_win() -> R {
    let dir = tempfile::tempdir()?;
    let creds = dir.path().join("identities.toml");
    identities(&creds, &[("AKIDCONFIG1", "secret-one")])?;
    let config = dir.path().join("glacier.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndata-dir = {:?}\ncredentials = {:?}\nregion = \"eu-west-1\"\nstrict-scope = false\nexpedited-rate = 7\nheader-timeout = \"5s\"\nmax-buffered-bodies = \"32M\"\n",
            dir.path().join("data").display().to_string(),
            creds.display().to_string(),
        ),
    )?;
    let (_server, endpoint) = serve(&config, &[])?;
    let g = sdk(&endpoint, "AKIDCONFIG1", "secret-one");
    let made = g.create_vault().vault_name("from-file").send().await?;
    assert!(
        made.location()
            .unwrap_or_default()
            .contains("/vaults/from-file"),
        "{made:?}"
    );
    let d = g.describe_vault().vault_name("from-file").send().await?;
    assert!(
        d.vault_arn()
            .unwrap_or_default()
            .starts_with("arn:aws:glacier:eu-west-1:"),
        "the file's region: {d:?}"
    );
    drop(_server);

    // A flag on the command line wins over the file's key.
    let (_server, endpoint) = serve(&config, &["--region", "ap-south-1"])?;
    let g = sdk(&endpoint, "AKIDCONFIG1", "secret-one");
    g.create_vault().vault_name("from-flag").send().await?;
    let d = g.describe_vault().vault_name("from-flag").send().await?;
    assert!(
        d.vault_arn()
            .unwrap_or_default()
            .starts_with("arn:aws:glacier:ap-south-1:"),
        "the flag's region: {d:?}"
    );
    Ok(())
}

#[test]
fn a_bad_config_file_is_refused_naming_what_is_wrong() -> R {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    for (text, says) in [
        (
            "listen = \"127.0.0.1:0\"\nlisten-adress = \"x\"\n",
            "unknown key \"listen-adress\"",
        ),
        ("print-env = true\n", "unknown key \"print-env\""),
        ("strict-scope = \"yes\"\n", "strict-scope is true or false"),
        (
            "region = [\"a\", \"b\"]\n",
            "region takes a string or a number",
        ),
        ("max-connections = \"many\"\n", "--max-connections"),
        ("header-timeout = \"soon\"\n", "--header-timeout"),
        (
            "listen = \n",
            "bad.toml, line 1, column 10: string values must be quoted",
        ),
    ] {
        let config = dir.path().join("bad.toml");
        std::fs::write(&config, text)?;
        let out = Command::new(env!("CARGO_BIN_EXE_glacier"))
            .args(["serve", "--data-dir"])
            .arg(&data)
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .output()?;
        assert!(!out.status.success(), "started with {text:?}");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains(says), "{says:?} not in {said}");
        assert!(!data.exists(), "nothing was created for {text:?}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_glacier"))
        .args(["serve", "--config"])
        .arg(dir.path().join("absent.toml"))
        .stdin(Stdio::null())
        .output()?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("absent.toml"));
    Ok(())
}

#[tokio::test]
async fn identities_reload_on_sighup() -> R {
    let dir = tempfile::tempdir()?;
    let creds = dir.path().join("identities.toml");
    identities(&creds, &[("AKIDFIRST", "first-secret")])?;
    let config = dir.path().join("glacier.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndata-dir = {:?}\ncredentials = {:?}\n",
            dir.path().join("data").display().to_string(),
            creds.display().to_string()
        ),
    )?;
    let mut command = Command::new(env!("CARGO_BIN_EXE_glacier"));
    command
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .stderr(Stdio::piped());
    let (mut child, endpoint) = common::launch(command)?;
    let log = child.stderr.take();
    let server = KillOnDrop(child);
    let pid = server.0.id();
    let first = sdk(&endpoint, "AKIDFIRST", "first-secret");
    let second = sdk(&endpoint, "AKIDSECOND", "second-secret");
    first.create_vault().vault_name("v").send().await?;
    assert!(second.list_vaults().send().await.is_err(), "not known yet");

    identities(&creds, &[("AKIDSECOND", "second-secret")])?;
    hup(pid)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while second.list_vaults().send().await.is_err() {
        anyhow::ensure!(Instant::now() < deadline, "the added key was not accepted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The same account: the vault is there for the new key, and the removed key is refused.
    let listed = second.list_vaults().send().await?;
    assert_eq!(listed.vault_list().len(), 1);
    let refused = first.list_vaults().send().await;
    conformance_aws_sdk::expect_error(refused, "UnrecognizedClientException", 403, "");

    // A broken file changes nothing, and the log says where it is broken.
    std::fs::write(&creds, "[[identity]]\naccess_key_id = 3\n")?;
    hup(pid)?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    second.list_vaults().send().await?;
    drop(server);
    let mut said = String::new();
    if let Some(mut log) = log {
        std::io::Read::read_to_string(&mut log, &mut said)?;
    }
    assert!(
        said.contains("identities.toml, line 2, column 17: invalid type: integer `3`"),
        "{said}"
    );
    Ok(())
}

fn hup(pid: u32) -> R {
    let status = Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()?;
    anyhow::ensure!(status.success(), "kill -HUP failed");
    Ok(())
}

/// The README's example config file runs as written, in a fresh directory: its data directory
/// is made there and the server answers on the example's port (or, if something else holds
/// that port, says so, makes nothing, and the example runs with only the port changed).
/// (Before the fix it named a credentials file that does not exist, and made
/// `/var/lib/glacier` before failing on it.)
#[tokio::test]
async fn the_readme_example_config_runs_as_written() -> R {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))?;
    let start = readme
        .find("# glacier.toml")
        .ok_or_else(|| anyhow::anyhow!("the README has no example glacier.toml"))?;
    let example = &readme[start..];
    let example = &example[..example.find("```").unwrap_or(example.len())];
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("glacier.toml"), example)?;
    let run = |flags: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_glacier"));
        command
            .args(["serve", "--config", "glacier.toml"])
            .args(flags)
            .current_dir(dir.path())
            .stderr(Stdio::piped());
        command
    };
    let (server, endpoint) = match common::launch(run(&[])) {
        Ok(started) => started,
        Err(e) => {
            let out = run(&[]).output()?;
            let err = String::from_utf8_lossy(&out.stderr);
            anyhow::ensure!(err.contains("in use"), "{e}: {err}");
            assert!(!dir.path().join("glacier-data").exists(), "{err}");
            common::launch(run(&["--listen", "127.0.0.1:0"]))?
        }
    };
    let _server = KillOnDrop(server);
    conformance_aws_sdk::client(&endpoint)
        .list_vaults()
        .send()
        .await?;
    assert!(dir.path().join("glacier-data/metadata.sqlite").exists());
    Ok(())
}

/// Regression: a start that failed still made its data directory first. Now a port in use,
/// or a credentials file that is not there, stops the server before anything is made, and a
/// port in use is named with a way out.
#[test]
fn a_start_that_fails_makes_nothing() -> R {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = taken.local_addr()?.to_string();
    let serve = |flags: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_glacier"))
            .arg("serve")
            .arg("--data-dir")
            .arg(&data)
            .args(flags)
            .env_remove("GLACIER_ACCESS_KEY_ID")
            .output()
    };
    let out = serve(&["--listen", &port])?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("in use") && err.contains("--listen 127.0.0.1:0"),
        "{err}"
    );
    let missing = dir.path().join("no-such-identities.toml");
    let out = serve(&[
        "--listen",
        "127.0.0.1:0",
        "--credentials",
        missing.to_str().unwrap_or_default(),
    ])?;
    assert!(!out.status.success());
    assert!(!data.exists(), "nothing was made");
    Ok(())
}

/// Regression: `--print-env` with `listen = "127.0.0.1:0"` printed
/// `GLACIER_ENDPOINT=http://127.0.0.1:0` and no region, so the AWS CLI failed after `eval`.
/// Now port 0 is refused, and the region and the endpoint the AWS tools read are printed.
#[test]
fn print_env_gives_a_usable_endpoint_and_region() -> R {
    let dir = tempfile::tempdir()?;
    let print = |listen: &str| {
        Command::new(env!("CARGO_BIN_EXE_glacier"))
            .args([
                "serve",
                "--print-env",
                "--region",
                "eu-west-1",
                "--listen",
                listen,
            ])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .output()
    };
    let out = print("127.0.0.1:0")?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("fixed port"));
    let out = print("0.0.0.0:9123")?;
    let env = String::from_utf8(out.stdout)?;
    for line in [
        "export GLACIER_ENDPOINT=http://127.0.0.1:9123",
        "export AWS_ENDPOINT_URL_GLACIER=http://127.0.0.1:9123",
        "export AWS_DEFAULT_REGION=eu-west-1",
        "export AWS_REGION=eu-west-1",
    ] {
        assert!(env.lines().any(|l| l == line), "{line} in {env}");
    }
    Ok(())
}
