//! Tags, vault access policies, vault locks, data retrieval policies and provisioned capacity:
//! stored and validated here, and [`Service::authorize`]: every request's check against the
//! caller's account and the vault's access and lock policies.

use super::Service;
use super::authorize::denied;
use crate::error::{ApiError, ApiResult};
use crate::policy::Policy;
use glacier_core::wire;
use glacier_core::{ErrorCode, format_date};
use glacier_core::{LockState, RetrievalStrategy, Tier};
use glacier_storage::{Admission, Allowance, CapacityUnit, LockSwap, VaultKey, VaultLock};
use time::OffsetDateTime;

/// Tags a vault can have (the developer guide and REST reference; the SDK model says 10).
const MAX_TAGS: usize = 50;
/// Largest vault access or lock policy.
const MAX_POLICY_BYTES: usize = 20 * 1024;
/// Active provisioned capacity units an account can have.
const MAX_CAPACITY_UNITS: usize = 2;
const LOCK_ID_LEN: usize = 32;
const CAPACITY_ID_LEN: usize = 24;

/// Checks a policy document: its size and that it parses as a policy; says why not.
fn check_policy(doc: &wire::PolicyDocument) -> ApiResult<String> {
    let policy = doc
        .policy
        .clone()
        .ok_or_else(|| ApiError::missing("Policy"))?;
    if policy.len() > MAX_POLICY_BYTES {
        return Err(ApiError::invalid(format!(
            "Policy is {} bytes; the limit is {MAX_POLICY_BYTES}",
            policy.len()
        )));
    }
    Policy::parse(&policy).map_err(ApiError::invalid)?;
    Ok(policy)
}

fn check_tag(key: &str, value: Option<&str>) -> ApiResult<()> {
    if key.is_empty() || key.chars().count() > 128 {
        return Err(ApiError::invalid(format!(
            "Invalid tag key {key:?}: a key is 1 to 128 characters long"
        )));
    }
    if key.to_ascii_lowercase().starts_with("aws:") {
        return Err(ApiError::invalid(format!(
            "Invalid tag key {key:?}: the aws: prefix is reserved"
        )));
    }
    if let Some(v) = value
        && v.chars().count() > 256
    {
        return Err(ApiError::invalid(format!(
            "Invalid value for tag {key:?}: a value is at most 256 characters long"
        )));
    }
    Ok(())
}

/// What a vault lock transition does.
enum Change<T> {
    /// Nothing to write (the transition already holds); answer `T`.
    Keep(T),
    /// The lock becomes this; answer `T` once it did.
    Set(Option<VaultLock>, T),
}

/// What a refused [`Admission`] is, for its error.
pub(super) enum Refusal {
    Expedited { on_demand: u32, units: u64 },
    Policy { window: &'static str },
}

impl Refusal {
    /// The error of a retrieval of `bytes` refused with `used` of `allowed` taken.
    pub(super) fn error(&self, bytes: u64, used: u64, allowed: u64) -> ApiError {
        match self {
            Refusal::Expedited { on_demand, units } => ApiError::new(
                ErrorCode::InsufficientCapacityException,
                format!(
                    "Insufficient capacity for an Expedited retrieval: {used} started in the last 5 minutes, {allowed} allowed ({on_demand} on demand + 3 for each of {units} provisioned capacity units). Retry later, purchase provisioned capacity, or use the Standard tier"
                ),
            ),
            Refusal::Policy { window } => ApiError::new(
                ErrorCode::PolicyEnforcedException,
                format!(
                    "InitiateJob request denied by current data retrieval policy: retrieving {bytes} bytes would make {} bytes in the last {window}; the policy allows {allowed}",
                    used.saturating_add(bytes)
                ),
            ),
        }
    }
}

/// A stored lock as it stands at `now`: an `InProgress` lock past its 24 hours counts as none.
pub(super) fn live(lock: Option<VaultLock>, now: OffsetDateTime) -> Option<VaultLock> {
    lock.filter(|l| l.state == LockState::Locked || l.expires.is_some_and(|e| e > now))
}

fn add_one_month(t: OffsetDateTime) -> OffsetDateTime {
    let (year, month) = match t.month() {
        time::Month::December => (t.year() + 1, time::Month::January),
        m => (t.year(), m.next()),
    };
    let day = t.day().min(time::util::days_in_month(month, year));
    time::Date::from_calendar_date(year, month, day)
        .map_or(t + time::Duration::days(30), |d| t.replace_date(d))
}

impl Service {
    /// The allowance an archive retrieval at `tier` for `account` must fit, if any:
    /// Expedited retrievals against the on-demand rate plus 3 per active capacity unit, every
    /// 5 minutes; Standard and Bulk ones against the data retrieval policy — `BytesPerHour`
    /// over a sliding hour, `FreeTier` over a sliding day. The store checks it when it records
    /// the job ([`Admission`]); [`Refusal::error`] says what a refusal means.
    pub(super) async fn admission(
        &self,
        account: &str,
        tier: Tier,
    ) -> ApiResult<Option<(Admission, Refusal)>> {
        let now = self.now();
        if tier == Tier::Expedited {
            let units = self
                .meta
                .list_capacity(account)
                .await?
                .iter()
                .filter(|u| u.start <= now && now < u.expires)
                .count() as u64;
            let allowed = u64::from(self.settings.expedited_rate) + 3 * units;
            let admission = Admission {
                since: now - self.settings.timing.capacity_window,
                expedited: true,
                allowance: Allowance::Retrievals(allowed),
            };
            let refusal = Refusal::Expedited {
                on_demand: self.settings.expedited_rate,
                units,
            };
            return Ok(Some((admission, refusal)));
        }
        let rule = self
            .get_retrieval_policy(account)
            .await?
            .policy
            .and_then(|p| p.rules)
            .and_then(|r| r.into_iter().next());
        let (limit, window, name) = match rule.as_ref().map(|r| (r.strategy, r.bytes_per_hour)) {
            Some((Some(RetrievalStrategy::BytesPerHour), Some(n))) => {
                (n, self.settings.timing.policy_window, "hour")
            }
            Some((Some(RetrievalStrategy::FreeTier), _)) => (
                self.settings.free_tier_bytes_per_day,
                self.settings.timing.free_tier_window,
                "24 hours (free tier)",
            ),
            _ => return Ok(None),
        };
        let admission = Admission {
            since: now - window,
            expedited: false,
            allowance: Allowance::Bytes(limit),
        };
        Ok(Some((admission, Refusal::Policy { window: name })))
    }

