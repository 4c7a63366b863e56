//! Who may do what: [`Service::authorize`] weighs a request against the vault's access and
//! lock policies (parsed policies cached by their text; tags and archive age read only when a
//! condition reads them).

use super::governance::live;
use super::*;
use crate::policy::{Decision, Policy, context_key};
use glacier_core::{ErrorCode, Operation};
use glacier_storage::StorageError;

pub(super) fn denied(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::AccessDeniedException, message)
}

/// What a request acts on, for [`Service::authorize`].
pub enum Target<'a> {
    /// An account-level resource: the vault list, the retrieval policy, capacity.
    Account(&'a str),
    /// A vault, and for DeleteArchive the archive.
    Vault(&'a VaultKey, Option<&'a str>),
}

impl Service {
    /// With `--refuse-new-accounts`, what AWS answers a caller whose account has no Glacier
    /// storage: `NoLongerSupportedException`, on every operation. An account once seen holding
    /// a vault stays a customer for the life of the process.
    async fn refuse_new_account(&self, account: &str) -> ApiResult<()> {
        let known = |customers: &std::collections::HashSet<String>| customers.contains(account);
        if self.customers.lock().is_ok_and(|c| known(&c)) {
            return Ok(());
        }
        if self
            .meta
            .list_vaults(account, None, 1)
            .await?
            .items
            .is_empty()
        {
            return Err(ApiError::new(
                ErrorCode::NoLongerSupportedException,
                "This API is no longer supported for new accounts. Please use Amazon S3 Glacier storage classes instead.",
            ));
        }
        if let Ok(mut customers) = self.customers.lock() {
            customers.insert(account.to_owned());
        }
        Ok(())
    }

    /// Whether the caller (of `caller_account`) may perform `action` (`DeleteArchive`, ...) on
    /// `target`. Account-level resources are the caller's own only. On a vault, an explicit
    /// deny of its access or lock policy refuses anyone, the owner included
    /// (`AccessDeniedException`); otherwise the owner may, and another account may only what
    /// a policy allows it. A vault that grants another account nothing is, to that account,
    /// not there (`ResourceNotFoundException`, as for a missing vault).
    pub async fn authorize(
        &self,
        caller_account: &str,
        operation: Operation,
        target: Target<'_>,
    ) -> ApiResult<()> {
        self.authorize_reading(caller_account, operation, target)
            .await
            .map(drop)
    }

    /// [`Service::authorize`], giving back the vault when the store read it with its
    /// policies (PostgreSQL: one round trip fewer for the operation that needs it).
    pub(crate) async fn authorize_reading(
        &self,
        caller_account: &str,
        operation: Operation,
        target: Target<'_>,
    ) -> ApiResult<Option<Vault>> {
        if self.settings.refuse_new_accounts {
            self.refuse_new_account(caller_account).await?;
        }
        let action = format!("glacier:{operation}");
        let refuse = |resource: &str, why: &str| {
            denied(format!(
                "User: arn:aws:iam::{caller_account}:root is not authorized to perform: {action} on resource: {resource}{why}"
            ))
        };
        let (key, archive_id) = match target {
            Target::Account(account) if account == caller_account => return Ok(None),
            Target::Account(account) => {
                return Err(refuse(
                    &format!("arn:aws:glacier:{}:{account}:*", self.settings.region),
                    "; account-level operations act on the caller's own account only",
                ));
            }
            Target::Vault(key, archive_id) => (key, archive_id),
        };
        let own = key.account == caller_account;
        let (region, policies, vault) = self.vault_policies(key).await?;
        // The vault's own ARN, fixed when it was created: a lock keeps protecting it whatever
        // region the server is started with later.
        let resource = glacier_core::vault_arn(&region, &key.account, &key.name);
        if policies.is_empty() {
            return match (own, operation) {
                (true, _) => Ok(vault),
                (false, Operation::CreateVault) => Err(refuse(
                    &resource,
                    "; vaults are created in the caller's own account",
                )),
                (false, _) => Err(ApiError::from(StorageError::not_found(
                    glacier_storage::Resource::Vault,
                    key.name.clone(),
                ))),
            };
        }
        let context = self
            .policy_context(caller_account, key, archive_id, &policies)
            .await?;
        let request = crate::policy::Request {
            account: caller_account,
            action: &action,
            resource: &resource,
            context: &context,
        };
        let mut allowed = own;
        for p in &policies {
            match p.evaluate(&request) {
                Decision::Deny(sid) => {
                    let sid = sid
                        .map(|s| format!(" (statement {s:?})"))
                        .unwrap_or_default();
                    return Err(refuse(
                        &resource,
                        &format!(" with an explicit deny in a vault policy{sid}"),
                    ));
                }
                Decision::Allow => allowed = true,
                Decision::NotApplicable => {}
            }
        }
        if allowed {
            Ok(vault)
        } else if policies.iter().any(|p| p.grants_any(caller_account)) {
            Err(refuse(&resource, ""))
        } else {
            Err(ApiError::from(StorageError::not_found(
                glacier_storage::Resource::Vault,
                key.name.clone(),
            )))
        }
    }

