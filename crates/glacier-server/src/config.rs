//! Server configuration: region, retrieval delays and the identities allowed in.

use glacier_core::Tier;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One access key and the account it acts for.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Identity {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub account_id: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("access_key_id", &self.access_key_id)
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
struct CredentialsFile {
    #[serde(default)]
    identity: Vec<Identity>,
}

/// Where the identities came from, for telling the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentitySource {
    File(PathBuf),
    Environment,
    /// Generated on first start and kept in the data directory.
    Generated(PathBuf),
}

/// A configuration file that cannot be read or says something impossible.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, or holds a key or a type the file does not take; `at` is
    /// where, `message` what (one line).
    #[error("{}{at}: {message}", path.display())]
    Parse {
        path: PathBuf,
        at: String,
        message: String,
    },
    /// The file parsed, but holds a value that cannot be used; the message says which.
    #[error("{0}")]
    Invalid(String),
}

/// Reads and parses a TOML file; an error names the line and column, on one line.
pub fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| {
        let at = e.span().map_or_else(String::new, |span| {
            let before = &text.as_bytes()[..span.start.min(text.len())];
            let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
            let column = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
            format!(", line {line}, column {column}")
        });
        ConfigError::Parse {
            path: path.to_path_buf(),
            at,
            message: e.message().trim().replace('\n', " "),
        }
    })
}

/// Loads identities: `--credentials FILE`, else `GLACIER_ACCESS_KEY_ID` /
/// `GLACIER_SECRET_ACCESS_KEY` / `GLACIER_ACCOUNT_ID`, else `credentials.toml` in the data
/// directory, created with a random identity if it does not exist.
pub fn load_identities(
    credentials: Option<&Path>,
    env: impl Fn(&str) -> Option<String>,
    data_dir: &Path,
) -> Result<(Vec<Identity>, IdentitySource), ConfigError> {
    if let Some(path) = credentials {
        return Ok((
            read_credentials(path)?,
            IdentitySource::File(path.to_path_buf()),
        ));
    }
    if let (Some(access_key_id), Some(secret_access_key)) = (
        env("GLACIER_ACCESS_KEY_ID"),
        env("GLACIER_SECRET_ACCESS_KEY"),
    ) {
        let account_id = env("GLACIER_ACCOUNT_ID").unwrap_or_else(random_account_id);
        let id = Identity {
            access_key_id,
            secret_access_key,
            account_id,
        };
        check_identity(&id)?;
        return Ok((vec![id], IdentitySource::Environment));
    }
    let path = data_dir.join("credentials.toml");
    if !path.exists() {
        let id = Identity {
            access_key_id: format!(
                "GK{}",
                random_string(18, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
            ),
            secret_access_key: random_string(40, ALPHANUMERIC),
            account_id: random_account_id(),
        };
        let text = toml::to_string(&CredentialsFile { identity: vec![id] })
            .map_err(|e| ConfigError::Invalid(format!("serializing an identity: {e}")))?;
        write_private(&path, &text).map_err(|source| ConfigError::Write {
            path: path.clone(),
            source,
        })?;
    }
    Ok((read_credentials(&path)?, IdentitySource::Generated(path)))
}

fn read_credentials(path: &Path) -> Result<Vec<Identity>, ConfigError> {
    let file: CredentialsFile = read_toml(path)?;
    if file.identity.is_empty() {
        return Err(ConfigError::Invalid(format!(
            "{} defines no [[identity]]",
            path.display()
        )));
    }
    for id in &file.identity {
        check_identity(id)
            .map_err(|e| ConfigError::Invalid(format!("{e} (in {})", path.display())))?;
    }
    Ok(file.identity)
}

fn check_identity(id: &Identity) -> Result<(), ConfigError> {
    if id.account_id.len() != 12 || !id.account_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ConfigError::Invalid(format!(
            "account_id {:?} of {} is not 12 digits",
            id.account_id, id.access_key_id
        )));
    }
    if id.access_key_id.is_empty() || id.secret_access_key.is_empty() {
        return Err(ConfigError::Invalid(
            "an identity needs a non-empty access_key_id and secret_access_key".into(),
        ));
    }
    Ok(())
}

