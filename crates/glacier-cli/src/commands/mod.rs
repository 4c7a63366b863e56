//! The commands other than `serve`: each resolves its target, runs, prints a table or JSON.
//!
//! One module per command family: `vault` (vault create/list/describe/delete/purge), `upload`,
//! `retrieve` (retrieve, job list/describe/wait), `download` (download, get), `inventory`,
//! `archives` (delete, multipart, treehash); `state` keeps the files that let interrupted
//! commands resume.

mod archives;
mod download;
mod inventory;
mod migrate;
mod restore;
mod retrievals;
mod retrieve;
mod serve;
mod state;
pub(crate) mod sync;
mod upload;
mod vault;

pub(crate) use archives::{DeleteArgs, MultipartCmd, TreehashArgs, delete, multipart, treehash};
pub(crate) use download::{DownloadArgs, GetArgs, download, download_job, get};
pub(crate) use inventory::{InventoryArgs, fetch_inventory, inventory, inventory_job};
pub(crate) use migrate::{MigrateArgs, migrate, source as migrate_source};
pub(crate) use restore::{RestoreArgs, restore};
pub(crate) use retrievals::{Names, RetrievalArgs, retrieve_each};
pub(crate) use retrieve::{JobCmd, RetrieveArgs, job, retrieval_plan, retrieve, wait_for};
pub(crate) use serve::{LogFormat, ServeArgs, expand as serve_config, serve};
pub(crate) use state::{abort_unresumable, data_file, state_file};
pub(crate) use sync::{SyncArgs, sync};
pub(crate) use upload::{UploadArgs, upload, upload_file};
pub(crate) use vault::{VaultCmd, vault};

use crate::output::out;
use crate::output::{self, Output, Progress};
use crate::target::{self, Target};
use glacier_client::GlacierError;
use glacier_client::layer1::Transfer;
use glacier_core::ErrorCode;
use serde_json::json;
use std::sync::Arc;

const MIB: u64 = 1 << 20;

/// What every command knows.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub(crate) target: Target,
    pub(crate) output: Output,
    pub(crate) quiet: bool,
    /// `--limit-rate`, bytes per second across all transfers of the command.
    pub(crate) limit_rate: Option<u64>,
}

impl Ctx {
    /// How the command reports.
    pub(crate) fn print(&self) -> output::Print {
        output::Print {
            output: self.output,
            quiet: self.quiet,
        }
    }

    pub(crate) async fn connect(&self) -> anyhow::Result<target::Connection> {
        target::connect(&self.target, None, self.limit_rate).await
    }

    /// Connects with a progress display of `what` (`total` bytes, if known) counting the
    /// bytes moving in `direction`.
    pub(crate) async fn connect_with(
        &self,
        what: String,
        total: Option<u64>,
        direction: Transfer,
    ) -> anyhow::Result<(Arc<Progress>, target::Connection)> {
        self.connect_showing(
            Progress::new(&what, total, output::Draw::Now, self.print()),
            direction,
        )
        .await
    }

    /// As [`Ctx::connect_with`] for a transfer whose size comes later: nothing is drawn until
    /// [`Progress::start`].
    pub(crate) async fn connect_pending(
        &self,
        what: String,
        direction: Transfer,
    ) -> anyhow::Result<(Arc<Progress>, target::Connection)> {
        self.connect_showing(
            Progress::new(&what, None, output::Draw::OnStart, self.print()),
            direction,
        )
        .await
    }

    async fn connect_showing(
        &self,
        progress: Progress,
        direction: Transfer,
    ) -> anyhow::Result<(Arc<Progress>, target::Connection)> {
        let progress = Arc::new(progress);
        let conn = target::connect(
            &self.target,
            Some(progress.callback(direction)),
            self.limit_rate,
        )
        .await?;
        Ok((progress, conn))
    }

    fn json(&self) -> bool {
        self.output == Output::Json
    }

    /// Prints a result: the JSON value with `--output json`, else the line of text.
    fn report(&self, value: serde_json::Value, text: impl FnOnce() -> String) {
        if self.json() {
            output::json(&value);
        } else {
            out!("{}", text());
        }
    }
}

