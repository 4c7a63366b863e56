//! The SQLite store: the conformance suite, and what only SQLite has (reopening, migrations,
//! the policy cache's generations).

use super::schema::MIGRATIONS;
use super::values::from_ms;
use super::*;
use glacier_core::{JobStatus, LockState};
use rusqlite::params;

#[tokio::test]
async fn conformance() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = SqliteMetadataStore::open(dir.path().join("meta.db")).await?;
    crate::conformance::metadata(std::sync::Arc::new(store)).await;
    Ok(())
}

#[tokio::test]
async fn state_survives_reopen() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let key = VaultKey {
        account: "111122223333".into(),
        name: "v".into(),
    };
    {
        let store = SqliteMetadataStore::open(dir.path().join("meta.db")).await?;
        store
            .create_vault(&key, "us-east-1", OffsetDateTime::now_utc(), 10)
            .await?;
    }
    let store = SqliteMetadataStore::open(dir.path().join("meta.db")).await?;
    assert_eq!(store.get_vault(&key).await?.key, key);
    Ok(())
}

/// A data directory of schema 1 (checked in as SQL) opens, migrates, and keeps every
/// vault, archive, upload, part, job, lock and setting; its vaults take the region given.
#[tokio::test]
async fn schema_1_migrates() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("meta.db");
    Connection::open(&path)?.execute_batch(include_str!("../../testdata/schema-1.sql"))?;
    let store = SqliteMetadataStore::open(&path).await?;
    assert_eq!(store.assign_legacy_region("eu-central-1").await?, 2);
    assert_eq!(
        store.assign_legacy_region("us-east-1").await?,
        0,
        "only once"
    );
    let key = VaultKey {
        account: "111122223333".into(),
        name: "photos".into(),
    };
    let v = store.get_vault(&key).await?;
    assert_eq!(
        (v.region.as_str(), v.archive_count, v.size),
        ("eu-central-1", 1, 5)
    );
    let a = store.get_archive(&key, "ARCHIVE1").await?;
    assert_eq!((a.description.as_str(), a.segments.len()), ("a photo", 1));
    assert_eq!(store.get_upload(&key, "UPLOAD1").await?.part_size, 1 << 20);
    assert_eq!(
        store.list_parts(&key, "UPLOAD1", 0, 10).await?.items.len(),
        1
    );
    assert_eq!(
        store.get_job(&key, "JOB1").await?.status,
        JobStatus::InProgress
    );
    let lock = store.vault_policies(&key).await?.lock;
    assert_eq!(
        lock.map(|l| (l.state, l.lock_id)),
        Some((LockState::Locked, "LOCK1".to_owned()))
    );
    assert_eq!(
        store.list_tags(&key).await?.get("team").map(String::as_str),
        Some("a")
    );
    assert!(store.get_retrieval_policy("111122223333").await?.is_some());
    assert_eq!(store.list_capacity("111122223333").await?.len(), 1);
    assert_eq!(
        store
            .retrievals_since("111122223333", from_ms(0))
            .await?
            .len(),
        1
    );
    let again = Completion {
        archive_id: "NEW".into(),
        archive_size: 5,
        tree_hash: a.tree_hash,
        now: OffsetDateTime::now_utc(),
    };
    assert_eq!(
        store.complete_upload(&key, "UPLOAD0", again).await?,
        "ARCHIVE1"
    );
    drop(store);
    let version: i64 =
        Connection::open(&path)?.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    assert_eq!(version, MIGRATIONS.len() as i64);
    Ok(())
}

/// A database of a schema newer than the binary's is refused, not guessed at.
#[tokio::test]
async fn newer_schema_is_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("meta.db");
    Connection::open(&path)?.pragma_update(None, "user_version", 99)?;
    match SqliteMetadataStore::open(&path).await {
        Err(e) => assert!(e.to_string().contains("newer"), "{e}"),
        Ok(_) => panic!("a schema-99 database opened"),
    }
    Ok(())
}

/// A lock row that is not a valid lock is an error, never "no lock": a vault's write-once
/// protection must not fall away because a row cannot be read.
#[tokio::test]
async fn an_unreadable_lock_is_an_error() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("meta.db");
    let store = SqliteMetadataStore::open(&path).await?;
    let key = VaultKey {
        account: "111122223333".into(),
        name: "v".into(),
    };
    store
        .create_vault(&key, "us-east-1", OffsetDateTime::now_utc(), 10)
        .await?;
    for (state, lock_id) in [
        (Some("locked"), Some("L")),
        (None, Some("L")),
        (Some("Locked"), None),
    ] {
        let conn = Connection::open(&path)?;
        conn.execute("DELETE FROM vault_policies", [])?;
        conn.execute(
            "INSERT INTO vault_policies (account, vault, kind, policy, state, lock_id, created_ms)
             VALUES ('111122223333', 'v', 'lock', '{}', ?1, ?2, 0)",
            params![state, lock_id],
        )?;
        match store.vault_policies(&key).await {
            Err(StorageError::Backend { message, .. }) => {
                assert!(message.contains("lock"), "{message}")
            }
            other => panic!("state {state:?}, id {lock_id:?}: {other:?}"),
        }
    }
    Ok(())
}
