//! Blob stores.

use super::*;

/// Exercises a blob store: write, commit, ranged read, list, delete, discard on drop.
pub(crate) async fn blob_store(store: &dyn BlobStore) {
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
    assert_eq!(
        ok(
            "read a range over several MiB",
            read_all(store, &key, 500_000, 2_400_000).await
        ),
        data[500_000..2_900_000]
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
    archived_uploads(store).await;
}

/// Uploads in the store's class: in an archive class ([`StorageClass::restores`]) a large one
/// cannot be read before its restore, which [`BlobStore::thaw`] asks for and then reports
/// done; a small one (under [`StorageClass::standard_below`]) and anything in another class
/// reads at once. Either way the bytes read back exactly.
async fn archived_uploads(store: &dyn BlobStore) {
    let thaw = Thaw {
        tier: Tier::Bulk,
        readable_for: std::time::Duration::from_secs(86_400),
    };
    let large: Vec<u8> = (0..64 * 1024u32).map(|i| (i % 249) as u8).collect();
    let small = b"a small archive".to_vec();
    let mut keys = Vec::new();
    for data in [&large, &small] {
        let mut w = ok("create upload", store.create(Some(data.len() as u64)).await);
        ok("write upload", w.write(data).await);
        keys.push(ok("commit upload", w.commit().await));
    }
    let archived = store.class().restores();
    if archived {
        assert!(
            read_all(store, &keys[0], 0, 10).await.is_err(),
            "an archived upload is not read before its restore"
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while ok("thaw", store.thaw(&keys[0], &thaw).await) != Thawed::Readable {
            assert!(std::time::Instant::now() < deadline, "restore never done");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
    for (key, data) in keys.iter().zip([&large, &small]) {
        assert_eq!(
            ok("thaw readable", store.thaw(key, &thaw).await),
            Thawed::Readable
        );
        assert_eq!(
            &ok(
                "read upload",
                read_all(store, key, 0, data.len() as u64).await
            ),
            data
        );
    }
    ok("delete uploads", store.delete(&keys).await);
    if archived {
        assert!(
            matches!(
                ok("thaw missing", store.thaw(&keys[0], &thaw).await),
                Thawed::Refused(_)
            ),
            "a missing archived blob cannot be restored"
        );
    }
}
