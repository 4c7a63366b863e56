//! Printing results (aligned tables or JSON) and progress (a bar on a terminal, plain lines
//! otherwise, JSON events with `--output json`, nothing with `--quiet`).

use glacier_client::layer1::{ProgressFn, Transfer};
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Output {
    Table,
    Json,
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
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row.clone());
    }
}

pub(crate) fn json(value: &serde_json::Value) {
    println!("{value}");
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
    done: u64,
    last: Instant,
    json: bool,
}

impl Lines {
    fn print(&self) {
        if self.json {
            eprintln!(
                "{}",
                serde_json::json!({"event": "progress", "what": self.what, "bytes": self.done, "total": self.total})
            );
        } else {
            match self.total {
                Some(t) => eprintln!("{}: {} of {t} bytes", self.what, self.done),
                None => eprintln!("{}: {} bytes", self.what, self.done),
            }
        }
    }
}

impl Progress {
    pub(crate) fn new(what: &str, total: Option<u64>, output: Output, quiet: bool) -> Progress {
        let mode = if quiet {
            Mode::Quiet
        } else if output == Output::Table && std::io::stderr().is_terminal() {
            let bar = match total {
                Some(t) => indicatif::ProgressBar::new(t),
                None => indicatif::ProgressBar::no_length(),
            };
            let style = indicatif::ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_message(what.to_owned());
            Mode::Bar(bar)
        } else {
            Mode::Lines(Mutex::new(Lines {
                what: what.to_owned(),
                total,
                done: 0,
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
            }
            Mode::Lines(l) => {
                if let Ok(mut l) = l.lock() {
                    l.total = Some(total);
                    l.done = 0;
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
