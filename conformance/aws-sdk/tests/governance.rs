//! Tags, access policies, vault lock, data retrieval policy and provisioned capacity, driven by
//! the official AWS SDK for Rust.

use aws_sdk_glacier::primitives::ByteStream;
use aws_sdk_glacier::types::{
    DataRetrievalPolicy, DataRetrievalRule, JobParameters, VaultAccessPolicy, VaultLockPolicy,
};
use conformance_aws_sdk::{
    ACCESS_KEY, ACCOUNT, OTHER_ACCESS_KEY, OTHER_ACCOUNT, OTHER_SECRET_KEY, TestServer,
    expect_error,
};
use glacier_server::Settings;

type R = anyhow::Result<()>;

const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"glacier:DeleteArchive","Resource":"*"}]}"#;

#[tokio::test]
async fn tags_and_access_policy() -> R {
    let srv = TestServer::start().await?;
    let g = srv.client();
    g.create_vault().vault_name("v").send().await?;
    g.add_tags_to_vault()
        .vault_name("v")
        .tags("team", "photos")
        .tags("tier", "cold")
        .send()
        .await?;
    g.remove_tags_from_vault()
        .vault_name("v")
        .tag_keys("tier")
        .send()
        .await?;
    let tags = g.list_tags_for_vault().vault_name("v").send().await?;
    assert_eq!(tags.tags().map(|t| t.len()), Some(1));
    expect_error(
        g.add_tags_to_vault()
            .vault_name("v")
            .tags("aws:x", "1")
            .send()
            .await,
        "InvalidParameterValueException",
        400,
        "aws:",
    );
    let mut add = g.add_tags_to_vault().vault_name("v");
    for i in 0..49 {
        add = add.tags(format!("k{i}"), i.to_string());
    }
    add.send().await?;
    // Overwriting a key is not an extra tag; a 51st key is refused and changes nothing.
    g.add_tags_to_vault()
        .vault_name("v")
        .tags("k0", "again")
        .send()
        .await?;
    expect_error(
        g.add_tags_to_vault()
            .vault_name("v")
            .tags("one-more", "x")
            .send()
            .await,
        "LimitExceededException",
        400,
        "50",
    );
    let tags = g.list_tags_for_vault().vault_name("v").send().await?;
    assert_eq!(tags.tags().map(|t| t.len()), Some(50));
    assert_eq!(
        tags.tags().and_then(|t| t.get("k0")).map(String::as_str),
        Some("again")
    );

    expect_error(
        g.get_vault_access_policy().vault_name("v").send().await,
        "ResourceNotFoundException",
        404,
        "access policy",
    );
    let policy = VaultAccessPolicy::builder().policy(POLICY).build();
    g.set_vault_access_policy()
        .vault_name("v")
        .policy(policy)
        .send()
        .await?;
    let got = g.get_vault_access_policy().vault_name("v").send().await?;
    assert_eq!(got.policy().and_then(|p| p.policy()), Some(POLICY));
    let bad = VaultAccessPolicy::builder().policy("nope").build();
    expect_error(
        g.set_vault_access_policy()
            .vault_name("v")
            .policy(bad)
            .send()
            .await,
        "InvalidParameterValueException",
        400,
        "JSON",
    );
    g.delete_vault_access_policy()
        .vault_name("v")
        .send()
        .await?;
    Ok(())
}

