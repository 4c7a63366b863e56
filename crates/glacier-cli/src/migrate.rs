//! `migrate`: copies vaults archive by archive from one Glacier to another (Amazon Glacier, a
//! server, the local store) or into an S3 bucket (any storage class, e.g. DEEP_ARCHIVE, as AWS
//! recommends to vault owners). Every archive is retrieved, downloaded and verified against its
//! tree hash, delivered, and checkpointed so that a rerun continues.

use crate::commands::{Ctx, download_job, state_file, upload_file};
use crate::output::{self, Output};
use crate::target::{self, Target};
use anyhow::{Context, bail};
use futures_util::TryStreamExt;
use glacier_client::Vault;
use glacier_client::inventory::InventoryEntry;
use glacier_client::layer2::{InventoryRequest, Polling};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub(crate) struct MigrateArgs {
    /// Where the vaults are: `local`, `local:DIR`, an endpoint URL, or `aws:REGION`.
    #[arg(long)]
    from: String,
    /// Where they go: the same forms, or `s3://BUCKET/PREFIX` (objects named after the mt2
    /// description's path where there is one, else the archive id).
    #[arg(long)]
    to: String,
    /// Vaults to copy [default: every vault of the source].
    #[arg(long)]
    vault: Vec<String>,
    /// The retrievals' tier: Expedited, Standard (the default) or Bulk, in any case (Bulk:
    /// 5–12 hours on Amazon Glacier, a quarter of Standard's price).
    #[arg(long, value_parser = glacier_core::Tier::parse_loose)]
    tier: Option<glacier_core::Tier>,
    /// For an `s3://` destination: the storage class of the objects.
    #[arg(long, default_value = "DEEP_ARCHIVE")]
    storage_class: String,
    /// For an `s3://` destination: an S3-compatible endpoint URL instead of AWS's (credentials
    /// from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).
    #[arg(long)]
    s3_endpoint: Option<String>,
}

fn parse_target(s: &str) -> anyhow::Result<Target> {
    if s == "local" {
        return Ok(Target::Local(crate::target::default_local_store()?));
    }
    if let Some(dir) = s.strip_prefix("local:") {
        return Ok(Target::Local(PathBuf::from(dir)));
    }
    if let Some(region) = s.strip_prefix("aws:") {
        return Ok(Target::Region(region.to_owned()));
    }
    if s.starts_with("http://") || s.starts_with("https://") {
        return Ok(Target::Endpoint(s.to_owned()));
    }
    bail!(
        "{s:?} is not a target: use local, local:DIR, http(s)://ENDPOINT or aws:REGION (or s3://BUCKET/PREFIX as a destination)"
    )
}

/// Where archives go.
enum Destination {
    Glacier(Target, target::Connection),
    S3 {
        url: String,
        store: Box<dyn object_store::ObjectStore>,
        prefix: String,
        storage_class: String,
    },
}

impl Destination {
    fn name(&self) -> String {
        match self {
            Destination::Glacier(t, _) => t.to_string(),
            Destination::S3 { url, .. } => url.clone(),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        match self {
            Destination::Glacier(t, _) => t.to_json(),
            Destination::S3 { url, .. } => json!({"kind": "s3", "url": url}),
        }
    }
}

/// `s3://bucket/prefix`, with credentials and region from the AWS environment variables.
fn s3_destination(url: &str, args: &MigrateArgs) -> anyhow::Result<Destination> {
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
    })
}

/// The object name of an archive: the path of its mt2 description when it has one, else its id.
fn object_name(prefix: &str, archive_id: &str, description: &str) -> object_store::path::Path {
    let join = |name: &str| {
        if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}/{name}")
        }
    };
    let by_id = || object_store::path::Path::from(join(archive_id));
    match glacier_client::mt2::decode(description) {
        Some((file, _)) => object_store::path::Path::parse(join(&file)).unwrap_or_else(|_| by_id()),
        None => by_id(),
    }
}

