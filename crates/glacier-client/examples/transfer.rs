//! Uploads a file through Layer2 (concurrently from the file, and through the `Writer` from a
//! reader), retrieves it and downloads it concurrently with verification, printing this
//! process's peak resident memory after each step. Used by `bench/client_memory.py`.
//!
//! `transfer ENDPOINT FILE PART_SIZE_MIB CONCURRENCY` with `AWS_ACCESS_KEY_ID` /
//! `AWS_SECRET_ACCESS_KEY` set for the server.

use glacier_client::layer2::WaitOptions;
use glacier_client::{ConcurrentDownloader, Layer1, Layer2};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [endpoint, file, part_mib, concurrency] = args.as_slice() else {
        anyhow::bail!("usage: transfer ENDPOINT FILE PART_SIZE_MIB CONCURRENCY");
    };
    let part_size = part_mib.parse::<u64>()? << 20;
    let concurrency: usize = concurrency.parse()?;
    let path = std::path::PathBuf::from(file);
    let size = std::fs::metadata(&path)?.len();
    let mib = size as f64 / (1 << 20) as f64;
    let g = Layer2::new(Layer1::builder().endpoint(endpoint.as_str()).build()?);
    let vault = g.create_vault("client-bench").await?;
    println!("start: peak RSS {:.1} MiB", peak_rss_mib());

    let t = Instant::now();
    let id = vault
        .concurrent_create_archive_from_file(&path, None, part_size, concurrency)
        .await?;
    println!(
        "concurrent upload from the file: {:.1} MiB/s, peak RSS {:.1} MiB",
        mib / t.elapsed().as_secs_f64(),
        peak_rss_mib()
    );

    let t = Instant::now();
    let mut writer = vault
        .create_archive_writer(part_size, None)
        .await?
        .with_concurrency(concurrency);
    let mut reader = tokio::fs::File::open(&path).await?;
    tokio::io::copy(&mut reader, &mut writer).await?;
    writer.shutdown().await?;
    println!(
        "Writer upload from a reader: {:.1} MiB/s, peak RSS {:.1} MiB",
        mib / t.elapsed().as_secs_f64(),
        peak_rss_mib()
    );

    let mut job = vault.retrieve_archive(&id, None, None).await?;
    job.wait(
        WaitOptions {
            first_delay: Duration::from_millis(20),
            ..Default::default()
        },
        None,
    )
    .await?;
    let out = path.with_extension("download");
    let t = Instant::now();
    ConcurrentDownloader {
        part_size,
        concurrency,
        retries: 3,
    }
    .download(&job, &out)
    .await?;
    println!(
        "concurrent verified download: {:.1} MiB/s, peak RSS {:.1} MiB",
        mib / t.elapsed().as_secs_f64(),
        peak_rss_mib()
    );
    std::fs::remove_file(&out)?;
    for a in [id, writer.archive_id().unwrap_or_default().to_owned()] {
        vault.delete_archive(&a).await?;
    }
    println!("peak RSS {:.1} MiB", peak_rss_mib());
    Ok(())
}
