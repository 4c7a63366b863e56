//! Daily inventories, as AWS takes them (`--aws-timing`): each vault's inventory is taken about
//! once a day — a period after its first write, then a period after the last one if the vault
//! was written since — into a document of its own; inventory jobs return that document and
//! DescribeVault its totals, as of when it was taken.
//!
//! The document is one JSON object a line (an [`ArchiveSummary`]), every archive committed by
//! the time it was taken, in creation order (ties by id): read back by [`Snapshot`] a page at a time, so
//! that memory stays bounded whatever the vault's size.

use super::Service;
use super::inventory::BlobSink;
use crate::error::{ApiError, ApiResult};
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use glacier_storage::{
    ArchiveCursor, ArchiveQuery, ArchiveSummary, InventorySnapshot, InventoryTotals, Page,
    StorageError, VaultKey,
};
use std::sync::Arc;

/// Archives read from the store per page while an inventory is taken.
const PAGE: usize = 1000;

impl Service {
    /// Takes every vault's inventory when it is due, until `shutdown`; a vault whose inventory
    /// could not be taken is tried again at the next look. Several nodes may take the same
    /// vault's at once: the first one recorded stands, and the others' documents are discarded.
    pub async fn run_daily_inventories(
        self: Arc<Self>,
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        let Some(period) = self.settings.timing.daily_inventory else {
            return;
        };
        // Looks 24 times a period: an inventory is at most an hour late on AWS's scale.
        let look = (period / 24).clamp(
            std::time::Duration::from_millis(50),
            std::time::Duration::from_secs(600),
        );
        loop {
            match self.meta.inventories_due(self.now(), period).await {
                Ok(due) => {
                    for due in due {
                        if let Err(e) = self.take_inventory(&due.vault, due.follows).await {
                            tracing::warn!(vault = %due.vault.name, error = %e, "taking a vault's daily inventory");
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "finding the vaults due for an inventory"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(look) => {}
            }
        }
    }

    /// Takes the vault's inventory now: every archive committed by this instant; recorded
    /// unless the vault's last inventory is no longer the one taken at `follows`.
    pub(super) async fn take_inventory(
        &self,
        key: &VaultKey,
        follows: Option<time::OffsetDateTime>,
    ) -> anyhow::Result<()> {
        let taken = self.now();
        let sink = BlobSink::start(self.blobs.create(None).await?);
        let mut totals = InventoryTotals::default();
        let mut after = None;
        loop {
            let query = ArchiveQuery {
                after: after.take(),
                created_from: None,
                created_before: Some(taken + time::Duration::milliseconds(1)),
                limit: PAGE,
            };
            let page = self.meta.list_archives(key, &query).await?;
            let mut out = Vec::with_capacity(page.items.len() * 256);
            for a in &page.items {
                totals.archives += 1;
                totals.bytes += a.size;
                serde_json::to_writer(&mut out, a)?;
                out.push(b'\n');
            }
            if sink.write(out).await.is_err() || !page.more {
                // A stopped sink's commit says why.
                break;
            }
            after = page.items.last().map(|a| ArchiveCursor {
                created: a.created,
                id: a.id.clone(),
            });
        }
        let document = sink.commit().await?;
        let blob = document.blob.clone();
        let snapshot = InventorySnapshot {
            taken,
            document,
            totals,
        };
        match self.meta.record_inventory(key, snapshot, follows).await {
            Ok(replaced) => self.discard(&replaced).await,
            Err(e) => {
                self.discard(&[blob]).await;
                return Err(e.into());
            }
        }
        Ok(())
    }

    /// The vault's last daily inventory; before its first, what AWS answers an inventory
    /// retrieval then.
    pub(super) async fn daily_inventory(&self, key: &VaultKey) -> ApiResult<InventorySnapshot> {
        self.meta.inventory_snapshot(key).await?.ok_or_else(|| {
            ApiError::not_found(format!(
                "The vault {} has no inventory yet: Amazon Glacier takes a vault's first inventory about a day after its first upload, and then about daily",
                key.name
            ))
        })
    }
}

/// A daily inventory's document, read a page at a time.
pub(super) struct Snapshot {
    bytes: BoxStream<'static, Result<Bytes, StorageError>>,
    buf: Vec<u8>,
    /// Read and not yet handed out.
    next: Option<ArchiveSummary>,
    done: bool,
}

impl Snapshot {
    pub(super) async fn open(
        service: &Service,
        snapshot: &InventorySnapshot,
    ) -> ApiResult<Snapshot> {
        let d = &snapshot.document;
        Ok(Snapshot {
            bytes: service.blobs.read(&d.blob, 0, d.size).await?,
            buf: Vec::new(),
            next: None,
            done: false,
        })
    }

    /// The next archive of the document, if any.
    async fn read(&mut self) -> anyhow::Result<Option<ArchiveSummary>> {
        loop {
            if let Some(end) = self.buf.iter().position(|b| *b == b'\n') {
                let archive = serde_json::from_slice(&self.buf[..end])?;
                self.buf.drain(..=end);
                return Ok(Some(archive));
            }
            if self.done {
                anyhow::ensure!(self.buf.is_empty(), "an inventory document ends mid-line");
                return Ok(None);
            }
            match self.bytes.next().await {
                Some(chunk) => self.buf.extend_from_slice(&chunk?),
                None => self.done = true,
            }
        }
    }

    /// The page of the document that `query` asks for: as the store would list it.
    pub(super) async fn page(
        &mut self,
        query: &ArchiveQuery,
    ) -> anyhow::Result<Page<ArchiveSummary>> {
        let mut items = Vec::new();
        loop {
            let next = match self.next.take() {
                Some(a) => Some(a),
                None => self.read().await?,
            };
            let Some(a) = next else {
                return Ok(Page { items, more: false });
            };
            let cursor = (a.created, a.id.as_str());
            let passed = query
                .after
                .as_ref()
                .is_some_and(|c| cursor <= (c.created, c.id.as_str()));
            if passed || query.created_from.is_some_and(|from| a.created < from) {
                continue;
            }
            if query
                .created_before
                .is_some_and(|before| a.created >= before)
            {
                return Ok(Page { items, more: false });
            }
            if items.len() == query.limit {
                self.next = Some(a);
                return Ok(Page { items, more: true });
            }
            items.push(a);
        }
    }
}
