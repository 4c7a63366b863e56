//! What the web console shows (`crate::console`): read-only views of the caller's own account,
//! each piece authorized as the Glacier operation that would read it, so that the console
//! shows no more than the caller's keys could read through the API.

use super::{Service, Target};
use crate::error::{ApiError, ApiResult};
use glacier_core::wire::{
    DescribeVaultOutput, GetVaultLockOutput, GlacierJobDescription, UploadListElement,
    VaultNotificationConfig,
};
use glacier_core::{ErrorCode, JobStatus, LockState, Operation, format_date, mt2};
use glacier_storage::{ArchiveCursor, ArchiveQuery, JobFilter, Vault, VaultKey};
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use time::OffsetDateTime;

/// How long the usage history keeps a sample.
pub(super) const USAGE_HISTORY: time::Duration = time::Duration::days(90);
/// The most points a graph is given: one per pixel column of a wide graph at most.
const GRAPH_POINTS: usize = 360;
/// The most archives one search request reads before it answers with where to continue, so
/// that a search of a vault of millions answers within a second or so, page by page.
const SEARCH_SCAN: usize = 20_000;
/// Archives read from the store at a time while searching.
const SEARCH_PAGE: usize = 1000;
/// Finished jobs a vault's page lists: the most recent.
const RECENT_JOBS: usize = 50;

/// The console's first page: the account's vaults with their live counts.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Overview {
    account_id: String,
    vaults: Vec<VaultRow>,
    number_of_archives: u64,
    size_in_bytes: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct VaultRow {
    #[serde(flatten)]
    vault: DescribeVaultOutput,
    /// The state of its vault lock, if it has one in force.
    lock_state: Option<LockState>,
}

/// One vault's page. A section whose operation the caller may not perform is left out and
/// its operation named in `denied`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct VaultDetail {
    vault: DescribeVaultOutput,
    tags: Option<BTreeMap<String, String>>,
    notifications: Option<VaultNotificationConfig>,
    access_policy: Option<String>,
    lock: Option<GetVaultLockOutput>,
    uploads: Vec<UploadListElement>,
    /// More unfinished uploads than `uploads` lists.
    more_uploads: bool,
    /// Jobs in progress, then the most recent finished ones, each in creation order.
    jobs: Vec<JobRow>,
    denied: Vec<&'static str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct JobRow {
    #[serde(flatten)]
    job: GlacierJobDescription,
    /// When a job in progress is to complete.
    due_date: String,
    /// How far a job is from its due date, 0 to 1 (1 when finished).
    progress: f64,
}

/// A page of a vault's archives as the store holds them now (not a past inventory).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ArchivePage {
    archives: Vec<ArchiveRow>,
    /// Where the next page starts (`after`), if archives remain to be read.
    next: Option<String>,
    /// Archives read to fill this page.
    scanned: usize,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ArchiveRow {
    archive_id: String,
    archive_description: String,
    creation_date: String,
    size: u64,
    #[serde(rename = "SHA256TreeHash")]
    sha256_tree_hash: String,
    /// The path of an mt2 (or mt1) description, as `glacier sync` and mt-aws-glacier write.
    path: Option<String>,
    /// The file's modification time an mt2 description records.
    last_modified: Option<String>,
}

