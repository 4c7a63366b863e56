//! `jobs`, their output's `job_segments`, and the `retrievals` ledger.

use super::archives::{insert_segments, load_segments};
use super::blobs::unreferenced;
use super::rows::delete_job_rows;
use super::rows::require_vault;
use super::values::*;
use crate::blob::BlobKey;
use crate::columns::Segments;
use crate::meta::*;
use crate::{Result, StorageError};
use glacier_core::JobStatus;
use rusqlite::{OptionalExtension, Transaction, params};
use time::OffsetDateTime;

/// A job's columns (a macro, so that statements can be `concat!`ed at compile time).
macro_rules! job_columns {
    () => {
        "id, seq, spec, description, sns_topic, created_ms, due_ms, status, status_message, completed_ms, expires_ms, output_size, next_marker"
    };
}
pub(super) const JOB_COLUMNS: &str = job_columns!();

pub(super) fn job_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<JobRecord>> {
    let spec: String = r.get(2)?;
    let status: String = r.get(7)?;
    let parsed = serde_json::from_str::<JobSpec>(&spec)
        .map_err(|e| StorageError::backend(format!("stored job spec: {e}")))
        .and_then(|spec| {
            let status = status
                .parse::<JobStatus>()
                .map_err(|e| StorageError::backend(format!("stored job status: {e}")))?;
            Ok((spec, status))
        });
    let next_marker = r.get::<_, Option<String>>(12)?;
    let parsed = parsed.and_then(|(spec, status)| Ok((spec, status, marker(next_marker)?)));
    let (spec, status, next_marker) = match parsed {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    Ok(Ok(JobRecord {
        id: r.get(0)?,
        seq: u(r.get(1)?),
        spec,
        description: r.get(3)?,
        sns_topic: r.get(4)?,
        created: from_ms(r.get(5)?),
        due: from_ms(r.get(6)?),
        status,
        status_message: r.get(8)?,
        completed: r.get::<_, Option<i64>>(9)?.map(from_ms),
        expires: r.get::<_, Option<i64>>(10)?.map(from_ms),
        output_size: r.get::<_, Option<i64>>(11)?.map(u),
        next_marker,
    }))
}

pub(super) fn read_job(tx: &Transaction<'_>, key: &VaultKey, id: &str) -> Result<JobRecord> {
    const SQL: &str = concat!(
        "SELECT ",
        job_columns!(),
        " FROM jobs WHERE id = ?1 AND account = ?2 AND vault = ?3"
    );
    require_vault(tx, key)?;
    tx.query_row_cached(SQL, params![id, key.account, key.name], job_from_row)
        .optional()?
        .ok_or_else(|| StorageError::not_found(crate::Resource::Job, id))?
}

pub(super) fn query_jobs(
    tx: &Transaction<'_>,
    sql_where: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<Vec<JobRecord>> {
    let mut stmt =
        tx.prepare_cached(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE {sql_where}"))?;
    let rows = stmt.query_map(args, job_from_row)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row??);
    }
    Ok(out)
}

pub(super) fn create(
    tx: &Transaction<'_>,
    key: &VaultKey,
    job: &JobRecord,
    admission: Option<Admission>,
) -> Result<JobRecord> {
    require_vault(tx, key)?;
    if let (Some(a), JobSpec::Archive { range, .. }) = (admission, &job.spec) {
        admit(tx, &key.account, a, range.1 - range.0 + 1)?;
    }
    let spec = serde_json::to_string(&job.spec).map_err(|e| StorageError::Backend {
        message: "serializing a job spec".into(),
        source: Some(Box::new(e)),
    })?;
    tx.execute_cached(
        "INSERT INTO jobs (id, account, vault, spec, description, sns_topic, created_ms, due_ms, status)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            job.id,
            key.account,
            key.name,
            spec,
            job.description,
            job.sns_topic,
            to_ms(job.created),
            to_ms(job.due),
            JobStatus::InProgress.as_str()
        ],
    )?;
    if let JobSpec::Archive { range, tier, .. } = &job.spec {
        let at = to_ms(job.created);
        tx.execute_cached(
            "DELETE FROM retrievals WHERE at_ms < ?1",
            [at - RETRIEVAL_LEDGER_DAYS * 86_400_000],
        )?;
        tx.execute_cached(
            "INSERT INTO retrievals (account, at_ms, bytes, tier) VALUES (?1, ?2, ?3, ?4)",
            params![key.account, at, i(range.1 - range.0 + 1), tier.as_str()],
        )?;
    }
    read_job(tx, key, &job.id)
}

