//! `glacier`: archive and restore files with Amazon Glacier or a compatible server, and run one.
//! This file parses the command line and dispatches: the grammar is `flags.rs`, each command's
//! work in `commands/`.

mod args;
mod commands;
mod flags;
mod output;
mod target;

use anyhow::Context;
use args::{hoist_flags, separate_archive_ids, usage_error};
pub(crate) use args::{parse_description, parse_endpoint, parse_part_size, parse_range};
use clap::Parser;
use commands::Interrupted;
use flags::{Cli, Command};
use output::Output;

fn main() -> std::process::ExitCode {
    let command = <Cli as clap::CommandFactory>::command();
    let argv = match command
        .find_subcommand("serve")
        .map(|serve| commands::serve_config(std::env::args_os().collect(), serve))
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
    init_logging(&cli.command);
    let json = cli
        .command
        .print()
        .is_some_and(|p| p.output == Output::Json);
    let verbose = cli.command.print().is_some_and(|p| p.verbose);
    let result = tokio::runtime::Runtime::new()
        .context("starting the async runtime")
        .and_then(|rt| {
            let result = rt.block_on(run(cli));
            target::stop_local_engines();
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

/// Logs to standard error, filtered by `GLACIER_LOG` (`info` for `serve`, else `warn`), as
/// text or, for `serve --log-format json`, one JSON object a line.
fn init_logging(command: &Command) {
    let default_filter = if matches!(command, Command::Serve(_)) {
        // PostgreSQL's notices (a migration's "already exists, skipping") are not news.
        "info,tokio_postgres=warn"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("GLACIER_LOG")
        .unwrap_or_else(|_| default_filter.into());
    let log_json =
        matches!(command, Command::Serve(a) if a.log_format == commands::LogFormat::Json);
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
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let work = async move {
        match cli.command {
            Command::Serve(args) => commands::serve(*args).await,
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
            Command::Status(c) => commands::status(&c.ctx()?).await,
            Command::Vault(c) => commands::vault(&c.ctx()?, c.command).await,
            Command::Job(c) => commands::job(&c.ctx()?, c.command).await,
            Command::Multipart(c) => commands::multipart(&c.ctx()?, c.command).await,
            Command::Retrieve(c) => commands::retrieve(&c.ctx()?, c.args).await,
            Command::Inventory(c) => commands::inventory(&c.ctx()?, c.args).await,
            Command::Delete(c) => commands::delete(&c.ctx()?, c.args).await,
            Command::Upload(c) => commands::upload(&c.ctx()?, c.on.args).await,
            Command::Download(c) => commands::download(&c.ctx()?, c.on.args).await,
            Command::Get(c) => commands::get(&c.ctx()?, c.on.args).await,
            Command::Sync(c) => commands::sync(&c.ctx()?, c.on.args).await,
            Command::Restore(c) => commands::restore(&c.ctx()?, c.on.args).await,
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
