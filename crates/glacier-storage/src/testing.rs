//! What tests of this crate and of the crates above it need to reach the outside services
//! `scripts/test` starts: a fresh PostgreSQL database or bucket prefix per test, from the
//! `GLACIER_TEST_*` variables. Built for this crate's tests and, with the `testing` feature,
//! for other crates' (never into the shipped binary).

use crate::{Result, StorageError};

/// Whether a test that needs an outside service (PostgreSQL, an S3 store) given by the
/// environment variable `var` runs: `None` skips it, unless `scripts/test`, which always starts
/// the services, set `GLACIER_REQUIRE_SERVICES` — then a missing one is an error.
pub fn service(var: &str) -> Result<Option<String>> {
    match std::env::var(var) {
        Ok(v) => Ok(Some(v)),
        Err(_) if std::env::var_os("GLACIER_REQUIRE_SERVICES").is_some() => Err(
            StorageError::backend(format!("GLACIER_REQUIRE_SERVICES is set but {var} is not")),
        ),
        Err(_) => {
            eprintln!("{var} is not set: skipping a test that needs it");
            Ok(None)
        }
    }
}

/// A fresh database for one test on the PostgreSQL server at `$GLACIER_TEST_POSTGRES_URL`
/// (`scripts/postgres.sh` starts one); `None` when there is none (see [`service`]).
pub async fn postgres_database() -> Result<Option<String>> {
    let Some(url) = service("GLACIER_TEST_POSTGRES_URL")? else {
        return Ok(None);
    };
    let (server, _) = url
        .rsplit_once('/')
        .ok_or_else(|| StorageError::Invalid(format!("no database in {url}")))?;
    let name = format!("t{}", hex::encode(rand::random::<[u8; 8]>()));
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await?;
    Ok(Some(format!("{server}/{name}")))
}

/// A fresh prefix for one test in the S3 bucket `$GLACIER_TEST_S3_URL` (`s3://BUCKET`) at the
/// first of the endpoints `$GLACIER_TEST_S3_ENDPOINT` (space-separated; `scripts/garage.sh`
/// starts them), with `$GLACIER_TEST_S3_REGION` and the key `$GLACIER_TEST_S3_KEY_ID`,
/// `$GLACIER_TEST_S3_SECRET`; `None` when there is none (see [`service`]).
pub fn s3_config() -> Result<Option<crate::S3Config>> {
    let Some(url) = service("GLACIER_TEST_S3_URL")? else {
        return Ok(None);
    };
    let mut config = crate::S3Config::from_url(&url)?;
    config.prefix = format!("t{}", hex::encode(rand::random::<[u8; 8]>()));
    config.endpoint = service("GLACIER_TEST_S3_ENDPOINT")?
        .and_then(|e| e.split_whitespace().next().map(str::to_owned));
    config.region = std::env::var("GLACIER_TEST_S3_REGION").ok();
    config.access_key_id = service("GLACIER_TEST_S3_KEY_ID")?;
    config.secret_access_key = service("GLACIER_TEST_S3_SECRET")?;
    Ok(Some(config))
}

/// A fresh prefix for one test in the bucket `$GLACIER_TEST_COLD_S3_BUCKET` of the S3 that
/// models the archive storage classes at `$GLACIER_TEST_COLD_S3_ENDPOINT`
/// (`conformance/restoring_s3.py`: moto behind a proxy that keeps restores under way a while),
/// writing uploads in DEEP_ARCHIVE; `None` when there is none (see [`service`]).
pub fn cold_s3_config() -> Result<Option<crate::S3Config>> {
    let (Some(endpoint), Some(bucket)) = (
        service("GLACIER_TEST_COLD_S3_ENDPOINT")?,
        service("GLACIER_TEST_COLD_S3_BUCKET")?,
    ) else {
        return Ok(None);
    };
    let mut config = crate::S3Config::from_url(&format!("s3://{bucket}"))?;
    config.prefix = format!("t{}", hex::encode(rand::random::<[u8; 8]>()));
    config.endpoint = Some(endpoint);
    config.region = Some("us-east-1".to_owned());
    // moto takes any key.
    config.access_key_id = Some("cold".to_owned());
    config.secret_access_key = Some("cold".to_owned());
    config.storage_class = crate::StorageClass::DeepArchive;
    Ok(Some(config))
}
