//! Durability: kill -9 the real `glacier serve` during concurrent uploads, restart it, and show
//! that every acknowledged archive and part is intact and nothing half-written is visible.

use aws_sdk_glacier::primitives::ByteStream;
use conformance_aws_sdk::{ACCOUNT, MIB, client, data};
use glacier_core::{TreeHash, TreeHasher};
use glacier_storage::{
    ArchiveCursor, ArchiveQuery, BlobStore, FsBlobStore, MetadataStore, SqliteMetadataStore,
    VaultKey,
};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;
use common::start;

type R = anyhow::Result<()>;

#[derive(Default)]
struct Acked {
    /// (archive id, tree hash, size)
    archives: Vec<(String, String, usize)>,
    /// (upload id, range, tree hash)
    parts: Vec<(String, String, String)>,
}

/// One uploader: alternates single-request archives, completed multipart archives and parts
/// of uploads left unfinished, recording what the server acknowledged, until the server dies.
async fn uploader(endpoint: String, worker: usize, acked: Arc<Mutex<Acked>>, deadline: Instant) {
    let g = client(&endpoint);
    let mut round = 0usize;
    while Instant::now() < deadline {
        round += 1;
        let seed = (worker * 31 + round) as u8;
        let size = 1 + (worker * 7919 + round * 104_729) % (3 * MIB);
        let body = data(size, seed);
        let ok = if round.is_multiple_of(2) {
            match g
                .upload_archive()
                .vault_name("crash")
                .body(ByteStream::from(body.clone()))
                .send()
                .await
            {
                Ok(r) => {
                    let id = r.archive_id().unwrap_or_default().to_owned();
                    let hash = r.checksum().unwrap_or_default().to_owned();
                    if let Ok(mut a) = acked.lock() {
                        a.archives.push((id, hash, size));
                    }
                    true
                }
                Err(_) => false,
            }
        } else {
            multipart(&g, &body, round.is_multiple_of(3), &acked).await
        };
        if !ok {
            return;
        }
    }
}

