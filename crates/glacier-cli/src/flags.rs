//! The command line's grammar (clap): the commands, and the flags each takes — a flag appears
//! only on the commands that use it (`On<A>`: the target and print flags; `Moving<A>`: also
//! `--limit-rate`; `Family<S>` for `vault`/`job`/`multipart`; `Printing<A>` for `treehash`;
//! `Copying<A>` for `migrate`). Each command's own arguments are defined beside it in
//! `commands/`.

use crate::args::{parse_bytes, parse_endpoint};
use crate::output::{self, Output};
use crate::{commands, target};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Amazon Glacier from the command line — against AWS, any compatible server, or (with nothing
/// configured) a local store on this machine — and a Glacier-compatible server.
#[derive(Parser)]
#[command(name = "glacier", version)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Where a command's requests go: `--endpoint` > `--region` > `GLACIER_ENDPOINT` > the config
/// file's profile > the local store.
#[derive(clap::Args)]
pub(crate) struct TargetArgs {
    /// A Glacier endpoint URL, e.g. http://127.0.0.1:9090 (wins over everything else).
    #[arg(long, global = true, value_parser = parse_endpoint)]
    pub(crate) endpoint: Option<String>,
    /// Amazon Glacier in this AWS region (credentials from the environment or ~/.aws).
    #[arg(long, global = true)]
    pub(crate) region: Option<String>,
    /// A profile of ~/.config/glacier/config.toml.
    #[arg(long, global = true, env = "GLACIER_PROFILE")]
    pub(crate) profile: Option<String>,
    /// The local store used when no endpoint or region is configured
    /// [default: the platform data directory, e.g. ~/.local/share/glacier/local].
    #[arg(long, global = true, env = "GLACIER_LOCAL_STORE")]
    pub(crate) local_store: Option<PathBuf>,
}

/// How a command reports.
#[derive(clap::Args)]
pub(crate) struct PrintArgs {
    /// How results are printed: table or json (errors and progress then JSON lines on
    /// standard error). Not the output file: that is -O.
    #[arg(long, short = 'o', global = true, default_value = "table", value_parser = output::parse_output)]
    pub(crate) output: Output,
    /// No progress output.
    #[arg(long, short, global = true)]
    pub(crate) quiet: bool,
    /// Say which target is used, and print long service messages whole.
    #[arg(long, short, global = true)]
    pub(crate) verbose: bool,
}

/// For commands that move archive bytes.
#[derive(clap::Args)]
pub(crate) struct RateArgs {
    /// Cap the bandwidth of uploads and downloads, across all parts in flight: bytes per
    /// second, with an optional K, M or G suffix (powers of 1024), e.g. 10M.
    #[arg(long, global = true, value_parser = parse_bytes)]
    pub(crate) limit_rate: Option<u64>,
}

/// A command on a Glacier: its own arguments, where its requests go and how it reports.
#[derive(clap::Args)]
pub(crate) struct On<A: clap::Args> {
    #[command(flatten)]
    pub(crate) args: A,
    #[command(flatten)]
    pub(crate) target: TargetArgs,
    #[command(flatten)]
    pub(crate) print: PrintArgs,
}

/// A command on a Glacier that moves archive bytes: `On` and `--limit-rate`.
#[derive(clap::Args)]
pub(crate) struct Moving<A: clap::Args> {
    #[command(flatten)]
    pub(crate) on: On<A>,
    #[command(flatten)]
    pub(crate) rate: RateArgs,
}

/// A family of commands on a Glacier (`vault create`, `vault list`, …).
#[derive(clap::Args)]
pub(crate) struct Family<S: clap::Subcommand> {
    #[command(subcommand)]
    pub(crate) command: S,
    #[command(flatten)]
    pub(crate) target: TargetArgs,
    #[command(flatten)]
    pub(crate) print: PrintArgs,
}

/// `status` has no arguments of its own.
#[derive(clap::Args)]
pub(crate) struct NoArgs {}

/// `treehash` reads files only.
#[derive(clap::Args)]
pub(crate) struct Printing<A: clap::Args> {
    #[command(flatten)]
    pub(crate) args: A,
    #[command(flatten)]
    pub(crate) print: PrintArgs,
}

/// `migrate` names both of its targets itself.
#[derive(clap::Args)]
pub(crate) struct Copying<A: clap::Args> {
    #[command(flatten)]
    pub(crate) args: A,
    #[command(flatten)]
    pub(crate) print: PrintArgs,
    #[command(flatten)]
    pub(crate) rate: RateArgs,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Show which Glacier this command line talks to.
    Status(On<NoArgs>),
    /// Create, list, describe, delete and purge vaults.
    Vault(Family<commands::VaultCmd>),
    /// Upload files (or standard input, `-`) as archives; prints the archive id (with the file
    /// name when there are several).
    Upload(Moving<commands::UploadArgs>),
    /// Start retrieving an archive; prints the job id.
    Retrieve(On<commands::RetrieveArgs>),
    /// List, describe and wait for retrieval jobs.
    Job(Family<commands::JobCmd>),
    /// Download a finished retrieval job's output, verified, to a file.
    Download(Moving<commands::DownloadArgs>),
    /// Retrieve an archive, wait for the job and download it: one command to get a file back.
    Get(Moving<commands::GetArgs>),
    /// Print a vault's inventory (retrieve, wait, print).
    Inventory(On<commands::InventoryArgs>),
    /// Delete an archive.
    Delete(On<commands::DeleteArgs>),
    /// List and abort unfinished multipart uploads.
    Multipart(Family<commands::MultipartCmd>),
    /// Upload new and changed files of a directory (paths and mtimes in mt2 descriptions,
    /// compatible with mt-aws-glacier); a journal remembers what is there.
    Sync(Moving<commands::SyncArgs>),
    /// Bring back the files a vault's inventory describes (mt2/mt1 descriptions) into a directory.
    Restore(Moving<commands::RestoreArgs>),
    /// Copy vaults archive by archive between two targets (Amazon Glacier, a server, the local
    /// store), every archive verified; run again to continue an interrupted migration.
    Migrate(Copying<commands::MigrateArgs>),
    /// Print the SHA-256 tree hash of files (or standard input, `-`), as sha256sum prints hashes.
    Treehash(Printing<commands::TreehashArgs>),
    /// Run a Glacier-compatible server (the 2012-06-01 REST API) on this machine.
    #[command(args_override_self = true)]
    Serve(Box<commands::ServeArgs>),
    /// Print a shell completion script, e.g. `glacier completions bash > /etc/bash_completion.d/glacier`.
    Completions {
        /// bash, elvish, fish, powershell or zsh.
        shell: clap_complete::Shell,
    },
    /// Write the man pages (glacier.1 and one per command, glacier-serve.1, …) into a
    /// directory, for packaging.
    #[command(hide = true)]
    Man {
        /// Where to write them; created if missing.
        #[arg(long)]
        dir: PathBuf,
    },
}

impl Command {
    /// How the command reports, for its errors; `None` for `serve` and `completions`.
    pub(crate) fn print(&self) -> Option<&PrintArgs> {
        Some(match self {
            Command::Status(c) => &c.print,
            Command::Vault(c) => &c.print,
            Command::Job(c) => &c.print,
            Command::Multipart(c) => &c.print,
            Command::Retrieve(c) => &c.print,
            Command::Inventory(c) => &c.print,
            Command::Delete(c) => &c.print,
            Command::Upload(c) => &c.on.print,
            Command::Download(c) => &c.on.print,
            Command::Get(c) => &c.on.print,
            Command::Sync(c) => &c.on.print,
            Command::Restore(c) => &c.on.print,
            Command::Migrate(c) => &c.print,
            Command::Treehash(c) => &c.print,
            Command::Serve(_) | Command::Completions { .. } | Command::Man { .. } => return None,
        })
    }
}

impl TargetArgs {
    /// What a command on a Glacier knows: its target resolved, how it prints, its rate cap.
    pub(crate) fn ctx(
        &self,
        print: &PrintArgs,
        limit_rate: Option<u64>,
    ) -> anyhow::Result<commands::Ctx> {
        let target = target::resolve(&target::Choice {
            endpoint: self.endpoint.as_deref(),
            region: self.region.as_deref(),
            profile: self.profile.as_deref(),
            local_store: self.local_store.as_deref(),
        })?;
        if print.verbose {
            eprintln!("using {}", target::describe(&target));
        }
        Ok(commands::Ctx {
            target,
            output: print.output,
            quiet: print.quiet,
            limit_rate,
        })
    }
}

impl<A: clap::Args> On<A> {
    pub(crate) fn ctx(&self) -> anyhow::Result<commands::Ctx> {
        self.target.ctx(&self.print, None)
    }
}

impl<A: clap::Args> Moving<A> {
    pub(crate) fn ctx(&self) -> anyhow::Result<commands::Ctx> {
        self.on.target.ctx(&self.on.print, self.rate.limit_rate)
    }
}

impl<S: clap::Subcommand> Family<S> {
    pub(crate) fn ctx(&self) -> anyhow::Result<commands::Ctx> {
        self.target.ctx(&self.print, None)
    }
}

#[cfg(test)]
mod tests {
    /// Every command, flag and argument says what it is in `--help`.
    #[test]
    fn every_flag_and_argument_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            if cmd.get_about().is_none() {
                missing.push(path.to_owned());
            }
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if !matches!(id, "help" | "version") && arg.get_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(
            &<super::Cli as clap::CommandFactory>::command(),
            "glacier",
            &mut missing,
        );
        assert!(missing.is_empty(), "without help: {missing:#?}");
    }
}
