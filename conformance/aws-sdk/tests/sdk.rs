//! Every vault, archive, multipart and notification operation, and every bad input of the
//! foundation issue, driven by the official AWS SDK for Rust against glacier-server.

use aws_sdk_glacier::primitives::ByteStream;
use aws_sdk_glacier::types::VaultNotificationConfig;
use conformance_aws_sdk::{ACCOUNT, MIB, TestServer, data, expect_error};
use glacier_core::TreeHash;

type R = anyhow::Result<()>;

fn th(b: &[u8]) -> String {
    TreeHash::of(b).to_hex()
}

#[tokio::test]
async fn vault_lifecycle_and_pagination() -> R {
    let srv = TestServer::start().await?;
    let g = srv.client();
    for i in 0..5 {
        let r = g
            .create_vault()
            .vault_name(format!("vault-{i}"))
            .send()
            .await?;
        assert_eq!(
            r.location(),
            Some(format!("/{ACCOUNT}/vaults/vault-{i}").as_str())
        );
    }
    let d = g.describe_vault().vault_name("vault-3").send().await?;
    assert_eq!(
        d.vault_arn(),
        Some(format!("arn:aws:glacier:us-east-1:{ACCOUNT}:vaults/vault-3").as_str())
    );
    assert_eq!(
        (
            d.number_of_archives(),
            d.size_in_bytes(),
            d.last_inventory_date()
        ),
        (0, 0, None)
    );

    let mut names = Vec::new();
    let mut marker: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = g
            .list_vaults()
            .limit(2)
            .set_marker(marker.clone())
            .send()
            .await?;
        assert!(page.vault_list().len() <= 2);
        names.extend(
            page.vault_list()
                .iter()
                .filter_map(|v| v.vault_name().map(str::to_owned)),
        );
        pages += 1;
        marker = page.marker().map(str::to_owned);
        if marker.is_none() {
            break;
        }
    }
    assert_eq!(
        names,
        (0..5).map(|i| format!("vault-{i}")).collect::<Vec<_>>()
    );
    assert_eq!(pages, 3);
    let all = g.list_vaults().send().await?;
    assert_eq!(all.vault_list().len(), 5);
    assert_eq!(all.marker(), None);

    g.delete_vault().vault_name("vault-0").send().await?;
    expect_error(
        g.describe_vault().vault_name("vault-0").send().await,
        "ResourceNotFoundException",
        404,
        "vault-0",
    );
    expect_error(
        g.delete_vault().vault_name("vault-0").send().await,
        "ResourceNotFoundException",
        404,
        "vault",
    );
    expect_error(
        g.create_vault().vault_name("bad name").send().await,
        "InvalidParameterValueException",
        400,
        "vault name",
    );
    expect_error(
        g.create_vault().vault_name("v".repeat(256)).send().await,
        "InvalidParameterValueException",
        400,
        "255",
    );
    expect_error(
        g.list_vaults().limit(0).send().await,
        "InvalidParameterValueException",
        400,
        "limit",
    );
    expect_error(
        g.list_vaults().marker("nonsense").send().await,
        "InvalidParameterValueException",
        400,
        "marker",
    );
    assert_eq!(
        g.list_vaults().send().await?.vault_list().len(),
        4,
        "bad requests created nothing"
    );
    Ok(())
}

#[tokio::test]
async fn archives_upload_and_delete() -> R {
    let srv = TestServer::start().await?;
    let g = srv.client();
    g.create_vault().vault_name("v").send().await?;
    let body = data(2 * MIB + 123, 1);
    let r = g
        .upload_archive()
        .vault_name("v")
        .archive_description("backup of /etc")
        .body(ByteStream::from(body.clone()))
        .send()
        .await?;
    assert_eq!(r.checksum(), Some(th(&body).as_str()));
    let id = r.archive_id().unwrap_or_default().to_owned();
    assert_eq!(id.len(), 138);
    assert_eq!(
        r.location(),
        Some(format!("/{ACCOUNT}/vaults/v/archives/{id}").as_str())
    );
    let d = g.describe_vault().vault_name("v").send().await?;
    assert_eq!(
        (d.number_of_archives(), d.size_in_bytes()),
        (1, body.len() as i64)
    );

    expect_error(
        g.delete_vault().vault_name("v").send().await,
        "InvalidParameterValueException",
        400,
        "not empty",
    );
    g.delete_archive()
        .vault_name("v")
        .archive_id(&id)
        .send()
        .await?;
    // DeleteArchive is idempotent: the deleted archive's id is accepted again.
    g.delete_archive()
        .vault_name("v")
        .archive_id(&id)
        .send()
        .await?;
    expect_error(
        g.delete_archive()
            .vault_name("v")
            .archive_id("never-was-an-archive")
            .send()
            .await,
        "ResourceNotFoundException",
        404,
        "archive",
    );
    g.delete_vault().vault_name("v").send().await?;
    assert!(srv.blob_files().is_empty());
    Ok(())
}

