//! Which Glacier the CLI talks to: `--endpoint` > `--region` > `GLACIER_ENDPOINT` > the config
//! file's profile > the embedded local store (the server's engine in-process, no server).

use anyhow::Context;
use glacier_client::layer1::ProgressFn;
use glacier_client::transport::InProcess;
use glacier_client::{Credentials, Layer1, Layer2};
use glacier_server::{AppState, ServerConfig, Settings};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Where requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Endpoint(String),
    Region(String),
    Local(PathBuf),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Endpoint(e) => write!(f, "endpoint {e}"),
            Target::Region(r) => write!(f, "Amazon Glacier in {r}"),
            Target::Local(d) => write!(f, "the local store in {}", d.display()),
        }
    }
}

impl Target {
    /// The target as JSON fields: `{"kind": "endpoint", "endpoint": URL}`, `{"kind":
    /// "aws", "region": R}`, `{"kind": "local", "path": DIR}`.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        match self {
            Target::Endpoint(e) => serde_json::json!({"kind": "endpoint", "endpoint": e}),
            Target::Region(r) => serde_json::json!({"kind": "aws", "region": r}),
            Target::Local(d) => {
                serde_json::json!({"kind": "local", "path": d.display().to_string(), "served_by": serving(d)})
            }
        }
    }
}

/// What the user asked for on the command line and in the environment.
pub(crate) struct Choice<'a> {
    pub(crate) endpoint: Option<&'a str>,
    pub(crate) region: Option<&'a str>,
    pub(crate) profile: Option<&'a str>,
    pub(crate) local_store: Option<&'a Path>,
}

/// `~/.config/glacier/config.toml`: defaults at the top, named profiles under `[profile.NAME]`.
/// A key it does not know (`endpont`) is refused, naming the keys it knows, as `glacier serve
/// --config` refuses one.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    endpoint: Option<String>,
    region: Option<String>,
    #[serde(default)]
    profile: BTreeMap<String, ProfileEntry>,
    /// Retrieval prices per tier (`[retrieval_prices.standard]` with `per_gb` and
    /// `per_thousand_requests`), over AWS's US East ones: another region's, or a contract's.
    #[serde(default)]
    retrieval_prices: BTreeMap<String, glacier_core::names::RetrievalPrice>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileEntry {
    endpoint: Option<String>,
    region: Option<String>,
}

