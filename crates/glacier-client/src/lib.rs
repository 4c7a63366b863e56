//! An Amazon Glacier client: [`layer1::Layer1`] has one async method per REST operation of the
//! 2012-06-01 API, signed with SigV4, retried with backoff, streaming bodies both ways, over
//! HTTP(S) or in-process to a server's router. Layer2 (vaults, jobs, writers, concurrent
//! transfers) builds on it.

pub mod credentials;
pub mod error;
pub mod inventory;
pub mod layer1;
pub mod layer2;
pub mod transport;
pub mod writer;

pub use credentials::Credentials;
pub use error::{GlacierError, Result};
pub use layer1::{Layer1, Payload, RetryPolicy};
pub use layer2::{ConcurrentDownloader, Job, Layer2, Source, Vault};
pub use writer::Writer;

pub mod utils;
