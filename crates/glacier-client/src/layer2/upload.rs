//! Uploads: one request for small files, multipart above (sequential or concurrent), resumed
//! uploads, and the streaming [`Writer`](crate::writer::Writer).

use super::{DEFAULT_PART_SIZE, SINGLE_OPERATION_THRESHOLD, Source, Vault};
use crate::error::{GlacierError, Result};
use crate::layer1::{Layer1, Payload};
use glacier_core::treehash::{Digest, TreeHash, tree_hash_of};
use glacier_core::validate::minimum_part_size;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

impl Vault {
    /// Uploads a file: one request up to [`SINGLE_OPERATION_THRESHOLD`], a multipart upload above.
    pub async fn upload_archive(&self, path: &Path, description: Option<&str>) -> Result<String> {
        let size = tokio::fs::metadata(path).await?.len();
        if size > SINGLE_OPERATION_THRESHOLD {
            return self
                .create_archive_from_file(Source::File(path.to_path_buf()), description, |_| {})
                .await;
        }
        let (linear, tree) =
            crate::utils::hash_file_range(&self.layer1, path.to_path_buf(), 0, size).await?;
        let created = self
            .layer1
            .upload_archive(
                &self.name,
                Payload::File {
                    path: path.to_path_buf(),
                    offset: 0,
                    len: size,
                },
                linear,
                tree,
                description,
            )
            .await?;
        Ok(created.archive_id)
    }

    /// Uploads from a file or reader in parts of [`DEFAULT_PART_SIZE`] (raised for large files),
    /// one at a time; `upload_id_callback` learns the upload id first, so that an interrupted
    /// upload can be resumed with [`Vault::resume_archive_from_file`].
    pub async fn create_archive_from_file(
        &self,
        source: Source,
        description: Option<&str>,
        upload_id_callback: impl FnOnce(&str),
    ) -> Result<String> {
        let part_size = part_size_for(source.file(), DEFAULT_PART_SIZE).await?;
        let upload = self
            .layer1
            .initiate_multipart_upload(&self.name, part_size, description)
            .await?;
        upload_id_callback(&upload.upload_id);
        self.upload_parts(&upload.upload_id, part_size, source, 1, HashMap::new())
            .await
    }

    /// As the seed's `concurrent_create_archive_from_file`: parts uploaded `concurrency` at a
    /// time; the part size is raised to the minimum the file needs (at most 10,000 parts).
    pub async fn concurrent_create_archive_from_file(
        &self,
        path: &Path,
        description: Option<&str>,
        part_size: u64,
        concurrency: usize,
    ) -> Result<String> {
        let source = Source::File(path.to_path_buf());
        let part_size = part_size_for(source.file(), part_size).await?;
        let upload = self
            .layer1
            .initiate_multipart_upload(&self.name, part_size, description)
            .await?;
        self.upload_parts(
            &upload.upload_id,
            part_size,
            source,
            concurrency.max(1),
            HashMap::new(),
        )
        .await
    }

    /// Finishes an interrupted multipart upload of the same data: parts already uploaded
    /// whose tree hash matches are kept, missing or mismatched ones are sent again.
    pub async fn resume_archive_from_file(
        &self,
        upload_id: &str,
        source: Source,
    ) -> Result<String> {
        self.continue_upload(upload_id, source, 1).await
    }

    /// As [`Vault::resume_archive_from_file`], sending `concurrency` parts at a time. Also the
    /// way to run a freshly initiated upload whose id the caller keeps, so that an
    /// interruption can be resumed later with the same call.
    pub async fn continue_upload(
        &self,
        upload_id: &str,
        source: Source,
        concurrency: usize,
    ) -> Result<String> {
        let listing = self.list_all_parts(upload_id).await?;
        let mut existing = HashMap::new();
        for p in &listing.parts {
            let start = p
                .range_in_bytes
                .split('-')
                .next()
                .and_then(|s| s.parse::<u64>().ok());
            let hash = p.sha256_tree_hash.parse::<TreeHash>().ok();
            if let (Some(start), Some(hash)) = (start, hash) {
                existing.insert(start, hash);
            }
        }
        self.upload_parts(
            upload_id,
            listing.part_size_in_bytes,
            source,
            concurrency.max(1),
            existing,
        )
        .await
    }

