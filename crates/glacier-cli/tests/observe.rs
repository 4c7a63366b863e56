//! What an operator watches: `--log-format json` (one JSON object a line, a request's lines
//! carrying its request id, the one the client got) and `--metrics-listen` (`/health`,
//! `/ready`, `/metrics`). The boto3 suite checks the metrics' counts (`test_metrics.py`);
//! `nodes.rs` checks `/ready` while PostgreSQL is away.

use aws_sdk_glacier::operation::RequestId;
use conformance_aws_sdk::{ACCESS_KEY, ACCOUNT, SECRET_KEY, client};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[tokio::test]
async fn json_logs_carry_the_request_id_and_metrics_answer() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let log = dir.path().join("server.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_glacier"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .args(["--log-format", "json", "--data-dir"])
        .arg(dir.path().join("data"))
        .env("GLACIER_ACCESS_KEY_ID", ACCESS_KEY)
        .env("GLACIER_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("GLACIER_ACCOUNT_ID", ACCOUNT)
        .env("GLACIER_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log)?)
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = BufReader::new(stdout).lines();
    let mut next_url = || -> anyhow::Result<String> {
        let line = lines.next().ok_or_else(|| anyhow::anyhow!("no line"))??;
        Ok(line.rsplit(' ').next().unwrap_or_default().to_owned())
    };
    let (endpoint, metrics) = (next_url()?, next_url()?);
    let result = async {
        let g = client(&endpoint);
        let made = g.create_vault().vault_name("logged").send().await?;
        let id = made
            .request_id()
            .ok_or_else(|| anyhow::anyhow!("no request id"))?
            .to_owned();
        let http = reqwest::Client::new();
        for (path, want) in [("/health", "ok\n"), ("/ready", "ready\n")] {
            let r = http.get(format!("{metrics}{path}")).send().await?;
            assert_eq!(r.status(), 200, "{path}");
            assert_eq!(r.text().await?, want, "{path}");
        }
        let text = http
            .get(format!("{metrics}/metrics"))
            .send()
            .await?
            .text()
            .await?;
        assert!(
            text.contains("glacier_requests_total{operation=\"CreateVault\",status=\"201\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(&format!("glacier_vaults{{account=\"{ACCOUNT}\"}} 1")),
            "{text}"
        );
        assert!(
            text.trim_end().ends_with("# EOF"),
            "OpenMetrics text: {text}"
        );
        anyhow::Ok(id)
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    let id = result?;
    let mut of_request = Vec::new();
    for line in std::fs::read_to_string(&log)?.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| anyhow::anyhow!("not a JSON log line ({e}): {line}"))?;
        if v["span"]["id"] == id.as_str() {
            of_request.push(v);
        }
    }
    assert!(
        of_request
            .iter()
            .any(|v| v["fields"]["message"] == "done" && v["fields"]["status"] == 201),
        "the request's lines carry its id {id}: {of_request:?}"
    );
    Ok(())
}
