//! `migrate`: copies vaults archive by archive from one Glacier to another (Amazon Glacier, a
//! server, the local store) or into an S3 bucket (any storage class, e.g. DEEP_ARCHIVE, as AWS
//! recommends to vault owners). Every archive is retrieved, downloaded and verified against its
//! tree hash, delivered, and checkpointed so that a rerun continues.

mod report;
mod s3;

use crate::commands::{
    Ctx, Names, RetrievalArgs, download_job, inventory_job, retrieve_each, state_file, upload_file,
};
use crate::output::{self, Output};
use crate::target::{self, Target};
use anyhow::{Context, bail};
use futures_util::TryStreamExt;
use glacier_client::Vault;
use glacier_client::inventory::InventoryEntry;
use report::Report;
use s3::{object_name, put_checked, put_split, s3_destination};
use serde_json::json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(clap::Args)]
pub(crate) struct MigrateArgs {
    /// Where the vaults are: `local`, `local:DIR`, an endpoint URL, or `aws:REGION`.
    #[arg(long)]
    from: String,
    /// Where they go: the same forms, or `s3://BUCKET/PREFIX` (objects named after the file
    /// name in the archive's description or `--names`, else the archive id).
    #[arg(long)]
    to: String,
    /// Vaults to copy [default: every vault of the source].
    #[arg(long)]
    vault: Vec<String>,
    #[command(flatten)]
    retrieval: RetrievalArgs,
    /// Delete each source archive once its copy is verified and recorded in the report (an
    /// archive a Vault Lock keeps is reported, not an error).
    #[arg(long)]
    delete_source: bool,
    /// Say what each vault's migration would retrieve and what that would cost; copy nothing.
    #[arg(long)]
    dry_run: bool,
    /// For an `s3://` destination: the storage class of the objects.
    #[arg(long, default_value = "DEEP_ARCHIVE")]
    storage_class: String,
    /// For an `s3://` destination: the largest object to write. An archive over it goes into
    /// several objects (`NAME.part00001`, …) and a manifest (`NAME.manifest.json`) that says
    /// how to join them. 5T suits every S3 store; Amazon S3 itself now takes up to 48.8 TiB,
    /// Glacier archives up to 40 TiB.
    #[arg(long, default_value = "5T", value_parser = crate::args::parse_bytes)]
    max_object_size: u64,
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
        max_object_size: u64,
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

/// Delivers one verified archive file; returns its new id or object name.
async fn deliver(
    ctx: &Ctx,
    dst: &Destination,
    vault: Option<&Vault>,
    file: &Path,
    e: &InventoryEntry,
    name: Option<&str>,
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
                max_object_size,
                ..
            },
            _,
        ) => {
            let object = object_name(prefix, &e.archive_id, name);
            if e.size > *max_object_size {
                let limits = (storage_class.as_str(), *max_object_size);
                return put_split(store.as_ref(), &object, file, e, limits).await;
            }
            put_checked(store.as_ref(), &object, file, (0, e.size), storage_class).await?;
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
    let names = Arc::new(args.retrieval.names()?);
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
    let dst = Arc::new(dst);
    let to = dst.name();
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
    let mut summaries = Vec::new();
    for name in vaults {
        let source = src
            .layer2
            .get_vault(&name)
            .await
            .with_context(|| format!("source vault {name}"))?;
        let dest = match dst.as_ref() {
            Destination::Glacier(..) if args.dry_run => None,
            Destination::Glacier(_, conn) => Some(
                conn.layer2
                    .create_vault(&name)
                    .await
                    .with_context(|| format!("creating {name} at {to}"))?,
            ),
            Destination::S3 { .. } => None,
        };
        let copy = Copy {
            ctx: ctx.clone(),
            dst: dst.clone(),
            dest,
            to: to.clone(),
            names: names.clone(),
            report: Arc::new(Report::open(&format!("{from}\n{to}\n{name}"))?),
        };
        summaries.push(migrate_vault(ctx, &args, &source, copy).await?);
    }
    if ctx.output == Output::Json {
        output::json(&json!({"from": from.to_json(), "to": dst.to_json(), "vaults": summaries}));
    } else {
        print_summaries(&summaries);
    }
    Ok(())
}

