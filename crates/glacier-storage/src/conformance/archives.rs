//! Vaults, archives and multipart uploads.

use super::*;

/// Exercises a metadata store: vaults, archives, uploads, parts, completion and deletion.
pub(crate) async fn metadata_store(store: &dyn MetadataStore) {
    // Stores keep milliseconds, as the API's dates show.
    let now = OffsetDateTime::now_utc();
    let now = now
        .replace_nanosecond(u32::from(now.millisecond()) * 1_000_000)
        .unwrap_or(now);
    let acct = "111122223333";
    let key = |n: &str| VaultKey {
        account: acct.into(),
        name: n.into(),
    };

    // Vaults: idempotent creation, per-account limit, name-ordered pages.
    let v = ok(
        "create",
        store.create_vault(&key("b"), "eu-west-1", now, 3).await,
    );
    assert_eq!(
        (v.archive_count, v.size, v.region.as_str()),
        (0, 0, "eu-west-1")
    );
    let again = ok(
        "create again",
        store.create_vault(&key("b"), "us-east-1", now, 3).await,
    );
    assert_eq!(
        again.region, "eu-west-1",
        "a vault keeps the region it was created in"
    );
    assert_eq!(
        ok("get", store.get_vault(&key("b")).await).region,
        "eu-west-1"
    );
    ok(
        "create a",
        store.create_vault(&key("a"), "us-east-1", now, 3).await,
    );
    ok(
        "create c",
        store.create_vault(&key("c"), "us-east-1", now, 3).await,
    );
    match store.create_vault(&key("d"), "us-east-1", now, 3).await {
        Err(StorageError::LimitExceeded(_)) => {}
        other => panic!("fourth vault over a limit of 3: {other:?}"),
    }
    ok(
        "other account",
        store
            .create_vault(
                &VaultKey {
                    account: "999988887777".into(),
                    name: "a".into(),
                },
                "us-east-1",
                now,
                3,
            )
            .await,
    );
    let p = ok("list", store.list_vaults(acct, None, 2).await);
    let names: Vec<_> = p.items.iter().map(|v| v.key.name.as_str()).collect();
    assert_eq!((names, p.more), (vec!["a", "b"], true));
    let p = ok("list 2", store.list_vaults(acct, Some("b"), 2).await);
    assert_eq!(p.items.len(), 1);
    assert!(!p.more);
    not_found("get missing", store.get_vault(&key("zz")).await);

    // Notifications.
    assert_eq!(
        ok("no notifications", store.get_notifications(&key("a")).await),
        None
    );
    let n = Notifications {
        sns_topic: "arn:aws:sns:us-east-1:111122223333:t".into(),
        events: vec!["ArchiveRetrievalCompleted".into()],
    };
    ok(
        "set notifications",
        store.set_notifications(&key("a"), Some(n.clone())).await,
    );
    assert_eq!(
        ok(
            "get notifications",
            store.get_notifications(&key("a")).await
        ),
        Some(n)
    );
    ok(
        "clear notifications",
        store.set_notifications(&key("a"), None).await,
    );
    assert_eq!(
        ok("cleared", store.get_notifications(&key("a")).await),
        None
    );
    not_found(
        "notifications of missing vault",
        store.set_notifications(&key("zz"), None).await,
    );

    // A single-segment archive.
    let seg = segment("1", b"hello");
    let archive = ArchiveRecord {
        id: "arch-1".into(),
        description: "d".into(),
        size: 5,
        tree_hash: seg.tree_hash,
        created: now,
        segments: vec![seg],
    };
    ok(
        "insert archive",
        store.insert_archive(&key("a"), archive.clone()).await,
    );
    not_found(
        "insert into missing vault",
        store.insert_archive(&key("zz"), archive.clone()).await,
    );
    let got = ok("get archive", store.get_archive(&key("a"), "arch-1").await);
    let summary = ok(
        "archive summary",
        store.get_archive_summary(&key("a"), "arch-1").await,
    );
    assert_eq!(
        (summary.size, summary.tree_hash, summary.created),
        (got.size, got.tree_hash, got.created),
        "the summary is the archive without its segments"
    );
    assert_eq!(got.id, archive.id);
    assert_eq!(got.segments, archive.segments);
    assert_eq!(got.created.unix_timestamp(), now.unix_timestamp());
    not_found(
        "archive in another vault",
        store.get_archive(&key("b"), "arch-1").await,
    );
    let v = ok("vault counts", store.get_vault(&key("a")).await);
    assert_eq!((v.archive_count, v.size), (1, 5));
    match store.delete_vault(&key("a")).await {
        Err(StorageError::NotEmpty { archives, .. }) => assert!(archives > 0),
        other => panic!("delete non-empty vault: expected NotEmpty, got {other:?}"),
    }

    // A multipart upload: parts in any order, a replaced part, completion, idempotent repeat.
    let mib = glacier_core::MIB;
    let upload = UploadRecord {
        id: "up-1".into(),
        description: Some("multi".into()),
        part_size: mib,
        created: now,
    };
    ok(
        "create upload",
        store.create_upload(&key("b"), upload.clone()).await,
    );
    assert_eq!(
        ok("get upload", store.get_upload(&key("b"), "up-1").await),
        upload
    );
    not_found(
        "upload in another vault",
        store.get_upload(&key("a"), "up-1").await,
    );
    let p0 = vec![1u8; mib as usize];
    let p1 = vec![2u8; 10];
    let s1 = segment("p1", &p1);
    assert_eq!(
        ok(
            "part 1",
            store
                .put_part(
                    &key("b"),
                    "up-1",
                    PartRecord {
                        start: mib,
                        segment: s1
                    }
                )
                .await
        ),
        None
    );
    let s0_old = segment("p0old", &p0[..10]);
    ok(
        "part 0 (wrong)",
        store
            .put_part(
                &key("b"),
                "up-1",
                PartRecord {
                    start: 0,
                    segment: s0_old,
                },
            )
            .await,
    );
    let s0 = segment("p0", &p0);
    let replaced = ok(
        "part 0 again",
        store
            .put_part(
                &key("b"),
                "up-1",
                PartRecord {
                    start: 0,
                    segment: s0.clone(),
                },
            )
            .await,
    );
    assert_eq!(replaced, Some(BlobKey(format!("{:0>32}", "p0old"))));
    let parts = ok(
        "list parts",
        store.list_parts(&key("b"), "up-1", 0, 1).await,
    );
    assert_eq!(
        parts.items,
        vec![PartInfo {
            start: 0,
            size: mib,
            tree_hash: s0.tree_hash.0
        }]
    );
    assert!(parts.more);
    let parts = ok(
        "list parts 2",
        store.list_parts(&key("b"), "up-1", 1, 10).await,
    );
    assert_eq!(
        (parts.items.len(), parts.items[0].start, parts.more),
        (1, mib, false)
    );
    let whole = TreeHash::of(&[p0.as_slice(), p1.as_slice()].concat());
    let c = |id: &str, size: u64, tree_hash: TreeHash| Completion {
        archive_id: id.into(),
        archive_size: size,
        tree_hash,
        now,
    };
    let msg = invalid(
        "wrong size",
        store
            .complete_upload(&key("b"), "up-1", c("arch-2", mib + 11, whole))
            .await,
    );
    assert!(msg.contains("missing"), "{msg}");
    invalid(
        "wrong hash",
        store
            .complete_upload(&key("b"), "up-1", c("arch-2", mib + 10, TreeHash::of(b"x")))
            .await,
    );
    let id = ok(
        "complete",
        store
            .complete_upload(&key("b"), "up-1", c("arch-2", mib + 10, whole))
            .await,
    );
    assert_eq!(id, "arch-2");
    let id = ok(
        "complete again",
        store
            .complete_upload(&key("b"), "up-1", c("arch-3", mib + 10, whole))
            .await,
    );
    assert_eq!(id, "arch-2", "completion is idempotent");
    conflict(
        "complete again, other size",
        store
            .complete_upload(&key("b"), "up-1", c("arch-3", mib + 9, whole))
            .await,
    );
    not_found("upload gone", store.get_upload(&key("b"), "up-1").await);
    let a2 = ok(
        "completed archive",
        store.get_archive(&key("b"), "arch-2").await,
    );
    assert_eq!(a2.segments.len(), 2);
    assert_eq!(a2.description, "multi");
    assert_eq!(a2.segments.iter().map(|s| s.leaves.len()).sum::<usize>(), 2);

    // Referenced blobs, abort, delete archive, delete vault with an unfinished upload.
    let refs = ok("referenced", store.referenced_blobs().await);
    assert_eq!(
        refs.len(),
        3,
        "two segments of arch-2 and one of arch-1: {refs:?}"
    );
    ok(
        "upload 2",
        store
            .create_upload(
                &key("c"),
                UploadRecord {
                    id: "up-2".into(),
                    description: None,
                    part_size: mib,
                    created: now,
                },
            )
            .await,
    );
    ok(
        "part",
        store
            .put_part(
                &key("c"),
                "up-2",
                PartRecord {
                    start: 0,
                    segment: segment("u2", b"x"),
                },
            )
            .await,
    );
    ok(
        "upload 3",
        store
            .create_upload(
                &key("c"),
                UploadRecord {
                    id: "up-3".into(),
                    description: None,
                    part_size: mib,
                    created: now,
                },
            )
            .await,
    );
    let ups = ok("list uploads", store.list_uploads(&key("c"), None, 1).await);
    assert_eq!((ups.items[0].id.as_str(), ups.more), ("up-2", true));
    let ups = ok(
        "list uploads 2",
        store.list_uploads(&key("c"), Some("up-2"), 1).await,
    );
    assert_eq!((ups.items[0].id.as_str(), ups.more), ("up-3", false));
    assert_eq!(
        ok("abort", store.abort_upload(&key("c"), "up-3").await),
        vec![]
    );
    not_found("abort twice", store.abort_upload(&key("c"), "up-3").await);
    let freed = ok("delete vault c", store.delete_vault(&key("c")).await);
    assert_eq!(freed, vec![BlobKey(format!("{:0>32}", "u2"))]);
    not_found("vault c gone", store.get_vault(&key("c")).await);
    let freed = ok(
        "delete archive",
        store
            .delete_archive(&key("b"), "arch-2", OffsetDateTime::now_utc())
            .await,
    );
    assert_eq!(freed.len(), 2);
    assert_eq!(
        ok(
            "delete archive twice (idempotent)",
            store
                .delete_archive(&key("b"), "arch-2", OffsetDateTime::now_utc())
                .await
        ),
        vec![]
    );
    not_found(
        "delete an archive the vault never had",
        store
            .delete_archive(&key("b"), "arch-never", OffsetDateTime::now_utc())
            .await,
    );
    assert_eq!(
        ok("vault b empty", store.get_vault(&key("b")).await).archive_count,
        0
    );
    ok("delete vault b", store.delete_vault(&key("b")).await);
    assert_eq!(
        ok("referenced at end", store.referenced_blobs().await).len(),
        1
    );
}

