//! What every request handler shares.

use crate::config::ServerConfig;
use crate::service::Service;

pub struct AppState {
    pub service: std::sync::Arc<Service>,
    pub config: ServerConfig,
}
