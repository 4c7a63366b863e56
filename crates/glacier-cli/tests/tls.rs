//! `glacier serve --tls-cert --tls-key`: HTTPS with a private CA made here (rcgen). Our CLI
//! trusts it through `AWS_CA_BUNDLE`, as the AWS SDKs and CLI do, and refuses the server
//! without it; plain HTTP on the TLS port is refused without harm; SIGHUP serves a new
//! certificate to new connections, and a broken one keeps the old. (boto3 over TLS:
//! `conformance/boto3/test_tls.py`.)

mod common;

use common::KillOnDrop;
use conformance_aws_sdk::{ACCESS_KEY, SECRET_KEY};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
    SanType,
};
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

type R = anyhow::Result<()>;

/// A CA and the server certificates it issues, as PEM files in a temporary directory.
struct Pki {
    dir: tempfile::TempDir,
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    fn new() -> anyhow::Result<Pki> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "glacier test CA");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("ca.pem"), ca.pem())?;
        Ok(Pki { dir, ca })
    }

    fn ca_pem(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A certificate for localhost and 127.0.0.1 written to `NAME.pem` and `NAME.key`.
    fn issue(&self, name: &str) -> anyhow::Result<(PathBuf, PathBuf, CertificateDer<'static>)> {
        let mut params = CertificateParams::new(vec!["localhost".to_owned()])?;
        params
            .subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.ca)?;
        let (cert_path, key_path) = (
            self.dir.path().join(format!("{name}.pem")),
            self.dir.path().join(format!("{name}.key")),
        );
        std::fs::write(&cert_path, cert.pem())?;
        std::fs::write(&key_path, key.serialize_pem())?;
        Ok((cert_path, key_path, cert.der().clone()))
    }
}

/// The certificate the server at `addr` presents, checked against `ca`.
async fn presented(addr: SocketAddr, ca: &Path) -> anyhow::Result<CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca)? {
        roots.add(cert?)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost")?, stream)
        .await?;
    let (_, session) = tls.get_ref();
    session
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.clone().into_owned())
        .ok_or_else(|| anyhow::anyhow!("no certificate presented"))
}

/// Runs the `glacier` CLI against `endpoint`, trusting `ca_bundle` if given.
fn cli(endpoint: &str, ca_bundle: Option<&Path>, args: &[&str]) -> anyhow::Result<Output> {
    let state = tempfile::tempdir()?;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_glacier"));
    cmd.args(args)
        .args(["--output", "json", "--quiet"])
        .env("GLACIER_STATE_DIR", state.path())
        .env("GLACIER_CONFIG", "/nonexistent/glacier.toml")
        .env("GLACIER_ENDPOINT", endpoint)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env_remove("AWS_CA_BUNDLE")
        .stdin(Stdio::null());
    if let Some(ca) = ca_bundle {
        cmd.env("AWS_CA_BUNDLE", ca);
    }
    Ok(cmd.output()?)
}

fn succeeded(out: &Output) -> anyhow::Result<serde_json::Value> {
    anyhow::ensure!(
        out.status.success(),
        "glacier failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

#[tokio::test]
async fn https_with_a_private_ca_and_certificates_reloaded_on_sighup() -> R {
    let pki = Pki::new()?;
    let (cert, key, first) = pki.issue("first")?;
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let (cert_arg, key_arg) = (cert.display().to_string(), key.display().to_string());
    let (child, endpoint) =
        common::start(&data, &["--tls-cert", &cert_arg, "--tls-key", &key_arg])?;
    let pid = child.id();
    let _server = KillOnDrop(child);
    assert!(endpoint.starts_with("https://"), "{endpoint}");
    let addr: SocketAddr = endpoint.trim_start_matches("https://").parse()?;
    let ca = pki.ca_pem();

    // Our CLI, trusting the CA as the AWS tools do.
    let created = succeeded(&cli(&endpoint, Some(&ca), &["vault", "create", "secure"])?)?;
    assert_eq!(created["name"], "secure");
    let file = dir.path().join("f.bin");
    std::fs::write(&file, conformance_aws_sdk::data(300_000, 3))?;
    let file_arg = file.display().to_string();
    let up = succeeded(&cli(
        &endpoint,
        Some(&ca),
        &["upload", &file_arg, "--vault", "secure"],
    )?)?;
    assert!(
        up[0]["archive_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "{up}"
    );

    // Without the CA the server is not trusted, and nothing is sent.
    let refused = cli(&endpoint, None, &["vault", "create", "untrusted"])?;
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr).to_lowercase();
    assert!(
        said.contains("certificate"),
        "the error names the certificate: {said}"
    );
    let listed = succeeded(&cli(&endpoint, Some(&ca), &["vault", "list"])?)?;
    assert!(!listed.to_string().contains("untrusted"), "{listed}");

    // Plain HTTP on the TLS port gets no Glacier answer, and the server stays up; our CLI
    // asks whether the endpoint is https (it said "invalid HTTP version parsed").
    let plain = raw_plain(addr).await?;
    assert!(!plain.starts_with("HTTP/1.1 2"), "{plain:?}");
    let http = format!("http://{addr}");
    let out = cli(&http, Some(&ca), &["vault", "list"])?;
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && said.contains("is it https?"),
        "{said}"
    );
    assert_eq!(presented(addr, &ca).await?, first);

    // SIGHUP with new files: new connections get the new certificate.
    let (new_cert, new_key, second) = pki.issue("second")?;
    std::fs::copy(&new_cert, &cert)?;
    std::fs::copy(&new_key, &key)?;
    hup(pid)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while presented(addr, &ca).await? != second {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the new certificate was not served"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A broken certificate file and SIGHUP: the previous certificate stays.
    std::fs::write(&cert, "not a certificate")?;
    hup(pid)?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(presented(addr, &ca).await?, second);
    let described = succeeded(&cli(
        &endpoint,
        Some(&ca),
        &["vault", "describe", "secure"],
    )?)?;
    assert_eq!(described["archives"], 1, "{described}");
    Ok(())
}

#[test]
fn a_missing_or_mismatched_certificate_is_refused_at_start() -> R {
    let pki = Pki::new()?;
    let (cert, _, _) = pki.issue("one")?;
    let (_, other_key, _) = pki.issue("two")?;
    let dir = tempfile::tempdir()?;
    for (cert, key, says) in [
        (cert.clone(), dir.path().join("missing.key"), "missing.key"),
        (cert.clone(), other_key, "do not make a TLS configuration"),
        (
            pki.ca_pem().with_file_name("absent.pem"),
            cert.clone(),
            "absent.pem",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_glacier"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("data"))
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .env("GLACIER_ACCESS_KEY_ID", ACCESS_KEY)
            .env("GLACIER_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("GLACIER_ACCOUNT_ID", conformance_aws_sdk::ACCOUNT)
            .stdin(Stdio::null())
            .output()?;
        assert!(!out.status.success(), "started with {cert:?} {key:?}");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains(says), "{says:?} not in {said}");
    }
    Ok(())
}

fn hup(pid: u32) -> R {
    let status = Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()?;
    anyhow::ensure!(status.success(), "kill -HUP failed");
    Ok(())
}

/// What a plain-HTTP request to `addr` gets back before the connection closes.
async fn raw_plain(addr: SocketAddr) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(b"GET /-/vaults HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await?;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}