/// Streams a file into an object, in parts, with the storage class asked for.
async fn put_object(
    store: &dyn object_store::ObjectStore,
    name: &object_store::path::Path,
    file: &Path,
    storage_class: &str,
) -> anyhow::Result<()> {
    use tokio::io::AsyncReadExt;
    let attributes = object_store::Attributes::from_iter([(
        object_store::Attribute::StorageClass,
        storage_class.to_owned(),
    )]);
    let opts = object_store::PutMultipartOptions {
        attributes,
        ..Default::default()
    };
    let upload = store.put_multipart_opts(name, opts).await?;
    let mut writer = object_store::WriteMultipart::new_with_chunk_size(upload, 8 << 20);
    let mut f = tokio::fs::File::open(file).await?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        writer.wait_for_capacity(4).await?;
        writer.write(&buf[..n]);
    }
    writer.finish().await?;
    Ok(())
}

/// Delivers one verified archive file; returns its new id or object name.
async fn deliver(
    ctx: &Ctx,
    dst: &Destination,
    vault: Option<&Vault>,
    file: &Path,
    e: &InventoryEntry,
) -> anyhow::Result<String> {
    match (dst, vault) {
        (Destination::Glacier(target, _), Some(vault)) => {
            let description = Some(e.archive_description.as_str()).filter(|d| !d.is_empty());
            // Resumable uploads are remembered under the destination they go to.
            let to = Ctx {
                target: target.clone(),
                output: ctx.output,
                quiet: ctx.quiet,
                limit_rate: ctx.limit_rate,
            };
            upload_file(&to, vault, file, e.size, description, None, 4).await
        }
        (
            Destination::S3 {
                store,
                prefix,
                storage_class,
                ..
            },
            _,
        ) => {
            let object = object_name(prefix, &e.archive_id, &e.archive_description);
            put_object(store.as_ref(), &object, file, storage_class)
                .await
                .with_context(|| format!("writing {object}"))?;
            let head = store.head(&object).await?;
            if head.size != e.size {
                bail!("{object}: {} bytes arrived of {}", head.size, e.size);
            }
            Ok(object.to_string())
        }
        (Destination::Glacier(..), None) => bail!("no destination vault"),
    }
}

/// Where `migrate` copies from.
pub(crate) fn source(args: &MigrateArgs) -> anyhow::Result<Target> {
    parse_target(&args.from)
}