#[tokio::test]
async fn bad_uploads_change_nothing() -> R {
    let srv = TestServer::start().await?;
    let g = srv.client();
    g.create_vault().vault_name("v").send().await?;
    let up = |desc: Option<String>, checksum: Option<String>, body: Vec<u8>| {
        g.upload_archive()
            .vault_name("v")
            .set_archive_description(desc)
            .set_checksum(checksum)
            .body(ByteStream::from(body))
            .send()
    };
    let wrong = th(b"not this");
    let msg = expect_error(
        up(None, Some(wrong.clone()), data(MIB, 2)).await,
        "InvalidParameterValueException",
        400,
        "checksum mismatch",
    );
    assert!(msg.contains(&wrong), "{msg}");
    expect_error(
        up(Some("d".repeat(1025)), None, b"x".to_vec()).await,
        "InvalidParameterValueException",
        400,
        "1025",
    );
    expect_error(
        up(Some("new\tline".into()), None, b"x".to_vec()).await,
        "InvalidParameterValueException",
        400,
        "printable",
    );
    expect_error(
        up(None, None, Vec::new()).await,
        "InvalidParameterValueException",
        400,
        "Content-Length",
    );
    expect_error(
        g.upload_archive()
            .vault_name("nope")
            .body(ByteStream::from(b"x".to_vec()))
            .send()
            .await,
        "ResourceNotFoundException",
        404,
        "nope",
    );
    expect_error(
        g.delete_archive()
            .vault_name("v")
            .archive_id("no-such-archive")
            .send()
            .await,
        "ResourceNotFoundException",
        404,
        "no-such-archive",
    );
    let d = g.describe_vault().vault_name("v").send().await?;
    assert_eq!((d.number_of_archives(), d.size_in_bytes()), (0, 0));
    assert!(
        srv.blob_files().is_empty() && srv.tmp_files().is_empty(),
        "{:?}",
        srv.blob_files()
    );
    Ok(())
}

