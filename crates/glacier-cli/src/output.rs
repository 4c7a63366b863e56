//! Printing results (aligned tables or JSON) and progress (a bar on a terminal, plain lines
//! otherwise, JSON events with `--output json`, nothing with `--quiet`).

use glacier_client::layer1::{ProgressFn, Transfer};
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Output {
    Table,
    Json,
}

/// `--output`/`-o`, whose value is easily mistaken for a file name: the error points at `-O`.
pub(crate) fn parse_output(s: &str) -> Result<Output, String> {
    match s.to_ascii_lowercase().as_str() {
        "table" => Ok(Output::Table),
        "json" => Ok(Output::Json),
        _ => Err(format!(
            "-o/--output is the print format, table or json; to write a file use -O {s}"
        )),
    }
}

/// Prints a line on standard output, as `println!` does, except that a closed pipe
/// (`glacier inventory | head -1`) ends the process quietly with status 0 (the reader took what
/// it wanted; a script under `set -o pipefail` goes on), instead of a panic; another write
/// error ends it with a message.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write_line(format_args!($($arg)*))
    };
}
pub(crate) use out;

pub(crate) fn write_line(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(Stdout, "{line}").and_then(|()| Stdout.flush());
}

/// Standard output for writers (CSV, completions): a write error ends the process as
/// [`exit_for_stdout`] says, so none reaches the caller.
pub(crate) struct Stdout;

impl std::io::Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        std::io::stdout()
            .write(buf)
            .or_else(|e| exit_for_stdout(&e))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().flush().or_else(|e| exit_for_stdout(&e))
    }
}

