//! A write workload for crash tests, and the check of what it leaves: every archive and part
//! the server acknowledged before it died is intact in the stores.

use aws_sdk_glacier::primitives::ByteStream;
use conformance_aws_sdk::{ACCOUNT, MIB, client, data};
use glacier_core::{TreeHash, TreeHasher};
use glacier_storage::{
    ArchiveCursor, ArchiveQuery, ArchiveSummary, BlobStore, MetadataStore, VaultKey,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The vault the workload writes to.
pub(crate) const VAULT: &str = "crash";

#[derive(Default)]
pub(crate) struct Acked {
    /// (archive id, tree hash, size)
    pub(crate) archives: Vec<(String, String, usize)>,
    /// (upload id, range, tree hash)
    pub(crate) parts: Vec<(String, String, String)>,
}

/// One uploader: alternates single-request archives, completed multipart archives and parts
/// of uploads left unfinished in vault [`VAULT`], recording what the server acknowledged, until
/// the server dies or `stop` is set.
pub(crate) async fn uploader(
    endpoint: String,
    worker: usize,
    acked: Arc<Mutex<Acked>>,
    stop: Arc<AtomicBool>,
) {
    let g = client(&endpoint);
    let mut round = 0usize;
    while !stop.load(Ordering::Relaxed) {
        round += 1;
        let seed = (worker * 31 + round) as u8;
        let size = 1 + (worker * 7919 + round * 104_729) % (3 * MIB);
        let body = data(size, seed);
        let ok = if round.is_multiple_of(2) {
            match g
                .upload_archive()
                .vault_name(VAULT)
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
        .vault_name(VAULT)
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
            .vault_name(VAULT)
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
        .vault_name(VAULT)
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

/// Opens the stores directly and checks them against what was acknowledged: every archive's
/// bytes hash to its recorded tree hash, the vault's counters match, every acknowledged archive
/// is there with its hash and size, and every referenced blob exists. Returns the archives
/// stored.
pub(crate) async fn check_stores(
    meta: &dyn MetadataStore,
    blobs: &dyn BlobStore,
    acked: &Acked,
) -> anyhow::Result<Vec<ArchiveSummary>> {
    let key = VaultKey {
        account: ACCOUNT.into(),
        name: VAULT.into(),
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
            let bytes = glacier_storage::blob::read_all(blobs, &seg.blob, 0, seg.size).await?;
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
    let listed: std::collections::HashSet<_> = blobs.list().await?.into_iter().collect();
    assert!(
        referenced.is_subset(&listed),
        "every referenced blob exists"
    );
    Ok(stored)
}

/// Through the API at `endpoint`: the vault holds at least the acknowledged archives, and every
/// acknowledged part of an unfinished upload is listed with its hash.
pub(crate) async fn check_api(endpoint: &str, acked: &Acked) -> anyhow::Result<()> {
    let g = client(endpoint);
    let vault = g.describe_vault().vault_name(VAULT).send().await?;
    assert!(vault.number_of_archives() as usize >= acked.archives.len());
    for (upload_id, range, hash) in &acked.parts {
        let parts = g
            .list_parts()
            .vault_name(VAULT)
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
    Ok(())
}
