//! The 33 operations, in the order of the seed's Layer1, then the rest of the API.

use super::call::{archive_created, header_str, list_query, required, seg, tree_hash_header};
use super::{ArchiveCreated, JobInitiated, JobOutput, Layer1, Payload, UploadInitiated};
use crate::error::Result;
use glacier_core::headers as h;
use glacier_core::{LinearHash, Operation, TreeHash, wire};
use http::Method;
use std::collections::BTreeMap;

/// The operations, in the order of the seed's Layer1, then the rest of the API.
impl Layer1 {
    pub async fn abort_multipart_upload(&self, vault: &str, upload_id: &str) -> Result<()> {
        let path = format!(
            "{}/multipart-uploads/{}",
            self.vault_path(vault),
            seg(upload_id)
        );
        self.send_empty(self.call(
            Operation::AbortMultipartUpload,
            Method::DELETE,
            path,
            &[204],
        ))
        .await
        .map(drop)
    }

    /// Completes a multipart upload; `sha256_treehash` is the tree hash of the whole archive.
    pub async fn complete_multipart_upload(
        &self,
        vault: &str,
        upload_id: &str,
        sha256_treehash: TreeHash,
        archive_size: u64,
    ) -> Result<ArchiveCreated> {
        let path = format!(
            "{}/multipart-uploads/{}",
            self.vault_path(vault),
            seg(upload_id)
        );
        let mut call = self.call(
            Operation::CompleteMultipartUpload,
            Method::POST,
            path,
            &[201],
        );
        call.headers = vec![
            (h::TREE_HASH, sha256_treehash.to_hex()),
            (h::ARCHIVE_SIZE, archive_size.to_string()),
        ];
        let headers = self.send_empty(call).await?;
        archive_created(&headers, Operation::CompleteMultipartUpload)
    }

    /// Creates a vault (idempotent); returns its location.
    pub async fn create_vault(&self, vault: &str) -> Result<String> {
        let headers = self
            .send_empty(self.call(
                Operation::CreateVault,
                Method::PUT,
                self.vault_path(vault),
                &[201],
            ))
            .await?;
        required(&headers, Operation::CreateVault, "location")
    }

    pub async fn delete_archive(&self, vault: &str, archive_id: &str) -> Result<()> {
        let path = format!("{}/archives/{}", self.vault_path(vault), seg(archive_id));
        self.send_empty(self.call(Operation::DeleteArchive, Method::DELETE, path, &[204]))
            .await
            .map(drop)
    }

    pub async fn delete_vault(&self, vault: &str) -> Result<()> {
        self.send_empty(self.call(
            Operation::DeleteVault,
            Method::DELETE,
            self.vault_path(vault),
            &[204],
        ))
        .await
        .map(drop)
    }

    pub async fn delete_vault_notifications(&self, vault: &str) -> Result<()> {
        let path = format!("{}/notification-configuration", self.vault_path(vault));
        self.send_empty(self.call(
            Operation::DeleteVaultNotifications,
            Method::DELETE,
            path,
            &[204],
        ))
        .await
        .map(drop)
    }

    pub async fn describe_job(
        &self,
        vault: &str,
        job_id: &str,
    ) -> Result<wire::GlacierJobDescription> {
        let path = format!("{}/jobs/{}", self.vault_path(vault), seg(job_id));
        self.send_json(self.call(Operation::DescribeJob, Method::GET, path, &[200]))
            .await
    }

    pub async fn describe_vault(&self, vault: &str) -> Result<wire::DescribeVaultOutput> {
        self.send_json(self.call(
            Operation::DescribeVault,
            Method::GET,
            self.vault_path(vault),
            &[200],
        ))
        .await
    }

    /// Downloads a job's output, or the inclusive `byte_range` of it; the body streams.
    pub async fn get_job_output(
        &self,
        vault: &str,
        job_id: &str,
        byte_range: Option<(u64, u64)>,
    ) -> Result<JobOutput> {
        let path = format!("{}/jobs/{}/output", self.vault_path(vault), seg(job_id));
        let mut call = self.call(Operation::GetJobOutput, Method::GET, path, &[200, 206]);
        if let Some((start, end)) = byte_range {
            call.headers.push(("range", format!("bytes={start}-{end}")));
        }
        let resp = self.send(&call).await?;
        let checksum = match resp.headers().contains_key(h::TREE_HASH) {
            true => Some(tree_hash_header(resp.headers(), Operation::GetJobOutput)?),
            false => None,
        };
        Ok(JobOutput {
            status: resp.status().as_u16(),
            content_range: header_str(&resp, "content-range"),
            content_type: header_str(&resp, "content-type"),
            content_length: header_str(&resp, "content-length").and_then(|v| v.parse().ok()),
            checksum,
            accept_ranges: header_str(&resp, "accept-ranges"),
            archive_description: header_str(&resp, h::ARCHIVE_DESCRIPTION),
            body: self.output_body(resp.into_body()),
        })
    }

