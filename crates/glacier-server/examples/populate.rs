//! Fills a data directory with many small archive records, for benchmarks that need a large
//! vault without uploading it (e.g. `bench/inventory.py`): the metadata is real, the blobs are
//! not written (inventories never read them).
//!
//! `cargo run --release -p glacier-server --example populate -- DATA_DIR ACCOUNT VAULT COUNT`

use glacier_core::TreeHash;
use glacier_storage::{
    ArchiveRecord, BlobKey, MetadataStore, Segment, SqliteMetadataStore, VaultKey,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, account, vault, count] = args.as_slice() else {
        anyhow::bail!("usage: populate DATA_DIR ACCOUNT VAULT COUNT");
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
            .map(|i| {
                let content = i.to_le_bytes();
                let tree_hash = TreeHash::of(&content);
                ArchiveRecord {
                    id: format!("{:0>138}", format!("{vault}-{i}")),
                    description: format!("benchmark archive {i}, \"quoted\""),
                    size: content.len() as u64,
                    tree_hash,
                    created: start + time::Duration::milliseconds(i as i64),
                    segments: vec![Segment {
                        blob: BlobKey(format!("{i:032x}")),
                        size: content.len() as u64,
                        tree_hash,
                        leaves: vec![tree_hash.0],
                    }],
                }
            })
            .collect();
        done += batch.len() as u64;
        store.import_archives(&key, batch).await?;
    }
    println!("{count} archives in {}/{}", account, vault);
    Ok(())
}
