//! `glacier serve`: the server's flags (and `--config`'s file of them, `config.rs`), where it
//! keeps its state, its identities, and `glacier_server::run_until_signal`.

mod config;

pub(crate) use config::expand;

use crate::args::parse_bytes;
use crate::output;
use anyhow::Context;
use glacier_server::{
    AppState, IdentitySource, Limits, RetrievalDelay, S3Config, ServerConfig, Settings, Storage,
    Timing,
};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// How `glacier serve` logs.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

/// `glacier serve`'s flags.
#[derive(clap::Args)]
pub(crate) struct ServeArgs {
    /// Read settings from this TOML file, whose keys are these flags' long names
    /// (listen = "0.0.0.0:9090", retrieval-delay = "5s", strict-scope = true). Flags given here
    /// win over the file, the file over environment variables and defaults; an unknown key is
    /// an error.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port (the address is printed on start).
    #[arg(long, default_value = "127.0.0.1:9090")]
    listen: SocketAddr,
    /// Where the metadata and archive bytes are kept unless --metadata or --blobs puts them
    /// elsewhere, and the generated identity; one process uses it at a time (commands on the
    /// same local store go through this server meanwhile) [default: the command line's local
    /// store, e.g. ~/.local/share/glacier/local].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Keep metadata in this PostgreSQL database, postgres://USER:PASSWORD@HOST:PORT/DB
    /// (verified TLS with ?sslmode=verify-full&sslrootcert=CA.pem). With --blobs too, nothing is kept on this machine, and every node given the same two
    /// (and the same --credentials) serves the same vaults.
    #[arg(long, env = "GLACIER_METADATA_URL", hide_env_values = true)]
    metadata: Option<String>,
    /// Keep archive bytes in this S3 bucket, s3://BUCKET[/PREFIX] (AWS S3 or any compatible
    /// store: Garage, MinIO, Ceph RGW). Its credentials: AWS_ACCESS_KEY_ID /
    /// AWS_SECRET_ACCESS_KEY, else the AWS_PROFILE (or default) profile of ~/.aws, else the
    /// instance's role. One metadata store per bucket prefix.
    #[arg(long, env = "GLACIER_BLOBS_URL")]
    blobs: Option<String>,
    /// The endpoint of an S3-compatible store for --blobs, e.g. http://127.0.0.1:3900
    /// [default: AWS S3].
    #[arg(long, env = "GLACIER_S3_ENDPOINT", requires = "blobs")]
    s3_endpoint: Option<String>,
    /// The region of the --blobs bucket [default: AWS_REGION, the profile's, else us-east-1].
    #[arg(long, env = "GLACIER_S3_REGION", requires = "blobs")]
    s3_region: Option<String>,
    /// How long one request to the --blobs store may take. A failed request is retried (up to
    /// 10 times, backing off at most 2 s) while 6 of these have not passed; then the Glacier
    /// request gets 500 ServiceUnavailableException.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    s3_timeout: std::time::Duration,
    /// The S3 storage class archives are written in: STANDARD, GLACIER_IR, GLACIER (Flexible
    /// Retrieval) or DEEP_ARCHIVE. In GLACIER and DEEP_ARCHIVE a retrieval job restores the
    /// archive's objects at its tier and completes once they can be read; archives under 10-22
    /// KiB stay STANDARD (cheaper than the class's per-object charges), as do job outputs.
    #[arg(long, default_value = "STANDARD", requires = "blobs")]
    s3_storage_class: glacier_server::StorageClass,
    /// The region named in vault ARNs.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// How long retrieval jobs take: one duration for every tier ("5s"), or per tier
    /// ("expedited=1s,standard=5s,bulk=12s").
    #[arg(long, default_value = "0s")]
    retrieval_delay: RetrievalDelay,
    /// How long a finished retrieval job and its output stay available.
    #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
    job_expiry: std::time::Duration,
    /// Take as long as Amazon Glacier documents: each retrieval a time drawn in its tier's
    /// window (Expedited 1-5 minutes, Standard 3-5 hours, Bulk 5-12 hours), an inventory about
    /// 4 hours, outputs kept 24 hours (instead of --retrieval-delay and --job-expiry).
    #[arg(long, conflicts_with_all = ["retrieval_delay", "job_expiry"])]
    aws_timing: bool,
    /// Run time N times as fast: every duration of the service divided by N (retrievals, output
    /// expiry, a Vault Lock's 24 hours, the retrieval policies' hour and day, the Expedited
    /// capacity's 5 minutes). With --aws-timing, 3600 makes an hour a second.
    #[arg(long, default_value = "1", value_parser = time_scale)]
    time_scale: f64,
    /// Draw retrieval times from this seed, so that a run can be repeated.
    #[arg(long)]
    timing_seed: Option<u64>,
    /// Answer an account that holds no vault 400 NoLongerSupportedException on every
    /// operation, as AWS answers new accounts (vaults made before, without this flag, keep
    /// their accounts served).
    #[arg(long)]
    refuse_new_accounts: bool,
    /// Answer this share of requests with a fault, as the real service does now and then:
    /// "throttle=0.05,internal=0.02,timeout=0.01,reset=0.01,slow=0.01" (400 ThrottlingException,
    /// 500 ServiceUnavailableException, 408 RequestTimeoutException, the connection dropped,
    /// the answer sent slowly), for one operation with OPERATION:FAULT=SHARE. Nothing refused
    /// takes effect.
    #[arg(long)]
    faults: Option<glacier_server::FaultRates>,
    /// Decide the faults from this seed, so that a run can be repeated.
    #[arg(long, requires = "faults")]
    faults_seed: Option<u64>,
    /// A TOML file of [[topic]] entries (arn, url): the HTTP(S) webhook that receives the
    /// notifications sent to each SNS topic ARN. A topic that is itself an http(s) URL needs none.
    #[arg(long)]
    notifications: Option<PathBuf>,
    /// A TOML file of [[identity]] entries (access_key_id, secret_access_key, account_id).
    /// Without it: GLACIER_ACCESS_KEY_ID / GLACIER_SECRET_ACCESS_KEY / GLACIER_ACCOUNT_ID, else
    /// an identity generated in the data directory.
    #[arg(long)]
    credentials: Option<PathBuf>,
    /// Print the path of the file holding the identities (generating one in the data directory
    /// if none is configured) and exit.
    #[arg(long)]
    print_credentials_path: bool,
    /// Print shell lines that point a client at this server (GLACIER_ENDPOINT from --listen,
    /// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY of its first identity) and exit:
    /// `eval "$(glacier serve --print-env)"`.
    #[arg(long)]
    print_env: bool,
    /// Require signatures scoped to --region and the glacier service. By default any scope
    /// is accepted (boto 2 given an IP address signs for region "0", service "127").
    #[arg(long)]
    strict_scope: bool,
    /// Expedited retrievals an account may start per 5 minutes without provisioned capacity
    /// (each active capacity unit adds 3); over it, InsufficientCapacityException.
    #[arg(long, default_value_t = glacier_server::DEFAULT_EXPEDITED_RATE)]
    expedited_rate: u32,
    /// What the FreeTier data retrieval policy allows per sliding 24 hours, e.g. 500M
    /// [default: 10G / 30 days ≈ 341.3 MiB].
    #[arg(long, value_parser = parse_bytes)]
    free_tier_bytes_per_day: Option<u64>,
    /// With archives kept in the data directory, the space uploads leave free on its
    /// filesystem, e.g. 1G: an upload that would leave less is refused (500
    /// ServiceUnavailableException), so that retrievals, deletions and other metadata writes
    /// still succeed when uploads fill the disk, and deletions give space back [default: the
    /// smaller of 256M and a tenth of the filesystem].
    #[arg(long, value_parser = parse_bytes)]
    reserve: Option<u64>,
    /// Serve HTTPS with this PEM certificate chain (the server's certificate first), with
    /// --tls-key; SIGHUP reloads both files without a restart.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve Prometheus /metrics, /health and /ready on this address (a second line on start
    /// says where), apart from the API.
    #[arg(long)]
    metrics_listen: Option<SocketAddr>,
    /// Serve the web console under /console/ on the API's address: vaults, archives (with
    /// search), jobs, uploads, locks and policies, and usage graphs, read-only, for anyone
    /// with an access key of the server (the browser signs in with SigV4; the secret is never
    /// sent). Off unless given.
    #[arg(long)]
    console: bool,
    /// How long a console sign-in lasts.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    console_session: std::time::Duration,
    /// How often each account's totals are added to the usage history that the console
    /// graphs (kept 90 days; 0s: never).
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    usage_interval: std::time::Duration,
    /// How the server logs to standard error: text, or json (one object a line, each
    /// request's lines with its request id).
    #[arg(long, value_enum, default_value = "text")]
    pub(crate) log_format: LogFormat,
    /// How long a request head may take to arrive, counted from its first byte.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    header_timeout: std::time::Duration,
    /// How long a connection with no request in flight stays open: longer than clients keep
    /// idle connections in their pools (60–90 s), so that they never reuse one as it closes.
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    idle_timeout: std::time::Duration,
    /// A request body must deliver at least 1 KiB in every window this long, or the request
    /// is cut off (408 RequestTimeoutException) and nothing of it is kept.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    body_timeout: std::time::Duration,
    /// Connections served at once [default: half the open-file limit, 16 to 4096]; past it
    /// the oldest idle connection is closed to make room, else new ones wait.
    #[arg(long)]
    max_connections: Option<usize>,
    /// Bytes of request bodies held in memory at once across all requests (small bodies read
    /// whole, bodies hashed before their signature can be checked), e.g. 64M; past it,
    /// requests get 503 SlowDown.
    #[arg(long, default_value = "64M", value_parser = parse_bytes)]
    max_buffered_bodies: u64,
    /// On SIGTERM or Ctrl-C, how long requests in flight may take to finish before they are
    /// cut off.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    shutdown_timeout: std::time::Duration,
}