/// The migration's table, one row per vault, and what people should know of each.
fn print_summaries(summaries: &[serde_json::Value]) {
    let rows: Vec<Vec<String>> = summaries
        .iter()
        .map(|r| {
            vec![
                r["vault"].as_str().unwrap_or_default().to_owned(),
                r["copied"].to_string(),
                r["already_copied"].to_string(),
                crate::output::human_size(r["size"].as_u64().unwrap_or(0)),
                r["report"].as_str().unwrap_or_default().to_owned(),
            ]
        })
        .collect();
    output::table(
        &["VAULT", "COPIED", "ALREADY COPIED", "SIZE", "REPORT"],
        &rows,
    );
    for r in summaries {
        let vault = r["vault"].as_str().unwrap_or_default();
        if r["unnamed"].as_u64().unwrap_or(0) > 0 {
            eprintln!(
                "{vault}: {} of the objects are named after the archive id (no file name in the description; --names FILE names them)",
                r["unnamed"]
            );
        }
        if r["source_kept"].as_u64().unwrap_or(0) > 0 {
            eprintln!(
                "{vault}: {} source archive(s) were copied but not deleted (the report says why)",
                r["source_kept"]
            );
        }
    }
}

/// How many archives one batch of a migration retrieves at once (a batch's outputs are all
/// downloaded within their 24 hours on AWS).
const BATCH: usize = 1000;

