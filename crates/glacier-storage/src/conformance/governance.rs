//! Tags, policies, the vault lock and its races, retrieval admission, the policy cache.

use super::*;

/// Exercises tags, access policies, vault locks, retrieval policies and capacity units.
pub(crate) async fn governance(store: &dyn MetadataStore) {
    let now = OffsetDateTime::now_utc();
    let now = now
        .replace_nanosecond(u32::from(now.millisecond()) * 1_000_000)
        .unwrap_or(now);
    let key = VaultKey {
        account: "111122223333".into(),
        name: "gov".into(),
    };
    ok(
        "vault",
        store.create_vault(&key, "us-east-1", now, 10).await,
    );
    let tags = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<std::collections::BTreeMap<_, _>>()
    };

    ok(
        "add",
        store
            .add_tags(&key, &tags(&[("a", "1"), ("b", "2")]), 3)
            .await,
    );
    ok(
        "overwrite is not an extra tag",
        store
            .add_tags(&key, &tags(&[("a", "one"), ("c", "3")]), 3)
            .await,
    );
    match store.add_tags(&key, &tags(&[("d", "4")]), 3).await {
        Err(StorageError::LimitExceeded(_)) => {}
        other => panic!("a fourth tag over a limit of 3: {other:?}"),
    }
    assert_eq!(
        ok("list", store.list_tags(&key).await),
        tags(&[("a", "one"), ("b", "2"), ("c", "3")]),
        "a refused add changes nothing"
    );
    ok(
        "remove",
        store.remove_tags(&key, &["b".into(), "zz".into()]).await,
    );
    assert_eq!(
        ok("list", store.list_tags(&key).await),
        tags(&[("a", "one"), ("c", "3")])
    );

    let policies = |p: VaultPolicies| (p.access, p.lock);
    let none = ok("no policy", store.vault_policies(&key).await);
    assert_eq!(
        (none.region.as_str(), none.access, none.lock),
        ("us-east-1", None, None)
    );
    if let Some(vault) = none.vault {
        assert_eq!(
            vault,
            ok("vault", store.get_vault(&key).await),
            "the vault read with its policies is the vault"
        );
    }
    ok(
        "set policy",
        store.set_access_policy(&key, Some("{}".into())).await,
    );
    assert_eq!(
        ok("policy", store.vault_policies(&key).await).access,
        Some("{}".into())
    );
    let lock = VaultLock {
        policy: "{\"x\":1}".into(),
        state: LockState::InProgress,
        lock_id: "L1".into(),
        created: now,
        expires: Some(now),
    };
    assert_eq!(
        ok(
            "initiate",
            store.swap_vault_lock(&key, None, Some(lock.clone())).await
        ),
        LockSwap::Swapped
    );
    assert_eq!(
        policies(ok("lock", store.vault_policies(&key).await)),
        (Some("{}".into()), Some(lock.clone())),
        "the access policy and the lock are separate"
    );
    let other = VaultLock {
        lock_id: "L2".into(),
        ..lock.clone()
    };
    assert_eq!(
        ok(
            "initiate over a lock",
            store.swap_vault_lock(&key, None, Some(other.clone())).await
        ),
        LockSwap::Changed(Some(lock.clone())),
        "a swap that expected no lock finds one and changes nothing"
    );
    let locked = VaultLock {
        state: LockState::Locked,
        expires: None,
        ..lock.clone()
    };
    assert_eq!(
        ok(
            "complete",
            store
                .swap_vault_lock(&key, Some(&lock), Some(locked.clone()))
                .await
        ),
        LockSwap::Swapped
    );
    assert_eq!(
        ok(
            "abort after complete",
            store.swap_vault_lock(&key, Some(&lock), None).await
        ),
        LockSwap::Changed(Some(locked.clone())),
        "the same id in another state is another lock"
    );
    assert_eq!(
        ok(
            "still locked",
            store.vault_policies(&key).await.map(|p| p.lock)
        ),
        Some(locked.clone())
    );
    ok(
        "clear lock",
        store.swap_vault_lock(&key, Some(&locked), None).await,
    );
    assert_eq!(
        ok("no lock", store.vault_policies(&key).await.map(|p| p.lock)),
        None
    );
    not_found(
        "lock of a missing vault",
        store
            .swap_vault_lock(
                &VaultKey {
                    name: "zz".into(),
                    ..key.clone()
                },
                None,
                Some(lock.clone()),
            )
            .await,
    );
    not_found(
        "tags of a missing vault",
        store
            .list_tags(&VaultKey {
                name: "zz".into(),
                ..key.clone()
            })
            .await,
    );

    assert_eq!(
        ok(
            "no retrieval policy",
            store.get_retrieval_policy("111122223333").await
        ),
        None
    );
    ok(
        "set retrieval policy",
        store
            .set_retrieval_policy("111122223333", "{\"Rules\":[]}")
            .await,
    );
    assert_eq!(
        ok(
            "retrieval policy",
            store.get_retrieval_policy("111122223333").await
        )
        .as_deref(),
        Some("{\"Rules\":[]}")
    );

    let unit = |id: &str, start: OffsetDateTime| CapacityUnit {
        id: id.into(),
        start,
        expires: start + time::Duration::days(30),
    };
    ok(
        "unit 1",
        store
            .purchase_capacity("111122223333", unit("u1", now), 2)
            .await,
    );
    ok(
        "unit 2",
        store
            .purchase_capacity("111122223333", unit("u2", now), 2)
            .await,
    );
    match store
        .purchase_capacity("111122223333", unit("u3", now), 2)
        .await
    {
        Err(StorageError::LimitExceeded(_)) => {}
        other => panic!("a third active unit: {other:?}"),
    }
    ok(
        "after expiry",
        store
            .purchase_capacity(
                "111122223333",
                unit("u4", now + time::Duration::days(31)),
                2,
            )
            .await,
    );
    let units = ok("units", store.list_capacity("111122223333").await);
    assert_eq!(
        units.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(),
        vec!["u1", "u2", "u4"]
    );
    assert!(ok("other account", store.list_capacity("999988887777").await).is_empty());

    ok("delete vault", store.delete_vault(&key).await);
    ok(
        "recreate",
        store.create_vault(&key, "us-east-1", now, 10).await,
    );
    assert!(ok("tags went with the vault", store.list_tags(&key).await).is_empty());
    assert_eq!(
        ok(
            "policy went with the vault",
            store.vault_policies(&key).await
        )
        .access,
        None
    );
    ok("delete again", store.delete_vault(&key).await);
}