    pub async fn add_tags(
        &self,
        key: &VaultKey,
        input: wire::AddTagsToVaultInput,
    ) -> ApiResult<()> {
        let tags = input.tags.ok_or_else(|| ApiError::missing("Tags"))?;
        for (k, v) in &tags {
            check_tag(k, Some(v))?;
        }
        self.meta.add_tags(key, &tags, MAX_TAGS).await?;
        Ok(())
    }

    pub async fn remove_tags(
        &self,
        key: &VaultKey,
        input: wire::RemoveTagsFromVaultInput,
    ) -> ApiResult<()> {
        let keys = input.tag_keys.ok_or_else(|| ApiError::missing("TagKeys"))?;
        for k in &keys {
            check_tag(k, None)?;
        }
        Ok(self.meta.remove_tags(key, &keys).await?)
    }

    pub async fn list_tags(&self, key: &VaultKey) -> ApiResult<wire::ListTagsForVaultOutput> {
        Ok(wire::ListTagsForVaultOutput {
            tags: self.meta.list_tags(key).await?,
        })
    }

    pub async fn set_access_policy(
        &self,
        key: &VaultKey,
        doc: wire::PolicyDocument,
    ) -> ApiResult<()> {
        let policy = check_policy(&doc)?;
        Ok(self.meta.set_access_policy(key, Some(policy)).await?)
    }

    pub async fn get_access_policy(&self, key: &VaultKey) -> ApiResult<wire::PolicyDocument> {
        let p = self.meta.vault_policies(key).await?;
        let policy = p.access.ok_or_else(|| {
            ApiError::not_found(format!(
                "No vault access policy is set for: {}",
                glacier_core::vault_arn(&p.region, &key.account, &key.name)
            ))
        })?;
        Ok(wire::PolicyDocument {
            policy: Some(policy),
        })
    }

    pub async fn delete_access_policy(&self, key: &VaultKey) -> ApiResult<()> {
        Ok(self.meta.set_access_policy(key, None).await?)
    }

    /// Runs one vault lock transition: `decide` sees the live lock and says what it becomes;
    /// the store swaps it only if no other transition came in between, else `decide` judges
    /// again on the lock that other transition left. So the loser of a race answers for the
    /// state it finds, and a lock is never both completed and aborted.
    async fn transition<T>(
        &self,
        key: &VaultKey,
        decide: impl Fn(Option<&VaultLock>) -> ApiResult<Change<T>>,
    ) -> ApiResult<T> {
        let mut found = self.meta.vault_policies(key).await?.lock;
        // Every lost swap means another transition took effect; a bound only guards the loop.
        for _ in 0..64 {
            let seen = live(found.clone(), self.now());
            let (new, out) = match decide(seen.as_ref())? {
                Change::Keep(out) => return Ok(out),
                Change::Set(new, out) => (new, out),
            };
            match self.meta.swap_vault_lock(key, found.as_ref(), new).await? {
                LockSwap::Swapped => return Ok(out),
                LockSwap::Changed(now) => found = now,
            }
        }
        Err(ApiError::internal(format!(
            "the lock of vault {} kept changing under a transition",
            key.name
        )))
    }