/// Checks a retrieval of `bytes` against the account's ledger (see [`Admission`]).
fn admit(tx: &Transaction<'_>, account: &str, a: Admission, bytes: u64) -> Result<()> {
    let (count, sum): (i64, i64) = tx.query_row_cached(
        "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM retrievals
         WHERE account = ?1 AND at_ms >= ?2 AND (tier = 'Expedited') = ?3",
        params![account, to_ms(a.since), a.expedited],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let (used, wanted, allowed) = match a.allowance {
        Allowance::Retrievals(n) => (u(count), 1, n),
        Allowance::Bytes(n) => (u(sum), bytes, n),
    };
    if used.saturating_add(wanted) > allowed {
        return Err(StorageError::NotAdmitted { used, allowed });
    }
    Ok(())
}

pub(super) fn retrievals_since(
    tx: &Transaction<'_>,
    account: &str,
    since: OffsetDateTime,
) -> Result<Vec<Retrieval>> {
    let mut stmt = tx.prepare_cached(
        "SELECT at_ms, bytes, tier FROM retrievals WHERE account = ?1 AND at_ms >= ?2 ORDER BY at_ms",
    )?;
    let rows = stmt.query_map(params![account, to_ms(since)], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (at, bytes, tier) = row?;
        out.push(Retrieval {
            at: from_ms(at),
            bytes: u(bytes),
            tier: tier
                .parse()
                .map_err(|e| StorageError::backend(format!("stored retrieval: {e}")))?,
        });
    }
    Ok(out)
}

pub(super) fn get(tx: &Transaction<'_>, key: &VaultKey, id: &str) -> Result<JobRecord> {
    read_job(tx, key, id)
}

pub(super) fn list(
    tx: &Transaction<'_>,
    key: &VaultKey,
    filter: &JobFilter,
    after: Option<u64>,
    limit: usize,
) -> Result<Page<JobRecord>> {
    require_vault(tx, key)?;
    let completed = filter.completed.map(|c| if c { 1 } else { 0 });
    let status = filter.status.map(JobStatus::as_str);
    let items = query_jobs(
        tx,
        "account = ?1 AND vault = ?2 AND seq > ?3
           AND (?4 IS NULL OR (status != 'InProgress') = ?4)
           AND (?5 IS NULL OR status = ?5)
         ORDER BY seq LIMIT ?6",
        &[
            &key.account,
            &key.name,
            &i(after.unwrap_or(0)),
            &completed,
            &status,
            &i(limit as u64 + 1),
        ],
    )?;
    Ok(Page::from_overfetch(items, limit))
}

pub(super) fn claim_due(
    tx: &Transaction<'_>,
    now: OffsetDateTime,
    lease_until: OffsetDateTime,
    limit: usize,
) -> Result<Vec<(VaultKey, JobRecord)>> {
    let mut stmt = tx.prepare_cached(
        "UPDATE jobs SET lease_until_ms = ?3 WHERE id IN (
            SELECT id FROM jobs WHERE status = 'InProgress' AND due_ms <= ?1
               AND (lease_until_ms IS NULL OR lease_until_ms <= ?1)
             ORDER BY due_ms LIMIT ?2)
         RETURNING account, vault, id",
    )?;
    let rows = stmt.query_map(
        params![to_ms(now), i(limit as u64), to_ms(lease_until)],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        },
    )?;
    let ids = rows.collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::new();
    for (account, name, id) in ids {
        let key = VaultKey { account, name };
        let job = read_job(tx, &key, &id)?;
        out.push((key, job));
    }
    Ok(out)
}