    pub async fn get_vault_notifications(
        &self,
        vault: &str,
    ) -> Result<wire::VaultNotificationConfig> {
        let path = format!("{}/notification-configuration", self.vault_path(vault));
        self.send_json(self.call(Operation::GetVaultNotifications, Method::GET, path, &[200]))
            .await
    }

    /// Starts an archive retrieval or inventory job.
    pub async fn initiate_job(
        &self,
        vault: &str,
        job_data: &wire::JobParameters,
    ) -> Result<JobInitiated> {
        let path = format!("{}/jobs", self.vault_path(vault));
        let mut call =
            self.json_call(Operation::InitiateJob, Method::POST, path, &[202], job_data)?;
        call.idempotent = false;
        let headers = self.send_empty(call).await?;
        Ok(JobInitiated {
            location: required(&headers, Operation::InitiateJob, "location")?,
            job_id: required(&headers, Operation::InitiateJob, h::JOB_ID)?,
        })
    }

    pub async fn initiate_multipart_upload(
        &self,
        vault: &str,
        part_size: u64,
        description: Option<&str>,
    ) -> Result<UploadInitiated> {
        let path = format!("{}/multipart-uploads", self.vault_path(vault));
        let mut call = self.call(
            Operation::InitiateMultipartUpload,
            Method::POST,
            path,
            &[201],
        );
        // Repeated after a lost answer like any call: at worst an upload is left unfinished,
        // which the service forgets, where an error would stop the whole upload.
        call.headers.push((h::PART_SIZE, part_size.to_string()));
        if let Some(d) = description {
            call.headers.push((h::ARCHIVE_DESCRIPTION, d.to_owned()));
        }
        let headers = self.send_empty(call).await?;
        Ok(UploadInitiated {
            location: required(&headers, Operation::InitiateMultipartUpload, "location")?,
            upload_id: required(
                &headers,
                Operation::InitiateMultipartUpload,
                h::MULTIPART_UPLOAD_ID,
            )?,
        })
    }

    /// Lists jobs; `completed` and `status_code` filter (`InProgress`, `Succeeded`, `Failed`).
    pub async fn list_jobs(
        &self,
        vault: &str,
        completed: Option<bool>,
        status_code: Option<glacier_core::JobStatus>,
        limit: Option<u32>,
        marker: Option<&str>,
    ) -> Result<wire::ListJobsOutput> {
        let path = format!("{}/jobs", self.vault_path(vault));
        let mut call = self.call(Operation::ListJobs, Method::GET, path, &[200]);
        if let Some(c) = completed {
            call.query.push(("completed", c.to_string()));
        }
        if let Some(s) = status_code {
            call.query.push(("statuscode", s.as_str().to_owned()));
        }
        list_query(&mut call, limit, marker);
        self.send_json(call).await
    }

    pub async fn list_multipart_uploads(
        &self,
        vault: &str,
        limit: Option<u32>,
        marker: Option<&str>,
    ) -> Result<wire::ListMultipartUploadsOutput> {
        let path = format!("{}/multipart-uploads", self.vault_path(vault));
        let mut call = self.call(Operation::ListMultipartUploads, Method::GET, path, &[200]);
        list_query(&mut call, limit, marker);
        self.send_json(call).await
    }

    pub async fn list_parts(
        &self,
        vault: &str,
        upload_id: &str,
        limit: Option<u32>,
        marker: Option<&str>,
    ) -> Result<wire::ListPartsOutput> {
        let path = format!(
            "{}/multipart-uploads/{}",
            self.vault_path(vault),
            seg(upload_id)
        );
        let mut call = self.call(Operation::ListParts, Method::GET, path, &[200]);
        list_query(&mut call, limit, marker);
        self.send_json(call).await
    }

    pub async fn list_vaults(
        &self,
        limit: Option<u32>,
        marker: Option<&str>,
    ) -> Result<wire::ListVaultsOutput> {
        let path = format!("/{}/vaults", seg(&self.inner.account_id));
        let mut call = self.call(Operation::ListVaults, Method::GET, path, &[200]);
        list_query(&mut call, limit, marker);
        self.send_json(call).await
    }