    pub async fn initiate_lock(
        &self,
        key: &VaultKey,
        doc: wire::PolicyDocument,
    ) -> ApiResult<String> {
        let policy = check_policy(&doc)?;
        let now = self.now();
        let lock = VaultLock {
            policy,
            state: LockState::InProgress,
            lock_id: crate::config::random_string(LOCK_ID_LEN, super::ID_ALPHABET),
            created: now,
            expires: Some(now + self.settings.timing.lock_window),
        };
        self.transition(key, |current| match current.map(|l| l.state) {
            Some(LockState::Locked) => Err(denied(format!(
                "The vault {} is locked; its lock policy cannot be replaced",
                key.name
            ))),
            Some(LockState::InProgress) => Err(denied(format!(
                "A vault lock is in progress on {}; abort it before initiating another",
                key.name
            ))),
            None => Ok(Change::Set(Some(lock.clone()), lock.lock_id.clone())),
        })
        .await
    }

    pub async fn get_lock(&self, key: &VaultKey) -> ApiResult<wire::GetVaultLockOutput> {
        let p = self.meta.vault_policies(key).await?;
        let lock = live(p.lock, self.now()).ok_or_else(|| {
            ApiError::not_found(format!(
                "No vault lock policy is set for: {}",
                glacier_core::vault_arn(&p.region, &key.account, &key.name)
            ))
        })?;
        Ok(wire::GetVaultLockOutput {
            policy: lock.policy,
            state: lock.state,
            expiration_date: lock.expires.map(format_date),
            creation_date: format_date(lock.created),
        })
    }

    pub async fn complete_lock(&self, key: &VaultKey, lock_id: &str) -> ApiResult<()> {
        self.transition(key, |current| match current {
            None => Err(ApiError::invalid(format!(
                "No vault lock is in progress on {}",
                key.name
            ))),
            Some(l) if l.state == LockState::Locked && l.lock_id == lock_id => Ok(Change::Keep(())),
            Some(l) if l.state == LockState::Locked => Err(denied(format!(
                "The vault {} is locked with another lock id",
                key.name
            ))),
            Some(l) if l.lock_id != lock_id => Err(ApiError::invalid(format!(
                "Invalid lock id {lock_id:?} for the vault lock in progress on {}",
                key.name
            ))),
            Some(l) => Ok(Change::Set(
                Some(VaultLock {
                    state: LockState::Locked,
                    expires: None,
                    ..l.clone()
                }),
                (),
            )),
        })
        .await
    }

    pub async fn abort_lock(&self, key: &VaultKey) -> ApiResult<()> {
        self.transition(key, |current| match current.map(|l| l.state) {
            Some(LockState::Locked) => Err(denied(format!(
                "The vault {} is locked; the lock cannot be aborted",
                key.name
            ))),
            Some(LockState::InProgress) => Ok(Change::Set(None, ())),
            None => Ok(Change::Keep(())),
        })
        .await
    }

    pub async fn get_retrieval_policy(
        &self,
        account: &str,
    ) -> ApiResult<wire::DataRetrievalPolicyBody> {
        let policy = match self.meta.get_retrieval_policy(account).await? {
            Some(p) => serde_json::from_str(&p).map_err(ApiError::internal)?,
            None => wire::DataRetrievalPolicy {
                rules: Some(vec![wire::DataRetrievalRule {
                    strategy: Some(RetrievalStrategy::None),
                    bytes_per_hour: None,
                }]),
            },
        };
        Ok(wire::DataRetrievalPolicyBody {
            policy: Some(policy),
        })
    }