    /// Uploads every part of `source` not already in `existing` (start → tree hash), then
    /// completes the upload.
    pub(super) async fn upload_parts(
        &self,
        upload_id: &str,
        part_size: u64,
        source: Source,
        concurrency: usize,
        existing: HashMap<u64, TreeHash>,
    ) -> Result<String> {
        let mut tasks: tokio::task::JoinSet<Result<(u64, Digest)>> = tokio::task::JoinSet::new();
        let mut hashes: Vec<(u64, Digest)> = Vec::new();
        let path = match source {
            Source::File(path) => path,
            Source::Reader(reader) => {
                return self
                    .upload_stream(upload_id, part_size, reader, concurrency, existing)
                    .await;
            }
        };
        let size = tokio::fs::metadata(&path).await?.len();
        let total = size;
        let mut start = 0;
        while start < size {
            let len = part_size.min(size - start);
            if tasks.len() >= concurrency {
                hashes.push(join(&mut tasks).await?);
            }
            let (layer1, vault, id, path, known) = (
                self.layer1.clone(),
                self.name.clone(),
                upload_id.to_owned(),
                path.clone(),
                existing.get(&start).copied(),
            );
            tasks.spawn(async move {
                let (linear, tree) =
                    crate::utils::hash_file_range(&layer1, path.clone(), start, len).await?;
                if known == Some(tree) {
                    layer1.report(crate::layer1::Transfer::Skipped, len);
                } else {
                    layer1
                        .upload_part(
                            &vault,
                            &id,
                            linear,
                            tree,
                            (start, start + len - 1),
                            Payload::File {
                                path,
                                offset: start,
                                len,
                            },
                        )
                        .await?;
                }
                Ok((start, tree.0))
            });
            start += len;
        }
        while !tasks.is_empty() {
            hashes.push(join(&mut tasks).await?);
        }
        if total == 0 {
            return Err(GlacierError::UploadArchive(
                "the source is empty; an archive holds at least one byte".into(),
            ));
        }
        hashes.sort_by_key(|(start, _)| *start);
        let tree = tree_hash_of(&hashes.iter().map(|(_, d)| *d).collect::<Vec<_>>());
        complete(&self.layer1, &self.name, upload_id, tree, total).await
    }

    /// [`Vault::upload_parts`] of a stream, through a [`Writer`](crate::writer::Writer).
    async fn upload_stream(
        &self,
        upload_id: &str,
        part_size: u64,
        mut reader: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
        concurrency: usize,
        existing: HashMap<u64, TreeHash>,
    ) -> Result<String> {
        let mut writer = crate::writer::Writer::new(
            self.layer1.clone(),
            self.name.clone(),
            upload_id.to_owned(),
            part_size,
            concurrency,
        )
        .with_existing_parts(existing);
        tokio::io::copy(&mut reader, &mut writer)
            .await
            .map_err(upload_error)?;
        writer.shutdown().await.map_err(upload_error)?;
        writer.archive_id().map(str::to_owned).ok_or_else(|| {
            GlacierError::UploadArchive("the upload completed without an archive id".into())
        })
    }

    /// A [`Writer`](crate::writer::Writer) that uploads what is written to it as a multipart
    /// archive of `part_size` parts (1 MiB × 2^n); shut it down to complete the archive.
    pub async fn create_archive_writer(
        &self,
        part_size: u64,
        description: Option<&str>,
    ) -> Result<crate::writer::Writer> {
        if !glacier_core::validate::is_part_size(part_size) {
            return Err(GlacierError::InvalidInput(format!(
                "part size {part_size} is not 1 MiB × 2^n up to 4 GiB"
            )));
        }
        let upload = self
            .layer1
            .initiate_multipart_upload(&self.name, part_size, description)
            .await?;
        Ok(crate::writer::Writer::new(
            self.layer1.clone(),
            self.name.clone(),
            upload.upload_id,
            part_size,
            1,
        ))
    }
}

/// A writer's I/O error carries the GlacierError that caused it; unwrap it again.
/// Completes a multipart upload of `size` bytes whose tree hash is `tree`, and checks that the
/// service computed the same; returns the archive id.
pub(crate) async fn complete(
    layer1: &Layer1,
    vault: &str,
    upload_id: &str,
    tree: TreeHash,
    size: u64,
) -> Result<String> {
    let created = layer1
        .complete_multipart_upload(vault, upload_id, tree, size)
        .await?;
    if created.checksum != tree {
        return Err(GlacierError::TreeHashDoesNotMatch {
            what: "the completed archive".into(),
            expected: tree.to_hex(),
            actual: created.checksum.to_hex(),
        });
    }
    Ok(created.archive_id)
}

pub(super) fn upload_error(e: std::io::Error) -> GlacierError {
    match e.downcast::<GlacierError>() {
        Ok(g) => g,
        Err(e) => GlacierError::UploadArchive(e.to_string()),
    }
}

pub(super) async fn join(
    tasks: &mut tokio::task::JoinSet<Result<(u64, Digest)>>,
) -> Result<(u64, Digest)> {
    match tasks.join_next().await {
        Some(Ok(r)) => r,
        Some(Err(e)) => Err(GlacierError::UploadArchive(format!(
            "a part upload task failed: {e}"
        ))),
        None => Err(GlacierError::UploadArchive(
            "no part upload in flight".into(),
        )),
    }
}

/// The part size for an archive read from `file`, or from a reader (`None`: of unknown
/// length, so the largest archive the part size allows must be enough).
pub(super) async fn part_size_for(file: Option<PathBuf>, wanted: u64) -> Result<u64> {
    let size = match file {
        Some(p) => tokio::fs::metadata(p).await?.len(),
        None => 0,
    };
    minimum_part_size(size, wanted).map_err(|e| GlacierError::UploadArchive(e.0))
}
