//! Fills a data directory with many small archive records, for benchmarks that need a large
//! vault without uploading it (e.g. `bench/inventory.py`): the metadata is real, the blobs are
//! not written (inventories never read them).
//!
//! `cargo run --release -p glacier-storage --example populate -- DATA_DIR ACCOUNT VAULT COUNT [mt2]`
//!
//! With `mt2`, each archive's description names a file (`dNNN/archive-N.bin`) as `sync`
//! writes them, so that `restore --dry-run` plans every archive (`bench/retrievals.py`).

use glacier_core::TreeHash;
use glacier_storage::{
    ArchiveRecord, BlobKey, MetadataStore, Segment, SqliteMetadataStore, VaultKey,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (dir, account, vault, count, mt2) = match args.as_slice() {
        [dir, account, vault, count] => (dir, account, vault, count, false),
        [dir, account, vault, count, mt2] if mt2 == "mt2" => (dir, account, vault, count, true),
        _ => anyhow::bail!("usage: populate DATA_DIR ACCOUNT VAULT COUNT [mt2]"),
    };
    let count: u64 = count.parse()?;
    std::fs::create_dir_all(dir)?;
    let store =
        SqliteMetadataStore::open(std::path::Path::new(dir).join("metadata.sqlite")).await?;
    let key = VaultKey {
        account: account.clone(),
        name: vault.clone(),
    };
    store
        .create_vault(&key, "us-east-1", time::OffsetDateTime::now_utc(), 1000)
        .await?;
    let start = time::OffsetDateTime::now_utc();
    let mut done = 0u64;
    while done < count {
        let batch: Vec<ArchiveRecord> = (done..(done + 10_000).min(count))
            .map(|i| -> anyhow::Result<ArchiveRecord> {
                let content = i.to_le_bytes();
                let tree_hash = TreeHash::of(&content);
                Ok(ArchiveRecord {
                    id: format!("{:0>138}", format!("{vault}-{i}")),
                    description: if mt2 {
                        glacier_core::mt2::encode(
                            &format!("d{:03}/archive-{i}.bin", i % 1000),
                            1_700_000_000,
                        )?
                    } else {
                        format!("benchmark archive {i}, \"quoted\"")
                    },
                    size: content.len() as u64,
                    tree_hash,
                    created: start + time::Duration::milliseconds(i as i64),
                    segments: vec![Segment {
                        blob: BlobKey(format!("{i:032x}")),
                        size: content.len() as u64,
                        tree_hash,
                        leaves: vec![tree_hash.0],
                    }],
                })
            })
            .collect::<anyhow::Result<_>>()?;
        done += batch.len() as u64;
        store.import_archives(&key, batch).await?;
    }
    println!("{count} archives in {}/{}", account, vault);
    Ok(())
}
