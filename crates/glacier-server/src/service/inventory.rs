//! Vault inventories: every archive committed when the job completes, as JSON or CSV, written
//! page by page into a blob so that memory stays bounded whatever the vault's size.

use super::Service;
use crate::error::{ApiError, ApiResult};
use glacier_core::{InventoryFormat, LeafHasher, format_date};
use glacier_storage::{
    ArchiveCursor, ArchiveQuery, ArchiveSummary, BlobKey, BlobWriter, JobFinish, JobRecord,
    JobSpec, Page, Segment, VaultKey,
};
use std::sync::Arc;
use time::OffsetDateTime;

/// Archives read from the metadata store per page.
const PAGE: u64 = 1000;
/// Bytes gathered before they are handed to the blob writer.
const FLUSH_AT: usize = 256 * 1024;

/// The cursor an inventory marker names, or the error for one this server never gave.
fn parse_marker(m: &str) -> ApiResult<ArchiveCursor> {
    ArchiveCursor::from_marker(m).ok_or_else(|| {
        ApiError::invalid(format!(
            "Invalid Marker: {m:?} is not a marker from an earlier inventory job"
        ))
    })
}

/// The serialization of one inventory format.
enum Encoder {
    Json { first: bool },
    Csv,
}

/// Appends one CSV record, quoted as CSV requires.
fn csv_record<const N: usize>(out: &mut Vec<u8>, fields: [&str; N]) -> anyhow::Result<()> {
    let mut w = csv::WriterBuilder::new()
        .buffer_capacity(1024)
        .from_writer(out);
    w.write_record(fields)?;
    w.flush()?;
    Ok(())
}

#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct Entry<'a> {
    archive_id: &'a str,
    archive_description: &'a str,
    creation_date: String,
    size: u64,
    #[serde(rename = "SHA256TreeHash")]
    sha256_tree_hash: String,
}

impl Encoder {
    fn start(
        format: InventoryFormat,
        vault_arn: &str,
        date: &str,
        out: &mut Vec<u8>,
    ) -> anyhow::Result<Encoder> {
        if format == InventoryFormat::Csv {
            csv_record(
                out,
                [
                    "ArchiveId",
                    "ArchiveDescription",
                    "CreationDate",
                    "Size",
                    "SHA256TreeHash",
                ],
            )?;
            return Ok(Encoder::Csv);
        }
        out.extend_from_slice(b"{\"VaultARN\":");
        serde_json::to_writer(&mut *out, vault_arn)?;
        out.extend_from_slice(b",\"InventoryDate\":");
        serde_json::to_writer(&mut *out, date)?;
        out.extend_from_slice(b",\"ArchiveList\":[");
        Ok(Encoder::Json { first: true })
    }

    fn entry(&mut self, a: &ArchiveSummary, out: &mut Vec<u8>) -> anyhow::Result<()> {
        let e = Entry {
            archive_id: &a.id,
            archive_description: &a.description,
            creation_date: format_date(a.created),
            size: a.size,
            sha256_tree_hash: a.tree_hash.to_hex(),
        };
        match self {
            Encoder::Json { first } => {
                if !*first {
                    out.push(b',');
                }
                *first = false;
                serde_json::to_writer(&mut *out, &e)?;
            }
            Encoder::Csv => {
                let size = e.size.to_string();
                csv_record(
                    out,
                    [
                        e.archive_id,
                        e.archive_description,
                        &e.creation_date,
                        &size,
                        &e.sha256_tree_hash,
                    ],
                )?;
            }
        }
        Ok(())
    }

    fn finish(self, out: &mut Vec<u8>) -> anyhow::Result<()> {
        match self {
            Encoder::Json { .. } => out.extend_from_slice(b"]}"),
            Encoder::Csv => {}
        }
        Ok(())
    }
}

/// What the inventory's storing task is sent.
enum Chunk {
    Data(Vec<u8>),
    /// Everything was sent: commit. (Without it the blob is discarded.)
    End,
}

/// Hashes and writes an inventory's bytes into its blob on a task of its own, so that
/// encoding the next bytes goes on meanwhile.
pub(super) struct BlobSink {
    chunks: tokio::sync::mpsc::Sender<Chunk>,
    task: tokio::task::JoinHandle<anyhow::Result<(BlobKey, glacier_core::treehash::Tree)>>,
}