    pub async fn set_vault_notifications(
        &self,
        vault: &str,
        config: &wire::VaultNotificationConfig,
    ) -> Result<()> {
        let path = format!("{}/notification-configuration", self.vault_path(vault));
        self.send_empty(self.json_call(
            Operation::SetVaultNotifications,
            Method::PUT,
            path,
            &[204],
            config,
        )?)
        .await
        .map(drop)
    }

    /// Uploads an archive in one request. `tree_hash` is the body's tree hash and
    /// `linear_hash` its SHA-256, if the caller has it: it is not needed where the server
    /// takes a signed tree hash ([`Layer1::accepts_tree_signed_payload`]), and computed here
    /// (one more pass over the data) where it is needed and not given.
    pub async fn upload_archive(
        &self,
        vault: &str,
        archive: Payload,
        linear_hash: Option<LinearHash>,
        tree_hash: TreeHash,
        description: Option<&str>,
    ) -> Result<ArchiveCreated> {
        let path = format!("{}/archives", self.vault_path(vault));
        let mut call = self.call(Operation::UploadArchive, Method::POST, path, &[201]);
        call.payload_sha256 = self.payload_hash(&archive, linear_hash).await?;
        call.payload = archive;
        call.headers.push((h::TREE_HASH, tree_hash.to_hex()));
        if let Some(d) = description {
            call.headers.push((h::ARCHIVE_DESCRIPTION, d.to_owned()));
        }
        // Repeated after a transient failure, as every AWS SDK repeats it: only an answer lost
        // after the service stored the archive can store it twice, which costs less than a
        // backup that stops (the vault's inventory shows both).
        let headers = self.send_empty(call).await?;
        archive_created(&headers, Operation::UploadArchive)
    }

    /// Uploads one part; `byte_range` is the part's inclusive range in the archive; the hashes
    /// as for [`Layer1::upload_archive`]. Returns the tree hash the service computed.
    pub async fn upload_part(
        &self,
        vault: &str,
        upload_id: &str,
        linear_hash: Option<LinearHash>,
        tree_hash: TreeHash,
        byte_range: (u64, u64),
        part_data: Payload,
    ) -> Result<TreeHash> {
        let path = format!(
            "{}/multipart-uploads/{}",
            self.vault_path(vault),
            seg(upload_id)
        );
        let mut call = self.call(Operation::UploadMultipartPart, Method::PUT, path, &[204]);
        call.payload_sha256 = self.payload_hash(&part_data, linear_hash).await?;
        call.payload = part_data;
        call.headers.push((h::TREE_HASH, tree_hash.to_hex()));
        call.headers.push((
            "content-range",
            format!("bytes {}-{}/*", byte_range.0, byte_range.1),
        ));
        let headers = self.send_empty(call).await?;
        tree_hash_header(&headers, Operation::UploadMultipartPart)
    }

    // ---- the rest of the 2012-06-01 API ----

    pub async fn set_vault_access_policy(&self, vault: &str, policy: &str) -> Result<()> {
        let path = format!("{}/access-policy", self.vault_path(vault));
        let body = wire::PolicyDocument {
            policy: Some(policy.to_owned()),
        };
        self.send_empty(self.json_call(
            Operation::SetVaultAccessPolicy,
            Method::PUT,
            path,
            &[204],
            &body,
        )?)
        .await
        .map(drop)
    }

    /// The vault's access policy document.
    pub async fn get_vault_access_policy(&self, vault: &str) -> Result<String> {
        let path = format!("{}/access-policy", self.vault_path(vault));
        let doc: wire::PolicyDocument = self
            .send_json(self.call(Operation::GetVaultAccessPolicy, Method::GET, path, &[200]))
            .await?;
        Ok(doc.policy.unwrap_or_default())
    }

    pub async fn delete_vault_access_policy(&self, vault: &str) -> Result<()> {
        let path = format!("{}/access-policy", self.vault_path(vault));
        self.send_empty(self.call(
            Operation::DeleteVaultAccessPolicy,
            Method::DELETE,
            path,
            &[204],
        ))
        .await
        .map(drop)
    }

    /// Starts locking a vault with `policy`; returns the lock id.
    pub async fn initiate_vault_lock(&self, vault: &str, policy: &str) -> Result<String> {
        let path = format!("{}/lock-policy", self.vault_path(vault));
        let body = wire::PolicyDocument {
            policy: Some(policy.to_owned()),
        };
        let mut call = self.json_call(
            Operation::InitiateVaultLock,
            Method::POST,
            path,
            &[201],
            &body,
        )?;
        call.idempotent = false;
        let headers = self.send_empty(call).await?;
        required(&headers, Operation::InitiateVaultLock, h::LOCK_ID)
    }

