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
