//! How a node reaches PostgreSQL: the URL read as libpq reads it, as far as TLS goes.
//!
//! `sslmode=require`, `verify-ca` and `verify-full` all mean TLS with the server's certificate
//! verified against the system's roots and the PEM file `sslrootcert=` (or `PGSSLROOTCERT`)
//! names — rustls has no unverified mode, so `require` is as strict as libpq's `verify-full`.
//! `disable`, `prefer` and no `sslmode` at all connect in plain text: `prefer` cannot verify
//! what it falls back from, and a plain URL must keep working against a server (Debian's
//! default) that offers TLS with a certificate nobody here trusts.

use crate::{Result, StorageError};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::sync::Arc;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// The connection settings of `url` and the TLS connector they call for.
pub(super) fn connect_config(url: &str) -> Result<(tokio_postgres::Config, MakeRustlsConnect)> {
    let (url, root_cert) = libpq_url(url);
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| StorageError::Invalid(format!("invalid PostgreSQL URL: {e}")))?;
    if config.get_ssl_mode() == SslMode::Prefer {
        config.ssl_mode(SslMode::Disable);
    }
    let root_cert = root_cert.or_else(|| std::env::var("PGSSLROOTCERT").ok());
    let tls = match config.get_ssl_mode() {
        SslMode::Require => client_config(root_cert.as_deref())?,
        // Never used: the connection is plain.
        _ => client_config_with(rustls::RootCertStore::empty())?,
    };
    Ok((config, MakeRustlsConnect::new(tls)))
}

/// `url` with what tokio-postgres does not read rewritten (`sslmode=verify-ca|verify-full` as
/// `require`) or taken out (`sslrootcert=PATH`, returned beside it).
fn libpq_url(url: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), None);
    };
    let mut root_cert = None;
    let mut kept = Vec::new();
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("sslrootcert", path)) => root_cert = Some(path.to_string()),
            Some(("sslmode", "verify-ca" | "verify-full")) => kept.push("sslmode=require"),
            _ => kept.push(pair),
        }
    }
    if kept.is_empty() {
        (base.to_string(), root_cert)
    } else {
        (format!("{base}?{}", kept.join("&")), root_cert)
    }
}

/// A TLS client trusting the system's roots and those in the PEM file `root_cert`.
fn client_config(root_cert: Option<&str>) -> Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    // Certificates the system store holds that rustls cannot parse are skipped, as every
    // rustls-native-certs user does; a missing system store just leaves `sslrootcert`.
    let (_, _) = roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(path) = root_cert {
        let invalid =
            |e: &dyn std::fmt::Display| StorageError::Invalid(format!("sslrootcert {path}: {e}"));
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| invalid(&e))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| invalid(&e))?;
        if certs.is_empty() {
            return Err(invalid(&"no certificate in the file"));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| invalid(&e))?;
        }
    }
    if roots.is_empty() {
        return Err(StorageError::Invalid(
            "sslmode=require but no root certificate to verify PostgreSQL's with: the system has \
             none and neither sslrootcert= nor PGSSLROOTCERT names a file"
                .into(),
        ));
    }
    client_config_with(roots)
}

fn client_config_with(roots: rustls::RootCertStore) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StorageError::backend(format!("TLS for PostgreSQL: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_parameters_are_read() {
        let (url, root) = libpq_url("postgres://u@h/db?sslmode=verify-full&sslrootcert=/ca.pem");
        assert_eq!(url, "postgres://u@h/db?sslmode=require");
        assert_eq!(root.as_deref(), Some("/ca.pem"));
        let (url, root) = libpq_url("postgres://u@h/db?connect_timeout=5");
        assert_eq!(url, "postgres://u@h/db?connect_timeout=5");
        assert_eq!(root, None);
        assert_eq!(libpq_url("postgres://u@h/db").0, "postgres://u@h/db");
    }

    #[test]
    fn prefer_is_plain_and_require_needs_a_readable_root() {
        let (config, _) = connect_config("postgres://u@h/db").unwrap();
        assert_eq!(config.get_ssl_mode(), SslMode::Disable);
        let (config, _) = connect_config("postgres://u@h/db?sslmode=verify-ca").unwrap();
        assert_eq!(config.get_ssl_mode(), SslMode::Require);
        let Err(err) = connect_config("postgres://u@h/db?sslmode=require&sslrootcert=/nonexistent")
        else {
            panic!("a missing root certificate file was accepted");
        };
        assert!(err.to_string().contains("/nonexistent"), "{err}");
    }
}
