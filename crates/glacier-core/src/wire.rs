//! The JSON bodies of the Glacier REST API, field for field as the service model names them.
//!
//! Response types serialize every field, `null` when empty: boto 2 reads each field by name and
//! fails on a missing one. Request types accept missing fields, so that the server can answer a
//! missing value with `MissingParameterValueException` naming it rather than a parse error.

use crate::names::{InventoryFormat, JobAction, JobStatus, LockState, RetrievalStrategy, Tier};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The error body: `{"code": ..., "message": ..., "type": "Client"|"Server"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    #[serde(rename = "type")]
    pub error_type: crate::ErrorType,
}

/// DescribeVault's body and one entry of ListVaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeVaultOutput {
    #[serde(rename = "VaultARN")]
    pub vault_arn: String,
    pub vault_name: String,
    pub creation_date: String,
    pub last_inventory_date: Option<String>,
    pub number_of_archives: u64,
    pub size_in_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListVaultsOutput {
    pub vault_list: Vec<DescribeVaultOutput>,
    pub marker: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PartListElement {
    /// `first-last`, inclusive.
    pub range_in_bytes: String,
    #[serde(rename = "SHA256TreeHash")]
    pub sha256_tree_hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListPartsOutput {
    pub multipart_upload_id: String,
    #[serde(rename = "VaultARN")]
    pub vault_arn: String,
    pub archive_description: Option<String>,
    pub part_size_in_bytes: u64,
    pub creation_date: String,
    pub parts: Vec<PartListElement>,
    pub marker: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UploadListElement {
    pub multipart_upload_id: String,
    #[serde(rename = "VaultARN")]
    pub vault_arn: String,
    pub archive_description: Option<String>,
    pub part_size_in_bytes: u64,
    pub creation_date: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListMultipartUploadsOutput {
    pub uploads_list: Vec<UploadListElement>,
    pub marker: Option<String>,
}

/// The body of Set/GetVaultNotifications.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct VaultNotificationConfig {
    #[serde(rename = "SNSTopic")]
    pub sns_topic: Option<String>,
    #[serde(rename = "Events")]
    pub events: Option<Vec<String>>,
}

/// The notification events a vault can subscribe to.
pub const NOTIFICATION_EVENTS: &[&str] =
    &["ArchiveRetrievalCompleted", "InventoryRetrievalCompleted"];

/// InitiateJob's body (`jobParameters`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct JobParameters {
    pub format: Option<InventoryFormat>,
    #[serde(rename = "Type")]
    pub job_type: Option<String>,
    pub archive_id: Option<String>,
    pub description: Option<String>,
    #[serde(rename = "SNSTopic")]
    pub sns_topic: Option<String>,
    pub retrieval_byte_range: Option<String>,
    pub tier: Option<Tier>,
    pub inventory_retrieval_parameters: Option<InventoryRetrievalJobInput>,
    /// S3 Select parameters; select jobs are not supported, the value is only carried.
    pub select_parameters: Option<serde_json::Value>,
    pub output_location: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct InventoryRetrievalJobInput {
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub limit: Option<String>,
    pub marker: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct InventoryRetrievalJobDescription {
    pub format: Option<InventoryFormat>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub limit: Option<String>,
    pub marker: Option<String>,
}

/// DescribeJob's body and one entry of ListJobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GlacierJobDescription {
    pub job_id: String,
    pub job_description: Option<String>,
    pub action: JobAction,
    pub archive_id: Option<String>,
    #[serde(rename = "VaultARN")]
    pub vault_arn: String,
    pub creation_date: String,
    pub completed: bool,
    pub status_code: JobStatus,
    pub status_message: Option<String>,
    pub archive_size_in_bytes: Option<u64>,
    pub inventory_size_in_bytes: Option<u64>,
    #[serde(rename = "SNSTopic")]
    pub sns_topic: Option<String>,
    pub completion_date: Option<String>,
    #[serde(rename = "SHA256TreeHash")]
    pub sha256_tree_hash: Option<String>,
    #[serde(rename = "ArchiveSHA256TreeHash")]
    pub archive_sha256_tree_hash: Option<String>,
    pub retrieval_byte_range: Option<String>,
    pub tier: Option<Tier>,
    pub inventory_retrieval_parameters: Option<InventoryRetrievalJobDescription>,
    pub job_output_path: Option<String>,
    pub select_parameters: Option<serde_json::Value>,
    pub output_location: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListJobsOutput {
    pub job_list: Vec<GlacierJobDescription>,
    pub marker: Option<String>,
}

/// The body of Set/GetVaultAccessPolicy and InitiateVaultLock: the policy document as a string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PolicyDocument {
    #[serde(rename = "Policy")]
    pub policy: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetVaultLockOutput {
    pub policy: String,
    pub state: LockState,
    pub expiration_date: Option<String>,
    pub creation_date: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct DataRetrievalRule {
    pub strategy: Option<RetrievalStrategy>,
    pub bytes_per_hour: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct DataRetrievalPolicy {
    pub rules: Option<Vec<DataRetrievalRule>>,
}

/// The body of Set/GetDataRetrievalPolicy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DataRetrievalPolicyBody {
    #[serde(rename = "Policy")]
    pub policy: Option<DataRetrievalPolicy>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AddTagsToVaultInput {
    #[serde(rename = "Tags")]
    pub tags: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RemoveTagsFromVaultInput {
    #[serde(rename = "TagKeys")]
    pub tag_keys: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ListTagsForVaultOutput {
    #[serde(rename = "Tags")]
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProvisionedCapacityDescription {
    pub capacity_id: String,
    pub start_date: String,
    pub expiration_date: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListProvisionedCapacityOutput {
    pub provisioned_capacity_list: Vec<ProvisionedCapacityDescription>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_fields_are_null_not_missing() {
        let v = DescribeVaultOutput {
            vault_arn: "arn:aws:glacier:us-east-1:012345678901:vaults/v".into(),
            vault_name: "v".into(),
            creation_date: "2012-03-20T17:03:43.221Z".into(),
            last_inventory_date: None,
            number_of_archives: 0,
            size_in_bytes: 0,
        };
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["LastInventoryDate"], serde_json::Value::Null);
        assert!(
            json.as_object()
                .is_some_and(|o| o.contains_key("LastInventoryDate"))
        );
        assert_eq!(
            json["VaultARN"],
            "arn:aws:glacier:us-east-1:012345678901:vaults/v"
        );
    }

    #[test]
    fn error_body_shape() {
        let e = ErrorBody {
            code: "ResourceNotFoundException".into(),
            message: "Vault not found".into(),
            error_type: crate::ErrorType::Client,
        };
        let s = serde_json::to_string(&e).unwrap();
        assert_eq!(
            s,
            r#"{"code":"ResourceNotFoundException","message":"Vault not found","type":"Client"}"#
        );
    }

    #[test]
    fn notification_config_round_trips() {
        let raw = r#"{"SNSTopic":"arn:aws:sns:us-east-1:012345678901:t","Events":["ArchiveRetrievalCompleted"]}"#;
        let c: VaultNotificationConfig = serde_json::from_str(raw).unwrap();
        assert_eq!(
            c.events.as_deref(),
            Some(&["ArchiveRetrievalCompleted".to_string()][..])
        );
        assert_eq!(serde_json::to_string(&c).unwrap(), raw);
    }
}
