//! The commands other than `serve`: each resolves its target, runs, prints a table or JSON.
//!
//! One module per command family: `vault` (vault create/list/describe/delete/purge), `upload`,
//! `retrieve` (retrieve, job list/describe/wait), `download` (download, get), `inventory`,
//! `archives` (delete, multipart, treehash); `state` keeps the files that let interrupted
//! commands resume.

mod archives;
mod download;
mod inventory;
mod retrieve;
mod state;
mod upload;
mod vault;

pub(crate) use archives::{DeleteArgs, MultipartCmd, TreehashArgs, delete, multipart, treehash};
pub(crate) use download::{DownloadArgs, GetArgs, download, download_job, get, retrieve_and_wait};
pub(crate) use inventory::{InventoryArgs, inventory};
pub(crate) use retrieve::{JobCmd, RetrieveArgs, job, retrieve, wait_options};
pub(crate) use state::state_file;
pub(crate) use upload::{UploadArgs, upload, upload_file};
pub(crate) use vault::{VaultCmd, vault};

use crate::output::{self, Output, Progress};
use crate::target::{self, Target};
use glacier_client::GlacierError;
use glacier_client::layer1::Transfer;
use glacier_core::ErrorCode;
use serde_json::json;
use std::sync::Arc;

const MIB: u64 = 1 << 20;

/// What every command knows.
pub(crate) struct Ctx {
    pub(crate) target: Target,
    pub(crate) output: Output,
    pub(crate) quiet: bool,
    /// `--limit-rate`, bytes per second across all transfers of the command.
    pub(crate) limit_rate: Option<u64>,
}

impl Ctx {
    async fn connect(&self) -> anyhow::Result<target::Connection> {
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
        let progress = Arc::new(Progress::new(&what, total, self.output, self.quiet));
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
            println!("{}", text());
        }
    }
}

/// One line saying what went wrong and, where it helps, what to do.
pub(crate) fn explain(e: &anyhow::Error) -> String {
    let Some(g) = e.chain().find_map(|c| c.downcast_ref::<GlacierError>()) else {
        return format!("{e:#}");
    };
    let context = e.to_string();
    let prefix = if context == g.to_string() {
        String::new()
    } else {
        format!("{context}: ")
    };
    match g {
        GlacierError::UnexpectedHttpResponse {
            code: Some(ErrorCode::ResourceNotFoundException),
            message,
            ..
        } => {
            format!(
                "{prefix}{message} (check the name or id; `glacier vault list` lists the vaults)"
            )
        }
        GlacierError::UnexpectedHttpResponse {
            raw_code, message, ..
        } => {
            format!("{prefix}{message} ({raw_code})")
        }
        GlacierError::Transport { source, .. } => {
            format!(
                "{prefix}could not reach the Glacier endpoint ({source}); is the server running and the address right?"
            )
        }
        GlacierError::Credentials(m) => format!("{prefix}{m}"),
        other => format!("{prefix}{other}"),
    }
}

pub(crate) async fn status(ctx: &Ctx) -> anyhow::Result<()> {
    let conn = ctx.connect().await?;
    let vaults = conn.layer2.list_vaults().await?;
    if ctx.json() {
        output::json(&json!({"target": ctx.target.to_string(), "vaults": vaults.len()}));
    } else {
        println!("target: {}", ctx.target);
        println!("vaults: {}", vaults.len());
    }
    Ok(())
}