    pub async fn set_retrieval_policy(
        &self,
        account: &str,
        body: wire::DataRetrievalPolicyBody,
    ) -> ApiResult<()> {
        let policy = body.policy.ok_or_else(|| ApiError::missing("Policy"))?;
        let rules = policy
            .rules
            .clone()
            .ok_or_else(|| ApiError::missing("Rules"))?;
        let [rule] = rules.as_slice() else {
            return Err(ApiError::invalid(format!(
                "A data retrieval policy has exactly one rule; this one has {}",
                rules.len()
            )));
        };
        match (rule.strategy, rule.bytes_per_hour) {
            (Some(RetrievalStrategy::BytesPerHour), Some(n)) if n > 0 => {}
            (Some(RetrievalStrategy::BytesPerHour), _) => {
                return Err(ApiError::invalid(
                    "The BytesPerHour strategy needs BytesPerHour of at least 1",
                ));
            }
            (Some(RetrievalStrategy::FreeTier | RetrievalStrategy::None), None) => {}
            (Some(s @ (RetrievalStrategy::FreeTier | RetrievalStrategy::None)), Some(_)) => {
                return Err(ApiError::invalid(format!(
                    "BytesPerHour is only allowed with the BytesPerHour strategy, not {s}"
                )));
            }
            (None, _) => return Err(ApiError::missing("Strategy")),
        }
        let json = serde_json::to_string(&policy).map_err(ApiError::internal)?;
        Ok(self.meta.set_retrieval_policy(account, &json).await?)
    }

    pub async fn purchase_capacity(&self, account: &str) -> ApiResult<String> {
        let start = self.now();
        let unit = CapacityUnit {
            id: crate::config::random_string(
                CAPACITY_ID_LEN,
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
            ),
            start,
            expires: add_one_month(start),
        };
        let id = unit.id.clone();
        self.meta
            .purchase_capacity(account, unit, MAX_CAPACITY_UNITS)
            .await?;
        Ok(id)
    }

    pub async fn list_capacity(
        &self,
        account: &str,
    ) -> ApiResult<wire::ListProvisionedCapacityOutput> {
        let units = self.meta.list_capacity(account).await?;
        Ok(wire::ListProvisionedCapacityOutput {
            provisioned_capacity_list: units
                .into_iter()
                .map(|u| wire::ProvisionedCapacityDescription {
                    capacity_id: u.id,
                    start_date: format_date(u.start),
                    expiration_date: format_date(u.expires),
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_and_tags() {
        let t = time::macros::datetime!(2024-01-31 10:00 UTC);
        assert_eq!(
            add_one_month(t),
            time::macros::datetime!(2024-02-29 10:00 UTC)
        );
        let t = time::macros::datetime!(2024-12-15 10:00 UTC);
        assert_eq!(
            add_one_month(t),
            time::macros::datetime!(2025-01-15 10:00 UTC)
        );
        assert!(check_tag("ok", Some("v")).is_ok());
        assert!(check_tag("", None).is_err());
        assert!(check_tag("aws:x", None).is_err());
        assert!(check_tag(&"k".repeat(129), None).is_err());
        assert!(check_tag("k", Some(&"v".repeat(257))).is_err());
        let doc = |p: &str| wire::PolicyDocument {
            policy: Some(p.into()),
        };
        assert!(check_policy(&doc(r#"{"Version":"2012-10-17","Statement":[]}"#)).is_ok());
        assert!(
            check_policy(&doc("{"))
                .unwrap_err()
                .message
                .contains("not valid JSON")
        );
        assert!(
            check_policy(&doc("[]"))
                .unwrap_err()
                .message
                .contains("object")
        );
        assert!(
            check_policy(&doc("{}"))
                .unwrap_err()
                .message
                .contains("Statement")
        );
    }

    /// An InProgress lock lapses after 24 hours by the service's clock: then it reads as no
    /// lock, cannot be completed, and a new one can be initiated.
    #[tokio::test]
    async fn an_unfinished_lock_lapses_after_a_day() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let clock = crate::Clock::manual(OffsetDateTime::now_utc());
        let settings = crate::Settings {
            clock: clock.clone(),
            ..crate::Settings::new("us-east-1")
        };
        let service = Service::open_local(dir.path(), settings).await?;
        let key = VaultKey {
            account: "111122223333".into(),
            name: "lapse".into(),
        };
        service.create_vault(&key).await?;
        let doc = || wire::PolicyDocument {
            policy: Some(r#"{"Version":"2012-10-17","Statement":[]}"#.into()),
        };
        let id = service.initiate_lock(&key, doc()).await?;
        clock.advance(time::Duration::hours(23));
        assert_eq!(service.get_lock(&key).await?.state, LockState::InProgress);
        clock.advance(time::Duration::hours(2));
        let code = |r: ApiResult<()>| r.map_err(|e| e.code);
        assert_eq!(
            code(service.get_lock(&key).await.map(drop)),
            Err(ErrorCode::ResourceNotFoundException)
        );
        assert_eq!(
            code(service.complete_lock(&key, &id).await),
            Err(ErrorCode::InvalidParameterValueException)
        );
        let again = service.initiate_lock(&key, doc()).await?;
        assert_ne!(again, id);
        Ok(())
    }
}