    pub async fn get_vault_lock(&self, vault: &str) -> Result<wire::GetVaultLockOutput> {
        let path = format!("{}/lock-policy", self.vault_path(vault));
        self.send_json(self.call(Operation::GetVaultLock, Method::GET, path, &[200]))
            .await
    }

    pub async fn complete_vault_lock(&self, vault: &str, lock_id: &str) -> Result<()> {
        let path = format!("{}/lock-policy/{}", self.vault_path(vault), seg(lock_id));
        self.send_empty(self.call(Operation::CompleteVaultLock, Method::POST, path, &[204]))
            .await
            .map(drop)
    }

    pub async fn abort_vault_lock(&self, vault: &str) -> Result<()> {
        let path = format!("{}/lock-policy", self.vault_path(vault));
        self.send_empty(self.call(Operation::AbortVaultLock, Method::DELETE, path, &[204]))
            .await
            .map(drop)
    }

    pub async fn add_tags_to_vault(
        &self,
        vault: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<()> {
        let path = format!("{}/tags", self.vault_path(vault));
        let body = wire::AddTagsToVaultInput {
            tags: Some(tags.clone()),
        };
        let mut call =
            self.json_call(Operation::AddTagsToVault, Method::POST, path, &[204], &body)?;
        call.query.push(("operation", "add".into()));
        self.send_empty(call).await.map(drop)
    }

    pub async fn remove_tags_from_vault(&self, vault: &str, tag_keys: &[String]) -> Result<()> {
        let path = format!("{}/tags", self.vault_path(vault));
        let body = wire::RemoveTagsFromVaultInput {
            tag_keys: Some(tag_keys.to_vec()),
        };
        let mut call = self.json_call(
            Operation::RemoveTagsFromVault,
            Method::POST,
            path,
            &[204],
            &body,
        )?;
        call.query.push(("operation", "remove".into()));
        self.send_empty(call).await.map(drop)
    }

    pub async fn list_tags_for_vault(&self, vault: &str) -> Result<BTreeMap<String, String>> {
        let path = format!("{}/tags", self.vault_path(vault));
        let out: wire::ListTagsForVaultOutput = self
            .send_json(self.call(Operation::ListTagsForVault, Method::GET, path, &[200]))
            .await?;
        Ok(out.tags)
    }

    pub async fn get_data_retrieval_policy(&self) -> Result<wire::DataRetrievalPolicy> {
        let path = format!("/{}/policies/data-retrieval", seg(&self.inner.account_id));
        let body: wire::DataRetrievalPolicyBody = self
            .send_json(self.call(Operation::GetDataRetrievalPolicy, Method::GET, path, &[200]))
            .await?;
        Ok(body.policy.unwrap_or_default())
    }

    pub async fn set_data_retrieval_policy(
        &self,
        policy: &wire::DataRetrievalPolicy,
    ) -> Result<()> {
        let path = format!("/{}/policies/data-retrieval", seg(&self.inner.account_id));
        let body = wire::DataRetrievalPolicyBody {
            policy: Some(policy.clone()),
        };
        self.send_empty(self.json_call(
            Operation::SetDataRetrievalPolicy,
            Method::PUT,
            path,
            &[204],
            &body,
        )?)
        .await
        .map(drop)
    }

    /// Buys a provisioned capacity unit; returns its id.
    pub async fn purchase_provisioned_capacity(&self) -> Result<String> {
        let path = format!("/{}/provisioned-capacity", seg(&self.inner.account_id));
        let mut call = self.call(
            Operation::PurchaseProvisionedCapacity,
            Method::POST,
            path,
            &[201],
        );
        call.idempotent = false;
        let headers = self.send_empty(call).await?;
        required(
            &headers,
            Operation::PurchaseProvisionedCapacity,
            h::CAPACITY_ID,
        )
    }

    pub async fn list_provisioned_capacity(
        &self,
    ) -> Result<Vec<wire::ProvisionedCapacityDescription>> {
        let path = format!("/{}/provisioned-capacity", seg(&self.inner.account_id));
        let out: wire::ListProvisionedCapacityOutput = self
            .send_json(self.call(
                Operation::ListProvisionedCapacity,
                Method::GET,
                path,
                &[200],
            ))
            .await?;
        Ok(out.provisioned_capacity_list)
    }
}