/// Pages longer than a backend reads at once (SQLite reads pages of up to 50 on the calling
/// thread, longer ones again in full): every limit gives the same vaults, and `more` only
/// where some follow.
pub(crate) async fn long_pages(store: &dyn MetadataStore) {
    let acct = "222233334444";
    let now = OffsetDateTime::now_utc();
    let name = |i: usize| format!("v{i:03}");
    for i in 0..60 {
        let key = VaultKey {
            account: acct.into(),
            name: name(i),
        };
        ok(
            "create",
            store.create_vault(&key, "us-east-1", now, 1000).await,
        );
    }
    for (after, limit, count, more) in [
        (None, 1000, 60, false),
        (None, 60, 60, false),
        (None, 59, 59, true),
        (None, 51, 51, true),
        (None, 50, 50, true),
        (None, 49, 49, true),
        (Some(name(4)), 1000, 55, false),
        (Some(name(4)), 50, 50, true),
        (Some(name(9)), 50, 50, false),
    ] {
        let p = ok(
            "list",
            store.list_vaults(acct, after.as_deref(), limit).await,
        );
        let first = after
            .as_ref()
            .map_or(0, |a| a[1..].parse::<usize>().unwrap_or(0) + 1);
        let names: Vec<_> = p.items.iter().map(|v| v.key.name.clone()).collect();
        let expected: Vec<_> = (first..first + count).map(name).collect();
        assert_eq!(
            (names, p.more),
            (expected, more),
            "after {after:?}, limit {limit}"
        );
    }
}
