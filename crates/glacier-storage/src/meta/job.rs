//! A retrieval job's values: what it was asked (stored as JSON), its record, how it ends, and
//! the archive cursor an inventory continues from.

use super::Segment;
use glacier_core::{InventoryFormat, JobStatus, Tier, TreeHash};
use time::OffsetDateTime;

/// Where a date-ordered archive listing continues: after this archive. An inventory's
/// marker, written `<creation ms>.<archive id>` (and stored so).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct ArchiveCursor {
    pub created: OffsetDateTime,
    pub id: String,
}

impl ArchiveCursor {
    /// The cursor a marker names; `None` for a string that is not one.
    pub fn from_marker(m: &str) -> Option<ArchiveCursor> {
        let (ms, id) = m.split_once('.')?;
        let ms: i128 = ms.parse().ok()?;
        let created = OffsetDateTime::from_unix_timestamp_nanos(ms.checked_mul(1_000_000)?).ok()?;
        (!id.is_empty()).then(|| ArchiveCursor {
            created,
            id: id.to_owned(),
        })
    }
}

/// A stored inventory marker, read back.
pub(crate) fn marker(stored: Option<String>) -> crate::Result<Option<ArchiveCursor>> {
    stored
        .map(|m| ArchiveCursor::try_from(m).map_err(crate::StorageError::backend))
        .transpose()
}

impl std::fmt::Display for ArchiveCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = self.created.unix_timestamp_nanos() / 1_000_000;
        write!(f, "{ms}.{}", self.id)
    }
}

impl From<ArchiveCursor> for String {
    fn from(c: ArchiveCursor) -> String {
        c.to_string()
    }
}

impl TryFrom<String> for ArchiveCursor {
    type Error = String;

    fn try_from(m: String) -> Result<ArchiveCursor, String> {
        ArchiveCursor::from_marker(&m).ok_or_else(|| format!("not an inventory marker: {m:?}"))
    }
}

/// What a job was asked to do; fixed when it is initiated. Stored as JSON.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum JobSpec {
    Archive {
        archive_id: String,
        #[serde(default)]
        archive_description: String,
        archive_size: u64,
        archive_tree_hash: TreeHash,
        /// The retrieved range, inclusive.
        range: (u64, u64),
        /// The range's tree hash, when the range is tree-hash aligned.
        range_tree_hash: Option<TreeHash>,
        tier: Tier,
    },
    Inventory {
        format: InventoryFormat,
        /// Archives created at or after `start_date` and before `end_date` are listed.
        #[serde(with = "time::serde::rfc3339::option")]
        start_date: Option<OffsetDateTime>,
        #[serde(with = "time::serde::rfc3339::option")]
        end_date: Option<OffsetDateTime>,
        limit: Option<u64>,
        /// Where an earlier inventory's listing stopped.
        marker: Option<ArchiveCursor>,
    },
}

/// A retrieval job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    pub id: String,
    /// Position in the vault's job list (creation order); the list marker.
    pub seq: u64,
    pub spec: JobSpec,
    pub description: Option<String>,
    pub sns_topic: Option<String>,
    pub created: OffsetDateTime,
    /// When the job is to complete.
    pub due: OffsetDateTime,
    pub status: JobStatus,
    pub status_message: Option<String>,
    pub completed: Option<OffsetDateTime>,
    /// When a finished job and its output are forgotten.
    pub expires: Option<OffsetDateTime>,
    /// Bytes of output: the range for archives, the document for inventories.
    pub output_size: Option<u64>,
    /// Inventory only: where a follow-up inventory continues, if the limit cut this one short.
    pub next_marker: Option<ArchiveCursor>,
}

/// How a job ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobFinish {
    /// An archive retrieval: the archive's segments become the job's output, in the same
    /// transaction; if the archive is gone the job fails instead.
    Archive,
    /// An inventory whose document was written to `output`.
    Inventory {
        output: Segment,
        next_marker: Option<ArchiveCursor>,
        /// What the inventory describes the vault as of: the vault's `last_inventory` now.
        as_of: OffsetDateTime,
    },
    Failed {
        message: String,
    },
}

/// What the row of a finished job records; decided here for every backend.
pub(crate) struct JobOutcome {
    pub status: JobStatus,
    pub message: String,
    pub output_size: Option<u64>,
    pub next_marker: Option<ArchiveCursor>,
}

impl JobOutcome {
    fn succeeded(output_size: u64, next_marker: Option<ArchiveCursor>) -> JobOutcome {
        JobOutcome {
            status: JobStatus::Succeeded,
            message: "Succeeded".to_owned(),
            output_size: Some(output_size),
            next_marker,
        }
    }