fn config_path() -> Option<PathBuf> {
    std::env::var_os("GLACIER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| dirs::config_dir().map(|d| d.join("glacier").join("config.toml")))
}

/// The default local store: `glacier/local` in the platform data directory.
pub(crate) fn default_local_store() -> anyhow::Result<PathBuf> {
    Ok(dirs::data_dir()
        .context("no platform data directory; pass --local-store")?
        .join("glacier")
        .join("local"))
}

/// An endpoint from the environment or the config file, checked as `--endpoint` is.
fn endpoint(e: String, from: &str) -> anyhow::Result<Target> {
    crate::parse_endpoint(&e)
        .map(Target::Endpoint)
        .map_err(|m| anyhow::anyhow!("{from}: {m}"))
}

pub(crate) fn resolve(c: &Choice<'_>) -> anyhow::Result<Target> {
    if let Some(e) = c.endpoint {
        return Ok(Target::Endpoint(e.to_owned()));
    }
    if let Some(r) = c.region {
        return Ok(Target::Region(r.to_owned()));
    }
    if let Some(e) = std::env::var("GLACIER_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty())
    {
        return endpoint(e, "GLACIER_ENDPOINT");
    }
    if let Some(path) = config_path().filter(|p| p.exists()) {
        let file: ConfigFile = glacier_server::read_toml(&path)?;
        let (endpoint, region) = match c.profile {
            Some(name) => {
                let p = file
                    .profile
                    .get(name)
                    .with_context(|| format!("{} has no [profile.{name}]", path.display()))?;
                (p.endpoint.clone(), p.region.clone())
            }
            None => (file.endpoint, file.region),
        };
        if let Some(e) = endpoint {
            return self::endpoint(e, &path.display().to_string());
        }
        if let Some(r) = region {
            return Ok(Target::Region(r));
        }
    } else if let Some(name) = c.profile {
        anyhow::bail!(
            "profile {name:?} asked for, but there is no config file (~/.config/glacier/config.toml)"
        );
    }
    Ok(Target::Local(match c.local_store {
        Some(d) => d.to_path_buf(),
        None => default_local_store()?,
    }))
}

/// What retrieving at `tier` costs: the config file's `[retrieval_prices.TIER]`, else AWS's
/// US East prices; with where the prices come from.
pub(crate) fn retrieval_price(
    tier: glacier_core::Tier,
) -> anyhow::Result<(glacier_core::names::RetrievalPrice, String)> {
    let aws = (tier.aws_price(), "AWS's US East prices".to_owned());
    let Some(path) = config_path().filter(|p| p.is_file()) else {
        return Ok(aws);
    };
    let file: ConfigFile = glacier_server::read_toml(&path)?;
    for (name, price) in &file.retrieval_prices {
        let named = glacier_core::Tier::parse_loose(name).map_err(|_| {
            anyhow::anyhow!(
                "{}: [retrieval_prices.{name}]: not a tier (expedited, standard or bulk)",
                path.display()
            )
        })?;
        if named == tier {
            return Ok((*price, format!("the prices in {}", path.display())));
        }
    }
    Ok(aws)
}

/// A connected client.
pub(crate) struct Connection {
    pub(crate) layer2: Layer2,
}

impl Connection {
    /// A vault by name; the error names it.
    pub(crate) async fn vault(&self, name: &str) -> anyhow::Result<glacier_client::Vault> {
        self.layer2
            .get_vault(name)
            .await
            .with_context(|| format!("vault {name}"))
    }

    /// A vault by name, made first if there is none (CreateVault is idempotent), saying so
    /// on standard error unless `quiet`.
    pub(crate) async fn vault_or_create(
        &self,
        name: &str,
        quiet: bool,
    ) -> anyhow::Result<glacier_client::Vault> {
        match self.layer2.get_vault(name).await {
            Err(e) if e.code() == Some(glacier_core::ErrorCode::ResourceNotFoundException) => {
                let vault = self
                    .layer2
                    .create_vault(name)
                    .await
                    .with_context(|| format!("creating vault {name}"))?;
                if !quiet {
                    eprintln!("created vault {name}");
                }
                Ok(vault)
            }
            other => other.with_context(|| format!("vault {name}")),
        }
    }
}

pub(crate) async fn connect(
    target: &Target,
    progress: Option<ProgressFn>,
    limit_rate: Option<u64>,
) -> anyhow::Result<Connection> {
    let mut builder = Layer1::builder();
    if let Some(p) = progress {
        builder = builder.progress(p);
    }
    if let Some(rate) = limit_rate {
        builder = builder.limit_rate(rate);
    }
    match target {
        Target::Endpoint(e) => Ok(Connection {
            layer2: Layer2::new(builder.endpoint(e.as_str()).build()?),
        }),
        Target::Region(r) => Ok(Connection {
            layer2: Layer2::new(builder.region(r.as_str()).build()?),
        }),
        Target::Local(dir) => {
            let layer1 = match open_local(dir).await? {
                Local::Served(endpoint, credentials) => {
                    builder.endpoint(endpoint.as_str()).credentials(credentials)
                }
                Local::Opened(state, credentials) => builder
                    .endpoint("http://local.glacier")
                    .credentials(credentials)
                    .transport(Arc::new(InProcess::new(glacier_server::app(state)))),
            };
            Ok(Connection {
                layer2: Layer2::new(layer1.build()?),
            })
        }
    }
}

/// How this process reaches a local store.
enum Local {
    /// Through the `glacier serve` that holds it, at this URL.
    Served(String, Credentials),
    /// Opened in this process.
    Opened(Arc<AppState>, Credentials),
}

/// The local store this process opened, kept open until the process ends: a store is held by
/// one process at a time, and the connections of one command (`upload a b` makes one a file)
/// share the one opening, instead of racing the release of the last one and waiting for
/// themselves.
static OPENED: tokio::sync::Mutex<Vec<(PathBuf, Arc<AppState>, Credentials)>> =
    tokio::sync::Mutex::const_new(Vec::new());

/// Stops the job engines of the local stores this process opened, when the command is done:
/// a round cut off by the runtime's end then ends quietly instead of logging its cancelled
/// store call as an error on the command's standard error.
static ENGINES: std::sync::LazyLock<CancellationToken> =
    std::sync::LazyLock::new(CancellationToken::new);

pub(crate) fn stop_local_engines() {
    ENGINES.cancel();
}

/// Opens the local store in `dir` (once a process), or finds the `glacier serve` that holds
/// it; waits, saying so, while another process holds it.
async fn open_local(dir: &Path) -> anyhow::Result<Local> {
    let mut opened = OPENED.lock().await;
    if let Some((_, state, credentials)) = opened.iter().find(|(d, ..)| d == dir) {
        return Ok(Local::Opened(Arc::clone(state), credentials.clone()));
    }
    let (identities, _) = glacier_server::load_identities(None, |_| None, &store_dir(dir)?)?;
    let identity = identities
        .first()
        .context("the local store has no identity")?
        .clone();
    let credentials = Credentials::new(
        identity.access_key_id.clone(),
        identity.secret_access_key.clone(),
    );
    let mut waiting = false;
    let state = loop {
        match AppState::open_local(
            dir,
            Settings::new("us-east-1"),
            ServerConfig::new(identities.clone()),
        )
        .await
        {
            Err(glacier_server::OpenError::InUse(_)) => {
                // A `glacier serve` holding the store serves this command too.
                if let Some(endpoint) = serving(dir) {
                    return Ok(Local::Served(endpoint, credentials));
                }
                if !waiting {
                    eprintln!(
                        "waiting: another glacier process is using the local store in {} (a `glacier serve` given its own credentials? then pass --endpoint; Ctrl-C stops waiting)",
                        dir.display()
                    );
                    waiting = true;
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            other => {
                break other
                    .with_context(|| format!("opening the local store in {}", dir.display()))?;
            }
        }
    };
    // The job engine runs as long as the command.
    tokio::spawn(Arc::clone(&state.service).run_jobs(ENGINES.clone()));
    opened.push((dir.to_path_buf(), Arc::clone(&state), credentials.clone()));
    Ok(Local::Opened(state, credentials))
}

/// How the target is reached, for people: a local store held by a running `glacier serve` is
/// reached through it.
pub(crate) fn describe(target: &Target) -> String {
    match target {
        Target::Local(dir) => match serving(dir) {
            Some(url) => format!("{target}, through the glacier serve at {url}"),
            None => target.to_string(),
        },
        other => other.to_string(),
    }
}

/// The file in a data directory where a `glacier serve` on it (with the identity generated
/// there) writes its URL while it runs.
pub(crate) fn serving_file(dir: &Path) -> PathBuf {
    dir.join("serving-at")
}

/// The URL of the `glacier serve` that holds the store in `dir`, if one says so and answers.
fn serving(dir: &Path) -> Option<String> {
    let url = std::fs::read_to_string(serving_file(dir)).ok()?;
    let url = url.trim();
    let authority = url.strip_prefix("http://")?;
    let addr: std::net::SocketAddr = authority.trim_end_matches('/').parse().ok()?;
    std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(1)).ok()?;
    Some(url.to_owned())
}

/// The local store's directory: the default one is made on first use; any other must exist,
/// so that a mistyped path is not taken for a new, empty store.
fn store_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    if dir.is_dir() {
        return Ok(dir.to_path_buf());
    }
    if default_local_store().is_ok_and(|d| d == dir) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        return Ok(dir.to_path_buf());
    }
    if dir.exists() {
        anyhow::bail!(
            "{} is not a directory: a local store is a directory",
            dir.display()
        );
    }
    anyhow::bail!(
        "there is no local store in {}: the directory does not exist (to start a new store there, make it first: mkdir -p {})",
        dir.display(),
        dir.display()
    )
}