/// Where `glacier serve` keeps its state, from its flags.
fn storage(args: &ServeArgs) -> anyhow::Result<Storage> {
    let data_dir = match &args.data_dir {
        Some(d) => d.clone(),
        None => {
            // The store the command line uses with nothing configured: what `glacier upload`
            // put there, `glacier serve` serves.
            let dir = crate::target::default_local_store()?;
            if let Some(old) = dir.parent().map(|p| p.join("server"))
                && old.join("metadata.sqlite").exists()
            {
                tracing::warn!(
                    old = %old.display(),
                    "the default data directory is now the command line's local store; pass --data-dir {} to serve the old one",
                    old.display()
                );
            }
            dir
        }
    };
    let s3 = match &args.blobs {
        None => None,
        Some(url) => {
            let mut s3 = S3Config::from_url(url)?;
            s3.endpoint = args.s3_endpoint.clone();
            s3.timeout = args.s3_timeout;
            s3.storage_class = args.s3_storage_class;
            s3.region = args
                .s3_region
                .clone()
                .or_else(glacier_client::credentials::resolve_region);
            // Else object_store's own chain: the instance's role on AWS.
            if let Ok(c) = glacier_client::Credentials::resolve() {
                s3.access_key_id = Some(c.access_key_id);
                s3.secret_access_key = Some(c.secret_access_key);
                s3.session_token = c.session_token;
            }
            Some(s3)
        }
    };
    Ok(Storage {
        data_dir,
        metadata: args.metadata.clone(),
        s3,
        reserve: args.reserve,
    })
}

