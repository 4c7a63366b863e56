//! Archives uploaded in one request, and archive deletion.

use super::*;

impl Service {
    pub async fn upload_archive<S, E>(
        &self,
        key: &VaultKey,
        description: String,
        expected: Expected,
        body: S,
    ) -> ApiResult<Stored>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: Into<axum::BoxError>,
    {
        validate::archive_description(&description)?;
        if expected.len == 0 {
            return Err(ApiError::invalid(
                "Invalid Content-Length: 0. An archive must hold at least one byte",
            ));
        }
        if expected.len > MAX_PART_SIZE {
            return Err(ApiError::invalid(format!(
                "Invalid Content-Length: {}. A single request uploads at most {MAX_PART_SIZE} bytes; use a multipart upload",
                expected.len
            )));
        }
        self.meta.get_vault(key).await?;
        let segment = ingest::ingest(self.blobs.as_ref(), body, &expected).await?;
        let archive = ArchiveRecord {
            id: crate::config::random_string(ARCHIVE_ID_LEN, ID_ALPHABET),
            description,
            size: segment.size,
            tree_hash: segment.tree_hash,
            created: self.now(),
            segments: vec![segment],
        };
        let stored = Stored {
            archive_id: archive.id.clone(),
            tree_hash: archive.tree_hash,
        };
        let blobs: Vec<BlobKey> = archive.segments.iter().map(|s| s.blob.clone()).collect();
        if let Err(e) = self.meta.insert_archive(key, archive).await {
            self.discard(&blobs).await;
            return Err(e.into());
        }
        Ok(stored)
    }

    pub async fn delete_archive(&self, key: &VaultKey, archive_id: &str) -> ApiResult<()> {
        let blobs = self
            .meta
            .delete_archive(key, archive_id, self.now())
            .await?;
        self.discard(&blobs).await;
        Ok(())
    }
}
