//! `jobs`, their output's `job_segments`, and the `retrievals` ledger.

use super::archives::{insert_segments, load_segments};
use super::blobs::unreferenced;
use super::rows::delete_job_rows;
use super::rows::{in_vault, require_vault, rows_in_vault};
use super::values::*;
use crate::blob::BlobKey;
use crate::columns::Segments;
use crate::meta::*;
use crate::{Result, StorageError};
use deadpool_postgres::{GenericClient, Transaction};
use glacier_core::JobStatus;
use time::OffsetDateTime;
use tokio_postgres::Row;

/// A job's columns (a macro, so that statements can be `concat!`ed at compile time).
macro_rules! job_columns {
    () => {
        "id, seq, spec, description, sns_topic, created_ms, due_ms, status, status_message, completed_ms, expires_ms, output_size, next_marker"
    };
}

fn job_from_row(r: &Row) -> Result<JobRecord> {
    let spec: String = col(r, 2)?;
    let status: String = col(r, 7)?;
    Ok(JobRecord {
        id: col(r, 0)?,
        seq: u(col(r, 1)?),
        spec: serde_json::from_str(&spec)
            .map_err(|e| StorageError::backend(format!("stored job spec: {e}")))?,
        description: col(r, 3)?,
        sns_topic: col(r, 4)?,
        created: from_ms(col(r, 5)?),
        due: from_ms(col(r, 6)?),
        status: status
            .parse()
            .map_err(|e| StorageError::backend(format!("stored job status: {e}")))?,
        status_message: col(r, 8)?,
        completed: col::<Option<i64>>(r, 9)?.map(from_ms),
        expires: col::<Option<i64>>(r, 10)?.map(from_ms),
        output_size: col::<Option<i64>>(r, 11)?.map(u),
        next_marker: crate::meta::marker(col(r, 12)?)?,
    })
}

async fn read_job<C: GenericClient>(c: &C, key: &VaultKey, id: &str) -> Result<JobRecord> {
    let rows = c
        .query(
            &c.prepare_cached(in_vault!(concat!(
                "SELECT ",
                job_columns!(),
                " FROM jobs WHERE account = $1 AND vault = $2 AND id = $3"
            )))
            .await?,
            &[&key.account, &key.name, &id],
        )
        .await?;
    let row = rows_in_vault(rows, key)?
        .pop()
        .ok_or_else(|| StorageError::not_found(crate::Resource::Job, id))?;
    job_from_row(&row)
}

pub(super) async fn create(
    tx: &Transaction<'_>,
    key: &VaultKey,
    job: &JobRecord,
    admission: Option<Admission>,
) -> Result<JobRecord> {
    require_vault(tx, key).await?;
    if let (Some(a), JobSpec::Archive { range, .. }) = (admission, &job.spec) {
        admit(tx, &key.account, a, range.1 - range.0 + 1).await?;
    }
    let spec = serde_json::to_string(&job.spec).map_err(|e| StorageError::Backend {
        message: "serializing a job spec".into(),
        source: Some(Box::new(e)),
    })?;
    tx.execute(
        &tx.prepare_cached("INSERT INTO jobs (id, account, vault, spec, description, sns_topic, created_ms, due_ms, status)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)").await?,
        &[
            &job.id,
            &key.account,
            &key.name,
            &spec,
            &job.description,
            &job.sns_topic,
            &to_ms(job.created),
            &to_ms(job.due),
            &JobStatus::InProgress.as_str(),
        ],
    )
    .await?;
    if let JobSpec::Archive { range, tier, .. } = &job.spec {
        let at = to_ms(job.created);
        tx.execute(
            &tx.prepare_cached("DELETE FROM retrievals WHERE account = $1 AND at_ms < $2")
                .await?,
            &[&key.account, &(at - RETRIEVAL_LEDGER_DAYS * 86_400_000)],
        )
        .await?;
        tx.execute(
            &tx.prepare_cached(
                "INSERT INTO retrievals (account, at_ms, bytes, tier) VALUES ($1, $2, $3, $4)",
            )
            .await?,
            &[&key.account, &at, &i(range.1 - range.0 + 1), &tier.as_str()],
        )
        .await?;
    }
    read_job(tx, key, &job.id).await
}

