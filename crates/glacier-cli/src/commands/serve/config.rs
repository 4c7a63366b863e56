//! `glacier serve --config FILE`: a TOML file whose keys are the long flags of `glacier serve`
//! (`listen = "0.0.0.0:9090"`, `retrieval-delay = "5s"`, `strict-scope = true`). The file's
//! settings go on the command line before the operator's own flags, and `glacier serve` takes
//! the last of a repeated flag, so a flag given on the command line wins over the file, and the
//! file over the environment (`GLACIER_METADATA_URL`, …) and the defaults. A key that is not a
//! flag is an error naming it, before anything starts.

use std::ffi::OsString;
use std::path::PathBuf;

/// Flags that do something once instead of configuring the server: not for a config file.
const NOT_SETTINGS: &[&str] = &["config", "print-env", "print-credentials-path", "help"];

/// `argv` with the settings of the `--config` file of a `glacier serve` command line put in
/// before the command line's own flags; any other command line unchanged.
pub(crate) fn expand(argv: Vec<OsString>, serve: &clap::Command) -> anyhow::Result<Vec<OsString>> {
    if argv.get(1).is_none_or(|a| a != "serve") {
        return Ok(argv);
    }
    let Some(path) = config_path(&argv[2..]) else {
        return Ok(argv);
    };
    let table: toml::Table = glacier_server::read_toml(&path)?;
    let mut out = argv[..2].to_vec();
    for (key, value) in &table {
        let shown = path.display();
        let arg = serve
            .get_arguments()
            .find(|a| a.get_long() == Some(key.as_str()))
            .filter(|_| !NOT_SETTINGS.contains(&key.as_str()))
            .ok_or_else(|| {
                let known: Vec<&str> = serve
                    .get_arguments()
                    .filter_map(clap::Arg::get_long)
                    .filter(|l| !NOT_SETTINGS.contains(l))
                    .collect();
                anyhow::anyhow!(
                    "{shown}: unknown key {key:?}; the keys are the flags of `glacier serve`: {}",
                    known.join(", ")
                )
            })?;
        let is_switch = matches!(arg.get_action(), clap::ArgAction::SetTrue);
        match (value, is_switch) {
            (toml::Value::Boolean(true), true) => out.push(format!("--{key}").into()),
            (toml::Value::Boolean(false), true) => {}
            (_, true) => anyhow::bail!("{shown}: {key} is true or false, not {value}"),
            (toml::Value::String(s), false) => {
                out.push(format!("--{key}").into());
                out.push(s.into());
            }
            (toml::Value::Integer(n), false) => {
                out.push(format!("--{key}").into());
                out.push(n.to_string().into());
            }
            (toml::Value::Float(n), false) => {
                out.push(format!("--{key}").into());
                out.push(n.to_string().into());
            }
            (other, false) => anyhow::bail!(
                "{shown}: {key} takes a string or a number (as its flag takes), not {}",
                other.type_str()
            ),
        }
    }
    out.extend(argv[2..].iter().cloned());
    Ok(out)
}

/// The value of `--config PATH` or `--config=PATH`, if given.
fn config_path(args: &[OsString]) -> Option<PathBuf> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--" {
            return None;
        }
        if a == "--config" {
            return it.next().map(PathBuf::from);
        }
        if let Some(p) = a.to_str().and_then(|s| s.strip_prefix("--config=")) {
            return Some(PathBuf::from(p));
        }
    }
    None
}
