//! Every JSON shape of the API (request bodies the server reads, responses the client reads):
//! never a panic, and what parses serializes and parses again.
#![no_main]

use glacier_core::wire;
use libfuzzer_sys::fuzz_target;
use serde::{Serialize, de::DeserializeOwned};

fn round_trip<T: Serialize + DeserializeOwned>(data: &[u8]) {
    if let Ok(v) = serde_json::from_slice::<T>(data)
        && let Ok(again) = serde_json::to_vec(&v)
    {
        assert!(serde_json::from_slice::<T>(&again).is_ok(), "re-parses");
    }
}

fuzz_target!(|data: &[u8]| {
    round_trip::<wire::JobParameters>(data);
    round_trip::<wire::VaultNotificationConfig>(data);
    round_trip::<wire::PolicyDocument>(data);
    round_trip::<wire::DataRetrievalPolicyBody>(data);
    round_trip::<wire::AddTagsToVaultInput>(data);
    round_trip::<wire::RemoveTagsFromVaultInput>(data);
    round_trip::<wire::ErrorBody>(data);
    round_trip::<wire::DescribeVaultOutput>(data);
    round_trip::<wire::ListVaultsOutput>(data);
    round_trip::<wire::ListPartsOutput>(data);
    round_trip::<wire::ListMultipartUploadsOutput>(data);
    round_trip::<wire::GlacierJobDescription>(data);
    round_trip::<wire::ListJobsOutput>(data);
    round_trip::<wire::GetVaultLockOutput>(data);
    round_trip::<wire::ListTagsForVaultOutput>(data);
    round_trip::<wire::ListProvisionedCapacityOutput>(data);
});
