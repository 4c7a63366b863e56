//! Jobs are persisted: jobs initiated before a restart (even a kill -9) complete after it.

use aws_sdk_glacier::primitives::ByteStream;
use aws_sdk_glacier::types::{JobParameters, StatusCode};
use conformance_aws_sdk::{MIB, client, data};
use std::time::{Duration, Instant};

mod common;
use common::start;

#[tokio::test]
async fn jobs_initiated_before_a_restart_complete_after_it() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data_dir = dir.path().join("data");
    let delay = ["--retrieval-delay", "2s"];
    let (mut server, endpoint) = start(&data_dir, &delay)?;
    let g = client(&endpoint);
    g.create_vault().vault_name("r").send().await?;
    let body = data(3 * MIB + 7, 5);
    let archive_id = g
        .upload_archive()
        .vault_name("r")
        .body(ByteStream::from(body.clone()))
        .send()
        .await?
        .archive_id()
        .unwrap_or_default()
        .to_owned();
    let params = [
        JobParameters::builder()
            .r#type("archive-retrieval")
            .archive_id(&archive_id)
            .build(),
        JobParameters::builder()
            .r#type("inventory-retrieval")
            .build(),
    ];
    let mut jobs = Vec::new();
    for p in params {
        let r = g
            .initiate_job()
            .vault_name("r")
            .job_parameters(p)
            .send()
            .await?;
        jobs.push(r.job_id().unwrap_or_default().to_owned());
    }
    for j in &jobs {
        let d = g.describe_job().vault_name("r").job_id(j).send().await?;
        assert_eq!(d.status_code(), Some(&StatusCode::InProgress));
    }
    server.kill()?;
    server.wait()?;

    let (mut server, endpoint) = start(&data_dir, &delay)?;
    let g = client(&endpoint);
    let deadline = Instant::now() + Duration::from_secs(30);
    for j in &jobs {
        loop {
            let d = g.describe_job().vault_name("r").job_id(j).send().await?;
            if d.completed() {
                assert_eq!(d.status_code(), Some(&StatusCode::Succeeded), "{d:?}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "job {j} did not complete after the restart"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let out = g
        .get_job_output()
        .vault_name("r")
        .job_id(&jobs[0])
        .send()
        .await?;
    assert_eq!(
        out.body.collect().await?.into_bytes().as_ref(),
        body.as_slice()
    );
    let inv = g
        .get_job_output()
        .vault_name("r")
        .job_id(&jobs[1])
        .send()
        .await?;
    let inv = inv.body.collect().await?.into_bytes();
    assert!(String::from_utf8_lossy(&inv).contains(&archive_id));
    server.kill()?;
    server.wait()?;
    Ok(())
}