/// Admission of archive retrievals: the allowance is checked against the account's ledger in
/// the transaction that records the retrieval, and a refused retrieval leaves nothing behind.
pub(crate) async fn admission(store: &dyn MetadataStore) {
    let now = OffsetDateTime::now_utc();
    let now = now
        .replace_nanosecond(u32::from(now.millisecond()) * 1_000_000)
        .unwrap_or(now);
    let key = VaultKey {
        account: "555566667777".into(),
        name: "admission".into(),
    };
    ok(
        "vault",
        store.create_vault(&key, "us-east-1", now, 10).await,
    );
    let archive = ArchiveRecord {
        id: "a".into(),
        description: String::new(),
        size: 1,
        tree_hash: TreeHash::of(b"x"),
        created: now,
        segments: vec![segment("adm", b"x")],
    };
    ok("archive", store.insert_archive(&key, archive).await);
    let job = |id: &str, tier: Tier| JobRecord {
        id: id.into(),
        seq: 0,
        spec: JobSpec::Archive {
            archive_id: "a".into(),
            archive_description: String::new(),
            archive_size: 1,
            archive_tree_hash: TreeHash::of(b"x"),
            range: (0, 0),
            range_tree_hash: None,
            tier,
        },
        description: None,
        sns_topic: None,
        created: now,
        due: now,
        status: JobStatus::InProgress,
        status_message: None,
        completed: None,
        expires: None,
        output_size: None,
        next_marker: None,
    };
    for id in ["s1", "s2"] {
        ok(
            "unlimited",
            store.create_job(&key, job(id, Tier::Standard), None).await,
        );
    }
    // Admission: the ledger holds two Standard retrievals of 1 byte each.
    let window = |expedited, allowance| Admission {
        since: now - time::Duration::minutes(1),
        expedited,
        allowance,
    };
    match store
        .create_job(
            &key,
            job("s3", Tier::Standard),
            Some(window(false, Allowance::Bytes(2))),
        )
        .await
    {
        Err(StorageError::NotAdmitted {
            used: 2,
            allowed: 2,
        }) => {}
        other => panic!("a third byte over an allowance of 2: {other:?}"),
    }
    not_found(
        "a refused job is not there",
        store.get_job(&key, "s3").await,
    );
    ok(
        "admitted",
        store
            .create_job(
                &key,
                job("s3", Tier::Standard),
                Some(window(false, Allowance::Retrievals(3))),
            )
            .await,
    );
    match store
        .create_job(
            &key,
            job("s4", Tier::Standard),
            Some(window(false, Allowance::Retrievals(3))),
        )
        .await
    {
        Err(StorageError::NotAdmitted {
            used: 3,
            allowed: 3,
        }) => {}
        other => panic!("a fourth retrieval over an allowance of 3: {other:?}"),
    }
    ok(
        "Standard entries do not count against an Expedited window",
        store
            .create_job(
                &key,
                job("e1", Tier::Expedited),
                Some(window(true, Allowance::Retrievals(1))),
            )
            .await,
    );
    let ledger = ok(
        "ledger",
        store
            .retrievals_since(&key.account, now - time::Duration::minutes(1))
            .await,
    );
    assert_eq!(ledger.len(), 4, "refused retrievals are not in the ledger");
}

