//! Tags, access policies, vault lock, data retrieval policy and provisioned capacity, driven by
//! the official AWS SDK for Rust.

use aws_sdk_glacier::types::{
    DataRetrievalPolicy, DataRetrievalRule, VaultAccessPolicy, VaultLockPolicy,
};
use conformance_aws_sdk::{TestServer, expect_error};

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