/// The graphs: stored bytes over time and archive retrievals started.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UsageView {
    /// The window graphed: `days` ago until now.
    from: String,
    to: String,
    /// Samples of the account's totals, oldest first, ending with the totals now.
    stored: Vec<StoredPoint>,
    /// The length of a bucket of `retrievals`: an hour over two days or less, else a day.
    bucket_hours: u32,
    /// Archive retrievals started in each bucket of the window, oldest first.
    retrievals: Vec<RetrievalPoint>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct StoredPoint {
    date: String,
    number_of_archives: u64,
    size_in_bytes: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RetrievalPoint {
    /// The start of the bucket.
    date: String,
    retrievals: u64,
    bytes: u64,
}

impl Service {
    /// Every vault of `account`, in name order.
    async fn all_vaults(&self, account: &str) -> ApiResult<Vec<Vault>> {
        let mut vaults = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .meta
                .list_vaults(
                    account,
                    after.as_deref(),
                    glacier_core::validate::MAX_LIST_LIMIT,
                )
                .await?;
            after = page.items.last().map(|v| v.key.name.clone());
            vaults.extend(page.items);
            if !page.more {
                return Ok(vaults);
            }
        }
    }

    pub(crate) async fn console_overview(&self, account: &str) -> ApiResult<Overview> {
        self.authorize(account, Operation::ListVaults, Target::Account(account))
            .await?;
        let now = self.now();
        let mut rows = Vec::new();
        for v in self.all_vaults(account).await? {
            let lock_state =
                super::governance::live(self.meta.vault_policies(&v.key).await?.lock, now)
                    .map(|l| l.state);
            rows.push(VaultRow {
                vault: self.describe(&v),
                lock_state,
            });
        }
        Ok(Overview {
            account_id: account.to_owned(),
            number_of_archives: rows.iter().map(|r| r.vault.number_of_archives).sum(),
            size_in_bytes: rows.iter().map(|r| r.vault.size_in_bytes).sum(),
            vaults: rows,
        })
    }

    /// `fetch`, if the caller may perform `op` on the vault: `None` when it may not (the
    /// operation is added to `denied`) or when there is nothing to show (not found).
    async fn section<T>(
        &self,
        caller: &str,
        key: &VaultKey,
        op: Operation,
        denied: &mut Vec<&'static str>,
        fetch: impl Future<Output = ApiResult<T>>,
    ) -> ApiResult<Option<T>> {
        match self.authorize(caller, op, Target::Vault(key, None)).await {
            Err(e) if e.code == ErrorCode::AccessDeniedException => {
                denied.push(op.as_str());
                return Ok(None);
            }
            other => other?,
        }
        match fetch.await {
            Err(e) if e.code == ErrorCode::ResourceNotFoundException => Ok(None),
            other => other.map(Some),
        }
    }

    pub(crate) async fn console_vault(
        &self,
        caller: &str,
        key: &VaultKey,
    ) -> ApiResult<VaultDetail> {
        let read = self
            .authorize_reading(caller, Operation::DescribeVault, Target::Vault(key, None))
            .await?;
        let vault = self.describe_vault(key, read).await?;
        let mut denied = Vec::new();
        let d = &mut denied;
        let tags = self
            .section(
                caller,
                key,
                Operation::ListTagsForVault,
                d,
                self.list_tags(key),
            )
            .await?
            .map(|t| t.tags);
        let notifications = self
            .section(
                caller,
                key,
                Operation::GetVaultNotifications,
                d,
                self.get_notifications(key),
            )
            .await?;
        let access_policy = self
            .section(
                caller,
                key,
                Operation::GetVaultAccessPolicy,
                d,
                self.get_access_policy(key),
            )
            .await?
            .and_then(|p| p.policy);
        let lock = self
            .section(caller, key, Operation::GetVaultLock, d, self.get_lock(key))
            .await?;
        let limit = glacier_core::validate::MAX_LIST_LIMIT;
        let uploads = self
            .section(
                caller,
                key,
                Operation::ListMultipartUploads,
                d,
                self.list_uploads(key, None, limit),
            )
            .await?;
        let more_uploads = uploads.as_ref().is_some_and(|u| u.marker.is_some());
        let jobs = self
            .section(caller, key, Operation::ListJobs, d, self.console_jobs(key))
            .await?;
        Ok(VaultDetail {
            vault,
            tags,
            notifications,
            access_policy,
            lock,
            uploads: uploads.map(|u| u.uploads_list).unwrap_or_default(),
            more_uploads,
            jobs: jobs.unwrap_or_default(),
            denied,
        })
    }

    /// The vault's jobs in progress, then its most recent finished ones.
    async fn console_jobs(&self, key: &VaultKey) -> ApiResult<Vec<JobRow>> {
        let limit = glacier_core::validate::MAX_LIST_LIMIT;
        let filter = |completed| JobFilter {
            completed: Some(completed),
            status: None,
        };
        let running = self
            .meta
            .list_jobs(key, &filter(false), None, limit)
            .await?;
        let mut finished = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .meta
                .list_jobs(key, &filter(true), after, limit)
                .await?;
            after = page.items.last().map(|j| j.seq);
            finished.extend(page.items);
            let drop = finished.len().saturating_sub(RECENT_JOBS);
            finished.drain(..drop);
            if !page.more {
                break;
            }
        }
        let arn = self.vault_arn(key).await;
        let now = self.now();
        Ok(running
            .items
            .iter()
            .chain(&finished)
            .map(|j| {
                let total = (j.due - j.created).as_seconds_f64();
                let progress = if j.status != JobStatus::InProgress || total <= 0.0 {
                    1.0
                } else {
                    ((now - j.created).as_seconds_f64() / total).clamp(0.0, 1.0)
                };
                JobRow {
                    job: self.job_description(&arn, j),
                    due_date: format_date(j.due),
                    progress,
                }
            })
            .collect())
    }

    /// Up to `limit` archives of the vault after `after` whose description or mt2 path holds
    /// `search` (any case; all archives when it is empty), reading at most [`SEARCH_SCAN`].
    /// Authorized as InitiateJob: it shows what an inventory retrieval would.
    pub(crate) async fn console_archives(
        &self,
        caller: &str,
        key: &VaultKey,
        search: &str,
        after: Option<&str>,
        limit: usize,
    ) -> ApiResult<ArchivePage> {
        self.authorize(caller, Operation::InitiateJob, Target::Vault(key, None))
            .await?;
        self.meta.get_vault(key).await?;
        let needle = search.to_lowercase();
        let mut query = ArchiveQuery {
            after: after.map(parse_cursor).transpose()?,
            limit: SEARCH_PAGE,
            ..Default::default()
        };
        let mut out = ArchivePage {
            archives: Vec::new(),
            next: None,
            scanned: 0,
        };
        loop {
            let page = self.meta.list_archives(key, &query).await?;
            for (i, a) in page.items.iter().enumerate() {
                out.scanned += 1;
                let decoded = mt2::decode(&a.description);
                let matches = needle.is_empty()
                    || a.description.to_lowercase().contains(&needle)
                    || decoded
                        .as_ref()
                        .is_some_and(|(p, _)| p.to_lowercase().contains(&needle));
                if matches {
                    out.archives.push(ArchiveRow {
                        archive_id: a.id.clone(),
                        archive_description: a.description.clone(),
                        creation_date: format_date(a.created),
                        size: a.size,
                        sha256_tree_hash: a.tree_hash.to_hex(),
                        last_modified: decoded.as_ref().and_then(|(_, t)| {
                            OffsetDateTime::from_unix_timestamp(*t)
                                .ok()
                                .map(format_date)
                        }),
                        path: decoded.map(|(p, _)| p),
                    });
                }
                if i + 1 == page.items.len() && !page.more {
                    return Ok(out);
                }
                if out.archives.len() >= limit || out.scanned >= SEARCH_SCAN {
                    out.next = Some(cursor(a.created, &a.id));
                    return Ok(out);
                }
            }
            let Some(last) = page.items.last() else {
                return Ok(out);
            };
            query.after = Some(ArchiveCursor {
                created: last.created,
                id: last.id.clone(),
            });
        }
    }

    /// The account's stored bytes over the last `days` (from the usage history, thinned to
    /// [`GRAPH_POINTS`], ending with the totals now) and its archive retrievals per hour (per
    /// day over more than two days).
    pub(crate) async fn console_usage(&self, account: &str, days: u32) -> ApiResult<UsageView> {
        self.authorize(account, Operation::ListVaults, Target::Account(account))
            .await?;
        let now = self.now();
        let since = now - time::Duration::days(i64::from(days));
        let history = self.meta.usage_history(account, since).await?;
        let step = history.len().div_ceil(GRAPH_POINTS).max(1);
        let mut stored: Vec<StoredPoint> = history
            .iter()
            .enumerate()
            .filter(|(i, _)| i % step == 0 || *i + 1 == history.len())
            .map(|(_, s)| StoredPoint {
                date: format_date(s.at),
                number_of_archives: s.archives,
                size_in_bytes: s.bytes,
            })
            .collect();
        let vaults = self.all_vaults(account).await?;
        stored.push(StoredPoint {
            date: format_date(now),
            number_of_archives: vaults.iter().map(|v| v.archive_count).sum(),
            size_in_bytes: vaults.iter().map(|v| v.size).sum(),
        });
        let ledger = time::Duration::days(glacier_storage::RETRIEVAL_LEDGER_DAYS);
        let bucket_hours: u32 = if days <= 2 { 1 } else { 24 };
        let bucket = time::Duration::hours(i64::from(bucket_hours));
        let first = floor(since.max(now - ledger), bucket);
        let mut retrievals: Vec<RetrievalPoint> =
            std::iter::successors(Some(first), |t| Some(*t + bucket).filter(|t| *t <= now))
                .map(|t| RetrievalPoint {
                    date: format_date(t),
                    retrievals: 0,
                    bytes: 0,
                })
                .collect();
        for r in self.meta.retrievals_since(account, first).await? {
            let i =
                usize::try_from(((r.at - first).whole_hours() / i64::from(bucket_hours)).max(0))
                    .unwrap_or(0);
            if let Some(p) = retrievals.get_mut(i) {
                p.retrievals += 1;
                p.bytes += r.bytes;
            }
        }
        Ok(UsageView {
            from: format_date(since),
            to: format_date(now),
            stored,
            bucket_hours,
            retrievals,
        })
    }
}