async fn multipart(
    g: &aws_sdk_glacier::Client,
    body: &[u8],
    complete: bool,
    acked: &Mutex<Acked>,
) -> bool {
    let Ok(init) = g
        .initiate_multipart_upload()
        .vault_name("crash")
        .part_size(MIB.to_string())
        .send()
        .await
    else {
        return false;
    };
    let upload_id = init.upload_id().unwrap_or_default().to_owned();
    for (i, chunk) in body.chunks(MIB).enumerate() {
        let range = format!("{}-{}", i * MIB, i * MIB + chunk.len() - 1);
        let sent = g
            .upload_multipart_part()
            .vault_name("crash")
            .upload_id(&upload_id)
            .range(format!("bytes {range}/*"))
            .body(ByteStream::from(chunk.to_vec()))
            .send()
            .await;
        match sent {
            Ok(r) => {
                if let Ok(mut a) = acked.lock() {
                    a.parts.push((
                        upload_id.clone(),
                        range,
                        r.checksum().unwrap_or_default().to_owned(),
                    ));
                }
            }
            Err(_) => return false,
        }
    }
    if !complete {
        return true;
    }
    let done = g
        .complete_multipart_upload()
        .vault_name("crash")
        .upload_id(&upload_id)
        .archive_size(body.len().to_string())
        .checksum(TreeHash::of(body).to_hex())
        .send()
        .await;
    match done {
        Ok(r) => {
            if let Ok(mut a) = acked.lock() {
                a.parts.retain(|(u, _, _)| *u != upload_id);
                a.archives.push((
                    r.archive_id().unwrap_or_default().to_owned(),
                    TreeHash::of(body).to_hex(),
                    body.len(),
                ));
            }
            true
        }
        Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_concurrent_uploads_loses_nothing_acknowledged() -> R {
    let dir = tempfile::tempdir()?;
    let data_dir = dir.path().join("data");
    let (mut server, endpoint) = start(&data_dir, &[])?;
    client(&endpoint)
        .create_vault()
        .vault_name("crash")
        .send()
        .await?;

    let acked = Arc::new(Mutex::new(Acked::default()));
    let deadline = Instant::now() + Duration::from_secs(60);
    let workers: Vec<_> = (0..6)
        .map(|w| tokio::spawn(uploader(endpoint.clone(), w, Arc::clone(&acked), deadline)))
        .collect();
    // Kill once a good number of writes were acknowledged, while the others are in flight.
    while Instant::now() < deadline {
        let n = acked
            .lock()
            .map(|a| a.archives.len() + a.parts.len())
            .unwrap_or(0);
        if n >= 40 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill()?; // SIGKILL
    server.wait()?;
    for w in workers {
        w.await?;
    }
    let acked = std::mem::take(&mut *acked.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
    let interrupted = std::fs::read_dir(data_dir.join("tmp"))?.count();
    assert!(
        acked.archives.len() + acked.parts.len() >= 40,
        "the workload ran"
    );

    // Restart: recovery runs, then the API shows every acknowledged archive and part.
    let (mut server, endpoint) = start(&data_dir, &[])?;
    let g = client(&endpoint);
    let vault = g.describe_vault().vault_name("crash").send().await?;
    assert!(vault.number_of_archives() as usize >= acked.archives.len());
    for (upload_id, range, hash) in &acked.parts {
        let parts = g
            .list_parts()
            .vault_name("crash")
            .upload_id(upload_id)
            .send()
            .await?;
        assert!(
            parts
                .parts()
                .iter()
                .any(|p| p.range_in_bytes() == Some(range.as_str())
                    && p.sha256_tree_hash() == Some(hash.as_str())),
            "acknowledged part {range} of {upload_id} is listed with its hash"
        );
    }
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(server.id().to_string())
        .status();
    server.wait()?;

    assert_eq!(
        std::fs::read_dir(data_dir.join("tmp"))?.count(),
        0,
        "recovery removed interrupted writes"
    );

    // Open the stores directly: every archive's bytes hash to its recorded tree hash, the
    // counters match, every referenced blob exists, and nothing unreferenced or temporary is left.
    let meta = SqliteMetadataStore::open(data_dir.join("metadata.sqlite")).await?;
    let blobs = FsBlobStore::open(&data_dir).await?;
    let key = VaultKey {
        account: ACCOUNT.into(),
        name: "crash".into(),
    };
    let mut stored = Vec::new();
    let mut after: Option<ArchiveCursor> = None;
    loop {
        let query = ArchiveQuery {
            after: after.take(),
            limit: 100,
            ..Default::default()
        };
        let page = meta.list_archives(&key, &query).await?;
        after = page.items.last().map(|a| ArchiveCursor {
            created: a.created,
            id: a.id.clone(),
        });
        stored.extend(page.items);
        if !page.more {
            break;
        }
    }
    let v = meta.get_vault(&key).await?;
    assert_eq!(v.archive_count as usize, stored.len());
    assert_eq!(v.size, stored.iter().map(|a| a.size).sum::<u64>());
    for summary in &stored {
        let archive = meta.get_archive(&key, &summary.id).await?;
        let mut whole = TreeHasher::new();
        for seg in &archive.segments {
            let bytes = glacier_storage::blob::read_all(&blobs, &seg.blob, 0, seg.size).await?;
            let mut h = TreeHasher::new();
            h.update(&bytes);
            let h = h.finish_with_leaves();
            assert_eq!(
                (h.tree, &h.leaves),
                (seg.tree_hash, &seg.leaves),
                "segment {} is intact",
                seg.blob
            );
            whole.update(&bytes);
        }
        assert_eq!(
            whole.finish().0,
            archive.tree_hash,
            "archive {} is intact",
            archive.id
        );
    }
    for (id, hash, size) in &acked.archives {
        let a = stored.iter().find(|a| &a.id == id);
        assert!(
            a.is_some_and(|a| a.tree_hash.to_hex() == *hash && a.size as usize == *size),
            "acknowledged archive {id}"
        );
    }
    let referenced = meta.referenced_blobs().await?;
    let on_disk: std::collections::HashSet<_> = blobs.list().await?.into_iter().collect();
    assert!(
        referenced.is_subset(&on_disk),
        "every referenced blob exists"
    );
    assert_eq!(on_disk, referenced, "no orphaned blob survives a restart");
    eprintln!(
        "crash test: {} acknowledged archives, {} acknowledged parts, {} archives stored, {interrupted} writes interrupted",
        acked.archives.len(),
        acked.parts.len(),
        stored.len()
    );
    Ok(())
}
