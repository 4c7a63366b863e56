//! Vaults: create, describe, list, delete.

use super::*;

impl Service {
    pub async fn create_vault(&self, key: &VaultKey) -> ApiResult<()> {
        self.meta
            .create_vault(
                key,
                &self.settings.region,
                self.now(),
                MAX_VAULTS_PER_ACCOUNT,
            )
            .await?;
        Ok(())
    }

    /// The vault `key`; `read` if it was read already (while authorizing the request).
    pub async fn describe_vault(
        &self,
        key: &VaultKey,
        read: Option<Vault>,
    ) -> ApiResult<wire::DescribeVaultOutput> {
        let vault = match read {
            Some(v) if v.key == *key => v,
            _ => self.meta.get_vault(key).await?,
        };
        Ok(self.describe(&vault))
    }

    pub async fn list_vaults(
        &self,
        account: &str,
        marker: Option<&str>,
        limit: usize,
    ) -> ApiResult<wire::ListVaultsOutput> {
        let after = match marker {
            Some(m) => Some(
                m.rsplit_once(":vaults/")
                    .filter(|(prefix, name)| {
                        prefix.starts_with("arn:aws:glacier:") && validate::vault_name(name).is_ok()
                    })
                    .map(|(_, name)| name)
                    .ok_or_else(|| {
                        ApiError::invalid(format!("Invalid marker: {m:?} is not a vault ARN"))
                    })?,
            ),
            None => None,
        };
        let page = self.meta.list_vaults(account, after, limit).await?;
        Ok(wire::ListVaultsOutput {
            marker: next_marker(&page, arn_of),
            vault_list: page.items.iter().map(|v| self.describe(v)).collect(),
        })
    }

    /// Deletes an empty vault. With daily inventories, as on AWS, only once an inventory
    /// taken after the vault's last write shows it empty.
    pub async fn delete_vault(&self, key: &VaultKey) -> ApiResult<()> {
        if self.settings.timing.daily_inventory.is_some() {
            let vault = self.meta.get_vault(key).await?;
            let written = self.meta.last_write(key).await?;
            let inventoried_empty = vault.inventoried.is_some_and(|t| t.archives == 0)
                && vault.last_inventory >= written;
            if written.is_some() && !inventoried_empty {
                return Err(ApiError::invalid(format!(
                    "Vault not empty or recently written to: {}; a vault is deleted once an inventory taken after its last write shows it empty (inventories are taken about daily)",
                    arn_of(&vault)
                )));
            }
        }
        let blobs = self.meta.delete_vault(key).await?;
        self.discard(&blobs).await;
        Ok(())
    }
}
