//! Jobs are persisted: jobs initiated before a restart (even a kill -9) complete after it. A
//! SIGTERM with requests in flight and the job engine busy finishes the requests, refuses new
//! connections, stops the engine, and exits 0; the jobs it did not get to complete after the
//! restart.

use aws_sdk_glacier::primitives::ByteStream;
use aws_sdk_glacier::types::{JobParameters, StatusCode};
use conformance_aws_sdk::{MIB, client, data};
use std::time::{Duration, Instant};

mod common;
use common::start;
#[allow(dead_code)]
#[path = "common/raw.rs"]
mod raw;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_what_is_in_flight_and_jobs_resume_after_it() -> anyhow::Result<()> {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir()?;
    let data_dir = dir.path().join("data");
    let flags = ["--retrieval-delay", "1s", "--shutdown-timeout", "10s"];
    let (mut server, endpoint) = start(&data_dir, &flags)?;
    let addr = raw::addr_of(&endpoint);
    let g = client(&endpoint);
    g.create_vault().vault_name("t").send().await?;
    let body = data(MIB + 9, 8);
    let archive_id = g
        .upload_archive()
        .vault_name("t")
        .body(ByteStream::from(body.clone()))
        .send()
        .await?
        .archive_id()
        .unwrap_or_default()
        .to_owned();
    // Jobs falling due around the signal, so that the engine is at work when it comes.
    let mut jobs = Vec::new();
    for i in 0..40 {
        let params = if i % 4 == 0 {
            JobParameters::builder()
                .r#type("inventory-retrieval")
                .build()
        } else {
            JobParameters::builder()
                .r#type("archive-retrieval")
                .archive_id(&archive_id)
                .build()
        };
        let r = g
            .initiate_job()
            .vault_name("t")
            .job_parameters(params)
            .send()
            .await?;
        jobs.push(r.job_id().unwrap_or_default().to_owned());
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    // An upload whose body is still arriving when the signal comes, and an idle keep-alive
    // connection, which must not hold the shutdown up.
    let slow = data(64 * 1024, 9);
    let upload = raw::Req::new("POST", "/-/vaults/t/archives")
        .header(
            "x-amz-sha256-tree-hash",
            &glacier_core::TreeHash::of(&slow).to_hex(),
        )
        .body(slow.clone())
        .signed(addr);
    let mut c = tokio::net::TcpStream::connect(addr).await?;
    c.write_all(&upload.head(true)).await?;
    let mut idle = raw::KeepAlive::open(addr).await?;
    let r = idle
        .send(&raw::Req::new("GET", "/-/vaults").signed(addr))
        .await?;
    assert_eq!(r.status, 200);
    let trickle = tokio::spawn(async move {
        for chunk in slow.chunks(4096) {
            c.write_all(chunk).await?;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok::<_, std::io::Error>(raw::read_response(&mut c, Duration::from_secs(30)).await)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let pending = g
        .list_jobs()
        .vault_name("t")
        .statuscode("InProgress")
        .send()
        .await?
        .job_list()
        .len();
    assert!(pending > 0, "jobs are still due when the signal comes");
    let signalled = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()?;
    anyhow::ensure!(status.success(), "kill -TERM failed");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "new connections are refused once the signal came"
    );
    let answered = trickle.await??;
    assert_eq!(
        answered.status, 201,
        "the upload in flight finished: {answered:?}"
    );
    let exited = loop {
        if let Some(code) = server.try_wait()? {
            break code;
        }
        anyhow::ensure!(
            signalled.elapsed() < Duration::from_secs(10),
            "still running 10 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let took = signalled.elapsed();
    let _ = idle.closed().await;
    eprintln!("exited ({exited}) {took:?} after SIGTERM");
    assert!(exited.success(), "a graceful shutdown exits 0: {exited}");
    // The upload took about 1.6 s of trickling; nothing else held the shutdown.
    assert!(took < Duration::from_secs(5), "{took:?}");

    let (mut server, endpoint) = start(&data_dir, &flags)?;
    let g = client(&endpoint);
    let deadline = Instant::now() + Duration::from_secs(30);
    for j in &jobs {
        loop {
            let d = g.describe_job().vault_name("t").job_id(j).send().await?;
            if d.completed() {
                assert_eq!(d.status_code(), Some(&StatusCode::Succeeded), "{d:?}");
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "job {j} did not complete after the restart"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    eprintln!(
        "{} jobs, {pending} in progress at the signal, all complete after the restart",
        jobs.len()
    );
    let out = g
        .get_job_output()
        .vault_name("t")
        .job_id(&jobs[jobs.len() - 1])
        .send()
        .await?;
    assert_eq!(
        out.body.collect().await?.into_bytes().as_ref(),
        body.as_slice()
    );
    let v = g.describe_vault().vault_name("t").send().await?;
    assert_eq!(
        v.number_of_archives(),
        2,
        "the upload finished in flight is kept"
    );
    server.kill()?;
    server.wait()?;
    Ok(())
}
