//! Credentials and region: explicit values, the standard environment variables, or the AWS
//! shared files (`~/.aws/credentials`, `~/.aws/config`) with profiles.

use crate::error::{GlacierError, Result};
use ini::Ini;
use std::path::{Path, PathBuf};

/// An access key, with a session token for temporary credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
    ) -> Credentials {
        Credentials {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token: None,
        }
    }

    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`, if the first two are set.
    pub fn from_env() -> Option<Credentials> {
        from_vars(|k| std::env::var(k).ok())
    }

    /// A profile of the shared credentials and config files (`AWS_SHARED_CREDENTIALS_FILE`,
    /// `AWS_CONFIG_FILE`, defaulting to `~/.aws/credentials` and `~/.aws/config`).
    pub fn from_profile(profile: &str) -> Result<Credentials> {
        let files = SharedFiles::locate(|k| std::env::var(k).ok());
        files.credentials(profile)
    }

    /// The usual chain: environment, then the profile named by `AWS_PROFILE` (or `default`).
    pub fn resolve() -> Result<Credentials> {
        if let Some(c) = Credentials::from_env() {
            return Ok(c);
        }
        Credentials::from_profile(&profile_name(|k| std::env::var(k).ok()))
    }
}

fn from_vars(var: impl Fn(&str) -> Option<String>) -> Option<Credentials> {
    Some(Credentials {
        access_key_id: var("AWS_ACCESS_KEY_ID").filter(|v| !v.is_empty())?,
        secret_access_key: var("AWS_SECRET_ACCESS_KEY").filter(|v| !v.is_empty())?,
        session_token: var("AWS_SESSION_TOKEN").filter(|v| !v.is_empty()),
    })
}

fn profile_name(var: impl Fn(&str) -> Option<String>) -> String {
    var("AWS_PROFILE")
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "default".into())
}

/// The region: `AWS_REGION`, `AWS_DEFAULT_REGION`, then the profile's `region` in the config file.
pub fn resolve_region() -> Option<String> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    var("AWS_REGION")
        .or_else(|| var("AWS_DEFAULT_REGION"))
        .or_else(|| {
            SharedFiles::locate(|k| std::env::var(k).ok())
                .region(&profile_name(|k| std::env::var(k).ok()))
        })
}

/// Where the shared credentials and config files are.
pub(crate) struct SharedFiles {
    credentials: Option<PathBuf>,
    config: Option<PathBuf>,
}

impl SharedFiles {
    pub(crate) fn locate(var: impl Fn(&str) -> Option<String>) -> SharedFiles {
        let home = dirs::home_dir().map(|h| h.join(".aws"));
        SharedFiles {
            credentials: var("AWS_SHARED_CREDENTIALS_FILE")
                .map(PathBuf::from)
                .or_else(|| home.as_ref().map(|h| h.join("credentials"))),
            config: var("AWS_CONFIG_FILE")
                .map(PathBuf::from)
                .or_else(|| home.map(|h| h.join("config"))),
        }
    }

    fn load(path: &Option<PathBuf>) -> Result<Option<Ini>> {
        let Some(path) = path else { return Ok(None) };
        if !Path::new(path).exists() {
            return Ok(None);
        }
        Ini::load_from_file(path)
            .map(Some)
            .map_err(|e| GlacierError::Credentials(format!("reading {}: {e}", path.display())))
    }

    /// The profile's section: `[name]` in the credentials file, `[profile name]` (or
    /// `[default]`) in the config file.
    fn lookup(&self, profile: &str, key: &str) -> Result<Option<String>> {
        if let Some(ini) = Self::load(&self.credentials)?
            && let Some(v) = ini.section(Some(profile)).and_then(|s| s.get(key))
        {
            return Ok(Some(v.trim().to_owned()));
        }
        if let Some(ini) = Self::load(&self.config)? {
            let named = format!("profile {profile}");
            let section = ini.section(Some(named.as_str())).or_else(|| {
                (profile == "default")
                    .then(|| ini.section(Some("default")))
                    .flatten()
            });
            if let Some(v) = section.and_then(|s| s.get(key)) {
                return Ok(Some(v.trim().to_owned()));
            }
        }
        Ok(None)
    }

    pub(crate) fn credentials(&self, profile: &str) -> Result<Credentials> {
        let missing = || {
            GlacierError::Credentials(format!(
                "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or aws_access_key_id and aws_secret_access_key in profile {profile:?} of ~/.aws/credentials"
            ))
        };
        Ok(Credentials {
            access_key_id: self
                .lookup(profile, "aws_access_key_id")?
                .ok_or_else(missing)?,
            secret_access_key: self
                .lookup(profile, "aws_secret_access_key")?
                .ok_or_else(missing)?,
            session_token: self.lookup(profile, "aws_session_token")?,
        })
    }

    pub(crate) fn region(&self, profile: &str) -> Option<String> {
        self.lookup(profile, "region").ok().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_and_profiles() -> anyhow::Result<()> {
        let vars = |k: &str| match k {
            "AWS_ACCESS_KEY_ID" => Some("AKIDENV".to_string()),
            "AWS_SECRET_ACCESS_KEY" => Some("secret".to_string()),
            _ => None,
        };
        assert_eq!(
            from_vars(vars).map(|c| c.access_key_id),
            Some("AKIDENV".into())
        );
        assert_eq!(from_vars(|_| None), None);
        assert_eq!(profile_name(|_| None), "default");

        let dir = tempfile::tempdir()?;
        let creds = dir.path().join("credentials");
        let config = dir.path().join("config");
        std::fs::write(
            &creds,
            "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = s1\n\n[work]\naws_access_key_id=AKIDWORK\naws_secret_access_key=s2\naws_session_token=tok\n",
        )?;
        std::fs::write(
            &config,
            "[default]\nregion = eu-west-1\n\n[profile work]\nregion = us-west-2\n",
        )?;
        let files = SharedFiles {
            credentials: Some(creds),
            config: Some(config),
        };
        assert_eq!(files.credentials("default")?.access_key_id, "AKIDDEFAULT");
        let work = files.credentials("work")?;
        assert_eq!(
            (work.access_key_id.as_str(), work.session_token.as_deref()),
            ("AKIDWORK", Some("tok"))
        );
        assert_eq!(files.region("work").as_deref(), Some("us-west-2"));
        assert_eq!(files.region("default").as_deref(), Some("eu-west-1"));
        assert!(files.credentials("nope").is_err());
        assert!(
            !format!("{work:?}").contains("s2"),
            "secrets are not printed"
        );
        Ok(())
    }
}