/// The characters of `x-amzn-RequestId` values.
pub(crate) const REQUEST_ID_ALPHABET: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

pub(crate) fn random_string(len: usize, alphabet: &[u8]) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
        .collect()
}

fn random_account_id() -> String {
    random_string(12, b"0123456789")
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// How long retrieval jobs take per tier (`--retrieval-delay`): one duration for every tier,
/// or `expedited=1s,standard=5s,bulk=12s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetrievalDelay {
    pub expedited: Duration,
    pub standard: Duration,
    pub bulk: Duration,
}

impl std::str::FromStr for RetrievalDelay {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let parse =
            |v: &str| humantime::parse_duration(v.trim()).map_err(|e| format!("{v:?}: {e}"));
        if !s.contains('=') {
            let d = parse(s)?;
            return Ok(RetrievalDelay {
                expedited: d,
                standard: d,
                bulk: d,
            });
        }
        let mut out = RetrievalDelay::default();
        for item in s.split(',') {
            let (tier, v) = item
                .split_once('=')
                .ok_or_else(|| format!("{item:?}: expected TIER=DURATION"))?;
            let d = parse(v)?;
            let slot = match Tier::parse_loose(tier).map_err(|e| e.to_string())? {
                Tier::Expedited => &mut out.expedited,
                Tier::Standard => &mut out.standard,
                Tier::Bulk => &mut out.bulk,
            };
            *slot = d;
        }
        Ok(out)
    }
}

/// What the HTTP layer needs besides the service.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The identities whose signatures are accepted.
    pub identities: Vec<Identity>,
    /// `--strict-scope`: require signatures scoped to the server's region and `glacier`
    /// (by default any scope is accepted, as boto 2 signs for `0/127` when given an IP).
    pub strict_scope: bool,
    pub limits: Limits,
    /// `--console`: serve the web console under `/console/`, its sessions lasting this long
    /// (`--console-session`); `None`: no console.
    pub console_session: Option<Duration>,
    /// `--faults`: the share of requests given each injected fault; `--faults-seed`.
    pub faults: Option<(crate::FaultRates, Option<u64>)>,
}

impl ServerConfig {
    /// Accepts `identities`, in any credential scope, with the default [`Limits`].
    pub fn new(identities: Vec<Identity>) -> ServerConfig {
        ServerConfig {
            identities,
            strict_scope: false,
            limits: Limits::default(),
            console_session: None,
            faults: None,
        }
    }
}

/// Bounds on what any client, signed or not, can make the server hold: time, connections
/// and memory. Honest clients never meet them; a stalled or hostile one is cut off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A request head must arrive whole within this, counted from its first byte
    /// (`--header-timeout`).
    pub header_timeout: Duration,
    /// How long a connection with no request in flight stays open (`--idle-timeout`): longer
    /// than clients keep idle connections in their pools (60–90 s in the SDKs), so that it is
    /// the client that closes them, never a server racing a client that reuses one.
    pub idle_timeout: Duration,
    /// A request body must deliver at least 1 KiB (`MIN_BODY_PROGRESS`) in every window this
    /// long, or the request ends with `RequestTimeoutException` and nothing of it is kept
    /// (`--body-timeout`). It cuts stalled bodies and bodies trickling a byte at a time.
    pub body_timeout: Duration,
    /// Connections served at once (`--max-connections`); past it, the oldest idle connection
    /// is closed to make room, and if none is idle new connections wait to be accepted.
    pub max_connections: usize,
    /// Bytes of request bodies held in memory at once across all requests
    /// (`--max-buffered-bodies`): small bodies read whole, and bodies buffered to hash before
    /// their signature can be checked. Past it, requests get `503 SlowDown`.
    pub buffered_bodies: usize,
    /// On shutdown, how long requests in flight may take to finish (`--shutdown-timeout`).
    pub shutdown_timeout: Duration,
}

