//! What every request handler shares.

use crate::auth::{Authenticated, SignedRequest};
use crate::config::ServerConfig;
use crate::service::Service;

pub struct AppState {
    pub service: std::sync::Arc<Service>,
    pub config: ServerConfig,
}

impl AppState {
    /// Maps a signed request to its caller. Until signatures are verified, a key that no
    /// identity has acts for the first identity's account.
    pub fn authenticate(&self, signed: &SignedRequest) -> Authenticated {
        let identity = self
            .config
            .identities
            .iter()
            .find(|i| i.access_key_id == signed.access_key_id)
            .or(self.config.identities.first());
        Authenticated {
            account_id: identity
                .map_or_else(|| "000000000000".to_owned(), |i| i.account_id.clone()),
            access_key_id: signed.access_key_id.clone(),
        }
    }
}