pub(super) fn hold(
    tx: &Transaction<'_>,
    key: &VaultKey,
    id: &str,
    until: OffsetDateTime,
) -> Result<()> {
    let n = tx
        .prepare_cached(
            "UPDATE jobs SET lease_until_ms = ?4
          WHERE id = ?3 AND account = ?1 AND vault = ?2 AND status = 'InProgress'",
        )?
        .execute(params![key.account, key.name, id, to_ms(until)])?;
    if n == 0 {
        return Err(StorageError::not_found(crate::Resource::Job, id));
    }
    Ok(())
}

pub(super) fn next_deadline(tx: &Transaction<'_>) -> Result<Option<OffsetDateTime>> {
    let ms: Option<i64> = tx.query_row_cached(
        "SELECT MIN(t) FROM (
            SELECT MIN(MAX(due_ms, COALESCE(lease_until_ms, 0))) AS t FROM jobs WHERE status = 'InProgress'
            UNION ALL SELECT MIN(expires_ms) FROM jobs WHERE expires_ms IS NOT NULL)",
        [],
        |r| r.get(0),
    )?;
    Ok(ms.map(from_ms))
}

pub(super) fn finish(
    tx: &Transaction<'_>,
    key: &VaultKey,
    id: &str,
    finish: JobFinish,
    now: OffsetDateTime,
    expires: OffsetDateTime,
) -> Result<JobRecord> {
    let job = read_job(tx, key, id)?;
    let outcome = match Finishing::of(&job, finish)? {
        Finishing::Retrieval {
            archive_id,
            found,
            gone,
        } => {
            let exists: bool = tx.query_row_cached(
                "SELECT EXISTS (SELECT 1 FROM archives WHERE id = ?1 AND account = ?2 AND vault = ?3)",
                params![archive_id, key.account, key.name],
                |r| r.get(0),
            )?;
            if exists {
                let segments = load_segments(tx, Segments::Archive, &archive_id)?;
                insert_segments(tx, Segments::Job, id, &segments)?;
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
            insert_segments(tx, Segments::Job, id, std::slice::from_ref(&output))?;
            tx.execute_cached(
                "UPDATE vaults SET last_inventory_ms = ?3 WHERE account = ?1 AND name = ?2",
                params![key.account, key.name, to_ms(as_of)],
            )?;
            outcome
        }
        Finishing::Failed(outcome) => outcome,
    };
    tx.execute_cached(
        "UPDATE jobs SET status = ?2, status_message = ?3, completed_ms = ?4, expires_ms = ?5, output_size = ?6, next_marker = ?7
         WHERE id = ?1",
        params![id, outcome.status.as_str(), outcome.message, to_ms(now), to_ms(expires), outcome.output_size.map(i), outcome.next_marker.map(String::from)],
    )?;
    read_job(tx, key, id)
}

pub(super) fn output(
    tx: &Transaction<'_>,
    key: &VaultKey,
    id: &str,
) -> Result<(JobRecord, Vec<Segment>)> {
    let job = read_job(tx, key, id)?;
    let segments = load_segments(tx, Segments::Job, id)?;
    Ok((job, segments))
}

pub(super) fn expire(tx: &Transaction<'_>, now: OffsetDateTime) -> Result<Vec<BlobKey>> {
    let mut blobs = Vec::new();
    for id in ids(
        tx,
        "SELECT id FROM jobs WHERE expires_ms <= ?1",
        [to_ms(now)],
    )? {
        blobs.extend(delete_job_rows(tx, &id)?);
    }
    blobs.sort();
    blobs.dedup();
    unreferenced(tx, blobs)
}
