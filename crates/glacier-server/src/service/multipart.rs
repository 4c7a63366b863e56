//! Multipart uploads: initiate, parts, list, complete, abort.

use super::*;

impl Service {
    pub async fn initiate_upload(
        &self,
        key: &VaultKey,
        part_size: u64,
        description: Option<String>,
    ) -> ApiResult<String> {
        if let Some(d) = &description {
            validate::archive_description(d)?;
        }
        let upload = UploadRecord {
            id: crate::config::random_string(UPLOAD_ID_LEN, ID_ALPHABET),
            description,
            part_size,
            created: self.now(),
        };
        let id = upload.id.clone();
        self.meta.create_upload(key, upload).await?;
        Ok(id)
    }

    pub async fn upload_part<S, E>(
        &self,
        key: &VaultKey,
        upload_id: &str,
        range: Span,
        expected: Expected,
        body: S,
    ) -> ApiResult<TreeHash>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: Into<axum::BoxError>,
    {
        let upload = self.meta.get_upload(key, upload_id).await?;
        validate::part_range(range, upload.part_size, expected.len)?;
        let segment = ingest::ingest(self.blobs.as_ref(), body, &expected).await?;
        let tree_hash = segment.tree_hash;
        let blob = segment.blob.clone();
        match self
            .meta
            .put_part(
                key,
                upload_id,
                PartRecord {
                    start: range.start,
                    segment,
                },
            )
            .await
        {
            Ok(replaced) => {
                self.discard(&replaced.into_iter().collect::<Vec<_>>())
                    .await;
                Ok(tree_hash)
            }
            Err(e) => {
                self.discard(&[blob]).await;
                Err(e.into())
            }
        }
    }

    pub async fn list_parts(
        &self,
        key: &VaultKey,
        upload_id: &str,
        marker: Option<&str>,
        limit: usize,
    ) -> ApiResult<wire::ListPartsOutput> {
        let from = match marker {
            Some(m) => m
                .parse::<u64>()
                .map_err(|_| ApiError::invalid(format!("Invalid marker: {m:?}")))?,
            None => 0,
        };
        let upload = self.meta.get_upload(key, upload_id).await?;
        let page: Page<PartInfo> = self.meta.list_parts(key, upload_id, from, limit).await?;
        Ok(wire::ListPartsOutput {
            multipart_upload_id: upload.id,
            vault_arn: self.vault_arn(key).await,
            archive_description: upload.description,
            part_size_in_bytes: upload.part_size,
            creation_date: format_date(upload.created),
            marker: next_marker(&page, |p| (p.start + 1).to_string()),
            parts: page
                .items
                .iter()
                .map(|p| wire::PartListElement {
                    range_in_bytes: format!("{}-{}", p.start, p.start + p.size - 1),
                    sha256_tree_hash: hex(&p.tree_hash),
                })
                .collect(),
        })
    }

    pub async fn list_uploads(
        &self,
        key: &VaultKey,
        marker: Option<&str>,
        limit: usize,
    ) -> ApiResult<wire::ListMultipartUploadsOutput> {
        if let Some(m) = marker
            && (m.len() != UPLOAD_ID_LEN || !m.bytes().all(|b| ID_ALPHABET.contains(&b)))
        {
            return Err(ApiError::invalid(format!(
                "Invalid marker: {m:?} is not a multipart upload id"
            )));
        }
        let page = self.meta.list_uploads(key, marker, limit).await?;
        let arn = self.vault_arn(key).await;
        Ok(wire::ListMultipartUploadsOutput {
            marker: next_marker(&page, |u| u.id.clone()),
            uploads_list: page
                .items
                .iter()
                .map(|u| wire::UploadListElement {
                    multipart_upload_id: u.id.clone(),
                    vault_arn: arn.clone(),
                    archive_description: u.description.clone(),
                    part_size_in_bytes: u.part_size,
                    creation_date: format_date(u.created),
                })
                .collect(),
        })
    }

    pub async fn complete_upload(
        &self,
        key: &VaultKey,
        upload_id: &str,
        archive_size: u64,
        tree_hash: TreeHash,
    ) -> ApiResult<Stored> {
        let archive_id = self
            .meta
            .complete_upload(
                key,
                upload_id,
                Completion {
                    archive_id: crate::config::random_string(ARCHIVE_ID_LEN, ID_ALPHABET),
                    archive_size,
                    tree_hash,
                    now: self.now(),
                },
            )
            .await?;
        Ok(Stored {
            archive_id,
            tree_hash,
        })
    }

    pub async fn abort_upload(&self, key: &VaultKey, upload_id: &str) -> ApiResult<()> {
        let blobs = self.meta.abort_upload(key, upload_id).await?;
        self.discard(&blobs).await;
        Ok(())
    }
}