/// Binds `at` for `what`; an address in use says so and how to get a free port.
async fn bind(at: std::net::SocketAddr, what: &str) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(at).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            anyhow::anyhow!(
                "cannot listen {what}on {at}: the address is in use (another server is on that port; stop it, or pick another port, e.g. --listen 127.0.0.1:0 for any free one)"
            )
        } else {
            anyhow::Error::new(e).context(format!("listening {what}on {at}"))
        }
    })
}

pub(crate) async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let storage = storage(&args)?;
    if args.print_env && args.listen.port() == 0 {
        anyhow::bail!(
            "--print-env needs the port clients will use, and with --listen {} the port is chosen when the server starts: give a fixed port (e.g. --listen 127.0.0.1:9090), or start the server and use the address it prints",
            args.listen
        );
    }
    // What the operator gave is read, and the ports are bound, before anything is made: a
    // start that fails leaves nothing behind.
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(Arc::new(glacier_server::Tls::load(
            glacier_server::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            },
        )?)),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let topics = match &args.notifications {
        Some(path) => glacier_server::load_topics(path)?,
        None => Default::default(),
    };
    if let Some(path) = &args.credentials {
        glacier_server::load_identities(Some(path), |_| None, &storage.data_dir)?;
    }
    let listeners = if args.print_env || args.print_credentials_path {
        None
    } else {
        let listener = bind(args.listen, "").await?;
        let metrics = match args.metrics_listen {
            Some(at) => Some(bind(at, "for metrics ").await?),
            None => None,
        };
        Some((listener, metrics))
    };
    let (identities, source) = identities(&args, &storage)?;
    if args.print_env {
        return print_env(&args, &identities, scheme);
    }
    if args.print_credentials_path {
        return print_credentials_path(&source);
    }
    log_identities(&source, identities.len());
    let Some((listener, metrics)) = listeners else {
        anyhow::bail!("no listener: nothing to serve");
    };
    let settings = settings(&args, topics, tls.is_some());
    let config = server_config(&args, identities)?;
    let state = AppState::open(&storage, settings, config)
        .await
        .with_context(|| format!("opening the store ({})", storage.describe()))?;
    run(args, storage, state, source, (listener, metrics), tls).await
}