/// One line saying what went wrong and, where it helps, what to do next; `verbose` keeps the
/// whole of a long service message (a signature mismatch's canonical request).
pub(crate) fn explain(e: &anyhow::Error, verbose: bool) -> String {
    let Some(g) = e.chain().find_map(|c| c.downcast_ref::<GlacierError>()) else {
        return chain(e);
    };
    let context = e.to_string();
    let prefix = if context == g.to_string() {
        String::new()
    } else {
        format!("{context}: ")
    };
    match g {
        GlacierError::UnexpectedHttpResponse {
            code,
            raw_code,
            message,
            ..
        } => {
            let first = message.lines().next().unwrap_or_default().trim();
            let shown = if verbose || first.len() == message.trim().len() {
                message.trim().to_owned()
            } else {
                format!("{first} (-v shows the rest)")
            };
            // "vault nope: Vault not found: nope" says the name once.
            let shown = match shown.rsplit_once(": ") {
                Some((said, name)) if !name.contains(' ') && prefix.contains(name) => {
                    said.to_owned()
                }
                _ => shown,
            };
            match next_step(*code, message) {
                Some(step) => format!("{prefix}{shown} ({raw_code}; {step})"),
                None => format!("{prefix}{shown} ({raw_code})"),
            }
        }
        GlacierError::Transport { source, .. } => {
            // reqwest says "error sending request"; what went wrong is further down the chain.
            let mut chain = source.to_string();
            let mut cause = std::error::Error::source(source.as_ref());
            while let Some(c) = cause {
                let said = c.to_string();
                if !chain.contains(&said) {
                    chain = format!("{chain}: {said}");
                }
                cause = c.source();
            }
            if chain.to_lowercase().contains("certificate") {
                format!(
                    "{prefix}the server's TLS certificate is not trusted ({chain}); if a private CA issued it, set AWS_CA_BUNDLE to that CA's PEM file"
                )
            } else if chain.contains("invalid HTTP version") {
                format!(
                    "{prefix}the endpoint did not answer in plain HTTP ({chain}); is it https? Give the endpoint as https://…"
                )
            } else {
                format!(
                    "{prefix}could not reach the Glacier endpoint ({chain}); is the server running and the address right?"
                )
            }
        }
        GlacierError::Credentials(m) => format!(
            "{prefix}{m} (for a `glacier serve`, `glacier serve --print-credentials-path` names the file holding its keys)"
        ),
        other => format!("{prefix}{other}"),
    }
}

/// An error and its causes, `a: b: c`, each said once: a context that already quotes its cause
/// (or an I/O error wrapped twice) does not repeat it.
fn chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let said = cause.to_string();
        if out.contains(&said) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&said);
    }
    out
}

/// What to run next after the service refused with `code` and `message`.
fn next_step(code: Option<ErrorCode>, message: &str) -> Option<&'static str> {
    let m = message.to_ascii_lowercase();
    match code? {
        ErrorCode::ResourceNotFoundException if m.starts_with("vault") => {
            Some("`glacier vault list` lists the vaults, `glacier vault create NAME` makes one")
        }
        ErrorCode::ResourceNotFoundException if m.contains("no inventory") => Some(
            "a vault's first inventory comes about a day after its first upload; run the command again then",
        ),
        ErrorCode::ResourceNotFoundException if m.contains("job") => Some(
            "`glacier job list --vault VAULT` lists the jobs; finished ones expire after a day",
        ),
        ErrorCode::ResourceNotFoundException if m.contains("upload") => {
            Some("`glacier multipart list --vault VAULT` lists the unfinished uploads")
        }
        ErrorCode::ResourceNotFoundException if m.contains("archive") => {
            Some("`glacier inventory --vault VAULT` lists the archives")
        }
        ErrorCode::ResourceNotFoundException => Some("check the name or id"),
        ErrorCode::InvalidParameterValueException if m.contains("not empty") => Some(
            "`glacier vault purge NAME` deletes its archives; the vault can go once its inventory shows none",
        ),
        ErrorCode::InvalidSignatureException => Some(
            "check the secret key; for a `glacier serve`, `glacier serve --print-credentials-path` names the file holding its keys",
        ),
        ErrorCode::UnrecognizedClientException => Some(
            "check the access key id; for a `glacier serve`, `glacier serve --print-credentials-path` names the file holding its keys",
        ),
        _ => None,
    }
}

/// Whether running the same command again can get further after `e`: the service or the
/// network failed (the state file of the upload or download stays); not when the input, the
/// destination or the request itself was wrong.
pub(crate) fn resumable(e: &anyhow::Error) -> bool {
    e.chain()
        .find_map(|c| c.downcast_ref::<GlacierError>())
        .is_some_and(|g| match g {
            GlacierError::Transport { .. }
            | GlacierError::TreeHashDoesNotMatch { .. }
            | GlacierError::DownloadArchive(_)
            | GlacierError::UploadArchive(_) => true,
            GlacierError::UnexpectedHttpResponse { status, code, .. } => {
                *status >= 500
                    || matches!(
                        code,
                        Some(ErrorCode::ThrottlingException | ErrorCode::RequestTimeoutException)
                    )
            }
            _ => false,
        })
}

/// `e` with `what` as its context, and the advice to run again when that will resume.
pub(crate) fn with_resume_hint(e: impl Into<anyhow::Error>, what: String) -> anyhow::Error {
    let e = e.into();
    if resumable(&e) {
        e.context(format!("{what} (run the command again to resume)"))
    } else {
        e.context(what)
    }
}

pub(crate) async fn status(ctx: &Ctx) -> anyhow::Result<()> {
    let conn = ctx.connect().await?;
    let vaults = conn.layer2.list_vaults().await?;
    if ctx.json() {
        output::json(&json!({"target": ctx.target.to_json(), "vaults": vaults.len()}));
    } else {
        out!("target: {}", target::describe(&ctx.target));
        out!("vaults: {}", vaults.len());
    }
    Ok(())
}

/// The user pressed Ctrl-C; `resumable`: a rerun continues where the command stopped (else
/// what it had begun and could not continue was aborted).
#[derive(Debug)]
pub(crate) struct Interrupted {
    pub(crate) resumable: bool,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.resumable {
            f.write_str("interrupted: run the same command again to continue where it stopped")
        } else {
            f.write_str("interrupted: the upload of standard input was aborted and nothing of it was kept (standard input cannot be read again; run the command again with the same input to start over)")
        }
    }
}

impl std::error::Error for Interrupted {}