/// Races vault lock transitions: of callers that swap from the same lock at once, exactly one
/// takes effect, and every other one is told the lock the winner left.
pub(crate) async fn lock_races(store: std::sync::Arc<dyn MetadataStore>) {
    let now = OffsetDateTime::now_utc();
    let key = VaultKey {
        account: "111122223333".into(),
        name: "race".into(),
    };
    ok(
        "vault",
        store.create_vault(&key, "us-east-1", now, 10).await,
    );
    for round in 0..50 {
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let store = std::sync::Arc::clone(&store);
                let key = key.clone();
                tokio::spawn(async move {
                    let lock = VaultLock {
                        policy: "{}".into(),
                        state: LockState::InProgress,
                        lock_id: format!("R{round}-{i}"),
                        created: now,
                        expires: Some(now),
                    };
                    store.swap_vault_lock(&key, None, Some(lock)).await
                })
            })
            .collect();
        let mut won = Vec::new();
        for t in tasks {
            match t.await {
                Ok(Ok(LockSwap::Swapped)) => won.push(()),
                Ok(Ok(LockSwap::Changed(Some(_)))) => {}
                other => panic!("round {round}: unexpected swap outcome {other:?}"),
            }
        }
        assert_eq!(won.len(), 1, "round {round}: exactly one initiation wins");
        let current = ok("current", store.vault_policies(&key).await.map(|p| p.lock));
        ok(
            "clear",
            store.swap_vault_lock(&key, current.as_ref(), None).await,
        );
    }
    ok("delete vault", store.delete_vault(&key).await);
}

/// A vault's policies as read always reflect the last write: a policy set and removed, a
/// lock initiated, completed and removed, the vault deleted and created again elsewhere —
/// each read right after a read of the state before (which a store may keep).
pub(crate) async fn policies_follow_writes(store: &dyn MetadataStore) {
    let now = OffsetDateTime::now_utc();
    let key = VaultKey {
        account: "111122223333".into(),
        name: "policies".into(),
    };
    ok(
        "vault",
        store.create_vault(&key, "us-east-1", now, 10).await,
    );
    let p = ok("fresh", store.vault_policies(&key).await);
    assert_eq!(
        (p.region.as_str(), &p.access, &p.lock),
        ("us-east-1", &None, &None)
    );
    ok(
        "set",
        store
            .set_access_policy(&key, Some("{\"a\":1}".into()))
            .await,
    );
    assert_eq!(
        ok("after set", store.vault_policies(&key).await)
            .access
            .as_deref(),
        Some("{\"a\":1}")
    );
    let lock = VaultLock {
        policy: "{}".into(),
        state: LockState::InProgress,
        lock_id: "L1".into(),
        created: now,
        expires: Some(now),
    };
    ok(
        "initiate",
        store.swap_vault_lock(&key, None, Some(lock.clone())).await,
    );
    let held = ok("after initiate", store.vault_policies(&key).await).lock;
    assert_eq!(
        held.as_ref().map(|l| (l.state, l.lock_id.as_str())),
        Some((LockState::InProgress, "L1"))
    );
    let locked = VaultLock {
        state: LockState::Locked,
        expires: None,
        ..lock
    };
    ok(
        "complete",
        store
            .swap_vault_lock(&key, held.as_ref(), Some(locked.clone()))
            .await,
    );
    assert_eq!(
        ok("after complete", store.vault_policies(&key).await)
            .lock
            .map(|l| l.state),
        Some(LockState::Locked)
    );
    ok(
        "unlock",
        store.swap_vault_lock(&key, Some(&locked), None).await,
    );
    ok("unset", store.set_access_policy(&key, None).await);
    let p = ok("after unset", store.vault_policies(&key).await);
    assert_eq!((&p.access, &p.lock), (&None, &None));
    ok("delete vault", store.delete_vault(&key).await);
    match store.vault_policies(&key).await {
        Err(StorageError::NotFound { .. }) => {}
        other => panic!("policies of a deleted vault: {other:?}"),
    }
    ok(
        "again",
        store.create_vault(&key, "eu-west-1", now, 10).await,
    );
    assert_eq!(
        ok("recreated", store.vault_policies(&key).await).region,
        "eu-west-1"
    );
    ok("delete vault", store.delete_vault(&key).await);
}
