//! Retrieval jobs driven by the official AWS SDK for Rust: byte-exact round trips, ranged
//! downloads with tree hashes, inventories, and bad input.

use aws_sdk_glacier::primitives::ByteStream;
use aws_sdk_glacier::types::{InventoryRetrievalJobInput, JobParameters, StatusCode};
use conformance_aws_sdk::{MIB, TestServer, data, expect_error, wait_for_job};
use glacier_core::TreeHash;

type R = anyhow::Result<()>;

fn th(b: &[u8]) -> String {
    TreeHash::of(b).to_hex()
}

async fn start_job(
    g: &aws_sdk_glacier::Client,
    vault: &str,
    params: JobParameters,
) -> anyhow::Result<String> {
    let r = g
        .initiate_job()
        .vault_name(vault)
        .job_parameters(params)
        .send()
        .await?;
    let id = r.job_id().unwrap_or_default().to_owned();
    wait_for_job(g, vault, &id).await?;
    Ok(id)
}

fn archive_job(archive_id: &str) -> aws_sdk_glacier::types::builders::JobParametersBuilder {
    JobParameters::builder()
        .r#type("archive-retrieval")
        .archive_id(archive_id)
}

#[tokio::test]
async fn round_trips_are_byte_exact_with_verified_chunks() -> R {
    let srv = TestServer::start().await?;
    let g = srv.client();
    g.create_vault().vault_name("v").send().await?;
    for (i, size) in [MIB / 2, MIB, 5 * MIB + 3].into_iter().enumerate() {
        let body = data(size, i as u8);
        let up = g
            .upload_archive()
            .vault_name("v")
            .archive_description("sdk")
            .body(ByteStream::from(body.clone()))
            .send()
            .await?;
        let archive_id = up.archive_id().unwrap_or_default();
        let job = start_job(&g, "v", archive_job(archive_id).build()).await?;
        let d = g.describe_job().vault_name("v").job_id(&job).send().await?;
        assert_eq!(d.status_code(), Some(&StatusCode::Succeeded));
        assert_eq!(d.archive_size_in_bytes(), Some(size as i64));
        assert_eq!(d.sha256_tree_hash(), Some(th(&body).as_str()));

        let out = g
            .get_job_output()
            .vault_name("v")
            .job_id(&job)
            .send()
            .await?;
        assert_eq!(out.status(), 200);
        assert_eq!(out.checksum(), Some(th(&body).as_str()));
        assert_eq!(out.archive_description(), Some("sdk"));
        assert_eq!(
            out.body.collect().await?.into_bytes().as_ref(),
            body.as_slice()
        );

        let mut got = Vec::new();
        for start in (0..size).step_by(MIB) {
            let part = g
                .get_job_output()
                .vault_name("v")
                .job_id(&job)
                .range(format!("bytes={start}-{}", start + MIB - 1))
                .send()
                .await?;
            assert_eq!(part.status(), 206);
            let checksum = part.checksum().map(str::to_owned);
            let chunk = part.body.collect().await?.into_bytes();
            assert_eq!(
                checksum,
                Some(th(&chunk)),
                "every MiB-aligned chunk carries its tree hash"
            );
            got.extend_from_slice(&chunk);
        }
        assert_eq!(got, body);
    }
    Ok(())
}