impl BlobSink {
    pub(super) fn start(mut writer: Box<dyn BlobWriter>) -> BlobSink {
        let (chunks, mut rx) = tokio::sync::mpsc::channel(2);
        let task = tokio::spawn(async move {
            // The tree hash and leaves only: nothing checks an inventory's linear hash.
            let mut hasher = LeafHasher::new();
            while let Some(chunk) = rx.recv().await {
                match chunk {
                    Chunk::Data(data) => {
                        hasher.update(&data);
                        writer.write(&data).await?;
                    }
                    Chunk::End => return Ok((writer.commit().await?, hasher.finish())),
                }
            }
            anyhow::bail!("the inventory ended before it was complete")
        });
        BlobSink { chunks, task }
    }

    /// Hands `data` on. An error means the task stopped: the caller ends with
    /// [`BlobSink::commit`], whose error says why.
    pub(super) async fn write(&self, data: Vec<u8>) -> Result<(), StoreStopped> {
        self.chunks
            .send(Chunk::Data(data))
            .await
            .map_err(|_| StoreStopped)
    }

    /// The inventory's blob, as a job output's one segment.
    pub(super) async fn commit(self) -> anyhow::Result<Segment> {
        // A failed send means the task has stopped; its result says why.
        let _ = self.chunks.send(Chunk::End).await;
        let (blob, h) = self.task.await??;
        Ok(Segment {
            blob,
            size: h.len,
            tree_hash: h.tree,
            leaves: h.leaves,
        })
    }
}

/// The storing task stopped before the inventory was written.
pub(super) struct StoreStopped;

/// Where an inventory's archives come from, a page at a time: the store as it is now (the next
/// page read while this one is encoded: reading and encoding take about as long each, on
/// different threads), or the vault's last daily inventory.
enum Pages {
    Live {
        pending: Option<tokio::task::JoinHandle<glacier_storage::Result<Page<ArchiveSummary>>>>,
    },
    Daily(Box<super::daily::Snapshot>),
}

