//! `migrate`'s S3 destination: objects named after the archives' files, streamed in multipart
//! uploads of bounded memory, an archive over the object limit in pieces with a manifest.

use super::{Destination, MigrateArgs};
use anyhow::{Context, bail};
use glacier_client::inventory::InventoryEntry;
use serde_json::json;
use std::path::Path;

/// `s3://bucket/prefix`, with credentials and region from the AWS environment variables.
pub(super) fn s3_destination(url: &str, args: &MigrateArgs) -> anyhow::Result<Destination> {
    let rest = url.trim_start_matches("s3://");
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        bail!("{url}: no bucket; use s3://BUCKET/PREFIX");
    }
    let mut builder = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
    if std::env::var("AWS_DEFAULT_REGION").is_err() && std::env::var("AWS_REGION").is_err() {
        builder = builder.with_region("us-east-1");
    }
    if let Some(e) = &args.s3_endpoint {
        builder = builder
            .with_endpoint(e)
            .with_allow_http(e.starts_with("http://"));
    }
    Ok(Destination::S3 {
        url: url.to_owned(),
        store: Box::new(
            builder
                .build()
                .with_context(|| format!("configuring {url}"))?,
        ),
        prefix: prefix.trim_matches('/').to_owned(),
        storage_class: args.storage_class.clone(),
        max_object_size: args.max_object_size,
    })
}

/// The object name of an archive: the file name its description or `--names` gives, else its
/// id.
pub(super) fn object_name(
    prefix: &str,
    archive_id: &str,
    name: Option<&str>,
) -> object_store::path::Path {
    let join = |name: &str| {
        if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}/{name}")
        }
    };
    let by_id = || object_store::path::Path::from(join(archive_id));
    match name {
        Some(file) => object_store::path::Path::parse(join(file)).unwrap_or_else(|_| by_id()),
        None => by_id(),
    }
}

/// S3's multipart limits: at most 10,000 parts, of 5 MiB (but the last) to 5 GiB.
const S3_MAX_PARTS: u64 = 10_000;
const MIB: u64 = 1 << 20;

/// Streams `len` bytes of a file from `offset` into an object, with the storage class asked
/// for: a multipart upload of parts large enough that 10,000 hold it (8 MiB at least), at most
/// 256 MiB of them in memory at once.
async fn put_object(
    store: &dyn object_store::ObjectStore,
    name: &object_store::path::Path,
    file: &Path,
    (offset, len): (u64, u64),
    storage_class: &str,
) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let attributes = object_store::Attributes::from_iter([(
        object_store::Attribute::StorageClass,
        storage_class.to_owned(),
    )]);
    let opts = object_store::PutMultipartOptions {
        attributes,
        ..Default::default()
    };
    let part = len
        .div_ceil(S3_MAX_PARTS)
        .next_multiple_of(MIB)
        .max(8 * MIB);
    let in_flight = usize::try_from((256 * MIB / part).clamp(1, 4)).unwrap_or(1);
    let upload = store.put_multipart_opts(name, opts).await?;
    let part = usize::try_from(part).context("a part larger than memory can address")?;
    let mut writer = object_store::WriteMultipart::new_with_chunk_size(upload, part);
    let mut f = tokio::fs::File::open(file).await?;
    f.seek(std::io::SeekFrom::Start(offset)).await?;
    let mut f = f.take(len);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        writer.wait_for_capacity(in_flight).await?;
        writer.write(&buf[..n]);
    }
    writer.finish().await?;
    Ok(())
}

/// Writes `len` bytes of `file` from `offset` as `object` and checks the size that arrived.
pub(super) async fn put_checked(
    store: &dyn object_store::ObjectStore,
    object: &object_store::path::Path,
    file: &Path,
    (offset, len): (u64, u64),
    storage_class: &str,
) -> anyhow::Result<()> {
    put_object(store, object, file, (offset, len), storage_class)
        .await
        .with_context(|| format!("writing {object}"))?;
    let head = store.head(object).await?;
    if head.size != len {
        bail!("{object}: {} bytes arrived of {len}", head.size);
    }
    Ok(())
}

/// An archive larger than one object may be: its pieces as `OBJECT.part00001`, … and a
/// manifest `OBJECT.manifest.json` (in the default storage class, readable at once) that lists
/// them in order with their offsets and sizes, and the archive's size and tree hash to check
/// the joined file against (`glacier treehash`); returns the manifest's name.
pub(super) async fn put_split(
    store: &dyn object_store::ObjectStore,
    object: &object_store::path::Path,
    file: &Path,
    e: &InventoryEntry,
    (storage_class, max): (&str, u64),
) -> anyhow::Result<String> {
    let mut parts = Vec::new();
    for (i, offset) in (0..e.size).step_by(usize::try_from(max)?).enumerate() {
        let len = max.min(e.size - offset);
        let name = object_store::path::Path::parse(format!("{object}.part{:05}", i + 1))?;
        put_checked(store, &name, file, (offset, len), storage_class).await?;
        parts.push(json!({"key": name.to_string(), "offset": offset, "size": len}));
    }
    let manifest = object_store::path::Path::parse(format!("{object}.manifest.json"))?;
    let body = json!({
        "archive_id": e.archive_id,
        "description": e.archive_description,
        "size": e.size,
        "sha256_tree_hash": e.sha256_tree_hash,
        "parts": parts,
        "join": "concatenate the parts in order (cat NAME.part* > NAME); the result has this size and tree hash",
    });
    store
        .put(&manifest, serde_json::to_vec_pretty(&body)?.into())
        .await
        .with_context(|| format!("writing {manifest}"))?;
    Ok(manifest.to_string())
}
