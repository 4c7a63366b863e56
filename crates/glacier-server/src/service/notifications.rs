//! A vault's notification configuration (the posting itself is `notify.rs`).

use super::*;

impl Service {
    pub async fn set_notifications(
        &self,
        key: &VaultKey,
        config: wire::VaultNotificationConfig,
    ) -> ApiResult<()> {
        let topic = config
            .sns_topic
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::missing("SNSTopic"))?;
        let events = config
            .events
            .filter(|e| !e.is_empty())
            .ok_or_else(|| ApiError::missing("Events"))?;
        if let Some(bad) = events
            .iter()
            .find(|e| !NOTIFICATION_EVENTS.contains(&e.as_str()))
        {
            return Err(ApiError::invalid(format!(
                "Invalid event {bad:?}: the events are {}",
                NOTIFICATION_EVENTS.join(", ")
            )));
        }
        self.meta
            .set_notifications(
                key,
                Some(Notifications {
                    sns_topic: topic,
                    events,
                }),
            )
            .await?;
        Ok(())
    }

    pub async fn get_notifications(
        &self,
        key: &VaultKey,
    ) -> ApiResult<wire::VaultNotificationConfig> {
        let Some(n) = self.meta.get_notifications(key).await? else {
            return Err(ApiError::not_found(format!(
                "No notification configuration is set for vault: {}",
                self.vault_arn(key).await
            )));
        };
        Ok(wire::VaultNotificationConfig {
            sns_topic: Some(n.sns_topic),
            events: Some(n.events),
        })
    }

    pub async fn delete_notifications(&self, key: &VaultKey) -> ApiResult<()> {
        Ok(self.meta.set_notifications(key, None).await?)
    }
}