/// Writes `pieces` to standard output, each straight from its buffer on a blocking thread
/// (tokio's `Stdout` copies every write into a buffer of its own first: a tenth of a
/// download's CPU). A write error ends the process as [`exit_for_stdout`] says; the stream's
/// first error is returned once what came before it is written.
pub(crate) async fn pieces_to_stdout<E>(
    pieces: impl futures_util::Stream<Item = Result<bytes::Bytes, E>>,
) -> Result<(), E> {
    use futures_util::StreamExt;
    use std::io::Write;
    use std::os::fd::AsFd;
    let _ = Stdout.flush();
    let mut out = match std::io::stdout().as_fd().try_clone_to_owned() {
        Ok(fd) => std::fs::File::from(fd),
        Err(e) => exit_for_stdout(&e),
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(16);
    let writer = tokio::task::spawn_blocking(move || {
        while let Some(piece) = rx.blocking_recv() {
            if let Err(e) = out.write_all(&piece) {
                exit_for_stdout(&e);
            }
        }
    });
    let mut pieces = std::pin::pin!(pieces);
    let mut result = Ok(());
    while let Some(piece) = pieces.next().await {
        match piece {
            Ok(piece) => {
                if tx.send(piece).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    drop(tx);
    if let Err(e) = writer.await {
        exit_for_stdout(&std::io::Error::other(e));
    }
    result
}

/// Ends the process for an error writing standard output: quietly with status 0 when the
/// reader closed the pipe, as every command does (`get -O - | head`, `inventory | head`).
pub(crate) fn exit_for_stdout(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("error: writing standard output: {e}");
    std::process::exit(1);
}

/// A size for people: bytes below 1 KiB, else KiB, MiB, GiB, TiB with one decimal.
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A date as every table shows it: `2026-12-06 15:23:41` (UTC, to the second), from the ISO
/// 8601 form the API gives (JSON output keeps that).
pub(crate) fn table_date(iso: &str) -> String {
    iso.get(..19).unwrap_or(iso).replace('T', " ")
}

/// `1 request`, `2 requests`.
pub(crate) fn plural(n: u64, thing: &str) -> String {
    if n == 1 {
        format!("1 {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

/// Prints rows under a header, columns padded to their widest cell.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out!("{}", padded.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row.clone());
    }
}

pub(crate) fn json(value: &serde_json::Value) {
    out!("{value}");
}

/// Reports bytes moved for one transfer of `total` bytes (if known).
pub(crate) struct Progress {
    mode: Mode,
    what: String,
    flight: std::sync::atomic::AtomicI64,
}

enum Mode {
    Quiet,
    Bar(indicatif::ProgressBar),
    Lines(Mutex<Lines>),
}

struct Lines {
    what: String,
    total: Option<u64>,
    /// Bytes moved.
    done: u64,
    /// Bytes a resumed transfer found already there.
    skipped: u64,
    last: Instant,
    json: bool,
}

impl Lines {
    fn print(&self) {
        if self.json {
            eprintln!(
                "{}",
                serde_json::json!({"event": "progress", "what": self.what, "bytes": self.done, "skipped": self.skipped, "total": self.total})
            );
        } else {
            let had = match self.skipped {
                0 => String::new(),
                n => format!(" ({n} of them there already)"),
            };
            let so_far = self.done + self.skipped;
            match self.total {
                Some(t) => eprintln!("{}: {so_far} of {t} bytes{had}", self.what),
                None => eprintln!("{}: {so_far} bytes{had}", self.what),
            }
        }
    }
}

/// How a command reports: its output format and whether it says anything while it works
/// (`--quiet`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Print {
    pub(crate) output: Output,
    pub(crate) quiet: bool,
}

/// When a progress display first draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Draw {
    /// At once.
    Now,
    /// Once [`Progress::start`] gives the size (a download waits for its job first).
    OnStart,
}

impl Progress {
    /// A display of `what`; `total` bytes if known.
    pub(crate) fn new(what: &str, total: Option<u64>, draw: Draw, print: Print) -> Progress {
        let Print { output, quiet } = print;
        let mode = if quiet {
            Mode::Quiet
        } else if output == Output::Table && std::io::stderr().is_terminal() {
            let hidden = indicatif::ProgressDrawTarget::hidden();
            let bar = indicatif::ProgressBar::with_draw_target(total, hidden);
            // The bar takes what the terminal's width leaves; a narrow terminal gets a short
            // bar and the message cut to fit, so that the line never wraps.
            let (_, columns) = console::Term::stderr().size();
            let template = if columns >= 100 {
                "{msg} [{wide_bar}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}"
            } else {
                "{wide_msg} [{bar:10}] {bytes}/{total_bytes} {eta}"
            };
            let style = indicatif::ProgressStyle::with_template(template)
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> ");
            bar.set_style(style);
            bar.set_message(what.to_owned());
            if draw == Draw::Now {
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            }
            Mode::Bar(bar)
        } else {
            Mode::Lines(Mutex::new(Lines {
                what: what.to_owned(),
                total,
                done: 0,
                skipped: 0,
                last: Instant::now(),
                json: output == Output::Json,
            }))
        };
        Progress {
            mode,
            what: what.to_owned(),
            flight: std::sync::atomic::AtomicI64::new(0),
        }
    }

    /// (Re)starts counting at zero towards `total`, once the total is known: bytes that moved
    /// before (an inventory read to plan a restore, say) are not part of the transfer shown.
    pub(crate) fn start(&self, total: u64) {
        match &self.mode {
            Mode::Quiet => {}
            Mode::Bar(bar) => {
                bar.set_length(total);
                bar.set_position(0);
                if bar.is_hidden() {
                    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                }
            }
            Mode::Lines(l) => {
                if let Ok(mut l) = l.lock() {
                    l.total = Some(total);
                    l.done = 0;
                    l.skipped = 0;
                }
            }
        }
    }

    /// The callback for the client, counting the bytes of `direction`.
    pub(crate) fn callback(self: &Arc<Self>, direction: Transfer) -> ProgressFn {
        let me = Arc::clone(self);
        Arc::new(move |d, n| match d {
            Transfer::Started => me.in_flight(1),
            Transfer::Finished => me.in_flight(-1),
            Transfer::Skipped => me.skip(n),
            d if d == direction => me.add(n),
            _ => {}
        })
    }

    /// Shows how many parts or chunks are in flight (on the bar).
    fn in_flight(&self, delta: i64) {
        if let Mode::Bar(bar) = &self.mode {
            let n = self
                .flight
                .fetch_add(delta, std::sync::atomic::Ordering::SeqCst)
                + delta;
            bar.set_message(format!("{} ({} in flight)", self.what, n.max(0)));
        }
    }

    fn add(&self, n: u64) {
        match &self.mode {
            Mode::Quiet => {}
            Mode::Bar(bar) => bar.inc(n),
            Mode::Lines(l) => {
                let Ok(mut l) = l.lock() else { return };
                l.done += n;
                if l.last.elapsed() >= Duration::from_secs(2) {
                    l.last = Instant::now();
                    l.print();
                }
            }
        }
    }

    /// Counts bytes a resumed transfer did not move again: towards the total shown, with the
    /// rate (and so the time left) measured afresh from the bytes that do move.
    fn skip(&self, n: u64) {
        match &self.mode {
            Mode::Quiet => {}
            Mode::Bar(bar) => {
                bar.inc(n);
                bar.reset_eta();
            }
            Mode::Lines(l) => {
                if let Ok(mut l) = l.lock() {
                    l.skipped += n;
                }
            }
        }
    }

    pub(crate) fn finish(&self) {
        match &self.mode {
            Mode::Quiet => {}
            Mode::Bar(bar) => bar.finish(),
            Mode::Lines(l) => {
                if let Ok(l) = l.lock() {
                    l.print();
                }
            }
        }
    }
}

/// Shows that the command waits (for a job): a spinner on a terminal, else occasional lines
/// on standard error (JSON events with `--output json`); nothing with `--quiet`.
pub(crate) struct Spinner {
    bar: Option<indicatif::ProgressBar>,
    output: Output,
    quiet: bool,
}

impl Spinner {
    pub(crate) fn new(print: Print) -> Spinner {
        let Print { output, quiet } = print;
        let bar =
            (!quiet && output == Output::Table && std::io::stderr().is_terminal()).then(|| {
                let bar = indicatif::ProgressBar::new_spinner();
                bar.enable_steady_tick(Duration::from_millis(120));
                bar
            });
        Spinner { bar, output, quiet }
    }

    /// The spinner's message.
    pub(crate) fn set(&self, message: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(message.to_owned());
        }
    }

    /// A line for a log (no terminal): `text`, or `event` with `--output json`.
    pub(crate) fn line(&self, text: &str, event: impl FnOnce() -> serde_json::Value) {
        if self.quiet || self.bar.is_some() {
            return;
        }
        match self.output {
            Output::Json => eprintln!("{}", event()),
            Output::Table => eprintln!("{text}"),
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn human_sizes() {
        assert_eq!(super::human_size(0), "0 B");
        assert_eq!(super::human_size(1023), "1023 B");
        assert_eq!(super::human_size(3_000_017), "2.9 MiB");
        assert_eq!(super::human_size(8 << 30), "8.0 GiB");
    }
}