#[tokio::test]
async fn vault_lock() -> R {
    let srv = TestServer::start().await?;
    let g = srv.client();
    g.create_vault().vault_name("v").send().await?;
    let policy = || VaultLockPolicy::builder().policy(POLICY).build();
    let started = g
        .initiate_vault_lock()
        .vault_name("v")
        .policy(policy())
        .send()
        .await?;
    let lock_id = started.lock_id().unwrap_or_default().to_owned();
    assert_eq!(
        g.get_vault_lock().vault_name("v").send().await?.state(),
        Some("InProgress")
    );
    expect_error(
        g.complete_vault_lock()
            .vault_name("v")
            .lock_id("wrong")
            .send()
            .await,
        "InvalidParameterValueException",
        400,
        "lock id",
    );
    g.complete_vault_lock()
        .vault_name("v")
        .lock_id(&lock_id)
        .send()
        .await?;
    assert_eq!(
        g.get_vault_lock().vault_name("v").send().await?.state(),
        Some("Locked")
    );
    expect_error(
        g.abort_vault_lock().vault_name("v").send().await,
        "AccessDeniedException",
        403,
        "locked",
    );
    expect_error(
        g.complete_vault_lock()
            .vault_name("v")
            .lock_id("wrong")
            .send()
            .await,
        "AccessDeniedException",
        403,
        "lock id",
    );
    expect_error(
        g.initiate_vault_lock()
            .vault_name("v")
            .policy(policy())
            .send()
            .await,
        "AccessDeniedException",
        403,
        "locked",
    );
    Ok(())
}

#[tokio::test]
async fn retrieval_policy_and_capacity() -> R {
    let srv = TestServer::start().await?;
    let g = srv.client();
    let current = g.get_data_retrieval_policy().send().await?;
    assert_eq!(
        current.policy().map(|p| p.rules()[0].strategy()),
        Some(Some("None"))
    );
    let rule = DataRetrievalRule::builder()
        .strategy("BytesPerHour")
        .bytes_per_hour(1 << 30)
        .build();
    g.set_data_retrieval_policy()
        .policy(DataRetrievalPolicy::builder().rules(rule).build())
        .send()
        .await?;
    let got = g.get_data_retrieval_policy().send().await?;
    assert_eq!(
        got.policy().map(|p| p.rules()[0].bytes_per_hour()),
        Some(Some(1 << 30))
    );
    let bad = DataRetrievalRule::builder().strategy("Everything").build();
    expect_error(
        g.set_data_retrieval_policy()
            .policy(DataRetrievalPolicy::builder().rules(bad).build())
            .send()
            .await,
        "InvalidParameterValueException",
        400,
        "Strategy",
    );

    let a = g.purchase_provisioned_capacity().send().await?;
    g.purchase_provisioned_capacity().send().await?;
    expect_error(
        g.purchase_provisioned_capacity().send().await,
        "LimitExceededException",
        400,
        "limit",
    );
    let units = g.list_provisioned_capacity().send().await?;
    assert_eq!(units.provisioned_capacity_list().len(), 2);
    assert_eq!(
        units.provisioned_capacity_list()[0].capacity_id(),
        a.capacity_id()
    );
    Ok(())
}

async fn upload(
    g: &aws_sdk_glacier::Client,
    account: &str,
    vault: &str,
    body: &[u8],
) -> anyhow::Result<String> {
    let r = g
        .upload_archive()
        .account_id(account)
        .vault_name(vault)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await?;
    Ok(r.archive_id().unwrap_or_default().to_owned())
}

fn retrieval(archive: &str, tier: &str) -> JobParameters {
    JobParameters::builder()
        .r#type("archive-retrieval")
        .archive_id(archive)
        .tier(tier)
        .build()
}

#[tokio::test]
async fn locked_vault_refuses_deleting_young_archives() -> R {
    let srv = TestServer::start().await?;
    let g = srv.client();
    g.create_vault().vault_name("worm").send().await?;
    let archive = upload(&g, "-", "worm", b"keep me for a year").await?;
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"worm","Effect":"Deny","Principal":"*","Action":"glacier:DeleteArchive","Resource":"arn:aws:glacier:us-east-1:{ACCOUNT}:vaults/worm","Condition":{{"NumericLessThan":{{"glacier:ArchiveAgeInDays":"365"}}}}}}]}}"#
    );
    let lock = g
        .initiate_vault_lock()
        .vault_name("worm")
        .policy(VaultLockPolicy::builder().policy(policy).build())
        .send()
        .await?;
    g.complete_vault_lock()
        .vault_name("worm")
        .lock_id(lock.lock_id().unwrap_or_default())
        .send()
        .await?;
    expect_error(
        g.delete_archive()
            .vault_name("worm")
            .archive_id(&archive)
            .send()
            .await,
        "AccessDeniedException",
        403,
        "explicit deny",
    );
    // Still there: a retrieval of it starts.
    g.initiate_job()
        .vault_name("worm")
        .job_parameters(retrieval(&archive, "Standard"))
        .send()
        .await?;
    Ok(())
}