/// The identities the server accepts, and where they come from. A shared store needs them
/// given (the same on every node); a local one may generate one in its data directory.
fn identities(
    args: &ServeArgs,
    storage: &Storage,
) -> anyhow::Result<(Vec<glacier_server::Identity>, IdentitySource)> {
    let env = |k: &str| std::env::var(k).ok();
    Ok(if storage.is_shared() {
        // Every node must accept the same keys for the same accounts: none is generated.
        let from_env = [
            "GLACIER_ACCESS_KEY_ID",
            "GLACIER_SECRET_ACCESS_KEY",
            "GLACIER_ACCOUNT_ID",
        ]
        .iter()
        .all(|k| env(k).is_some());
        if args.credentials.is_none() && !from_env {
            anyhow::bail!(
                "a shared store (--metadata and --blobs) needs the same identities on every node: pass --credentials FILE, or set GLACIER_ACCESS_KEY_ID, GLACIER_SECRET_ACCESS_KEY and GLACIER_ACCOUNT_ID"
            );
        }
        glacier_server::load_identities(args.credentials.as_deref(), env, &storage.data_dir)?
    } else {
        let dir = &storage.data_dir;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        glacier_server::load_identities(args.credentials.as_deref(), env, dir)?
    })
}

/// `--print-env`: shell lines that point clients at this server.
fn print_env(
    args: &ServeArgs,
    identities: &[glacier_server::Identity],
    scheme: &str,
) -> anyhow::Result<()> {
    let identity = identities
        .first()
        .context("the server has no identity to print")?;
    // The address clients connect to: an unspecified one (0.0.0.0) is reached on loopback.
    let mut at = args.listen;
    if at.ip().is_unspecified() {
        at.set_ip(match at {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let endpoint = format!("{scheme}://{at}");
    // Ours, then boto3's, the AWS CLI's and the SDKs' (region and Glacier endpoint).
    output::out!("export GLACIER_ENDPOINT={endpoint}");
    output::out!("export AWS_ENDPOINT_URL_GLACIER={endpoint}");
    output::out!("export AWS_ACCESS_KEY_ID={}", identity.access_key_id);
    output::out!(
        "export AWS_SECRET_ACCESS_KEY={}",
        identity.secret_access_key
    );
    output::out!("export AWS_DEFAULT_REGION={}", args.region);
    output::out!("export AWS_REGION={}", args.region);
    Ok(())
}

/// `--print-credentials-path`: the file holding the identities.
fn print_credentials_path(source: &IdentitySource) -> anyhow::Result<()> {
    match source {
        IdentitySource::Generated(path) | IdentitySource::File(path) => {
            output::out!("{}", path.display());
            Ok(())
        }
        IdentitySource::Environment => anyhow::bail!(
            "the identity comes from GLACIER_ACCESS_KEY_ID / GLACIER_SECRET_ACCESS_KEY, not a file"
        ),
    }
}

/// Says where the identities come from.
fn log_identities(source: &IdentitySource, count: usize) {
    match source {
        IdentitySource::Generated(path) => tracing::info!(
            path = %path.display(),
            "using the identity generated for this data directory; point clients at the keys in this file"
        ),
        IdentitySource::File(path) => {
            tracing::info!(path = %path.display(), count, "identities loaded")
        }
        IdentitySource::Environment => tracing::info!("identity taken from GLACIER_ACCESS_KEY_ID"),
    }
}

/// How the service behaves, from the flags.
fn settings(
    args: &ServeArgs,
    topics: std::collections::HashMap<String, String>,
    secure_transport: bool,
) -> Settings {
    let timing = if args.aws_timing {
        Timing::aws()
    } else {
        Timing::fixed(args.retrieval_delay, args.job_expiry)
    };
    Settings {
        timing: Timing {
            seed: args.timing_seed,
            ..timing.scaled(args.time_scale)
        },
        topics,
        expedited_rate: args.expedited_rate,
        free_tier_bytes_per_day: args
            .free_tier_bytes_per_day
            .unwrap_or(glacier_server::DEFAULT_FREE_TIER_BYTES_PER_DAY),
        secure_transport,
        usage_interval: args.usage_interval,
        refuse_new_accounts: args.refuse_new_accounts,
        ..Settings::new(args.region.clone())
    }
}

/// A `--time-scale`: a positive, finite number.
fn time_scale(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 => Ok(n),
        _ => Err(format!(
            "{s:?} is not a positive number (3600 runs an hour in a second)"
        )),
    }
}

/// How requests are served, from the flags.
fn server_config(
    args: &ServeArgs,
    identities: Vec<glacier_server::Identity>,
) -> anyhow::Result<ServerConfig> {
    Ok(ServerConfig {
        strict_scope: args.strict_scope,
        limits: Limits {
            header_timeout: args.header_timeout,
            idle_timeout: args.idle_timeout,
            body_timeout: args.body_timeout,
            max_connections: args
                .max_connections
                .unwrap_or_else(glacier_server::default_max_connections),
            buffered_bodies: usize::try_from(args.max_buffered_bodies)
                .context("--max-buffered-bodies is too large")?,
            shutdown_timeout: args.shutdown_timeout,
        },
        console_session: args.console.then_some(args.console_session),
        faults: args.faults.clone().map(|rates| (rates, args.faults_seed)),
        ..ServerConfig::new(identities)
    })
}

/// Serves the opened store until a signal stops it: the address printed (scripts and tests
/// read it), and on a local data directory with a generated identity written to
/// `serving-at` while it runs, so that commands on that store go through this server.
async fn run(
    args: ServeArgs,
    storage: Storage,
    state: Arc<AppState>,
    source: IdentitySource,
    (listener, metrics): (tokio::net::TcpListener, Option<tokio::net::TcpListener>),
    tls: Option<Arc<glacier_server::Tls>>,
) -> anyhow::Result<()> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let addr = listener.local_addr()?;
    // Scripts and tests read this line to learn the port.
    announce(&format!("glacier server listening on {scheme}://{addr}"));
    if args.console {
        tracing::info!("web console at {scheme}://{addr}/console/");
    }
    if let Some(listener) = &metrics {
        announce(&format!(
            "glacier metrics listening on http://{}",
            listener.local_addr()?
        ));
    }
    tracing::info!(%addr, store = %storage.describe(), "serving the Glacier API");

    let credentials = match &source {
        IdentitySource::File(path) => Some(path.clone()),
        _ => None,
    };
    // Commands on this local store reach it through this server while it holds the store.
    let serving = matches!(source, IdentitySource::Generated(_)) && !storage.is_shared();
    let serving_file = crate::target::serving_file(&storage.data_dir);
    if serving {
        std::fs::write(&serving_file, format!("{scheme}://{addr}\n"))
            .with_context(|| format!("writing {}", serving_file.display()))?;
    }
    let listeners = glacier_server::Listeners {
        api: listener,
        metrics,
    };
    let options = glacier_server::RunOptions { tls, credentials };
    let served = glacier_server::run_until_signal(state, listeners, options).await;
    if serving {
        let _ = std::fs::remove_file(&serving_file);
    }
    Ok(served?)
}

/// A line on standard output for the scripts and tests that start the server (they read it to
/// learn the port). A closed standard output does not stop the server.
fn announce(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
