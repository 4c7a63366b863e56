//! `migrate`'s per-vault verification report, which is also its checkpoint.

use crate::commands::{data_file, state_file};
use anyhow::Context;
use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

/// A vault's verification report, one JSON line per archive copied (archive id, size, tree
/// hash, description, file name, destination, when it was verified) and per source archive
/// deleted; also the record a rerun continues from. Kept in the data directory.
pub(super) struct Report {
    key: String,
    pub(super) path: PathBuf,
    file: Mutex<std::fs::File>,
}

impl Report {
    pub(super) fn open(key: &str) -> anyhow::Result<Report> {
        let path = data_file("migrate", key, "jsonl")?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        Ok(Report {
            key: key.to_owned(),
            path,
            file: Mutex::new(file),
        })
    }

    /// The archives copied and the source archives deleted, as recorded (also the checkpoint
    /// of versions before the report: lines `ARCHIVE NEWID`).
    pub(super) fn read(&self) -> anyhow::Result<(HashSet<String>, HashSet<String>)> {
        let (mut copied, mut deleted) = (HashSet::new(), HashSet::new());
        let text = std::fs::read_to_string(&self.path)
            .with_context(|| format!("reading {}", self.path.display()))?;
        for line in text.lines() {
            // A line cut short by a crash is not a record.
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let id = v["archive_id"].as_str().unwrap_or_default().to_owned();
            match v["source_deleted"].as_bool() {
                Some(true) => {
                    deleted.insert(id);
                }
                Some(false) => {}
                None => {
                    copied.insert(id);
                }
            }
        }
        // Versions before the report kept a checkpoint of lines `ARCHIVE NEWID`.
        let old = std::fs::read_to_string(state_file("migrate", &self.key, "copied")?)
            .unwrap_or_default();
        copied.extend(
            old.lines()
                .filter_map(|l| l.split_once(' ').map(|(a, _)| a.to_owned())),
        );
        Ok((copied, deleted))
    }

    pub(super) fn write(&self, record: &serde_json::Value) -> anyhow::Result<()> {
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        writeln!(file, "{record}")?;
        file.sync_data()?;
        Ok(())
    }
}