#[tokio::test]
async fn cross_account_access_needs_a_grant() -> R {
    let srv = TestServer::start().await?;
    let g = srv.client();
    let other = srv.client_as(OTHER_ACCESS_KEY, OTHER_SECRET_KEY);
    g.create_vault().vault_name("shared").send().await?;
    let describe = || {
        other
            .describe_vault()
            .account_id(ACCOUNT)
            .vault_name("shared")
            .send()
    };
    expect_error(describe().await, "ResourceNotFoundException", 404, "shared");
    expect_error(
        other.list_vaults().account_id(ACCOUNT).send().await,
        "AccessDeniedException",
        403,
        "not authorized",
    );
    let grant = format!(
        r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{OTHER_ACCOUNT}"}},"Action":["glacier:DescribeVault","glacier:UploadArchive"],"Resource":"arn:aws:glacier:us-east-1:{ACCOUNT}:vaults/shared"}}]}}"#
    );
    g.set_vault_access_policy()
        .vault_name("shared")
        .policy(VaultAccessPolicy::builder().policy(grant).build())
        .send()
        .await?;
    let d = describe().await?;
    assert_eq!(
        d.vault_arn(),
        Some(format!("arn:aws:glacier:us-east-1:{ACCOUNT}:vaults/shared").as_str())
    );
    let archive = upload(&other, ACCOUNT, "shared", b"delivered across accounts").await?;
    expect_error(
        other
            .delete_archive()
            .account_id(ACCOUNT)
            .vault_name("shared")
            .archive_id(&archive)
            .send()
            .await,
        "AccessDeniedException",
        403,
        "glacier:DeleteArchive",
    );
    g.delete_vault_access_policy()
        .vault_name("shared")
        .send()
        .await?;
    expect_error(describe().await, "ResourceNotFoundException", 404, "shared");
    Ok(())
}

#[tokio::test]
async fn wrong_credentials_are_refused() -> R {
    let srv = TestServer::start().await?;
    expect_error(
        srv.client_as(ACCESS_KEY, "not-the-secret")
            .create_vault()
            .vault_name("nope")
            .send()
            .await,
        "InvalidSignatureException",
        403,
        "signature",
    );
    expect_error(
        srv.client_as("AKIDNOBODY0000000000", "x")
            .list_vaults()
            .send()
            .await,
        "UnrecognizedClientException",
        403,
        "security token",
    );
    let vaults = srv.client().list_vaults().send().await?;
    assert!(vaults.vault_list().is_empty(), "nothing was created");
    Ok(())
}

#[tokio::test]
async fn retrieval_limits_are_enforced() -> R {
    let srv = TestServer::start_with(Settings {
        expedited_rate: 1,
        ..Settings::new("us-east-1")
    })
    .await?;
    let g = srv.client();
    g.create_vault().vault_name("v").send().await?;
    let archive = upload(&g, "-", "v", &vec![7u8; 2 << 20]).await?;
    let initiate = |p: JobParameters| g.initiate_job().vault_name("v").job_parameters(p).send();
    let rule = DataRetrievalRule::builder()
        .strategy("BytesPerHour")
        .bytes_per_hour(3 << 20)
        .build();
    g.set_data_retrieval_policy()
        .policy(DataRetrievalPolicy::builder().rules(rule).build())
        .send()
        .await?;
    initiate(retrieval(&archive, "Standard")).await?;
    expect_error(
        initiate(retrieval(&archive, "Bulk")).await,
        "PolicyEnforcedException",
        400,
        "data retrieval policy",
    );
    initiate(retrieval(&archive, "Expedited")).await?;
    expect_error(
        initiate(retrieval(&archive, "Expedited")).await,
        "InsufficientCapacityException",
        400,
        "capacity",
    );
    g.purchase_provisioned_capacity().send().await?;
    initiate(retrieval(&archive, "Expedited")).await?;
    Ok(())
}