#[tokio::test]
async fn multipart_upload_complete_list_abort() -> R {
    let srv = TestServer::start().await?;
    let g = srv.client();
    g.create_vault().vault_name("v").send().await?;
    let whole = data(4 * MIB + 10, 3);
    let part_size = 2 * MIB;
    let init = g
        .initiate_multipart_upload()
        .vault_name("v")
        .part_size(part_size.to_string())
        .archive_description("parts")
        .send()
        .await?;
    let upload_id = init.upload_id().unwrap_or_default().to_owned();
    assert_eq!(
        init.location(),
        Some(format!("/{ACCOUNT}/vaults/v/multipart-uploads/{upload_id}").as_str())
    );

    // Parts in reverse order; the SDK computes each part's tree hash itself.
    let chunks: Vec<&[u8]> = whole.chunks(part_size).collect();
    for (i, chunk) in chunks.iter().enumerate().rev() {
        let start = i * part_size;
        let r = g
            .upload_multipart_part()
            .vault_name("v")
            .upload_id(&upload_id)
            .range(format!("bytes {}-{}/*", start, start + chunk.len() - 1))
            .body(ByteStream::from(chunk.to_vec()))
            .send()
            .await?;
        assert_eq!(r.checksum(), Some(th(chunk).as_str()));
    }
    let first = g
        .list_parts()
        .vault_name("v")
        .upload_id(&upload_id)
        .limit(2)
        .send()
        .await?;
    assert_eq!(first.parts().len(), 2);
    assert_eq!(first.part_size_in_bytes(), part_size as i64);
    assert_eq!(first.archive_description(), Some("parts"));
    let rest = g
        .list_parts()
        .vault_name("v")
        .upload_id(&upload_id)
        .set_marker(first.marker().map(str::to_owned))
        .send()
        .await?;
    let ranges: Vec<_> = first
        .parts()
        .iter()
        .chain(rest.parts())
        .filter_map(|p| p.range_in_bytes())
        .collect();
    assert_eq!(
        ranges,
        vec!["0-2097151", "2097152-4194303", "4194304-4194313"]
    );
    assert_eq!(rest.marker(), None);

    let uploads = g.list_multipart_uploads().vault_name("v").send().await?;
    assert_eq!(uploads.uploads_list().len(), 1);
    assert_eq!(
        uploads.uploads_list()[0].multipart_upload_id(),
        Some(upload_id.as_str())
    );

    let done = g
        .complete_multipart_upload()
        .vault_name("v")
        .upload_id(&upload_id)
        .archive_size(whole.len().to_string())
        .checksum(th(&whole))
        .send()
        .await?;
    assert_eq!(done.checksum(), Some(th(&whole).as_str()));
    let again = g
        .complete_multipart_upload()
        .vault_name("v")
        .upload_id(&upload_id)
        .archive_size(whole.len().to_string())
        .checksum(th(&whole))
        .send()
        .await?;
    assert_eq!(
        again.archive_id(),
        done.archive_id(),
        "completion is idempotent"
    );
    let d = g.describe_vault().vault_name("v").send().await?;
    assert_eq!(
        (d.number_of_archives(), d.size_in_bytes()),
        (1, whole.len() as i64)
    );
    assert!(
        g.list_multipart_uploads()
            .vault_name("v")
            .send()
            .await?
            .uploads_list()
            .is_empty()
    );

    let other = g
        .initiate_multipart_upload()
        .vault_name("v")
        .part_size(MIB.to_string())
        .send()
        .await?;
    let other_id = other.upload_id().unwrap_or_default();
    g.abort_multipart_upload()
        .vault_name("v")
        .upload_id(other_id)
        .send()
        .await?;
    expect_error(
        g.list_parts()
            .vault_name("v")
            .upload_id(other_id)
            .send()
            .await,
        "ResourceNotFoundException",
        404,
        other_id,
    );
    Ok(())
}