#[tokio::test]
async fn ranged_retrieval_and_inventory() -> R {
    let srv = TestServer::start().await?;
    let g = srv.client();
    g.create_vault().vault_name("v").send().await?;
    let body = data(4 * MIB + 5, 9);
    let archive_id = g
        .upload_archive()
        .vault_name("v")
        .body(ByteStream::from(body.clone()))
        .send()
        .await?
        .archive_id()
        .unwrap_or_default()
        .to_owned();
    let job = start_job(
        &g,
        "v",
        archive_job(&archive_id)
            .retrieval_byte_range(format!("{}-{}", 2 * MIB, 4 * MIB - 1))
            .build(),
    )
    .await?;
    let d = g.describe_job().vault_name("v").job_id(&job).send().await?;
    assert_eq!(
        d.sha256_tree_hash(),
        Some(th(&body[2 * MIB..4 * MIB]).as_str())
    );
    let out = g
        .get_job_output()
        .vault_name("v")
        .job_id(&job)
        .send()
        .await?;
    assert_eq!(
        out.body.collect().await?.into_bytes().as_ref(),
        &body[2 * MIB..4 * MIB]
    );

    for i in 0..3u8 {
        g.upload_archive()
            .vault_name("v")
            .archive_description(format!("n{i}"))
            .body(ByteStream::from(vec![i; 10]))
            .send()
            .await?;
    }
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let params = InventoryRetrievalJobInput::builder()
            .limit("2")
            .set_marker(marker.clone())
            .build();
        let job = start_job(
            &g,
            "v",
            JobParameters::builder()
                .r#type("inventory-retrieval")
                .inventory_retrieval_parameters(params)
                .build(),
        )
        .await?;
        let d = g.describe_job().vault_name("v").job_id(&job).send().await?;
        let out = g
            .get_job_output()
            .vault_name("v")
            .job_id(&job)
            .send()
            .await?;
        assert_eq!(out.content_type(), Some("application/json"));
        let doc: serde_json::Value =
            serde_json::from_slice(&out.body.collect().await?.into_bytes())?;
        let list = doc["ArchiveList"].as_array().cloned().unwrap_or_default();
        seen.extend(
            list.iter()
                .filter_map(|a| a["ArchiveDescription"].as_str().map(str::to_owned)),
        );
        marker = d
            .inventory_retrieval_parameters()
            .and_then(|p| p.marker())
            .map(str::to_owned);
        if marker.is_none() {
            break;
        }
    }
    // Creation order; archives made in the same millisecond may come in either order.
    seen.sort();
    assert_eq!(seen, ["", "n0", "n1", "n2"]);

    let job = start_job(
        &g,
        "v",
        JobParameters::builder()
            .r#type("inventory-retrieval")
            .format("CSV")
            .build(),
    )
    .await?;
    let out = g
        .get_job_output()
        .vault_name("v")
        .job_id(&job)
        .send()
        .await?;
    assert_eq!(out.content_type(), Some("text/csv"));
    let csv = String::from_utf8(out.body.collect().await?.into_bytes().to_vec())?;
    assert!(csv.starts_with("ArchiveId,ArchiveDescription,CreationDate,Size,SHA256TreeHash\n"));
    assert_eq!(csv.lines().count(), 5);
    Ok(())
}

#[tokio::test]
async fn bad_job_requests() -> R {
    let srv = TestServer::start().await?;
    let g = srv.client();
    g.create_vault().vault_name("v").send().await?;
    let body = data(2 * MIB, 1);
    let archive_id = g
        .upload_archive()
        .vault_name("v")
        .body(ByteStream::from(body))
        .send()
        .await?
        .archive_id()
        .unwrap_or_default()
        .to_owned();
    let initiate = |p: JobParameters| g.initiate_job().vault_name("v").job_parameters(p).send();
    expect_error(
        initiate(
            archive_job(&archive_id)
                .retrieval_byte_range("0-1000")
                .build(),
        )
        .await,
        "InvalidParameterValueException",
        400,
        "aligned",
    );
    expect_error(
        initiate(archive_job("missing").build()).await,
        "ResourceNotFoundException",
        404,
        "missing",
    );
    expect_error(
        initiate(JobParameters::builder().r#type("select").build()).await,
        "InvalidParameterValueException",
        400,
        "not supported",
    );
    expect_error(
        initiate(
            JobParameters::builder()
                .r#type("inventory-retrieval")
                .format("YAML")
                .build(),
        )
        .await,
        "InvalidParameterValueException",
        400,
        "Format",
    );
    let bad_date = InventoryRetrievalJobInput::builder()
        .end_date("31/12/2024")
        .build();
    expect_error(
        initiate(
            JobParameters::builder()
                .r#type("inventory-retrieval")
                .inventory_retrieval_parameters(bad_date)
                .build(),
        )
        .await,
        "InvalidParameterValueException",
        400,
        "EndDate",
    );
    assert!(
        g.list_jobs()
            .vault_name("v")
            .send()
            .await?
            .job_list()
            .is_empty(),
        "nothing was created"
    );
    expect_error(
        g.describe_job().vault_name("v").job_id("nope").send().await,
        "ResourceNotFoundException",
        404,
        "nope",
    );

    let job = start_job(&g, "v", archive_job(&archive_id).build()).await?;
    expect_error(
        g.get_job_output()
            .vault_name("v")
            .job_id(&job)
            .range(format!("bytes={}-", 2 * MIB))
            .send()
            .await,
        "InvalidParameterValueException",
        400,
        "beyond",
    );
    Ok(())
}
