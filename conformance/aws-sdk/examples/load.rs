//! A bounded request-rate load generator: `TASKS` concurrent tasks call DescribeVault on one
//! vault for `SECONDS`, through the official `aws-sdk-glacier` or through `glacier-client`'s
//! Layer1, then print one JSON line: requests, errors, req/s, p50 and p99 latency in ms.
//! Through the SDK it can call another read instead: ListVaults, ListTagsForVault, ListJobs,
//! or DescribeJob of JOB_ID. Used by `bench/requests.py`.
//!
//! `load sdk|glacier ENDPOINT VAULT TASKS SECONDS [describe-vault|list-vaults|list-tags|
//! list-jobs|describe-job JOB_ID]` with `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` set for
//! the server (region us-east-1).

use aws_sdk_glacier::config::retry::RetryConfig;
use aws_sdk_glacier::config::{BehaviorVersion, Region};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs `call` in `tasks` loops until `deadline`; returns every latency in µs and the errors.
async fn drive<F, Fut>(tasks: usize, seconds: f64, call: F) -> anyhow::Result<(Vec<u32>, u64, f64)>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let call = Arc::new(call);
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let mut handles = Vec::with_capacity(tasks);
    for _ in 0..tasks {
        let call = Arc::clone(&call);
        handles.push(tokio::spawn(async move {
            let (mut lat, mut errors) = (Vec::with_capacity(1 << 16), 0u64);
            while Instant::now() < deadline {
                let t = Instant::now();
                if !call().await {
                    errors += 1;
                }
                lat.push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
            }
            (lat, errors)
        }));
    }
    let (mut all, mut errors) = (Vec::new(), 0);
    for h in handles {
        let (lat, e) = h.await?;
        all.extend(lat);
        errors += e;
    }
    Ok((all, errors, start.elapsed().as_secs_f64()))
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some([client, endpoint, vault, tasks, seconds]), rest) = (
        args.get(..5).and_then(|a| <&[String; 5]>::try_from(a).ok()),
        args.get(5..).unwrap_or_default(),
    ) else {
        anyhow::bail!("usage: load sdk|glacier ENDPOINT VAULT TASKS SECONDS [OPERATION [JOB_ID]]");
    };
    let operation = rest
        .first()
        .map_or("describe-vault", String::as_str)
        .to_owned();
    let job = rest.get(1).cloned().unwrap_or_default();
    let tasks: usize = tasks.parse()?;
    let seconds: f64 = seconds.parse()?;
    let vault = vault.clone();
    let (mut lat, errors, elapsed) = match client.as_str() {
        "sdk" => {
            let config = aws_sdk_glacier::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .endpoint_url(endpoint)
                .credentials_provider(aws_sdk_glacier::config::Credentials::new(
                    std::env::var("AWS_ACCESS_KEY_ID")?,
                    std::env::var("AWS_SECRET_ACCESS_KEY")?,
                    None,
                    None,
                    "load",
                ))
                .retry_config(RetryConfig::disabled())
                .build();
            let sdk = aws_sdk_glacier::Client::from_conf(config);
            if ![
                "describe-vault",
                "list-vaults",
                "list-tags",
                "list-jobs",
                "describe-job",
            ]
            .contains(&operation.as_str())
            {
                anyhow::bail!("unknown operation {operation:?}");
            }
            drive(tasks, seconds, move || {
                let (sdk, vault, operation, job) =
                    (sdk.clone(), vault.clone(), operation.clone(), job.clone());
                async move {
                    match operation.as_str() {
                        "list-vaults" => sdk.list_vaults().account_id("-").send().await.is_ok(),
                        "list-tags" => (sdk.list_tags_for_vault().account_id("-"))
                            .vault_name(vault)
                            .send()
                            .await
                            .is_ok(),
                        "list-jobs" => (sdk.list_jobs().account_id("-"))
                            .vault_name(vault)
                            .send()
                            .await
                            .is_ok(),
                        "describe-job" => (sdk.describe_job().account_id("-"))
                            .vault_name(vault)
                            .job_id(job)
                            .send()
                            .await
                            .is_ok(),
                        _ => (sdk.describe_vault().account_id("-"))
                            .vault_name(vault)
                            .send()
                            .await
                            .is_ok(),
                    }
                }
            })
            .await?
        }
        "glacier" => {
            let l1 = Arc::new(
                glacier_client::Layer1::builder()
                    .endpoint(endpoint.as_str())
                    .region("us-east-1")
                    .build()?,
            );
            drive(tasks, seconds, move || {
                let (l1, vault) = (Arc::clone(&l1), vault.clone());
                async move { l1.describe_vault(&vault).await.is_ok() }
            })
            .await?
        }
        other => anyhow::bail!("unknown client {other:?}: sdk or glacier"),
    };
    lat.sort_unstable();
    println!(
        "{{\"requests\": {}, \"errors\": {errors}, \"rate\": {:.1}, \"p50_ms\": {:.3}, \"p99_ms\": {:.3}}}",
        lat.len(),
        lat.len() as f64 / elapsed,
        percentile(&lat, 0.5),
        percentile(&lat, 0.99)
    );
    Ok(())
}