/// `t` rounded down to a multiple of `step` since the epoch.
pub(super) fn floor(t: OffsetDateTime, step: time::Duration) -> OffsetDateTime {
    let step_ms = step.whole_milliseconds().max(1);
    let ms = (t - OffsetDateTime::UNIX_EPOCH).whole_milliseconds();
    let floored = ms - ms.rem_euclid(step_ms);
    OffsetDateTime::UNIX_EPOCH + time::Duration::milliseconds(i64::try_from(floored).unwrap_or(0))
}

/// Where an archive listing continues: `CREATED_MS~ID` (ids never hold `~`).
fn cursor(created: OffsetDateTime, id: &str) -> String {
    let ms = (created - OffsetDateTime::UNIX_EPOCH).whole_milliseconds();
    format!("{ms}~{id}")
}

fn parse_cursor(s: &str) -> ApiResult<ArchiveCursor> {
    let bad = || {
        ApiError::invalid(format!(
            "Invalid after: {s:?} is not where a listing stopped"
        ))
    };
    let (ms, id) = s.split_once('~').ok_or_else(bad)?;
    let ms: i64 = ms.parse().map_err(|_| bad())?;
    if id.is_empty() {
        return Err(bad());
    }
    Ok(ArchiveCursor {
        created: OffsetDateTime::UNIX_EPOCH + time::Duration::milliseconds(ms),
        id: id.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_bad_ones_are_refused() {
        let t = OffsetDateTime::UNIX_EPOCH + time::Duration::milliseconds(1_700_000_000_123);
        let c = cursor(t, "abc-_D");
        assert_eq!(c, "1700000000123~abc-_D");
        let back = parse_cursor(&c).unwrap();
        assert_eq!((back.created, back.id.as_str()), (t, "abc-_D"));
        for bad in ["", "1700", "x~id", "17~", "~id"] {
            assert_eq!(
                parse_cursor(bad).unwrap_err().code,
                ErrorCode::InvalidParameterValueException,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn floor_is_on_multiples_of_the_step() {
        let five = time::Duration::minutes(5);
        let t = OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(7 * 60 + 3);
        assert_eq!(floor(t, five), OffsetDateTime::UNIX_EPOCH + five);
        assert_eq!(floor(floor(t, five), five), floor(t, five));
    }
}
