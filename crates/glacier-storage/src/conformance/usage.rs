//! Usage totals and their history.

use super::*;

/// Usage per account follows vaults and archives, with each account on its own.
pub(crate) async fn usage(store: &dyn MetadataStore) {
    let now = OffsetDateTime::now_utc();
    let (a, b) = ("999900000001", "999900000002");
    let key = |account: &str, n: &str| VaultKey {
        account: account.into(),
        name: n.into(),
    };
    let of = |usage: &Usage, account: &str| {
        usage
            .accounts
            .iter()
            .find(|u| u.account == account)
            .map(|u| (u.vaults, u.archives, u.bytes))
    };
    let before = ok("usage", store.usage().await);
    assert_eq!(of(&before, a), None);
    for name in ["u1", "u2"] {
        ok(
            "create",
            store
                .create_vault(&key(a, name), "us-east-1", now, 10)
                .await,
        );
    }
    ok(
        "create",
        store
            .create_vault(&key(b, "u1"), "us-east-1", now, 10)
            .await,
    );
    for (i, (vault, size)) in [("u1", 5u64), ("u1", 7), ("u2", 11)]
        .into_iter()
        .enumerate()
    {
        let seg = segment(&format!("u{i}"), &vec![b'x'; size as usize]);
        let archive = ArchiveRecord {
            id: format!("usage-{i}"),
            description: String::new(),
            size,
            tree_hash: seg.tree_hash,
            created: now,
            segments: vec![seg],
        };
        ok(
            "insert",
            store.insert_archive(&key(a, vault), archive).await,
        );
    }
    let after = ok("usage", store.usage().await);
    assert_eq!(of(&after, a), Some((2, 3, 23)));
    assert_eq!(of(&after, b), Some((1, 0, 0)));
    ok(
        "delete",
        store
            .delete_archive(&key(a, "u1"), "usage-1", OffsetDateTime::now_utc())
            .await,
    );
    let after = ok("usage", store.usage().await);
    assert_eq!(of(&after, a), Some((2, 2, 16)));
    assert!(
        after
            .accounts
            .windows(2)
            .all(|w| w[0].account < w[1].account),
        "in account order"
    );
}

/// The usage history: a sample per account and time, taken once whoever samples, in time
/// order, forgotten when old.
pub(crate) async fn usage_history(store: &dyn MetadataStore) {
    let (a, b) = ("999900000003", "999900000004");
    // Whole milliseconds: what the stores keep.
    let t0 =
        OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let minutes = |n: i64| t0 + time::Duration::minutes(n);
    let key = |account: &str| VaultKey {
        account: account.into(),
        name: "history".into(),
    };
    let totals = |h: &[UsageSample]| {
        h.iter()
            .map(|s| (s.at, s.vaults, s.archives, s.bytes))
            .collect::<Vec<_>>()
    };
    ok(
        "create",
        store.create_vault(&key(a), "us-east-1", t0, 10).await,
    );
    ok(
        "create",
        store.create_vault(&key(b), "us-east-1", t0, 10).await,
    );
    let forget_nothing = OffsetDateTime::UNIX_EPOCH;
    ok(
        "sample",
        store.sample_usage(minutes(0), forget_nothing).await,
    );
    let seg = segment("history", b"0123456789");
    let archive = ArchiveRecord {
        id: "history-1".into(),
        description: String::new(),
        size: 10,
        tree_hash: seg.tree_hash,
        created: minutes(1),
        segments: vec![seg],
    };
    ok("insert", store.insert_archive(&key(a), archive).await);
    // A second sample at the same time (another node's) changes nothing.
    ok(
        "sample",
        store.sample_usage(minutes(0), forget_nothing).await,
    );
    ok(
        "sample",
        store.sample_usage(minutes(5), forget_nothing).await,
    );
    let history = ok("history", store.usage_history(a, minutes(0)).await);
    assert_eq!(
        totals(&history),
        vec![(minutes(0), 1, 0, 0), (minutes(5), 1, 1, 10)]
    );
    let later = ok("history", store.usage_history(a, minutes(1)).await);
    assert_eq!(totals(&later), vec![(minutes(5), 1, 1, 10)]);
    let other = ok("history", store.usage_history(b, minutes(0)).await);
    assert_eq!(
        totals(&other),
        vec![(minutes(0), 1, 0, 0), (minutes(5), 1, 0, 0)]
    );
    ok("sample", store.sample_usage(minutes(10), minutes(5)).await);
    let kept = ok("history", store.usage_history(a, forget_nothing).await);
    assert_eq!(
        totals(&kept),
        vec![(minutes(5), 1, 1, 10), (minutes(10), 1, 1, 10)]
    );
}
