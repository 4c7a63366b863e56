//! `glacier serve --faults` through aws-sdk-glacier with its standard retries: a mixed
//! workload completes without an error although a tenth of the requests are throttled,
//! failed, timed out, dropped or slowed, and the vault then holds exactly the archives that
//! were acknowledged (a refused request changes nothing).

use aws_sdk_glacier::primitives::ByteStream;
use aws_sdk_glacier::types::{JobParameters, StatusCode};
use conformance_aws_sdk::{TestServer, data, job_output, wait_for_job};
use glacier_core::TreeHash;
use std::collections::HashMap;

const FAULTS: &str = "throttle=0.05,internal=0.02,timeout=0.01,reset=0.01,slow=0.01";

/// Waits for the job; it must have succeeded.
async fn wait(g: &aws_sdk_glacier::Client, job: &str) -> anyhow::Result<()> {
    let d = wait_for_job(g, "v", job).await?;
    anyhow::ensure!(d.status_code() == Some(&StatusCode::Succeeded), "{d:?}");
    Ok(())
}

#[tokio::test]
async fn a_workload_through_faults_completes_and_keeps_exactly_what_was_acknowledged()
-> anyhow::Result<()> {
    let server = TestServer::start_injecting(FAULTS, 25).await?;
    let g = server.retrying_client();
    g.create_vault().vault_name("v").send().await?;
    let mut kept: HashMap<String, Vec<u8>> = HashMap::new();
    for i in 0..40u8 {
        let body = data(2000 + usize::from(i), i);
        let up = g
            .upload_archive()
            .vault_name("v")
            .checksum(TreeHash::of(&body).to_hex())
            .body(ByteStream::from(body.clone()))
            .send()
            .await?;
        kept.insert(up.archive_id().unwrap_or_default().to_owned(), body);
    }
    let gone: Vec<String> = kept.keys().take(6).cloned().collect();
    for id in &gone {
        g.delete_archive()
            .vault_name("v")
            .archive_id(id)
            .send()
            .await?;
        kept.remove(id);
    }
    for (id, body) in kept.iter().take(3) {
        let job = g
            .initiate_job()
            .vault_name("v")
            .job_parameters(
                JobParameters::builder()
                    .r#type("archive-retrieval")
                    .archive_id(id)
                    .build(),
            )
            .send()
            .await?;
        let job = job.job_id().unwrap_or_default().to_owned();
        wait(&g, &job).await?;
        assert_eq!(&job_output(&g, "v", &job).await?, body);
    }
    let d = g.describe_vault().vault_name("v").send().await?;
    assert_eq!(
        (d.number_of_archives(), d.size_in_bytes()),
        (
            kept.len() as i64,
            kept.values().map(|b| b.len() as i64).sum::<i64>()
        )
    );
    let job = g
        .initiate_job()
        .vault_name("v")
        .job_parameters(
            JobParameters::builder()
                .r#type("inventory-retrieval")
                .build(),
        )
        .send()
        .await?;
    let job = job.job_id().unwrap_or_default().to_owned();
    wait(&g, &job).await?;
    let inventory: serde_json::Value = serde_json::from_slice(&job_output(&g, "v", &job).await?)?;
    let mut listed: Vec<&str> = inventory["ArchiveList"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["ArchiveId"].as_str())
        .collect();
    listed.sort_unstable();
    let mut expected: Vec<&str> = kept.keys().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(listed, expected, "exactly the acknowledged archives");
    Ok(())
}