    fn failed(message: String) -> JobOutcome {
        JobOutcome {
            status: JobStatus::Failed,
            message,
            output_size: None,
            next_marker: None,
        }
    }
}

/// How a job is finished: the rule for every backend, which then only runs its statements.
pub(crate) enum Finishing {
    /// Copy the archive's segments to the job's output if the archive is still there, and
    /// record `found`; else record `gone`.
    Retrieval {
        archive_id: String,
        found: JobOutcome,
        gone: JobOutcome,
    },
    /// Record `output` as the job's output and `as_of` as the vault's inventory date, then
    /// `outcome`.
    Inventory {
        output: Segment,
        outcome: JobOutcome,
        as_of: OffsetDateTime,
    },
    Failed(JobOutcome),
}

impl Finishing {
    /// How `job` ends as `finish` says; only a job in progress can finish, and only an
    /// archive retrieval as one.
    pub(crate) fn of(job: &JobRecord, finish: JobFinish) -> crate::Result<Finishing> {
        if job.status != JobStatus::InProgress {
            return Err(crate::StorageError::not_found(
                crate::Resource::JobInProgress,
                &job.id,
            ));
        }
        Ok(match (finish, &job.spec) {
            (
                JobFinish::Archive,
                JobSpec::Archive {
                    archive_id, range, ..
                },
            ) => Finishing::Retrieval {
                archive_id: archive_id.clone(),
                found: JobOutcome::succeeded(range.1 - range.0 + 1, None),
                gone: JobOutcome::failed(format!(
                    "The archive {archive_id} was deleted before the job completed"
                )),
            },
            (JobFinish::Archive, JobSpec::Inventory { .. }) => {
                return Err(crate::StorageError::backend(format!(
                    "job {} is not an archive retrieval",
                    job.id
                )));
            }
            (
                JobFinish::Inventory {
                    output,
                    next_marker,
                    as_of,
                },
                _,
            ) => Finishing::Inventory {
                outcome: JobOutcome::succeeded(output.size, next_marker),
                output,
                as_of,
            },
            (JobFinish::Failed { message }, _) => Finishing::Failed(JobOutcome::failed(message)),
        })
    }
}

/// Which jobs a listing returns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JobFilter {
    pub completed: Option<bool>,
    pub status: Option<JobStatus>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Specs stored before they were typed (hex strings, the client's date strings, marker
    /// strings) read back as the typed values, and are written the same way again.
    #[test]
    fn stored_specs_read_back() -> anyhow::Result<()> {
        let hash = TreeHash::of(b"x").to_hex();
        let archive = format!(
            r#"{{"Archive":{{"archive_id":"a","archive_description":"d","archive_size":1,"archive_tree_hash":"{hash}","range":[0,0],"range_tree_hash":"{hash}","tier":"Bulk"}}}}"#
        );
        let spec: JobSpec = serde_json::from_str(&archive)?;
        let JobSpec::Archive {
            archive_tree_hash,
            range_tree_hash,
            ..
        } = &spec
        else {
            anyhow::bail!("not an archive spec: {spec:?}");
        };
        assert_eq!(archive_tree_hash.to_hex(), hash);
        assert_eq!(range_tree_hash.map(|h| h.to_hex()), Some(hash.clone()));
        assert_eq!(
            serde_json::from_str::<JobSpec>(&serde_json::to_string(&spec)?)?,
            spec
        );

        let inventory = r#"{"Inventory":{"format":"CSV","start_date":"2024-01-31T00:00:00Z","end_date":"2024-02-01T12:00:00+02:00","limit":5,"marker":"1700000000123.abc"}}"#;
        let spec: JobSpec = serde_json::from_str(inventory)?;
        let JobSpec::Inventory {
            start_date,
            end_date,
            marker,
            ..
        } = &spec
        else {
            anyhow::bail!("not an inventory spec: {spec:?}");
        };
        assert_eq!(
            start_date.map(OffsetDateTime::unix_timestamp),
            Some(1_706_659_200)
        );
        assert_eq!(
            end_date.map(OffsetDateTime::unix_timestamp),
            Some(1_706_781_600)
        );
        let marker = marker.clone().map(String::from);
        assert_eq!(marker.as_deref(), Some("1700000000123.abc"));
        assert_eq!(
            serde_json::from_str::<JobSpec>(&serde_json::to_string(&spec)?)?,
            spec
        );
        Ok(())
    }
}
