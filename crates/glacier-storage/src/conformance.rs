//! The behaviour every backend must show, written once against the traits. Each backend's tests
//! call these functions; a failure panics with what differed.

use crate::blob::{BlobKey, BlobStore, read_all};
use crate::meta::*;
use crate::{Result, StorageError};
use glacier_core::TreeHash;
use glacier_core::multipart::PartInfo;
use glacier_core::{InventoryFormat, JobStatus, LockState, Tier};
use time::OffsetDateTime;

fn ok<T>(what: &str, r: Result<T>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: unexpected error: {e}"),
    }
}

fn not_found<T: std::fmt::Debug>(what: &str, r: Result<T>) {
    match r {
        Err(StorageError::NotFound { .. }) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

fn invalid<T: std::fmt::Debug>(what: &str, r: Result<T>) -> String {
    match r {
        Err(StorageError::Invalid(msg)) => msg,
        other => panic!("{what}: expected Invalid, got {other:?}"),
    }
}

fn conflict<T: std::fmt::Debug>(what: &str, r: Result<T>) -> String {
    match r {
        Err(StorageError::Conflict(msg)) => msg,
        other => panic!("{what}: expected Conflict, got {other:?}"),
    }
}

fn segment(tag: &str, data: &[u8]) -> Segment {
    let mut h = glacier_core::TreeHasher::new();
    h.update(data);
    let h = h.finish_with_leaves();
    Segment {
        blob: BlobKey(format!("{tag:0>32}")),
        size: data.len() as u64,
        tree_hash: h.tree,
        leaves: h.leaves,
    }
}

/// Exercises a metadata store: vaults, archives, uploads, parts, completion and deletion.
pub async fn metadata_store(store: &dyn MetadataStore) {
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
        store.delete_archive(&key("b"), "arch-2").await,
    );
    assert_eq!(freed.len(), 2);
    assert_eq!(
        ok(
            "delete archive twice (idempotent)",
            store.delete_archive(&key("b"), "arch-2").await
        ),
        vec![]
    );
    not_found(
        "delete an archive the vault never had",
        store.delete_archive(&key("b"), "arch-never").await,
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

/// Exercises archive listings and the job lifecycle: creation, due jobs, completion that pins
/// an archive's segments, failure when the archive is gone, listing filters, expiry.
pub async fn jobs(store: &dyn MetadataStore) {
    let now = OffsetDateTime::now_utc();
    let now = now
        .replace_nanosecond(u32::from(now.millisecond()) * 1_000_000)
        .unwrap_or(now);
    let key = VaultKey {
        account: "111122223333".into(),
        name: "jobs".into(),
    };
    ok(
        "vault",
        store.create_vault(&key, "us-east-1", now, 10).await,
    );
    let ms = time::Duration::milliseconds;

    // Archives listed in creation order, with date bounds and a cursor.
    for (n, id) in ["c", "a", "b"].iter().enumerate() {
        let seg = segment(id, id.as_bytes());
        let record = ArchiveRecord {
            id: (*id).into(),
            description: format!("desc {id}"),
            size: 1,
            tree_hash: seg.tree_hash,
            created: now + ms(n as i64),
            segments: vec![seg],
        };
        ok("insert", store.insert_archive(&key, record).await);
    }
    let q = |after: Option<ArchiveCursor>,
             from: Option<OffsetDateTime>,
             before: Option<OffsetDateTime>,
             limit: usize| ArchiveQuery {
        after,
        created_from: from,
        created_before: before,
        limit,
    };
    let ids = |p: Page<ArchiveSummary>| {
        (
            p.items.into_iter().map(|a| a.id).collect::<Vec<_>>(),
            p.more,
        )
    };
    assert_eq!(
        ids(ok(
            "all",
            store.list_archives(&key, &q(None, None, None, 10)).await
        )),
        (vec!["c".into(), "a".into(), "b".into()], false)
    );
    let first = ok(
        "page",
        store.list_archives(&key, &q(None, None, None, 2)).await,
    );
    assert!(first.more);
    let last = first.items.last().map(|a| ArchiveCursor {
        created: a.created,
        id: a.id.clone(),
    });
    assert_eq!(
        ids(ok(
            "next page",
            store.list_archives(&key, &q(last, None, None, 2)).await
        )),
        (vec!["b".into()], false)
    );
    assert_eq!(
        ids(ok(
            "dated",
            store
                .list_archives(&key, &q(None, Some(now + ms(1)), Some(now + ms(2)), 10))
                .await
        )),
        (vec!["a".into()], false)
    );
    for id in ["a", "b"] {
        ok("delete", store.delete_archive(&key, id).await);
    }
    let batch: Vec<ArchiveRecord> = ["i1", "i2"]
        .iter()
        .map(|id| {
            let seg = segment(id, id.as_bytes());
            ArchiveRecord {
                id: (*id).into(),
                description: String::new(),
                size: 2,
                tree_hash: seg.tree_hash,
                created: now,
                segments: vec![seg],
            }
        })
        .collect();
    let dup = vec![
        batch[0].clone(),
        ArchiveRecord {
            id: "c".into(),
            ..batch[1].clone()
        },
    ];
    assert!(
        store.import_archives(&key, dup).await.is_err(),
        "an id that exists fails the import"
    );
    not_found(
        "nothing of a failed import",
        store.get_archive(&key, "i1").await,
    );
    ok("import", store.import_archives(&key, batch).await);
    assert_eq!(ok("counted", store.get_vault(&key).await).archive_count, 3);
    for id in ["i1", "i2"] {
        ok("delete imported", store.delete_archive(&key, id).await);
    }

    // Jobs.
    let job = |id: &str, spec: JobSpec, due: OffsetDateTime| JobRecord {
        id: id.into(),
        seq: 0,
        spec,
        description: Some(format!("job {id}")),
        sns_topic: None,
        created: now,
        due,
        status: JobStatus::InProgress,
        status_message: None,
        completed: None,
        expires: None,
        output_size: None,
        next_marker: None,
    };
    let archive_spec = |archive_id: &str| JobSpec::Archive {
        archive_id: archive_id.into(),
        archive_description: String::new(),
        archive_size: 1,
        archive_tree_hash: String::new(),
        range: (0, 0),
        range_tree_hash: None,
        tier: Tier::Standard,
    };
    let inventory_spec = JobSpec::Inventory {
        format: InventoryFormat::Json,
        start_date: None,
        end_date: None,
        limit: None,
        marker: None,
    };
    let j1 = ok(
        "job 1",
        store
            .create_job(&key, job("j1", archive_spec("c"), now), None)
            .await,
    );
    assert_eq!(
        (j1.status, j1.description.as_deref()),
        (JobStatus::InProgress, Some("job j1"))
    );
    ok(
        "job 2",
        store
            .create_job(
                &key,
                job("j2", inventory_spec.clone(), now + time::Duration::hours(1)),
                None,
            )
            .await,
    );
    ok(
        "job 3",
        store
            .create_job(&key, job("j3", archive_spec("gone"), now), None)
            .await,
    );
    // Archive retrievals (j1, j3) are in the account's ledger; the inventory (j2) is not.
    let ledger = ok(
        "retrievals",
        store
            .retrievals_since(&key.account, now - time::Duration::minutes(1))
            .await,
    );
    assert_eq!(
        ledger
            .iter()
            .map(|r| (r.bytes, r.tier, r.at))
            .collect::<Vec<_>>(),
        vec![(1, Tier::Standard, now), (1, Tier::Standard, now)]
    );

    assert!(
        ok(
            "later retrievals",
            store
                .retrievals_since(&key.account, now + time::Duration::seconds(1))
                .await
        )
        .is_empty()
    );
    assert!(
        ok(
            "other account",
            store.retrievals_since("999988887777", now).await
        )
        .is_empty()
    );
    not_found(
        "job in missing vault",
        store
            .create_job(
                &VaultKey {
                    name: "zz".into(),
                    ..key.clone()
                },
                job("j4", archive_spec("c"), now),
                None,
            )
            .await,
    );

    let listed = ok(
        "list",
        store.list_jobs(&key, &JobFilter::default(), None, 2).await,
    );
    assert_eq!(
        (
            listed
                .items
                .iter()
                .map(|j| j.id.as_str())
                .collect::<Vec<_>>(),
            listed.more
        ),
        (vec!["j1", "j2"], true)
    );
    let rest = ok(
        "list rest",
        store
            .list_jobs(
                &key,
                &JobFilter::default(),
                listed.items.last().map(|j| j.seq),
                2,
            )
            .await,
    );
    assert_eq!(
        rest.items.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
        vec!["j3"]
    );
    assert_eq!(ok("next deadline", store.next_deadline().await), Some(now));
    let lease = now + time::Duration::minutes(5);
    let due = ok("claim", store.claim_due_jobs(now, lease, 10).await);
    assert_eq!(
        due.iter().map(|(_, j)| j.id.as_str()).collect::<Vec<_>>(),
        vec!["j1", "j3"]
    );
    assert!(
        ok(
            "claimed already",
            store.claim_due_jobs(now, lease, 10).await
        )
        .is_empty(),
        "a claimed job is not claimed again while its lease runs"
    );
    assert_eq!(
        ok("next deadline is the lease", store.next_deadline().await),
        Some(lease)
    );
    let retaken = ok("lease lapsed", store.claim_due_jobs(lease, lease, 10).await);
    assert_eq!(retaken.len(), 2, "a lapsed claim is taken over");

    let expires = now + time::Duration::days(1);
    let done = ok(
        "finish j1",
        store
            .finish_job(&key, "j1", JobFinish::Archive, now, expires)
            .await,
    );
    assert_eq!(
        (done.status, done.output_size, done.completed, done.expires),
        (JobStatus::Succeeded, Some(1), Some(now), Some(expires))
    );
    not_found(
        "finish twice",
        store
            .finish_job(&key, "j1", JobFinish::Archive, now, expires)
            .await,
    );
    let failed = ok(
        "finish j3",
        store
            .finish_job(&key, "j3", JobFinish::Archive, now, expires)
            .await,
    );
    assert_eq!(failed.status, JobStatus::Failed);
    assert!(
        failed
            .status_message
            .unwrap_or_default()
            .contains("deleted")
    );
    let (_, output) = ok("output", store.job_output(&key, "j1").await);
    assert_eq!(
        output,
        ok("archive", store.get_archive(&key, "c").await).segments
    );
    assert_eq!(
        ok(
            "delete pinned archive",
            store.delete_archive(&key, "c").await
        ),
        vec![],
        "the job's output still needs the blob"
    );

    let inv = segment("inv", b"{}");
    let done = ok(
        "finish j2",
        store
            .finish_job(
                &key,
                "j2",
                JobFinish::Inventory {
                    output: inv.clone(),
                    next_marker: Some("m".into()),
                },
                now,
                expires,
            )
            .await,
    );
    assert_eq!(
        (done.output_size, done.next_marker.as_deref()),
        (Some(2), Some("m"))
    );
    assert_eq!(
        ok("vault", store.get_vault(&key).await).last_inventory,
        Some(now)
    );
    let filter = |completed, status| JobFilter { completed, status };
    assert_eq!(
        ok(
            "completed",
            store
                .list_jobs(&key, &filter(Some(true), None), None, 10)
                .await
        )
        .items
        .len(),
        3
    );
    assert_eq!(
        ok(
            "in progress",
            store
                .list_jobs(&key, &filter(Some(false), None), None, 10)
                .await
        )
        .items
        .len(),
        0
    );
    assert_eq!(
        ok(
            "failed",
            store
                .list_jobs(&key, &filter(None, Some(JobStatus::Failed)), None, 10)
                .await
        )
        .items
        .len(),
        1
    );
    assert_eq!(
        ok("next deadline is an expiry", store.next_deadline().await),
        Some(expires)
    );

    assert!(ok("nothing expired yet", store.expire_jobs(now).await).is_empty());
    let mut freed = ok("expire", store.expire_jobs(expires).await);
    freed.sort();
    assert_eq!(freed, vec![BlobKey(format!("{:0>32}", "c")), inv.blob]);
    not_found("expired job", store.get_job(&key, "j1").await);
    assert_eq!(ok("no deadline left", store.next_deadline().await), None);
    let c = BlobKey(format!("{:0>32}", "c"));
    assert_eq!(
        ok(
            "unreferenced",
            store.unreferenced_blobs(vec![c.clone()]).await
        ),
        vec![c]
    );
    assert!(
        ok("nothing referenced", store.referenced_blobs().await)
            .iter()
            .all(|b| !freed.contains(b))
    );
    ok("delete vault", store.delete_vault(&key).await);
}

/// Exercises tags, access policies, vault locks, retrieval policies and capacity units.
pub async fn governance(store: &dyn MetadataStore) {
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
    assert_eq!(
        ok("no policy", store.vault_policies(&key).await),
        VaultPolicies {
            region: "us-east-1".into(),
            access: None,
            lock: None
        }
    );
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
pub async fn admission(store: &dyn MetadataStore) {
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
            archive_tree_hash: TreeHash::of(b"x").to_hex(),
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
pub async fn lock_races(store: std::sync::Arc<dyn MetadataStore>) {
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
pub async fn policies_follow_writes(store: &dyn MetadataStore) {
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

/// Usage per account follows vaults and archives, with each account on its own.
pub async fn usage(store: &dyn MetadataStore) {
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
        store.delete_archive(&key(a, "u1"), "usage-1").await,
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
pub async fn usage_history(store: &dyn MetadataStore) {
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

/// Exercises a blob store: write, commit, ranged read, list, delete, discard on drop.
pub async fn blob_store(store: &dyn BlobStore) {
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut w = ok("create", store.create(None).await);
    for chunk in data.chunks(100_000) {
        ok("write", w.write(chunk).await);
    }
    let key = ok("commit", w.commit().await);
    assert_eq!(
        ok(
            "read all",
            read_all(store, &key, 0, data.len() as u64).await
        ),
        data
    );
    assert_eq!(
        ok("read range", read_all(store, &key, 1_000_000, 10).await),
        data[1_000_000..1_000_010]
    );
    assert!(
        store.read(&key, 2_999_999, 2).await.is_err(),
        "reading past the end is an error"
    );
    not_found(
        "missing",
        store.read(&BlobKey("0".repeat(32)), 0, 1).await.map(|_| ()),
    );

    let mut dropped = ok("create 2", store.create(None).await);
    ok("write 2", dropped.write(b"never committed").await);
    drop(dropped);
    assert_eq!(ok("list", store.list().await), vec![key.clone()]);

    ok("delete", store.delete(std::slice::from_ref(&key)).await);
    ok(
        "delete again",
        store.delete(std::slice::from_ref(&key)).await,
    );
    assert!(ok("list empty", store.list().await).is_empty());
}

/// Whether a test that needs an outside service (PostgreSQL, an S3 store) given by the
/// environment variable `var` runs: `None` skips it, unless `scripts/test`, which always starts
/// the services, set `GLACIER_REQUIRE_SERVICES` — then a missing one is an error.
pub fn service(var: &str) -> Result<Option<String>> {
    match std::env::var(var) {
        Ok(v) => Ok(Some(v)),
        Err(_) if std::env::var_os("GLACIER_REQUIRE_SERVICES").is_some() => Err(
            StorageError::backend(format!("GLACIER_REQUIRE_SERVICES is set but {var} is not")),
        ),
        Err(_) => {
            eprintln!("{var} is not set: skipping a test that needs it");
            Ok(None)
        }
    }
}

/// A fresh database for one test on the PostgreSQL server at `$GLACIER_TEST_POSTGRES_URL`
/// (`scripts/postgres.sh` starts one); `None` when there is none (see [`service`]).
pub async fn postgres_database() -> Result<Option<String>> {
    let Some(url) = service("GLACIER_TEST_POSTGRES_URL")? else {
        return Ok(None);
    };
    let (server, _) = url
        .rsplit_once('/')
        .ok_or_else(|| StorageError::Invalid(format!("no database in {url}")))?;
    let name = format!("t{}", hex::encode(rand::random::<[u8; 8]>()));
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await?;
    Ok(Some(format!("{server}/{name}")))
}

/// A fresh prefix for one test in the S3 bucket `$GLACIER_TEST_S3_URL` (`s3://BUCKET`) at the
/// first of the endpoints `$GLACIER_TEST_S3_ENDPOINT` (space-separated; `scripts/garage.sh`
/// starts them), with `$GLACIER_TEST_S3_REGION` and the key `$GLACIER_TEST_S3_KEY_ID`,
/// `$GLACIER_TEST_S3_SECRET`; `None` when there is none (see [`service`]).
pub fn s3_config() -> Result<Option<crate::S3Config>> {
    let Some(url) = service("GLACIER_TEST_S3_URL")? else {
        return Ok(None);
    };
    let mut config = crate::S3Config::from_url(&url)?;
    config.prefix = format!("t{}", hex::encode(rand::random::<[u8; 8]>()));
    config.endpoint = service("GLACIER_TEST_S3_ENDPOINT")?
        .and_then(|e| e.split_whitespace().next().map(str::to_owned));
    config.region = std::env::var("GLACIER_TEST_S3_REGION").ok();
    config.access_key_id = service("GLACIER_TEST_S3_KEY_ID")?;
    config.secret_access_key = service("GLACIER_TEST_S3_SECRET")?;
    Ok(Some(config))
}
