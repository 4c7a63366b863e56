//! The API's named values as enums: retrieval tiers, job actions and statuses, vault lock
//! states, data retrieval strategies and the 33 operations. Each one is a closed set, so adding
//! a variant makes the compiler list every place that must handle it.
//!
//! On the wire each is its name as the API spells it; parsing that name is exact
//! ([`std::str::FromStr`], serde), and an unknown name is an error that says which names there
//! are. Users type them in any case ([`Tier::parse_loose`] and the like).

use std::fmt;

/// A name that is not one of an enum's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid {what} {given:?}: use {expected}")]
pub struct UnknownName {
    pub what: &'static str,
    pub given: String,
    /// The names there are, as a sentence ("A, B or C").
    pub expected: String,
}

fn sentence(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

macro_rules! names {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The name as the API spells it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// Parses a name as a user types it: in any case, with spaces around.
            pub fn parse_loose(s: &str) -> Result<$name, UnknownName> {
                let s = s.trim();
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(s))
                    .ok_or_else(|| Self::unknown(s))
            }

            fn unknown(s: &str) -> UnknownName {
                let names: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                UnknownName {
                    what: $what,
                    given: s.to_owned(),
                    expected: sentence(&names),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownName;

            fn from_str(s: &str) -> Result<$name, UnknownName> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| Self::unknown(s))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

names! {
    /// How fast an archive retrieval completes (and what it costs on AWS).
    Tier, "Tier" {
        Expedited = "Expedited",
        Standard = "Standard",
        Bulk = "Bulk",
    }
}

impl Default for Tier {
    /// Glacier's default when a retrieval names no tier.
    fn default() -> Tier {
        Tier::Standard
    }
}

/// What AWS charges to retrieve from a vault, in US dollars: per GB retrieved and per 1,000
/// retrieval requests ([`Tier::aws_price`]: the published prices of US East (N. Virginia);
/// other regions' differ, and can be given in the CLI's config file).
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrievalPrice {
    pub per_gb: f64,
    pub per_thousand_requests: f64,
}

impl Tier {
    /// How long AWS documents a retrieval of this tier to take: Expedited 1–5 minutes,
    /// Standard 3–5 hours, Bulk 5–12 hours.
    pub fn aws_window(self) -> (std::time::Duration, std::time::Duration) {
        let (min, max) = match self {
            Tier::Expedited => (60, 5 * 60),
            Tier::Standard => (3 * 3600, 5 * 3600),
            Tier::Bulk => (5 * 3600, 12 * 3600),
        };
        (
            std::time::Duration::from_secs(min),
            std::time::Duration::from_secs(max),
        )
    }

    /// AWS's price for retrievals of this tier ([`RetrievalPrice`]): Expedited $0.03/GB and
    /// $10 per 1,000 requests, Standard $0.01/GB and $0.05, Bulk $0.0025/GB and $0.025.
    pub fn aws_price(self) -> RetrievalPrice {
        let (per_gb, per_thousand_requests) = match self {
            Tier::Expedited => (0.03, 10.0),
            Tier::Standard => (0.01, 0.05),
            Tier::Bulk => (0.0025, 0.025),
        };
        RetrievalPrice {
            per_gb,
            per_thousand_requests,
        }
    }

    /// What retrieving `archives` archives of `bytes` in all costs on AWS at this tier.
    pub fn aws_cost(self, archives: u64, bytes: u64) -> f64 {
        self.aws_price().cost(archives, bytes)
    }
}

impl RetrievalPrice {
    /// What retrieving `archives` archives of `bytes` in all costs at these prices.
    pub fn cost(self, archives: u64, bytes: u64) -> f64 {
        let p = self;
        let gb = bytes as f64 / f64::from(1u32 << 30);
        gb * p.per_gb + archives as f64 / 1000.0 * p.per_thousand_requests
    }
}

names! {
    /// What InitiateJob is asked to do, as its `Type` says.
    JobType, "Type" {
        ArchiveRetrieval = "archive-retrieval",
        InventoryRetrieval = "inventory-retrieval",
        Select = "select",
    }
}

names! {
    /// What a job does, as DescribeJob's `Action` says.
    JobAction, "Action" {
        ArchiveRetrieval = "ArchiveRetrieval",
        InventoryRetrieval = "InventoryRetrieval",
        Select = "Select",
    }
}

names! {
    /// Where a job stands, as DescribeJob's `StatusCode` and ListJobs' `statuscode` say.
    JobStatus, "statuscode" {
        InProgress = "InProgress",
        Succeeded = "Succeeded",
        Failed = "Failed",
    }
}

names! {
    /// Where a vault lock stands: initiated and being tried out (it lapses after 24 hours
    /// unless completed), or locked for good.
    LockState, "lock state" {
        InProgress = "InProgress",
        Locked = "Locked",
    }
}

names! {
    /// The rule of a data retrieval policy.
    RetrievalStrategy, "Strategy" {
        BytesPerHour = "BytesPerHour",
        FreeTier = "FreeTier",
        None = "None",
    }
}

names! {
    /// An inventory's format.
    InventoryFormat, "Format" {
        Json = "JSON",
        Csv = "CSV",
    }
}

names! {
    /// The operations of the Glacier 2012-06-01 API, by the names IAM actions use
    /// (`glacier:<name>`).
    Operation, "operation" {
        AbortMultipartUpload = "AbortMultipartUpload",
        AbortVaultLock = "AbortVaultLock",
        AddTagsToVault = "AddTagsToVault",
        CompleteMultipartUpload = "CompleteMultipartUpload",
        CompleteVaultLock = "CompleteVaultLock",
        CreateVault = "CreateVault",
        DeleteArchive = "DeleteArchive",
        DeleteVault = "DeleteVault",
        DeleteVaultAccessPolicy = "DeleteVaultAccessPolicy",
        DeleteVaultNotifications = "DeleteVaultNotifications",
        DescribeJob = "DescribeJob",
        DescribeVault = "DescribeVault",
        GetDataRetrievalPolicy = "GetDataRetrievalPolicy",
        GetJobOutput = "GetJobOutput",
        GetVaultAccessPolicy = "GetVaultAccessPolicy",
        GetVaultLock = "GetVaultLock",
        GetVaultNotifications = "GetVaultNotifications",
        InitiateJob = "InitiateJob",
        InitiateMultipartUpload = "InitiateMultipartUpload",
        InitiateVaultLock = "InitiateVaultLock",
        ListJobs = "ListJobs",
        ListMultipartUploads = "ListMultipartUploads",
        ListParts = "ListParts",
        ListProvisionedCapacity = "ListProvisionedCapacity",
        ListTagsForVault = "ListTagsForVault",
        ListVaults = "ListVaults",
        PurchaseProvisionedCapacity = "PurchaseProvisionedCapacity",
        RemoveTagsFromVault = "RemoveTagsFromVault",
        SetDataRetrievalPolicy = "SetDataRetrievalPolicy",
        SetVaultAccessPolicy = "SetVaultAccessPolicy",
        SetVaultNotifications = "SetVaultNotifications",
        UploadArchive = "UploadArchive",
        UploadMultipartPart = "UploadMultipartPart",
    }
}

impl Operation {
    /// Whether the operation's request body is an archive or a part, streamed into storage as
    /// it arrives rather than read whole.
    pub fn streams_body(self) -> bool {
        matches!(
            self,
            Operation::UploadArchive | Operation::UploadMultipartPart
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_exactly_on_the_wire_and_loosely_from_users() {
        for t in Tier::ALL {
            assert_eq!(t.as_str().parse::<Tier>(), Ok(*t));
        }
        assert_eq!(Tier::parse_loose(" bulk "), Ok(Tier::Bulk));
        // AWS's own example: 15,000,000 archives, 100 TB at Standard cost $1,774.
        let cost = Tier::Standard.aws_cost(15_000_000, 102_400 << 30);
        assert!((cost - 1774.0).abs() < 0.01, "{cost}");
        assert!(Tier::Bulk.aws_cost(1000, 1 << 30) < Tier::Standard.aws_cost(1000, 1 << 30));
        let e = "bulk".parse::<Tier>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "Invalid Tier \"bulk\": use Expedited, Standard or Bulk"
        );
        assert_eq!(
            InventoryFormat::parse_loose("csv"),
            Ok(InventoryFormat::Csv)
        );
        assert_eq!(Operation::ALL.len(), 33, "every operation of the API");
        let json = serde_json::to_string(&JobStatus::Succeeded).unwrap();
        assert_eq!(json, "\"Succeeded\"");
        assert_eq!(
            serde_json::from_str::<RetrievalStrategy>("\"FreeTier\"").unwrap(),
            RetrievalStrategy::FreeTier
        );
        let bad = serde_json::from_str::<RetrievalStrategy>("\"Everything\"").unwrap_err();
        assert!(bad.to_string().contains("Invalid Strategy"), "{bad}");
    }
}
