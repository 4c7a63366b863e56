//! Jobs: creation, claims and leases, completion, expiry, listing.

use super::*;
use crate::Resource;

/// Exercises archive listings and the job lifecycle: creation, due jobs, completion that pins
/// an archive's segments, failure when the archive is gone, listing filters, expiry.
pub(crate) async fn jobs(store: &dyn MetadataStore) {
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
        ok(
            "delete",
            store
                .delete_archive(&key, id, OffsetDateTime::now_utc())
                .await,
        );
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
        ok(
            "delete imported",
            store
                .delete_archive(&key, id, OffsetDateTime::now_utc())
                .await,
        );
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
        archive_tree_hash: TreeHash::default(),
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

    missing_vault_or_job(store, &key).await;

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
    let later = lease + time::Duration::hours(1);
    ok("hold j3", store.hold_job(&key, "j3", later).await);
    let claimed = ok("j3 held", store.claim_due_jobs(lease, lease, 10).await);
    assert_eq!(
        claimed
            .iter()
            .map(|(_, j)| j.id.as_str())
            .collect::<Vec<_>>(),
        vec!["j1"],
        "a held job is not claimed before its hold ends"
    );
    let back = ok("hold ended", store.claim_due_jobs(later, later, 10).await);
    assert!(
        back.iter().any(|(_, j)| j.id == "j3"),
        "a held job is claimed once its hold ends"
    );

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
        "hold a finished job",
        store.hold_job(&key, "j1", later).await,
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
            store
                .delete_archive(&key, "c", OffsetDateTime::now_utc())
                .await
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
                    next_marker: ArchiveCursor::from_marker("1700000000123.m"),
                    as_of: now - time::Duration::hours(1),
                },
                now,
                expires,
            )
            .await,
    );
    assert_eq!(
        (done.output_size, done.next_marker.map(String::from)),
        (Some(2), Some("1700000000123.m".to_owned()))
    );
    assert_eq!(
        ok("vault", store.get_vault(&key).await).last_inventory,
        Some(now - time::Duration::hours(1)),
        "the vault's inventory date is what the inventory describes"
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

/// A job of a missing vault is the vault's NotFound, a missing job of a vault the job's; the
/// jobs of a missing vault are the vault's NotFound, of a vault with none an empty page.
async fn missing_vault_or_job(store: &dyn MetadataStore, key: &VaultKey) {
    let missing = VaultKey {
        name: "no-such-vault".into(),
        ..key.clone()
    };
    let kind = |r: Result<_>| match r {
        Err(StorageError::NotFound { kind, .. }) => Some(kind),
        _ => None,
    };
    assert_eq!(
        kind(store.get_job(&missing, "j1").await.map(drop)),
        Some(Resource::Vault)
    );
    assert_eq!(
        kind(store.get_job(key, "no-such-job").await.map(drop)),
        Some(Resource::Job)
    );
    let all = JobFilter::default();
    assert_eq!(
        kind(store.list_jobs(&missing, &all, None, 10).await.map(drop)),
        Some(Resource::Vault)
    );
    let empty = VaultKey {
        name: "no-jobs".into(),
        ..key.clone()
    };
    ok(
        "create a vault with no jobs",
        store
            .create_vault(&empty, "us-east-1", OffsetDateTime::now_utc(), 1000)
            .await,
    );
    let page = ok("no jobs", store.list_jobs(&empty, &all, None, 10).await);
    assert!(page.items.is_empty() && !page.more, "{page:?}");
    assert!(ok("no tags", store.list_tags(&empty).await).is_empty());
    ok("delete it", store.delete_vault(&empty).await);
}