/// Checks a retrieval of `bytes` against the account's ledger (see [`Admission`]). Under
/// serializable isolation, two transactions that both count the same window cannot both
/// commit their entries.
async fn admit(tx: &Transaction<'_>, account: &str, a: Admission, bytes: u64) -> Result<()> {
    let row = tx
        .query_one(
            &tx.prepare_cached(
                "SELECT COUNT(*), COALESCE(SUM(bytes), 0)::BIGINT FROM retrievals
             WHERE account = $1 AND at_ms >= $2 AND (tier = 'Expedited') = $3",
            )
            .await?,
            &[&account, &to_ms(a.since), &a.expedited],
        )
        .await?;
    let (count, sum): (i64, i64) = (col(&row, 0)?, col(&row, 1)?);
    let (used, wanted, allowed) = match a.allowance {
        Allowance::Retrievals(n) => (u(count), 1, n),
        Allowance::Bytes(n) => (u(sum), bytes, n),
    };
    if used.saturating_add(wanted) > allowed {
        return Err(StorageError::NotAdmitted { used, allowed });
    }
    Ok(())
}

pub(super) async fn retrievals_since(
    tx: &Transaction<'_>,
    account: &str,
    since: OffsetDateTime,
) -> Result<Vec<Retrieval>> {
    let rows = tx
        .query(
            &tx.prepare_cached("SELECT at_ms, bytes, tier FROM retrievals WHERE account = $1 AND at_ms >= $2 ORDER BY at_ms").await?,
            &[&account, &to_ms(since)],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Retrieval {
                at: from_ms(col(r, 0)?),
                bytes: u(col(r, 1)?),
                tier: col::<String>(r, 2)?
                    .parse()
                    .map_err(|e| StorageError::backend(format!("stored retrieval: {e}")))?,
            })
        })
        .collect()
}

/// One statement (see [`in_vault`]).
pub(super) async fn get<C: GenericClient>(c: &C, key: &VaultKey, id: &str) -> Result<JobRecord> {
    read_job(c, key, id).await
}

/// One statement (see [`in_vault`]).
pub(super) async fn list<C: GenericClient>(
    c: &C,
    key: &VaultKey,
    filter: &JobFilter,
    after: Option<u64>,
    limit: usize,
) -> Result<Page<JobRecord>> {
    let status = filter.status.map(JobStatus::as_str);
    let rows = c
        .query(
            &c.prepare_cached(in_vault!(concat!(
                "SELECT ",
                job_columns!(),
                " FROM jobs
                 WHERE account = $1 AND vault = $2 AND seq > $3
                   AND ($4::BOOLEAN IS NULL OR (status <> 'InProgress') = $4)
                   AND ($5::TEXT IS NULL OR status = $5)
                 ORDER BY seq LIMIT $6"
            )))
            .await?,
            &[
                &key.account,
                &key.name,
                &i(after.unwrap_or(0)),
                &filter.completed,
                &status,
                &i(limit as u64 + 1),
            ],
        )
        .await?;
    let mut items = rows_in_vault(rows, key)?
        .iter()
        .map(job_from_row)
        .collect::<Result<Vec<_>>>()?;
    // A join promises no order; the page is in the jobs' order.
    items.sort_by_key(|j| j.seq);
    Ok(Page::from_overfetch(items, limit))
}

/// Claims due jobs: rows another engine holds a claim on are skipped, not waited for.
pub(super) async fn claim_due(
    tx: &Transaction<'_>,
    now: OffsetDateTime,
    lease_until: OffsetDateTime,
    limit: usize,
) -> Result<Vec<(VaultKey, JobRecord)>> {
    let rows = tx
        .query(
            &tx.prepare_cached(
                "UPDATE jobs SET lease_until_ms = $3 WHERE id IN (
                SELECT id FROM jobs WHERE status = 'InProgress' AND due_ms <= $1
                   AND (lease_until_ms IS NULL OR lease_until_ms <= $1)
                 ORDER BY due_ms LIMIT $2
                 FOR UPDATE SKIP LOCKED)
             RETURNING account, vault, id",
            )
            .await?,
            &[&to_ms(now), &i(limit as u64), &to_ms(lease_until)],
        )
        .await?;
    let mut out = Vec::new();
    for r in &rows {
        let key = VaultKey {
            account: col(r, 0)?,
            name: col(r, 1)?,
        };
        let job = read_job(tx, &key, &col::<String>(r, 2)?).await?;
        out.push((key, job));
    }
    out.sort_by_key(|(_, j)| (j.due, j.seq));
    Ok(out)
}

