//! Daily inventories: when a vault is due for one, its snapshot recorded and read back (its
//! totals on the vault), what its document's blob is referenced by, and the last write.

use super::*;
use std::time::Duration;

fn ms(t: OffsetDateTime, n: i64) -> OffsetDateTime {
    t + time::Duration::milliseconds(n)
}

/// A vault is due a period after its first write, and after that only when written since
/// its last inventory and a period past it; snapshots replace each other and keep their
/// document's blob referenced until replaced or the vault is deleted.
pub(crate) async fn inventories(store: &dyn MetadataStore) {
    let key = VaultKey {
        account: "999900000011".into(),
        name: "daily".into(),
    };
    let t0 =
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let day = Duration::from_secs(86_400);
    let key = &key;
    // When the vault is due at `at`, the inventory it is due after.
    let due_after = |at: OffsetDateTime| async move {
        ok("due", store.inventories_due(at, day).await)
            .into_iter()
            .find(|d| &d.vault == key)
            .map(|d| d.follows)
    };
    let due = |at: OffsetDateTime| async move { due_after(at).await.is_some() };
    ok(
        "create",
        store.create_vault(key, "us-east-1", t0, 100).await,
    );
    assert_eq!(ok("last write", store.last_write(key).await), None);
    assert!(
        !due(ms(t0, 10 * 86_400_000)).await,
        "a vault never written is never due"
    );
    assert_eq!(ok("snapshot", store.inventory_snapshot(key).await), None);

    let seg = segment("inv-archive", b"kept");
    let archive = ArchiveRecord {
        id: "inv-1".into(),
        description: String::new(),
        size: 4,
        tree_hash: seg.tree_hash,
        created: ms(t0, 1000),
        segments: vec![seg],
    };
    ok("insert", store.insert_archive(key, archive).await);
    assert_eq!(
        ok("last write", store.last_write(key).await),
        Some(ms(t0, 1000))
    );
    assert!(
        !due(ms(t0, 1000 + 86_399_999)).await,
        "not a day after the first write"
    );
    assert_eq!(
        due_after(ms(t0, 1000 + 86_400_000)).await,
        Some(None),
        "a day after the first write, due after no inventory"
    );

    let taken = ms(t0, 86_401_000);
    let snapshot = |tag: &str, at: OffsetDateTime, archives: u64| InventorySnapshot {
        taken: at,
        document: segment(tag, b"{}\n"),
        totals: InventoryTotals {
            archives,
            bytes: 4 * archives,
        },
    };
    let first = snapshot("inv-doc-1", taken, 1);
    assert_eq!(
        ok(
            "record",
            store.record_inventory(key, first.clone(), None).await
        ),
        vec![]
    );
    // Another node took the same day's a little later: the first recorded stands.
    let twin = snapshot("inv-doc-twin", ms(taken, 50), 1);
    assert_eq!(
        ok(
            "twin",
            store.record_inventory(key, twin.clone(), None).await
        ),
        vec![twin.document.blob.clone()],
        "a second inventory for the same day is refused, its document not referenced"
    );
    assert_eq!(
        ok("snapshot", store.inventory_snapshot(key).await),
        Some(first.clone())
    );
    let v = ok("vault", store.get_vault(key).await);
    assert_eq!(
        (v.last_inventory, v.inventoried),
        (Some(taken), Some(first.totals))
    );
    assert!(ok("referenced", store.referenced_blobs().await).contains(&first.document.blob));
    assert_eq!(
        ok(
            "unreferenced",
            store
                .unreferenced_blobs(vec![first.document.blob.clone()])
                .await
        ),
        vec![],
        "the document is referenced"
    );
    assert!(!due(ms(taken, 5 * 86_400_000)).await, "not written since");

    let deleted = ms(taken, 5000);
    ok("delete", store.delete_archive(key, "inv-1", deleted).await);
    assert_eq!(ok("last write", store.last_write(key).await), Some(deleted));
    assert!(
        !due(ms(taken, 86_399_999)).await,
        "written, but not a day after the last"
    );
    assert_eq!(
        due_after(ms(taken, 86_400_000)).await,
        Some(Some(taken)),
        "written, and a day after the last"
    );
    // Deleting again keeps the first deletion's time.
    ok(
        "delete again",
        store.delete_archive(key, "inv-1", ms(deleted, 1000)).await,
    );
    assert_eq!(ok("last write", store.last_write(key).await), Some(deleted));

    // An inventory due after none, recorded late, does not replace the one recorded.
    let stale = snapshot("inv-doc-stale", ms(taken, -1), 7);
    assert_eq!(
        ok(
            "stale",
            store.record_inventory(key, stale.clone(), None).await
        ),
        vec![stale.document.blob.clone()],
        "a stale inventory is refused, its document not referenced"
    );
    assert_eq!(
        ok("snapshot", store.inventory_snapshot(key).await),
        Some(first.clone())
    );

    let second = snapshot("inv-doc-2", ms(taken, 86_400_000), 0);
    assert_eq!(
        ok(
            "replace",
            store
                .record_inventory(key, second.clone(), Some(taken))
                .await
        ),
        vec![first.document.blob.clone()],
        "the replaced document is no longer referenced"
    );
    assert_eq!(
        ok("vault", store.get_vault(key).await).inventoried,
        Some(InventoryTotals::default())
    );
    assert!(!due(ms(second.taken, 3 * 86_400_000)).await);
    let gone = ok("delete vault", store.delete_vault(key).await);
    assert!(gone.contains(&second.document.blob), "{gone:?}");
    not_found(
        "snapshot of a deleted vault",
        store.inventory_snapshot(key).await,
    );
    not_found("last write of a deleted vault", store.last_write(key).await);
}