/// Copies the vaults from `ctx.target` (the source) to `args.to`.
pub(crate) async fn migrate(ctx: &Ctx, args: MigrateArgs) -> anyhow::Result<()> {
    let from = ctx.target.clone();
    let src = target::connect(&from, None, ctx.limit_rate)
        .await
        .with_context(|| format!("connecting to {from}"))?;
    let dst = if args.to.starts_with("s3://") {
        s3_destination(&args.to, &args)?
    } else {
        let to = parse_target(&args.to)?;
        if from == to {
            bail!("the source and the destination are the same ({from})");
        }
        let conn = target::connect(&to, None, ctx.limit_rate)
            .await
            .with_context(|| format!("connecting to {to}"))?;
        Destination::Glacier(to, conn)
    };
    let to = dst.name();
    let to_json = dst.to_json();
    let vaults = if args.vault.is_empty() {
        src.layer2
            .list_vaults()
            .await?
            .into_iter()
            .map(|v| v.name)
            .collect()
    } else {
        args.vault.clone()
    };
    let mut report = Vec::new();
    for name in vaults {
        let source = src
            .layer2
            .get_vault(&name)
            .await
            .with_context(|| format!("source vault {name}"))?;
        let dest = match &dst {
            Destination::Glacier(_, conn) => Some(
                conn.layer2
                    .create_vault(&name)
                    .await
                    .with_context(|| format!("creating {name} at {to}"))?,
            ),
            Destination::S3 { .. } => None,
        };
        let checkpoint = state_file("migrate", &format!("{from}\n{to}\n{name}"), "copied")?;
        let copied_before: HashSet<String> = std::fs::read_to_string(&checkpoint)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once(' ').map(|(a, _)| a.to_owned()))
            .collect();
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&checkpoint)?;
        let mut inv = source
            .retrieve_inventory_job(InventoryRequest::default())
            .await?;
        crate::commands::wait_for(ctx, &mut inv).await?;
        let mut entries = std::pin::pin!(inv.inventory().await?);
        let (mut copied, mut skipped, mut bytes) = (0u64, 0u64, 0u64);
        // The archives not copied yet, a batch at a time: each batch's retrievals are asked for
        // at once and each archive is copied as its job completes, so that a batch waits
        // about one retrieval's time (hours on Amazon Glacier), not one per archive.
        let mut batch: HashMap<String, InventoryEntry> = HashMap::new();
        loop {
            let next = entries.try_next().await?;
            let more = next.is_some();
            if let Some(e) = next {
                if copied_before.contains(&e.archive_id) {
                    skipped += 1;
                } else {
                    batch.insert(e.archive_id.clone(), e);
                }
                if batch.len() < BATCH {
                    continue;
                }
            }
            if batch.is_empty() {
                break;
            }
            let ids: Vec<String> = batch.keys().cloned().collect();
            let mut retrieval = source
                .retrieve_archives(&ids, args.tier, Polling::default())
                .await
                .with_context(|| format!("starting the retrievals of {name}"))?;
            while let Some(job) = retrieval.next().await {
                let job = job.with_context(|| format!("waiting for the retrievals of {name}"))?;
                let Some(e) = job.archive_id.as_deref().and_then(|a| batch.remove(a)) else {
                    continue;
                };
                if !ctx.quiet && ctx.output != Output::Json {
                    eprintln!("copying {} ({} bytes) of {name}", e.archive_id, e.size);
                }
                copy_one(ctx, &dst, dest.as_ref(), &to, &job, &e, &mut log).await?;
                copied += 1;
                bytes += e.size;
            }
            anyhow::ensure!(
                batch.is_empty(),
                "{} archive(s) of {name} were not retrieved; run the migration again to continue",
                batch.len()
            );
            if !more {
                break;
            }
        }
        report.push(
            json!({"vault": name, "copied": copied, "already_copied": skipped, "size": bytes}),
        );
    }
    if ctx.output == Output::Json {
        output::json(&json!({"from": from.to_json(), "to": to_json, "vaults": report}));
    } else {
        let rows: Vec<Vec<String>> = report
            .iter()
            .map(|r| {
                vec![
                    r["vault"].as_str().unwrap_or_default().to_owned(),
                    r["copied"].to_string(),
                    r["already_copied"].to_string(),
                    crate::output::human_size(r["size"].as_u64().unwrap_or(0)),
                ]
            })
            .collect();
        output::table(&["VAULT", "COPIED", "ALREADY COPIED", "SIZE"], &rows);
    }
    Ok(())
}

/// How many archives one batch of a migration retrieves at once.
const BATCH: usize = 1000;

/// Copies the archive `e` whose retrieval `job` completed: downloads it verified, checks its
/// tree hash against the inventory's, delivers it to `dst` and records it in `log`.
async fn copy_one(
    ctx: &Ctx,
    dst: &Destination,
    dest: Option<&Vault>,
    to: &str,
    job: &glacier_client::Job,
    e: &InventoryEntry,
    log: &mut std::fs::File,
) -> anyhow::Result<()> {
    let temp = state_file("migrate", &e.archive_id, "data")?;
    download_job(job, &temp, 8 << 20, 4)
        .await
        .with_context(|| format!("downloading {}", e.archive_id))?;
    // download_job verified every chunk and the whole against the job's tree hash; that
    // hash must be the one the inventory lists for the archive.
    if job.sha256_treehash.as_deref() != Some(e.sha256_tree_hash.as_str()) {
        bail!(
            "archive {}: the retrieval's tree hash {:?} is not the inventory's {}",
            e.archive_id,
            job.sha256_treehash,
            e.sha256_tree_hash
        );
    }
    let new_id = deliver(ctx, dst, dest, &temp, e).await.with_context(|| {
        format!(
            "copying {} to {to} (run the migration again to continue)",
            e.archive_id
        )
    })?;
    writeln!(log, "{} {new_id}", e.archive_id)?;
    log.sync_data()?;
    std::fs::remove_file(&temp)?;
    Ok(())
}