    /// The vault's region and its policies in force (the access policy, and the lock's while
    /// it is in force), parsed. A vault that does not exist has none: the handler says it is
    /// not there.
    async fn vault_policies(
        &self,
        key: &VaultKey,
    ) -> ApiResult<(String, Vec<Arc<Policy>>, Option<Vault>)> {
        let (region, access, lock, vault) = match self.meta.vault_policies(key).await {
            Err(StorageError::NotFound { .. }) => (self.settings.region.clone(), None, None, None),
            other => {
                let p = other?;
                (
                    p.region,
                    p.access,
                    live(p.lock, self.now()).map(|l| l.policy),
                    p.vault,
                )
            }
        };
        let mut policies = Vec::new();
        for text in access.iter().chain(lock.iter()) {
            policies.push(self.parsed_policy(text).map_err(|e| {
                ApiError::internal(format!(
                    "the stored policy of {} does not parse: {e}",
                    key.name
                ))
            })?);
        }
        Ok((region, policies, vault))
    }

    /// A stored policy, parsed: parsed once per distinct text and kept, so that a request
    /// reads the current policy text (which is always right, whoever changed it) but does not
    /// parse it again. A changed policy is a new text: the cache needs no invalidation.
    fn parsed_policy(&self, text: &str) -> Result<Arc<Policy>, String> {
        /// Distinct policies kept; past it the cache starts over.
        const KEPT: usize = 4096;
        let mut cache = self.policies.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = cache.get(text) {
            return Ok(Arc::clone(p));
        }
        let policy = Arc::new(Policy::parse(text)?);
        if cache.len() >= KEPT {
            cache.clear();
        }
        cache.insert(text.to_owned(), Arc::clone(&policy));
        Ok(policy)
    }

    /// The condition keys a vault request carries, looking up only what a condition of
    /// `policies` reads (the vault's tags, the archive's age).
    async fn policy_context(
        &self,
        caller_account: &str,
        key: &VaultKey,
        archive_id: Option<&str>,
        policies: &[Arc<Policy>],
    ) -> ApiResult<Vec<(String, String)>> {
        let reads = |prefix: &str| policies.iter().any(|p| p.reads(prefix));
        let now = self.now();
        let mut context = vec![
            // No request here is made with MFA.
            ("aws:MultiFactorAuthPresent", "false".to_owned()),
            (
                "aws:SecureTransport",
                self.settings.secure_transport.to_string(),
            ),
            ("aws:PrincipalAccount", caller_account.to_owned()),
            ("aws:EpochTime", now.unix_timestamp().to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (context_key(k), v))
        .collect::<Vec<_>>();
        let tags = match reads("glacier:ResourceTag/") {
            false => Default::default(),
            true => match self.meta.list_tags(key).await {
                Err(StorageError::NotFound { .. }) => Default::default(),
                other => other?,
            },
        };
        for (k, v) in tags {
            context.push((context_key(&format!("glacier:ResourceTag/{k}")), v));
        }
        if let Some(id) = archive_id.filter(|_| reads("glacier:ArchiveAgeInDays")) {
            match self.meta.get_archive_summary(key, id).await {
                Ok(a) => context.push((
                    context_key("glacier:ArchiveAgeInDays"),
                    (now - a.created).whole_days().to_string(),
                )),
                Err(StorageError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(context)
    }
}