/// The least a request body must deliver per [`Limits::body_timeout`]: 1 KiB, which a link of
/// 100 bytes a second still beats every 10 seconds.
pub(crate) const MIN_BODY_PROGRESS: u64 = 1024;

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_timeout: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(120),
            body_timeout: Duration::from_secs(20),
            max_connections: default_max_connections(),
            buffered_bodies: 64 * 1024 * 1024,
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

/// Half the file descriptors the process may open, less a reserve (a connection may hold a
/// socket and a blob file), between 16 and 4096: a cap the server can always honour.
pub fn default_max_connections() -> usize {
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(8192);
    let fit = soft.saturating_sub(64) / 2;
    usize::try_from(fit.clamp(16, 4096)).unwrap_or(4096)
}

#[derive(Debug, Deserialize)]
struct TopicsFile {
    #[serde(default)]
    topic: Vec<Topic>,
}

#[derive(Debug, Deserialize)]
struct Topic {
    arn: String,
    url: String,
}

/// Reads `--notifications FILE`: `[[topic]]` entries mapping an SNS topic ARN to the HTTP(S)
/// URL that notifications for it are posted to.
pub fn load_topics(path: &Path) -> Result<std::collections::HashMap<String, String>, ConfigError> {
    let file: TopicsFile = read_toml(path)?;
    let mut out = std::collections::HashMap::new();
    for t in file.topic {
        if !(t.url.starts_with("http://") || t.url.starts_with("https://")) {
            return Err(ConfigError::Invalid(format!(
                "topic {}: url {:?} is not an http(s) URL",
                t.arn, t.url
            )));
        }
        out.insert(t.arn, t.url);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retrieval_delays() {
        let d: RetrievalDelay = "0s".parse().unwrap();
        assert_eq!(d, RetrievalDelay::default());
        let d: Result<RetrievalDelay, _> = "expedited=1s,standard=5s,bulk=12s".parse();
        assert_eq!(
            d,
            Ok(RetrievalDelay {
                expedited: Duration::from_secs(1),
                standard: Duration::from_secs(5),
                bulk: Duration::from_secs(12)
            })
        );
        assert!("fast".parse::<RetrievalDelay>().is_err());
        assert!("glacial=1s".parse::<RetrievalDelay>().is_err());
    }

    #[test]
    fn identities_from_file_env_or_generated() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let none = |_: &str| None;
        let (ids, src) = load_identities(None, none, dir.path())?;
        assert!(matches!(src, IdentitySource::Generated(_)));
        assert_eq!(ids.len(), 1);
        let (again, _) = load_identities(None, none, dir.path())?;
        assert_eq!(ids, again, "the generated identity is kept");

        let env = |k: &str| match k {
            "GLACIER_ACCESS_KEY_ID" => Some("AKID".to_string()),
            "GLACIER_SECRET_ACCESS_KEY" => Some("secret".to_string()),
            "GLACIER_ACCOUNT_ID" => Some("111122223333".to_string()),
            _ => None,
        };
        let (ids, src) = load_identities(None, env, dir.path())?;
        assert_eq!(
            (ids[0].account_id.as_str(), src),
            ("111122223333", IdentitySource::Environment)
        );

        let file = dir.path().join("creds.toml");
        std::fs::write(
            &file,
            "[[identity]]\naccess_key_id = \"A\"\nsecret_access_key = \"s\"\naccount_id = \"123\"\n",
        )?;
        let err = load_identities(Some(&file), none, dir.path())
            .map(|_| ())
            .unwrap_err();
        assert!(format!("{err:#}").contains("not 12 digits"), "{err:#}");
        Ok(())
    }
}