/// Copies one vault, a batch at a time: each batch's retrievals are asked for at once and each
/// archive is copied as its job completes, so that a batch waits about one retrieval's time
/// (hours on Amazon Glacier), not one per archive. Archives the report records as copied are
/// passed by (and deleted, with `--delete-source`, if an earlier run did not get to it).
async fn migrate_vault(
    ctx: &Ctx,
    args: &MigrateArgs,
    source: &Vault,
    copy: Copy,
) -> anyhow::Result<serde_json::Value> {
    let name = source.name.clone();
    let (copied_before, deleted_before) = copy.report.read()?;
    let inv = inventory_job(ctx, source).await?;
    let plan = plan_vault(ctx, args, &name, &inv, &copied_before).await?;
    if args.dry_run {
        return Ok(
            json!({"vault": name, "copied": 0, "already_copied": copied_before.len(),
                         "size": 0, "plan": plan, "dry_run": true,
                         "report": copy.report.path.display().to_string()}),
        );
    }
    let mut entries = std::pin::pin!(inv.inventory().await?);
    let (mut copied, mut skipped, mut bytes, mut unnamed, mut kept) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut batch: HashMap<String, InventoryEntry> = HashMap::new();
    let delete = |id: String| {
        let (source, report) = (source.clone(), copy.report.clone());
        async move { delete_source(&source, &report, &id).await }
    };
    loop {
        let next = entries.try_next().await?;
        let more = next.is_some();
        if let Some(e) = next {
            if copied_before.contains(&e.archive_id) {
                skipped += 1;
                if args.delete_source && !deleted_before.contains(&e.archive_id) {
                    kept += u64::from(!delete(e.archive_id.clone()).await?);
                }
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
        let delivered = copy_batch(ctx, args, source, &copy, std::mem::take(&mut batch)).await?;
        for (id, size, named) in delivered {
            copied += 1;
            bytes += size;
            unnamed += u64::from(!named);
            if args.delete_source {
                kept += u64::from(!delete(id).await?);
            }
        }
        if !more {
            break;
        }
    }
    Ok(
        json!({"vault": name, "copied": copied, "already_copied": skipped, "size": bytes,
              "unnamed": unnamed, "source_kept": kept, "plan": plan,
              "report": copy.report.path.display().to_string()}),
    )
}

/// Retrieves a batch of archives at once and copies each as its job completes; what was
/// copied: (archive id, size, whether it had a name).
async fn copy_batch(
    ctx: &Ctx,
    args: &MigrateArgs,
    source: &Vault,
    copy: &Copy,
    batch: HashMap<String, InventoryEntry>,
) -> anyhow::Result<Vec<(String, u64, bool)>> {
    let ids: Vec<String> = batch.keys().cloned().collect();
    let entries_of = Arc::new(batch);
    let done = retrieve_each(ctx, source, &ids, args.retrieval.options(), |job| {
        let (copy, entries_of) = (copy.clone(), entries_of.clone());
        async move {
            let id = job.archive_id.clone().unwrap_or_default();
            let e = entries_of
                .get(&id)
                .with_context(|| format!("archive {id} was not asked for"))?;
            copy.one(&job, e).await
        }
    })
    .await?;
    if let Some((id, why)) = done.failed.first() {
        bail!(
            "{} of {} failed (archive {id}: {why}); run the migration again to continue",
            crate::output::plural(done.failed.len() as u64, "retrieval"),
            source.name
        );
    }
    Ok(done.delivered)
}

/// What is left to copy of a vault, said first (the inventory is read twice: it streams); the
/// plan as JSON.
async fn plan_vault(
    ctx: &Ctx,
    args: &MigrateArgs,
    name: &str,
    inv: &glacier_client::Job,
    copied_before: &std::collections::HashSet<String>,
) -> anyhow::Result<serde_json::Value> {
    let (todo, todo_bytes) = inv
        .inventory()
        .await?
        .try_fold((0u64, 0u64), |(n, b), e| {
            let left = !copied_before.contains(&e.archive_id);
            async move { Ok((n + u64::from(left), b + if left { e.size } else { 0 })) }
        })
        .await?;
    let plan =
        crate::commands::retrieval_plan(todo, todo_bytes, args.retrieval.tier.unwrap_or_default())?;
    if todo > 0 && !ctx.quiet && ctx.output != Output::Json && !args.dry_run {
        eprintln!("{name}: {}", plan.1);
    }
    Ok(plan.0)
}

/// Deletes a copied source archive and records it; false when the vault keeps it (a Vault
/// Lock's policy denies deletion), which the report says.
async fn delete_source(source: &Vault, report: &Report, id: &str) -> anyhow::Result<bool> {
    match source.delete_archive(id).await {
        Ok(()) => {
            report.write(&json!({"archive_id": id, "source_deleted": true}))?;
            Ok(true)
        }
        Err(e) if e.code() == Some(glacier_core::ErrorCode::AccessDeniedException) => {
            report.write(&json!({"archive_id": id, "source_deleted": false, "source_kept": e.to_string()}))?;
            Ok(false)
        }
        Err(e) => Err(anyhow::Error::new(e).context(format!(
            "deleting the source archive {id} (its copy is verified; run the migration again to continue)"
        ))),
    }
}

/// What copying one archive of a vault needs.
#[derive(Clone)]
struct Copy {
    ctx: Ctx,
    dst: Arc<Destination>,
    dest: Option<Vault>,
    to: String,
    names: Arc<Names>,
    report: Arc<Report>,
}

impl Copy {
    /// Copies the archive `e` whose retrieval `job` completed: downloads it verified, checks
    /// its tree hash against the inventory's, delivers it and records it in the report;
    /// (archive id, size, whether a file name was found).
    async fn one(
        &self,
        job: &glacier_client::Job,
        e: &InventoryEntry,
    ) -> anyhow::Result<(String, u64, bool)> {
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
        if !self.ctx.quiet && self.ctx.output != Output::Json {
            eprintln!("copying {} ({} bytes)", e.archive_id, e.size);
        }
        let name = self.names.of(&e.archive_id, &e.archive_description);
        let path = name.as_ref().map(|n| n.path.as_str());
        let destination = deliver(&self.ctx, &self.dst, self.dest.as_ref(), &temp, e, path)
            .await
            .with_context(|| {
                format!(
                    "copying {} to {} (run the migration again to continue)",
                    e.archive_id, self.to
                )
            })?;
        let verified_at = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        self.report.write(&json!({
            "archive_id": e.archive_id,
            "size": e.size,
            "sha256_tree_hash": e.sha256_tree_hash,
            "description": e.archive_description,
            "name": path,
            "destination": destination,
            "verified_at": verified_at,
        }))?;
        std::fs::remove_file(&temp)?;
        Ok((e.archive_id.clone(), e.size, name.is_some()))
    }
}
