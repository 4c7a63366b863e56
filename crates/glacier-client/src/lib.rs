//! An Amazon Glacier client for Rust: the seed library `boto.glacier` (Layer1, Layer2, Vault,
//! Job, Writer, the concurrent transfers, the exceptions and utils) in idiomatic async Rust.
//!
//! - [`Layer1`] has one async method per REST operation of the 2012-06-01 API (all 33), signed
//!   with SigV4 by the `aws-sigv4` crate, retried with exponential backoff and jitter, with
//!   bodies streaming both ways, over HTTP(S) or in-process to a server's router
//!   ([`transport::InProcess`]).
//! - [`Layer2`], [`Vault`] and [`Job`] are the seed's objects: uploads in one request or in
//!   parts (sequential, concurrent, from a reader, resumable), retrieval jobs, verified
//!   downloads (sequential, concurrent, resumable), incremental inventory parsing.
//!
//! # Examples
//!
//! Upload a file (one request up to 100 MiB, a multipart upload above):
//! ```no_run
//! # async fn f() -> glacier_client::Result<()> {
//! use glacier_client::{Credentials, Layer1, Layer2};
//! let layer1 = Layer1::builder()
//!     .endpoint("http://127.0.0.1:9090")
//!     .credentials(Credentials::new("AKID", "secret"))
//!     .build()?;
//! let vault = Layer2::new(layer1).create_vault("photos").await?;
//! let archive_id = vault.upload_archive("2024.tar".as_ref(), Some("photos of 2024")).await?;
//! # Ok(()) }
//! ```
//!
//! Upload in parts, concurrently, and resume an interrupted upload:
//! ```no_run
//! # async fn f(vault: glacier_client::Vault) -> glacier_client::Result<()> {
//! use glacier_client::Source;
//! let id = vault.concurrent_create_archive_from_file("big.tar".as_ref(), None, 8 << 20, 4).await?;
//! let mut upload_id = String::new();
//! let first_try = vault
//!     .create_archive_from_file(Source::File("big.tar".into()), None, |id| upload_id = id.to_owned())
//!     .await;
//! if first_try.is_err() {
//!     // Later, or after a restart: only missing or mismatched parts are sent again.
//!     vault.resume_archive_from_file(&upload_id, Source::File("big.tar".into())).await?;
//! }
//! # Ok(()) }
//! ```
//!
//! Stream into an archive with the [`Writer`]:
//! ```no_run
//! # async fn f(vault: glacier_client::Vault) -> Result<(), Box<dyn std::error::Error>> {
//! use tokio::io::AsyncWriteExt;
//! let mut writer = vault.create_archive_writer(4 << 20, Some("a stream")).await?.with_concurrency(2);
//! writer.write_all(b"any number of bytes").await?;
//! writer.shutdown().await?;
//! println!("{:?} {}", writer.archive_id(), writer.current_tree_hash());
//! # Ok(()) }
//! ```
//!
//! Retrieve an archive and download it, every chunk and the whole verified:
//! ```no_run
//! # async fn f(vault: glacier_client::Vault, archive_id: &str) -> glacier_client::Result<()> {
//! use glacier_client::ConcurrentDownloader;
//! use glacier_client::layer2::WaitOptions;
//! let mut job = vault.retrieve_archive(archive_id, None, None).await?;
//! job.wait(WaitOptions::default(), None).await?;
//! job.download_to_file("restored.tar".as_ref(), 4 << 20, true, 5).await?;
//! // Or concurrently, resumable if interrupted:
//! ConcurrentDownloader { part_size: 8 << 20, concurrency: 4, retries: 5 }
//!     .download(&job, "restored.tar".as_ref())
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! Read an inventory without holding it in memory:
//! ```no_run
//! # async fn f(vault: glacier_client::Vault) -> glacier_client::Result<()> {
//! use futures_util::TryStreamExt;
//! use glacier_client::layer2::{InventoryRequest, WaitOptions};
//! let mut job = vault.retrieve_inventory_job(InventoryRequest::default()).await?;
//! job.wait(WaitOptions::default(), None).await?;
//! let mut entries = std::pin::pin!(job.inventory().await?);
//! while let Some(entry) = entries.try_next().await? {
//!     println!("{} {} bytes", entry.archive_id, entry.size);
//! }
//! # Ok(()) }
//! ```
//!
//! # The seed, item by item
//!
//! | seed (`boto.glacier`) | here | difference |
//! |---|---|---|
//! | `connect_to_region(region_name)` | [`connect_to_region`] | returns a [`Layer2`]; credentials from the environment or `~/.aws` |
//! | `regions()` | [`regions`] | region names |
//! | `layer1.Layer1(aws_access_key_id, …, account_id, region_name, profile_name)` | [`Layer1::builder`] | builder; `endpoint()` for any URL; `transport()` for in-process |
//! | `Layer1.abort_multipart_upload` … `Layer1.upload_part` (19 methods) | the [`Layer1`] methods of the same names | typed wire structs of `glacier-core`; bodies are [`Payload`]s; `get_job_output` streams |
//! | (the rest of the 2012-06-01 API) | `set/get/delete_vault_access_policy`, `initiate/get/complete/abort_vault_lock`, `add_tags_to_vault`, `remove_tags_from_vault`, `list_tags_for_vault`, `get/set_data_retrieval_policy`, `purchase/list_provisioned_capacity` | not in the seed |
//! | `Layer1.make_request` | private | every operation has its method |
//! | `layer2.Layer2.create_vault/delete_vault/get_vault/list_vaults` | [`Layer2`] methods | `list_vaults` follows every marker |
//! | `vault.Vault` fields (`name`, `arn`, `creation_date`, `last_inventory_date`, `size`, `number_of_archives`) | [`Vault`] fields | |
//! | `Vault.upload_archive(filename, description)` | [`Vault::upload_archive`] | |
//! | `Vault.create_archive_from_file(filename, file_obj, description, upload_id_callback)` | [`Vault::create_archive_from_file`] | [`Source::File`] or [`Source::Reader`] |
//! | `Vault.create_archive_writer(part_size, description)` | [`Vault::create_archive_writer`] | returns a [`Writer`] (`AsyncWrite`) |
//! | `Vault.concurrent_create_archive_from_file(filename, description, **kwargs)` | [`Vault::concurrent_create_archive_from_file`] | part size and concurrency as arguments |
//! | `Vault.resume_archive_from_file(upload_id, filename, file_obj)` | [`Vault::resume_archive_from_file`] | |
//! | `Vault.retrieve_archive`, `retrieve_inventory`, `retrieve_inventory_job` | the [`Vault`] methods | inventory parameters in [`layer2::InventoryRequest`] |
//! | `Vault.delete_archive`, `get_job`, `list_jobs`, `list_all_parts`, `delete` | the [`Vault`] methods | |
//! | `job.Job` fields | [`Job`] fields | `refresh()` and `wait()` added |
//! | `Job.get_output(byte_range, validate_checksum)` | [`Job::get_output`] | reads into memory (use `Layer1::get_job_output` to stream) |
//! | `Job.download_to_file(filename, chunk_size, verify_hashes, retry_exceptions)` | [`Job::download_to_file`] | `retries` count instead of exception classes |
//! | `Job.download_to_fileobj` | [`Job::download_to_writer`] | any `AsyncWrite`; [`Job::output_stream`] gives the verified pieces as a stream |
//! | `writer.Writer` (`write`, `close`, `get_archive_id`, `current_tree_hash`, `current_uploaded_size`, `upload_id`, `vault`) | [`Writer`] | `AsyncWrite`; `shutdown()` closes; `archive_id()` |
//! | `writer.resume_file_upload(vault, upload_id, part_size, fobj, part_hash_map)` | [`Vault::resume_archive_from_file`] | the part hashes are listed from the service |
//! | `writer.generate_parts_from_fobj` | private | |
//! | `concurrent.ConcurrentUploader(api, vault_name, part_size, num_threads).upload` | [`Vault::concurrent_create_archive_from_file`] | |
//! | `concurrent.ConcurrentDownloader(job, part_size, num_threads).download` | [`ConcurrentDownloader::download`] | also resumes a partly downloaded file |
//! | `concurrent.ConcurrentTransferer`, `TransferThread`, `UploadWorkerThread`, `DownloadWorkerThread` | none | tokio tasks instead of threads |
//! | `exceptions.UnexpectedHTTPResponseError`, `TreeHashDoesNotMatchError`, `UploadArchiveError`, `DownloadArchiveError`, `ArchiveError` | [`GlacierError`] variants of the same names | plus `Transport`, `Credentials`, `InvalidInput`, `Io` |
//! | `utils.chunk_hashes`, `tree_hash`, `compute_hashes_from_fileobj`, `bytes_to_hex`, `minimum_part_size`, `DEFAULT_PART_SIZE` | [`utils`] | `compute_hashes_from_file` takes a path |

pub mod credentials;
pub mod error;
pub mod inventory;
pub mod layer1;
pub mod layer2;
pub mod transport;
pub mod utils;
pub mod writer;

pub use credentials::Credentials;
pub use error::{GlacierError, Result};
/// mt-aws-glacier's archive descriptions (in `glacier-core`, which the server's console shares).
pub use glacier_core::archive_name;
pub use glacier_core::mt2;
pub use layer1::{Layer1, Payload, RetryPolicy};
pub use layer2::{ConcurrentDownloader, Job, Layer2, Source, Vault};
pub use writer::Writer;

/// The regions Amazon Glacier vaults were offered in.
pub fn regions() -> &'static [&'static str] {
    &[
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
        "ca-central-1",
        "sa-east-1",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "eu-central-1",
        "eu-north-1",
        "eu-south-1",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-northeast-3",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-south-1",
        "ap-east-1",
        "me-south-1",
        "af-south-1",
    ]
}

/// A [`Layer2`] for Amazon Glacier in `region` (`https://glacier.{region}.amazonaws.com`), with
/// credentials from the environment or the shared `~/.aws` files.
pub fn connect_to_region(region: &str) -> Result<Layer2> {
    Ok(Layer2::new(Layer1::builder().region(region).build()?))
}