#[tokio::test]
async fn bad_multipart_requests_change_nothing() -> R {
    let srv = TestServer::start().await?;
    let g = srv.client();
    g.create_vault().vault_name("v").send().await?;
    for bad in ["3145728", "0", "8589934592", "big"] {
        expect_error(
            g.initiate_multipart_upload()
                .vault_name("v")
                .part_size(bad)
                .send()
                .await,
            "InvalidParameterValueException",
            400,
            "part size",
        );
    }
    expect_error(
        g.initiate_multipart_upload().vault_name("v").send().await,
        "MissingParameterValueException",
        400,
        "x-amz-part-size",
    );
    let up = g
        .initiate_multipart_upload()
        .vault_name("v")
        .part_size(MIB.to_string())
        .send()
        .await?;
    let id = up.upload_id().unwrap_or_default().to_owned();
    let whole = data(2 * MIB + 1, 4);
    let part = |range: String, body: Vec<u8>| {
        g.upload_multipart_part()
            .vault_name("v")
            .upload_id(&id)
            .range(range)
            .body(ByteStream::from(body))
            .send()
    };
    part(format!("bytes 0-{}/*", MIB - 1), whole[..MIB].to_vec()).await?;
    let blobs = srv.blob_files();

    expect_error(
        part("bytes 5-1048580/*".into(), data(MIB, 0)).await,
        "InvalidParameterValueException",
        400,
        "multiple of the part size",
    );
    expect_error(
        part(format!("bytes 0-{}/*", 2 * MIB - 1), data(2 * MIB, 0)).await,
        "InvalidParameterValueException",
        400,
        "larger than the part size",
    );
    expect_error(
        part("bytes=0-3".into(), b"abcd".to_vec()).await,
        "InvalidParameterValueException",
        400,
        "Content-Range",
    );
    expect_error(
        part(format!("bytes {MIB}-{}/*", 2 * MIB - 1), b"abcd".to_vec()).await,
        "InvalidParameterValueException",
        400,
        "does not match",
    );
    expect_error(
        g.upload_multipart_part()
            .vault_name("v")
            .upload_id(&id)
            .range(format!("bytes {MIB}-{}/*", 2 * MIB - 1))
            .checksum(th(b"wrong"))
            .body(ByteStream::from(whole[MIB..2 * MIB].to_vec()))
            .send()
            .await,
        "InvalidParameterValueException",
        400,
        "checksum mismatch",
    );
    expect_error(
        g.upload_multipart_part()
            .vault_name("v")
            .upload_id("nope")
            .range("bytes 0-0/*")
            .body(ByteStream::from(b"x".to_vec()))
            .send()
            .await,
        "ResourceNotFoundException",
        404,
        "nope",
    );
    assert_eq!(srv.blob_files(), blobs, "refused parts stored nothing");
    assert!(srv.tmp_files().is_empty());

    let complete = |size: usize, hash: String| {
        g.complete_multipart_upload()
            .vault_name("v")
            .upload_id(&id)
            .archive_size(size.to_string())
            .checksum(hash)
            .send()
    };
    expect_error(
        complete(whole.len(), th(&whole)).await,
        "InvalidParameterValueException",
        400,
        "missing the part of bytes 1048576-2097151",
    );
    part(
        format!("bytes {MIB}-{}/*", 2 * MIB - 1),
        whole[MIB..2 * MIB].to_vec(),
    )
    .await?;
    part(
        format!("bytes {}-{}/*", 2 * MIB, 2 * MIB),
        whole[2 * MIB..].to_vec(),
    )
    .await?;
    expect_error(
        complete(whole.len() + 5, th(&whole)).await,
        "InvalidParameterValueException",
        400,
        "missing",
    );
    expect_error(
        complete(whole.len() - 1, th(&whole)).await,
        "InvalidParameterValueException",
        400,
        "archive size",
    );
    expect_error(
        complete(whole.len(), th(b"x")).await,
        "InvalidParameterValueException",
        400,
        "tree hash",
    );
    assert_eq!(
        g.describe_vault()
            .vault_name("v")
            .send()
            .await?
            .number_of_archives(),
        0
    );
    assert_eq!(
        g.list_parts()
            .vault_name("v")
            .upload_id(&id)
            .send()
            .await?
            .parts()
            .len(),
        3
    );
    complete(whole.len(), th(&whole)).await?;
    Ok(())
}

#[tokio::test]
async fn notifications() -> R {
    let srv = TestServer::start().await?;
    let g = srv.client();
    g.create_vault().vault_name("v").send().await?;
    let topic = "arn:aws:sns:us-east-1:444455556666:t";
    expect_error(
        g.get_vault_notifications().vault_name("v").send().await,
        "ResourceNotFoundException",
        404,
        "notification",
    );
    let config = VaultNotificationConfig::builder()
        .sns_topic(topic)
        .events("ArchiveRetrievalCompleted")
        .events("InventoryRetrievalCompleted")
        .build();
    g.set_vault_notifications()
        .vault_name("v")
        .vault_notification_config(config)
        .send()
        .await?;
    let got = g.get_vault_notifications().vault_name("v").send().await?;
    let got = got
        .vault_notification_config()
        .cloned()
        .unwrap_or_else(|| VaultNotificationConfig::builder().build());
    assert_eq!(got.sns_topic(), Some(topic));
    assert_eq!(
        got.events(),
        ["ArchiveRetrievalCompleted", "InventoryRetrievalCompleted"]
    );
    let bad = VaultNotificationConfig::builder()
        .sns_topic(topic)
        .events("Everything")
        .build();
    expect_error(
        g.set_vault_notifications()
            .vault_name("v")
            .vault_notification_config(bad)
            .send()
            .await,
        "InvalidParameterValueException",
        400,
        "Everything",
    );
    g.delete_vault_notifications()
        .vault_name("v")
        .send()
        .await?;
    expect_error(
        g.get_vault_notifications().vault_name("v").send().await,
        "ResourceNotFoundException",
        404,
        "notification",
    );
    Ok(())
}
