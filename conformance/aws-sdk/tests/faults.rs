//! Blob-store I/O errors injected beneath a running server (`FaultyBlobs`): EIO from a
//! failing disk, EROFS from a filesystem remounted read-only, ENOSPC. Each request the fault
//! touches gets 500 ServiceUnavailableException, nothing half-written becomes visible, what the
//! fault does not touch keeps working, and everything works again once the fault ends, with no
//! restart.

use aws_sdk_glacier::operation::describe_job::DescribeJobOutput;
use aws_sdk_glacier::primitives::ByteStream;
use aws_sdk_glacier::types::{InventoryRetrievalJobInput, JobParameters, StatusCode};
use conformance_aws_sdk::faults::Op;
use conformance_aws_sdk::{MIB, TestServer, data, expect_error, job_output, wait_for_job};
use glacier_core::TreeHash;
use rustix::io::Errno;
use std::time::Duration;

type R = anyhow::Result<()>;
const UNAVAILABLE: &str = "ServiceUnavailableException";

async fn upload(g: &aws_sdk_glacier::Client, body: &[u8]) -> anyhow::Result<String> {
    let up = g
        .upload_archive()
        .vault_name("v")
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await?;
    Ok(up.archive_id().unwrap_or_default().to_owned())
}

fn status_of(d: &DescribeJobOutput) -> anyhow::Result<StatusCode> {
    d.status_code()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("job {:?} has no status", d.job_id()))
}

async fn status(g: &aws_sdk_glacier::Client, job: &str) -> anyhow::Result<StatusCode> {
    status_of(&g.describe_job().vault_name("v").job_id(job).send().await?)
}

/// Waits for the job to complete; its status.
async fn wait(g: &aws_sdk_glacier::Client, job: &str) -> anyhow::Result<StatusCode> {
    status_of(&wait_for_job(g, "v", job).await?)
}

async fn start(g: &aws_sdk_glacier::Client, params: JobParameters) -> anyhow::Result<String> {
    let r = g
        .initiate_job()
        .vault_name("v")
        .job_parameters(params)
        .send()
        .await?;
    Ok(r.job_id().unwrap_or_default().to_owned())
}

fn retrieval(archive: &str) -> JobParameters {
    JobParameters::builder()
        .r#type("archive-retrieval")
        .archive_id(archive)
        .build()
}

fn inventory() -> JobParameters {
    JobParameters::builder()
        .r#type("inventory-retrieval")
        .inventory_retrieval_parameters(InventoryRetrievalJobInput::builder().build())
        .build()
}

async fn archives(g: &aws_sdk_glacier::Client) -> anyhow::Result<i64> {
    let d = g.describe_vault().vault_name("v").send().await?;
    Ok(d.number_of_archives())
}

