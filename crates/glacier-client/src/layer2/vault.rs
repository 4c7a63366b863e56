//! Vaults, and the jobs started on them.

use super::job::Job;
use crate::error::Result;
use crate::layer1::Layer1;
use glacier_core::wire;
use glacier_core::{InventoryFormat, JobStatus};

/// A vault, with the fields of the seed's `Vault.ResponseDataElements`.
#[derive(Clone)]
pub struct Vault {
    pub(super) layer1: Layer1,
    pub name: String,
    pub arn: String,
    pub creation_date: String,
    pub last_inventory_date: Option<String>,
    pub size: u64,
    pub number_of_archives: u64,
}

/// The parameters of an inventory retrieval.
#[derive(Debug, Clone, Default)]
pub struct InventoryRequest {
    pub format: Option<InventoryFormat>,
    pub sns_topic: Option<String>,
    pub description: Option<String>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub limit: Option<u64>,
    pub marker: Option<String>,
}

impl Vault {
    pub(super) fn from_wire(layer1: Layer1, v: wire::DescribeVaultOutput) -> Vault {
        Vault {
            layer1,
            name: v.vault_name,
            arn: v.vault_arn,
            creation_date: v.creation_date,
            last_inventory_date: v.last_inventory_date,
            size: v.size_in_bytes,
            number_of_archives: v.number_of_archives,
        }
    }

    /// The Layer1 client this vault uses.
    pub fn layer1(&self) -> &Layer1 {
        &self.layer1
    }

    /// Every part of an upload, following the pagination markers.
    pub async fn list_all_parts(&self, upload_id: &str) -> Result<wire::ListPartsOutput> {
        let mut out = self
            .layer1
            .list_parts(&self.name, upload_id, None, None)
            .await?;
        while let Some(marker) = out.marker.take() {
            let page = self
                .layer1
                .list_parts(&self.name, upload_id, None, Some(&marker))
                .await?;
            out.parts.extend(page.parts);
            out.marker = page.marker;
        }
        Ok(out)
    }

    /// Starts retrieving an archive; returns the job.
    pub async fn retrieve_archive(
        &self,
        archive_id: &str,
        sns_topic: Option<&str>,
        description: Option<&str>,
    ) -> Result<Job> {
        let params = wire::JobParameters {
            job_type: Some(glacier_core::JobType::ArchiveRetrieval.to_string()),
            archive_id: Some(archive_id.into()),
            sns_topic: sns_topic.map(str::to_owned),
            description: description.map(str::to_owned),
            ..Default::default()
        };
        let started = self.layer1.initiate_job(&self.name, &params).await?;
        self.get_job(&started.job_id).await
    }

    /// Starts an inventory retrieval; returns the job id. `format` is `JSON` (default) or `CSV`.
    pub async fn retrieve_inventory(&self, params: InventoryRequest) -> Result<String> {
        let p = wire::JobParameters {
            job_type: Some(glacier_core::JobType::InventoryRetrieval.to_string()),
            format: params.format,
            sns_topic: params.sns_topic,
            description: params.description,
            inventory_retrieval_parameters: Some(wire::InventoryRetrievalJobInput {
                start_date: params.start_date,
                end_date: params.end_date,
                limit: params.limit.map(|l| l.to_string()),
                marker: params.marker,
            }),
            ..Default::default()
        };
        Ok(self.layer1.initiate_job(&self.name, &p).await?.job_id)
    }

    /// A job for the vault's whole inventory in JSON, and whether it was there already: one
    /// in flight, or one finished (and not expired) that was started after the vault's last
    /// inventory — it returns that inventory, the one a new job would (AWS takes one a day;
    /// a new job costs hours) — else a new one.
    pub async fn inventory_job(&self) -> Result<(Job, bool)> {
        let last = self.last_inventory_date.as_deref().and_then(parse_date);
        let mut best: Option<Job> = None;
        for job in self.list_jobs(None, None).await? {
            let whole = job.inventory_parameters.as_ref().is_none_or(|p| {
                p.format.is_none_or(|f| f == InventoryFormat::Json)
                    && p.start_date.is_none()
                    && p.end_date.is_none()
                    && p.limit.is_none()
                    && p.marker.is_none()
            });
            let current = !job.completed
                || (job.status_code == JobStatus::Succeeded
                    && match (last, parse_date(&job.creation_date)) {
                        (Some(last), Some(created)) => created >= last,
                        (None, _) => true,
                        (Some(_), None) => false,
                    });
            if job.action == glacier_core::JobAction::InventoryRetrieval && whole && current {
                // A finished one over one in flight; the newest of each.
                let better = best.as_ref().is_none_or(|b| {
                    (job.completed, &job.creation_date) > (b.completed, &b.creation_date)
                });
                if better {
                    best = Some(job);
                }
            }
        }
        match best {
            Some(job) => Ok((job, true)),
            None => Ok((
                self.retrieve_inventory_job(InventoryRequest::default())
                    .await?,
                false,
            )),
        }
    }

    /// As [`Vault::retrieve_inventory`], returning the job.
    pub async fn retrieve_inventory_job(&self, params: InventoryRequest) -> Result<Job> {
        let id = self.retrieve_inventory(params).await?;
        self.get_job(&id).await
    }

    pub async fn delete_archive(&self, archive_id: &str) -> Result<()> {
        self.layer1.delete_archive(&self.name, archive_id).await
    }

    pub async fn get_job(&self, job_id: &str) -> Result<Job> {
        Ok(Job::from_wire(
            self.layer1.clone(),
            self.name.clone(),
            self.layer1.describe_job(&self.name, job_id).await?,
        ))
    }

    /// Every job of the vault, filtered as asked, following the pagination markers.
    pub async fn list_jobs(
        &self,
        completed: Option<bool>,
        status_code: Option<JobStatus>,
    ) -> Result<Vec<Job>> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .layer1
                .list_jobs(&self.name, completed, status_code, None, marker.as_deref())
                .await?;
            out.extend(
                page.job_list
                    .into_iter()
                    .map(|j| Job::from_wire(self.layer1.clone(), self.name.clone(), j)),
            );
            marker = page.marker;
            if marker.is_none() {
                return Ok(out);
            }
        }
    }

    /// Deletes this vault.
    pub async fn delete(&self) -> Result<()> {
        self.layer1.delete_vault(&self.name).await
    }
}

/// An ISO 8601 date as the API writes them.
fn parse_date(s: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}
