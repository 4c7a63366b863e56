//! What every request handler shares.

use crate::config::{Identity, ServerConfig};
use crate::service::Service;
use std::sync::{Arc, RwLock};
use tokio::sync::Semaphore;

pub struct AppState {
    pub service: Arc<Service>,
    /// The configuration the server started with; the identities in force are
    /// [`AppState::identities`], which [`AppState::set_identities`] replaces.
    pub config: ServerConfig,
    identities: RwLock<Arc<Vec<Identity>>>,
    /// The bytes of request bodies held in memory at once, across all requests (see
    /// [`crate::config::Limits::buffered_bodies`]); one permit a byte.
    pub(crate) buffered: Arc<Semaphore>,
    /// Decides the faults injected (`--faults`).
    pub(crate) faults: Option<crate::faults::Injector>,
}

impl AppState {
    /// The server on the default single-machine storage in `data_dir` (see
    /// [`Service::open_local`]): what `glacier serve`, the CLI's local store and the tests run.
    pub async fn open_local(
        data_dir: &std::path::Path,
        settings: crate::service::Settings,
        config: ServerConfig,
    ) -> Result<Arc<AppState>, glacier_storage::OpenError> {
        let service = Service::open_local(data_dir, settings).await?;
        Ok(AppState::new(Arc::new(service), config))
    }

    /// The server on `storage` (see [`Service::open`]).
    pub async fn open(
        storage: &glacier_storage::Storage,
        settings: crate::service::Settings,
        config: ServerConfig,
    ) -> Result<Arc<AppState>, glacier_storage::OpenError> {
        let service = Service::open(storage, settings).await?;
        Ok(AppState::new(Arc::new(service), config))
    }

    pub fn new(service: Arc<Service>, config: ServerConfig) -> Arc<AppState> {
        let permits = config.limits.buffered_bodies.min(Semaphore::MAX_PERMITS);
        let buffered = Arc::new(Semaphore::new(permits));
        let identities = RwLock::new(Arc::new(config.identities.clone()));
        let faults = config
            .faults
            .clone()
            .map(|(rates, seed)| crate::faults::Injector::new(rates, seed));
        Arc::new(AppState {
            service,
            config,
            identities,
            buffered,
            faults,
        })
    }

    /// The fault injected into this request of `op`, if any (counted).
    pub(crate) fn fault(&self, op: glacier_core::Operation) -> Option<crate::faults::Fault> {
        let fault = self.faults.as_ref()?.decide(op)?;
        self.service.metrics.injected_fault(op, fault);
        Some(fault)
    }

    /// The identities whose signatures are accepted now.
    pub fn identities(&self) -> Arc<Vec<Identity>> {
        Arc::clone(&self.identities.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Accepts `identities` from the next request on (`glacier serve` calls it on SIGHUP):
    /// keys added work at once, keys removed are refused at once.
    pub fn set_identities(&self, identities: Vec<Identity>) {
        *self.identities.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(identities);
    }
}