#[tokio::test]
async fn failing_blob_writes_store_nothing_and_recover() -> R {
    let (srv, faults) = TestServer::start_faulty().await?;
    let g = srv.client();
    g.create_vault().vault_name("v").send().await?;
    let kept = data(MIB + 5, 1);
    let kept_id = upload(&g, &kept).await?;
    let doomed_id = upload(&g, &data(1000, 2)).await?;
    let multipart = g
        .initiate_multipart_upload()
        .vault_name("v")
        .part_size((MIB as u64).to_string())
        .send()
        .await?;
    let upload_id = multipart.upload_id().unwrap_or_default().to_owned();
    let part = data(MIB, 3);

    for op in [Op::Create, Op::Write] {
        for errno in [Errno::IO, Errno::ROFS, Errno::NOSPC] {
            let what = format!("{op:?} failing with {errno:?}");
            let blobs = srv.blob_files();
            faults.set(op, Some(errno));

            let refused = g
                .upload_archive()
                .vault_name("v")
                .body(ByteStream::from(data(MIB, 4)))
                .send()
                .await;
            expect_error(refused, UNAVAILABLE, 500, "");
            let refused = g
                .upload_multipart_part()
                .vault_name("v")
                .upload_id(&upload_id)
                .range(format!("bytes 0-{}/*", MIB - 1))
                .checksum(TreeHash::of(&part).to_hex())
                .body(ByteStream::from(part.clone()))
                .send()
                .await;
            expect_error(refused, UNAVAILABLE, 500, "");

            // An inventory needs a blob written: it waits for the fault to end.
            let inventory_job = start(&g, inventory()).await?;
            // A retrieval and a deletion write no blob: they work meanwhile.
            let job = start(&g, retrieval(&kept_id)).await?;
            assert_eq!(wait(&g, &job).await?, StatusCode::Succeeded, "{what}");
            assert_eq!(job_output(&g, "v", &job).await?, kept, "{what}");
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(
                status(&g, &inventory_job).await?,
                StatusCode::InProgress,
                "{what}"
            );

            let parts = g
                .list_parts()
                .vault_name("v")
                .upload_id(&upload_id)
                .send()
                .await?;
            assert!(parts.parts().is_empty(), "{what}: {parts:?}");
            assert_eq!(archives(&g).await?, 2, "{what}");
            assert_eq!(srv.blob_files(), blobs, "{what}: nothing new is stored");
            assert!(srv.tmp_files().is_empty(), "{what}: {:?}", srv.tmp_files());

            faults.clear();
            assert_eq!(wait(&g, &inventory_job).await?, StatusCode::Succeeded);
            let listed = String::from_utf8(job_output(&g, "v", &inventory_job).await?)?;
            assert!(listed.contains(&kept_id), "{what}: {listed}");
            let again = upload(&g, &data(1000, 5)).await?;
            g.delete_archive()
                .vault_name("v")
                .archive_id(&again)
                .send()
                .await?;
        }
    }

    // A deletion while writes fail frees its archive.
    faults.set(Op::Create, Some(Errno::ROFS));
    faults.set(Op::Write, Some(Errno::ROFS));
    g.delete_archive()
        .vault_name("v")
        .archive_id(&doomed_id)
        .send()
        .await?;
    assert_eq!(archives(&g).await?, 1);
    faults.clear();
    g.upload_multipart_part()
        .vault_name("v")
        .upload_id(&upload_id)
        .range(format!("bytes 0-{}/*", MIB - 1))
        .checksum(TreeHash::of(&part).to_hex())
        .body(ByteStream::from(part.clone()))
        .send()
        .await?;
    let done = g
        .complete_multipart_upload()
        .vault_name("v")
        .upload_id(&upload_id)
        .archive_size(MIB.to_string())
        .checksum(TreeHash::of(&part).to_hex())
        .send()
        .await?;
    let job = start(&g, retrieval(done.archive_id().unwrap_or_default())).await?;
    wait(&g, &job).await?;
    assert_eq!(job_output(&g, "v", &job).await?, part);
    Ok(())
}

#[tokio::test]
async fn failing_blob_reads_fail_the_download_and_recover() -> R {
    let (srv, faults) = TestServer::start_faulty().await?;
    let g = srv.client();
    g.create_vault().vault_name("v").send().await?;
    let body = data(3 * MIB + 7, 6);
    let id = upload(&g, &body).await?;
    let job = start(&g, retrieval(&id)).await?;
    assert_eq!(wait(&g, &job).await?, StatusCode::Succeeded);

    for errno in [Errno::IO, Errno::NOENT] {
        // The blob cannot be opened: the answer is an error, not a 200 whose body then fails
        // (before the fix the status and headers went out first).
        faults.set(Op::Open, Some(errno));
        let whole = g.get_job_output().vault_name("v").job_id(&job).send().await;
        expect_error(whole, UNAVAILABLE, 500, "");
        let ranged = g
            .get_job_output()
            .vault_name("v")
            .job_id(&job)
            .range("bytes=1048576-2097151")
            .send()
            .await;
        expect_error(ranged, UNAVAILABLE, 500, "");
        faults.clear();
    }

    // Failing once the body has begun: the download breaks off — before the client has read
    // the head, or in the body, as the race with the socket goes; it never ends short as if it
    // were whole.
    faults.set(Op::MidRead, Some(Errno::IO));
    let broken = match g.get_job_output().vault_name("v").job_id(&job).send().await {
        Err(_) => true,
        Ok(started) => started.body.collect().await.is_err(),
    };
    assert!(
        broken,
        "a download whose read failed must not look complete"
    );
    faults.clear();

    assert_eq!(job_output(&g, "v", &job).await?, body);
    assert!(srv.tmp_files().is_empty());
    Ok(())
}

#[tokio::test]
async fn failing_blob_deletions_still_delete_the_archive() -> R {
    let (srv, faults) = TestServer::start_faulty().await?;
    let g = srv.client();
    g.create_vault().vault_name("v").send().await?;
    let id = upload(&g, &data(1000, 7)).await?;
    faults.set(Op::Delete, Some(Errno::IO));
    g.delete_archive()
        .vault_name("v")
        .archive_id(&id)
        .send()
        .await?;
    let gone = g
        .initiate_job()
        .vault_name("v")
        .job_parameters(retrieval(&id))
        .send()
        .await;
    expect_error(gone, "ResourceNotFoundException", 404, &id);
    assert_eq!(archives(&g).await?, 0);
    // Its file stays until the orphan sweep (at the next start of a local store).
    assert_eq!(srv.blob_files().len(), 1);
    faults.clear();
    g.delete_vault().vault_name("v").send().await?;
    Ok(())
}