impl Service {
    /// Writes the inventory a job asks for into a new blob: how the job ends, with the marker
    /// where a follow-up inventory continues (when the job's limit cut the listing short).
    pub(super) async fn write_inventory(
        &self,
        key: &VaultKey,
        job: &JobRecord,
    ) -> anyhow::Result<JobFinish> {
        let JobSpec::Inventory {
            format,
            start_date,
            end_date,
            limit,
            marker,
        } = &job.spec
        else {
            anyhow::bail!("job {} is not an inventory retrieval", job.id);
        };
        let (mut pages, as_of) = self.pages(key).await?;
        let query = |after: Option<ArchiveCursor>, remaining: u64| ArchiveQuery {
            after,
            created_from: *start_date,
            created_before: *end_date,
            limit: usize::try_from(remaining.min(PAGE)).unwrap_or(1000),
        };
        let mut remaining = limit.unwrap_or(u64::MAX);
        let sink = BlobSink::start(self.blobs.create(None).await?);
        let mut buf = Vec::with_capacity(FLUSH_AT * 2);
        let mut encoder = Encoder::start(
            *format,
            &self.vault_arn(key).await,
            &format_date(as_of),
            &mut buf,
        )?;
        let mut after = marker.clone();
        let next_marker = 'pages: loop {
            let page = self
                .next_page(key, &mut pages, query(after.clone(), remaining))
                .await?;
            remaining -= page.items.len() as u64;
            after = page.items.last().map(|a| ArchiveCursor {
                created: a.created,
                id: a.id.clone(),
            });
            if let Pages::Live { pending } = &mut pages
                && page.more
                && remaining > 0
            {
                *pending = Some(self.read_page(key, query(after.clone(), remaining)));
            }
            for a in &page.items {
                encoder.entry(a, &mut buf)?;
                if buf.len() >= FLUSH_AT {
                    let full = std::mem::replace(&mut buf, Vec::with_capacity(FLUSH_AT * 2));
                    if sink.write(full).await.is_err() {
                        break 'pages Err(StoreStopped);
                    }
                }
            }
            if !page.more {
                break Ok(None);
            }
            if remaining == 0 {
                break Ok(after);
            }
        };
        let next_marker = match next_marker {
            Ok(marker) => {
                encoder.finish(&mut buf)?;
                // If this fails, commit says why.
                let _ = sink.write(buf).await;
                marker
            }
            Err(StoreStopped) => None,
        };
        Ok(JobFinish::Inventory {
            output: sink.commit().await?,
            next_marker,
            as_of,
        })
    }

    /// Where the vault's inventory comes from, and what it describes the vault as of: the
    /// store now, or (daily inventories) the last one taken.
    async fn pages(&self, key: &VaultKey) -> anyhow::Result<(Pages, OffsetDateTime)> {
        Ok(match self.settings.timing.daily_inventory {
            None => (Pages::Live { pending: None }, self.now()),
            Some(_) => {
                let snapshot = self.daily_inventory(key).await?;
                let document = super::daily::Snapshot::open(self, &snapshot).await?;
                (Pages::Daily(Box::new(document)), snapshot.taken)
            }
        })
    }

    /// The next page `query` asks for: the one read ahead, or read now.
    async fn next_page(
        &self,
        key: &VaultKey,
        pages: &mut Pages,
        query: ArchiveQuery,
    ) -> anyhow::Result<Page<ArchiveSummary>> {
        match pages {
            Pages::Live { pending } => {
                let reading = match pending.take() {
                    Some(reading) => reading,
                    None => self.read_page(key, query),
                };
                Ok(reading.await??)
            }
            Pages::Daily(document) => document.page(&query).await,
        }
    }

    /// Reads a page of the archives `query` asks for on a task of its own.
    fn read_page(
        &self,
        key: &VaultKey,
        query: ArchiveQuery,
    ) -> tokio::task::JoinHandle<glacier_storage::Result<Page<ArchiveSummary>>> {
        let (meta, key) = (Arc::clone(&self.meta), key.clone());
        tokio::spawn(async move { meta.list_archives(&key, &query).await })
    }
}

/// Parses an inventory date bound (ISO 8601 / RFC 3339, e.g. `2024-01-31T00:00:00Z`).
pub(super) fn parse_date(field: &str, raw: &str) -> ApiResult<OffsetDateTime> {
    OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339).map_err(|_| {
        ApiError::invalid(format!(
            "Invalid {field}: {raw:?} is not an ISO 8601 date and time such as 2024-01-31T00:00:00Z"
        ))
    })
}

/// What an inventory retrieval lists: its format, and the date range, limit and marker asked
/// for, each checked (a range must be ordered, a limit at least 1, a marker one this server
/// gave).
pub(super) fn inventory_spec(p: &glacier_core::wire::JobParameters) -> ApiResult<JobSpec> {
    let format = p.format.unwrap_or(InventoryFormat::Json);
    let params = p.inventory_retrieval_parameters.clone().unwrap_or_default();
    let start = params
        .start_date
        .as_deref()
        .map(|d| parse_date("StartDate", d))
        .transpose()?;
    let end = params
        .end_date
        .as_deref()
        .map(|d| parse_date("EndDate", d))
        .transpose()?;
    if let (Some(s), Some(e)) = (start, end)
        && s >= e
    {
        return Err(ApiError::invalid(
            "Invalid date range: StartDate must be before EndDate",
        ));
    }
    let limit = params
        .limit
        .as_deref()
        .map(|l| match l.parse::<u64>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(ApiError::invalid(format!(
                "Invalid Limit: {l:?}; it must be a whole number of at least 1"
            ))),
        })
        .transpose()?;
    let marker = params.marker.as_deref().map(parse_marker).transpose()?;
    Ok(JobSpec::Inventory {
        format,
        start_date: start,
        end_date: end,
        limit,
        marker,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip() {
        let c = ArchiveCursor {
            created: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
            id: "abc-_9".into(),
        };
        assert_eq!(parse_marker(&c.to_string()).unwrap(), c);
        for bad in ["", "x", "12", "x.abc", "12."] {
            assert!(parse_marker(bad).is_err(), "{bad}");
        }
    }
}