pub(super) async fn hold(
    tx: &Transaction<'_>,
    key: &VaultKey,
    id: &str,
    until: OffsetDateTime,
) -> Result<()> {
    let n = tx
        .execute(
            &tx.prepare_cached(
                "UPDATE jobs SET lease_until_ms = $4
                  WHERE id = $3 AND account = $1 AND vault = $2 AND status = 'InProgress'",
            )
            .await?,
            &[&key.account, &key.name, &id, &to_ms(until)],
        )
        .await?;
    if n == 0 {
        return Err(StorageError::not_found(crate::Resource::Job, id));
    }
    Ok(())
}

pub(super) async fn next_deadline(tx: &Transaction<'_>) -> Result<Option<OffsetDateTime>> {
    let row = tx
        .query_one(
            &tx.prepare_cached("SELECT MIN(t) FROM (
                SELECT MIN(GREATEST(due_ms, COALESCE(lease_until_ms, 0))) AS t FROM jobs WHERE status = 'InProgress'
                UNION ALL SELECT MIN(expires_ms) FROM jobs WHERE expires_ms IS NOT NULL) AS d").await?,
            &[],
        )
        .await?;
    Ok(col::<Option<i64>>(&row, 0)?.map(from_ms))
}

pub(super) async fn finish(
    tx: &Transaction<'_>,
    key: &VaultKey,
    id: &str,
    finish: JobFinish,
    now: OffsetDateTime,
    expires: OffsetDateTime,
) -> Result<JobRecord> {
    let job = read_job(tx, key, id).await?;
    let outcome = match Finishing::of(&job, finish)? {
        Finishing::Retrieval {
            archive_id,
            found,
            gone,
        } => {
            let exists = tx
                .query_opt(
                    &tx.prepare_cached(
                        "SELECT 1 FROM archives WHERE id = $1 AND account = $2 AND vault = $3",
                    )
                    .await?,
                    &[&archive_id, &key.account, &key.name],
                )
                .await?
                .is_some();
            if exists {
                let segments = load_segments(tx, Segments::Archive, &archive_id).await?;
                insert_segments(tx, Segments::Job, id, &segments).await?;
                found
            } else {
                gone
            }
        }
        Finishing::Inventory {
            output,
            outcome,
            as_of,
        } => {
            insert_segments(tx, Segments::Job, id, std::slice::from_ref(&output)).await?;
            tx.execute(
                &tx.prepare_cached(
                    "UPDATE vaults SET last_inventory_ms = $3 WHERE account = $1 AND name = $2",
                )
                .await?,
                &[&key.account, &key.name, &to_ms(as_of)],
            )
            .await?;
            outcome
        }
        Finishing::Failed(outcome) => outcome,
    };
    tx.execute(
        &tx.prepare_cached("UPDATE jobs SET status = $2, status_message = $3, completed_ms = $4, expires_ms = $5, output_size = $6, next_marker = $7, lease_until_ms = NULL
         WHERE id = $1").await?,
        &[&id, &outcome.status.as_str(), &outcome.message, &to_ms(now), &to_ms(expires), &outcome.output_size.map(i), &outcome.next_marker.map(String::from)],
    )
    .await?;
    read_job(tx, key, id).await
}

pub(super) async fn output(
    tx: &Transaction<'_>,
    key: &VaultKey,
    id: &str,
) -> Result<(JobRecord, Vec<Segment>)> {
    let job = read_job(tx, key, id).await?;
    let segments = load_segments(tx, Segments::Job, id).await?;
    Ok((job, segments))
}

pub(super) async fn expire(tx: &Transaction<'_>, now: OffsetDateTime) -> Result<Vec<BlobKey>> {
    let mut blobs = Vec::new();
    for id in ids(
        tx,
        "SELECT id FROM jobs WHERE expires_ms <= $1",
        &[&to_ms(now)],
    )
    .await?
    {
        blobs.extend(delete_job_rows(tx, &id).await?);
    }
    blobs.sort();
    blobs.dedup();
    unreferenced(tx, blobs).await
}
