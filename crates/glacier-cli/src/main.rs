//! `glacier`: archive and restore files with Amazon Glacier or a compatible server, and run one.

mod args;
mod commands;
mod output;
mod restore;
mod serve_config;
mod sync;
mod target;

use anyhow::Context;
use args::{hoist_flags, parse_bytes, separate_archive_ids, usage_error};
pub(crate) use args::{parse_description, parse_endpoint, parse_part_size, parse_range};
use clap::{Parser, Subcommand};
use glacier_server::Limits;
use glacier_server::{
    AppState, IdentitySource, RetrievalDelay, S3Config, ServerConfig, Settings, Storage,
};
use output::Output;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Amazon Glacier from the command line — against AWS, any compatible server, or (with nothing
/// configured) a local store on this machine — and a Glacier-compatible server.
#[derive(Parser)]
#[command(name = "glacier", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where a command's requests go: `--endpoint` > `--region` > `GLACIER_ENDPOINT` > the config
/// file's profile > the local store.
#[derive(clap::Args)]
struct TargetArgs {
    /// A Glacier endpoint URL, e.g. http://127.0.0.1:9090 (wins over everything else).
    #[arg(long, global = true, value_parser = parse_endpoint)]
    endpoint: Option<String>,
    /// Amazon Glacier in this AWS region (credentials from the environment or ~/.aws).
    #[arg(long, global = true)]
    region: Option<String>,
    /// A profile of ~/.config/glacier/config.toml.
    #[arg(long, global = true, env = "GLACIER_PROFILE")]
    profile: Option<String>,
    /// The local store used when no endpoint or region is configured
    /// [default: the platform data directory, e.g. ~/.local/share/glacier/local].
    #[arg(long, global = true, env = "GLACIER_LOCAL_STORE")]
    local_store: Option<PathBuf>,
}

/// How a command reports.
#[derive(clap::Args)]
struct PrintArgs {
    /// How results are printed: table or json (errors and progress then JSON lines on
    /// standard error). Not the output file: that is -O.
    #[arg(long, short = 'o', global = true, default_value = "table", value_parser = output::parse_output)]
    output: Output,
    /// No progress output.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Say which target is used, and print long service messages whole.
    #[arg(long, short, global = true)]
    verbose: bool,
}

/// For commands that move archive bytes.
#[derive(clap::Args)]
struct RateArgs {
    /// Cap the bandwidth of uploads and downloads, across all parts in flight: bytes per
    /// second, with an optional K, M or G suffix (powers of 1024), e.g. 10M.
    #[arg(long, global = true, value_parser = parse_bytes)]
    limit_rate: Option<u64>,
}

/// A command on a Glacier: its own arguments, where its requests go and how it reports.
#[derive(clap::Args)]
struct On<A: clap::Args> {
    #[command(flatten)]
    args: A,
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    print: PrintArgs,
}

/// A command on a Glacier that moves archive bytes: `On` and `--limit-rate`.
#[derive(clap::Args)]
struct Moving<A: clap::Args> {
    #[command(flatten)]
    on: On<A>,
    #[command(flatten)]
    rate: RateArgs,
}

/// A family of commands on a Glacier (`vault create`, `vault list`, …).
#[derive(clap::Args)]
struct Family<S: clap::Subcommand> {
    #[command(subcommand)]
    command: S,
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    print: PrintArgs,
}

/// `status` has no arguments of its own.
#[derive(clap::Args)]
struct NoArgs {}

/// `treehash` reads files only.
#[derive(clap::Args)]
struct Printing<A: clap::Args> {
    #[command(flatten)]
    args: A,
    #[command(flatten)]
    print: PrintArgs,
}

/// `migrate` names both of its targets itself.
#[derive(clap::Args)]
struct Copying<A: clap::Args> {
    #[command(flatten)]
    args: A,
    #[command(flatten)]
    print: PrintArgs,
    #[command(flatten)]
    rate: RateArgs,
}

/// The user pressed Ctrl-C; `resumable`: a rerun continues where the command stopped (else
/// what it had begun and could not continue was aborted).
#[derive(Debug)]
struct Interrupted {
    resumable: bool,
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
#[derive(Subcommand)]
enum Command {
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
    Sync(Moving<sync::SyncArgs>),
    /// Bring back the files a vault's inventory describes (mt2/mt1 descriptions) into a directory.
    Restore(Moving<restore::RestoreArgs>),
    /// Copy vaults archive by archive between two targets (Amazon Glacier, a server, the local
    /// store), every archive verified; run again to continue an interrupted migration.
    Migrate(Copying<commands::MigrateArgs>),
    /// Print the SHA-256 tree hash of files (or standard input, `-`), as sha256sum prints hashes.
    Treehash(Printing<commands::TreehashArgs>),
    /// Run a Glacier-compatible server (the 2012-06-01 REST API) on this machine.
    #[command(args_override_self = true)]
    Serve(Box<ServeArgs>),
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
    fn print(&self) -> Option<&PrintArgs> {
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

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(clap::Args)]
struct ServeArgs {
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
    log_format: LogFormat,
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

fn main() -> std::process::ExitCode {
    let command = <Cli as clap::CommandFactory>::command();
    let argv = match command
        .find_subcommand("serve")
        .map(|serve| serve_config::expand(std::env::args_os().collect(), serve))
    {
        Some(Ok(argv)) => argv,
        Some(Err(e)) => {
            eprintln!("glacier: {e:#}");
            return std::process::ExitCode::from(2);
        }
        None => std::env::args_os().collect(),
    };
    let argv = separate_archive_ids(hoist_flags(argv, &command));
    let cli = match Cli::try_parse_from(&argv) {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e, &argv),
    };
    let default_filter = if matches!(cli.command, Command::Serve(_)) {
        // PostgreSQL's notices (a migration's "already exists, skipping") are not news.
        "info,tokio_postgres=warn"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("GLACIER_LOG")
        .unwrap_or_else(|_| default_filter.into());
    let log_json = matches!(&cli.command, Command::Serve(a) if a.log_format == LogFormat::Json);
    if log_json {
        // One JSON object a line; a request's lines carry its span, with the request id.
        tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
    let json = cli
        .command
        .print()
        .is_some_and(|p| p.output == Output::Json);
    let verbose = cli.command.print().is_some_and(|p| p.verbose);
    let result = tokio::runtime::Runtime::new()
        .context("starting the async runtime")
        .and_then(|rt| {
            let result = rt.block_on(run(cli));
            // Without waiting for blocking reads that may never end (standard input left open
            // by whoever writes it, after Ctrl-C).
            rt.shutdown_background();
            result
        });
    let Err(e) = result else {
        return std::process::ExitCode::SUCCESS;
    };
    let (message, status) = if let Some(i) = e.downcast_ref::<Interrupted>() {
        (i.to_string(), 130)
    } else {
        (commands::explain(&e, verbose), 1)
    };
    if json {
        eprintln!(
            "{}",
            serde_json::json!({"event": "error", "message": message})
        );
    } else {
        // A progress bar may have left the cursor mid-line.
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            eprint!("\r\x1b[K");
        }
        eprintln!("{}{message}", if status == 130 { "" } else { "error: " });
    }
    std::process::ExitCode::from(status)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let work = async move {
        match cli.command {
            Command::Serve(args) => serve(*args).await,
            Command::Completions { shell } => {
                use clap::CommandFactory;
                // A closed pipe ends the process in `output::Stdout`, before the generator
                // could panic on the error.
                clap_complete::generate(shell, &mut Cli::command(), "glacier", &mut output::Stdout);
                Ok(())
            }
            Command::Man { dir } => {
                use clap::CommandFactory;
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                clap_mangen::generate_to(Cli::command(), &dir)
                    .with_context(|| format!("writing man pages into {}", dir.display()))?;
                Ok(())
            }
            Command::Status(c) => commands::status(&ctx(&c.target, &c.print, None)?).await,
            Command::Vault(c) => commands::vault(&ctx(&c.target, &c.print, None)?, c.command).await,
            Command::Job(c) => commands::job(&ctx(&c.target, &c.print, None)?, c.command).await,
            Command::Multipart(c) => {
                commands::multipart(&ctx(&c.target, &c.print, None)?, c.command).await
            }
            Command::Retrieve(c) => commands::retrieve(&on(&c)?, c.args).await,
            Command::Inventory(c) => commands::inventory(&on(&c)?, c.args).await,
            Command::Delete(c) => commands::delete(&on(&c)?, c.args).await,
            Command::Upload(c) => commands::upload(&moving(&c)?, c.on.args).await,
            Command::Download(c) => commands::download(&moving(&c)?, c.on.args).await,
            Command::Get(c) => commands::get(&moving(&c)?, c.on.args).await,
            Command::Sync(c) => sync::sync(&moving(&c)?, c.on.args).await,
            Command::Restore(c) => restore::restore(&moving(&c)?, c.on.args).await,
            Command::Migrate(c) => {
                // The command's own target is the source, --from.
                let ctx = commands::Ctx {
                    target: commands::migrate_source(&c.args)?,
                    output: c.print.output,
                    quiet: c.print.quiet,
                    limit_rate: c.rate.limit_rate,
                };
                commands::migrate(&ctx, c.args).await
            }
            Command::Treehash(c) => commands::treehash(c.print.output, c.args).await,
        }
    };
    // Ctrl-C stops cleanly: state files (uploads, downloads, sync, migrate) stay for a rerun.
    tokio::select! {
        r = work => r,
        _ = tokio::signal::ctrl_c() => {
            let resumable = !commands::abort_unresumable().await;
            Err(Interrupted { resumable }.into())
        }
    }
}

/// What a command on a Glacier knows: its target resolved, how it prints, its rate cap.
fn ctx(
    t: &TargetArgs,
    print: &PrintArgs,
    limit_rate: Option<u64>,
) -> anyhow::Result<commands::Ctx> {
    let target = target::resolve(&target::Choice {
        endpoint: t.endpoint.as_deref(),
        region: t.region.as_deref(),
        profile: t.profile.as_deref(),
        local_store: t.local_store.as_deref(),
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

fn on<A: clap::Args>(c: &On<A>) -> anyhow::Result<commands::Ctx> {
    ctx(&c.target, &c.print, None)
}

fn moving<A: clap::Args>(c: &Moving<A>) -> anyhow::Result<commands::Ctx> {
    ctx(&c.on.target, &c.on.print, c.rate.limit_rate)
}

/// Where `glacier serve` keeps its state, from its flags.
fn storage(args: &ServeArgs) -> anyhow::Result<Storage> {
    let data_dir = match &args.data_dir {
        Some(d) => d.clone(),
        None => {
            // The store the command line uses with nothing configured: what `glacier upload`
            // put there, `glacier serve` serves.
            let dir = target::default_local_store()?;
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

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
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
    let env = |k: &str| std::env::var(k).ok();
    let (identities, source) = if storage.is_shared() {
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
    };
    if args.print_env {
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
        return Ok(());
    }
    if args.print_credentials_path {
        return match &source {
            IdentitySource::Generated(path) | IdentitySource::File(path) => {
                output::out!("{}", path.display());
                Ok(())
            }
            IdentitySource::Environment => anyhow::bail!(
                "the identity comes from GLACIER_ACCESS_KEY_ID / GLACIER_SECRET_ACCESS_KEY, not a file"
            ),
        };
    }
    match &source {
        IdentitySource::Generated(path) => tracing::info!(
            path = %path.display(),
            "using the identity generated for this data directory; point clients at the keys in this file"
        ),
        IdentitySource::File(path) => {
            tracing::info!(path = %path.display(), count = identities.len(), "identities loaded")
        }
        IdentitySource::Environment => tracing::info!("identity taken from GLACIER_ACCESS_KEY_ID"),
    }
    let Some((listener, metrics)) = listeners else {
        anyhow::bail!("no listener: nothing to serve");
    };
    let settings = Settings {
        retrieval_delay: args.retrieval_delay,
        job_expiry: args.job_expiry,
        topics,
        expedited_rate: args.expedited_rate,
        free_tier_bytes_per_day: args
            .free_tier_bytes_per_day
            .unwrap_or(glacier_server::DEFAULT_FREE_TIER_BYTES_PER_DAY),
        secure_transport: tls.is_some(),
        usage_interval: args.usage_interval,
        ..Settings::new(args.region)
    };
    let config = ServerConfig {
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
        ..ServerConfig::new(identities)
    };
    let state = AppState::open(&storage, settings, config)
        .await
        .with_context(|| format!("opening the store ({})", storage.describe()))?;
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

    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: finishing requests in flight");
        signal.cancel();
    });
    let credentials = match &source {
        IdentitySource::File(path) => Some(path.clone()),
        _ => None,
    };
    reload_on_sighup(tls.clone(), credentials, Arc::clone(&state))?;
    // Commands on this local store reach it through this server while it holds the store.
    let serving = matches!(source, IdentitySource::Generated(_)) && !storage.is_shared();
    let serving_file = target::serving_file(&storage.data_dir);
    if serving {
        std::fs::write(&serving_file, format!("{scheme}://{addr}\n"))
            .with_context(|| format!("writing {}", serving_file.display()))?;
    }
    let metrics = metrics.map(|listener| {
        tokio::spawn(glacier_server::serve_metrics(
            listener,
            Arc::clone(&state),
            shutdown.clone(),
        ))
    });
    let served = glacier_server::run_tls(listener, state, tls, shutdown).await;
    if let Some(task) = metrics {
        match task.await {
            Ok(Err(e)) => tracing::error!(error = %e, "the metrics listener failed"),
            Err(e) => tracing::error!(error = %e, "the metrics listener stopped abnormally"),
            Ok(Ok(())) => {}
        }
    }
    if serving {
        let _ = std::fs::remove_file(&serving_file);
    }
    Ok(served?)
}

/// At every SIGHUP reads the certificate and key again, and the `--credentials` file; what
/// fails to load keeps what was in force, and says why.
fn reload_on_sighup(
    tls: Option<Arc<glacier_server::Tls>>,
    credentials: Option<PathBuf>,
    state: Arc<AppState>,
) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = signal(SignalKind::hangup()).context("listening for SIGHUP")?;
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                if let Some(tls) = &tls {
                    match tls.reload() {
                        Ok(()) => tracing::info!(
                            cert = %tls.files().cert.display(),
                            "TLS certificate reloaded; new connections use it"
                        ),
                        Err(e) => tracing::error!(
                            error = %e,
                            "TLS certificate not reloaded; the previous one stays in use"
                        ),
                    }
                }
                let Some(path) = &credentials else {
                    tracing::info!(
                        "SIGHUP: the identities come from no --credentials file; nothing to reload"
                    );
                    continue;
                };
                match glacier_server::load_identities(Some(path), |_| None, path) {
                    Ok((ids, _)) if ids.is_empty() => tracing::error!(
                        path = %path.display(),
                        "identities not reloaded: the file lists none; the previous ones stay in force"
                    ),
                    Ok((ids, _)) => {
                        tracing::info!(path = %path.display(), count = ids.len(), "identities reloaded");
                        state.set_identities(ids);
                    }
                    Err(e) => tracing::error!(
                        error = %e,
                        "identities not reloaded; the previous ones stay in force"
                    ),
                }
            }
        });
    }
    #[cfg(not(unix))]
    drop((tls, credentials, state));
    Ok(())
}

/// A line on standard output for the scripts and tests that start the server (they read it to
/// learn the port). A closed standard output does not stop the server.
fn announce(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
