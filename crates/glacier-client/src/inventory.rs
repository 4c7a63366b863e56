//! Incremental parsing of inventory output (JSON or CSV) into archive entries, so that a
//! multi-GB inventory never has to fit in memory: bytes are pushed in as they arrive, entries
//! come out as soon as they are complete.

use crate::error::{GlacierError, Result};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use std::collections::VecDeque;

/// One archive of an inventory.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InventoryEntry {
    pub archive_id: String,
    pub archive_description: String,
    pub creation_date: String,
    pub size: u64,
    #[serde(rename = "SHA256TreeHash")]
    pub sha256_tree_hash: String,
}

/// The inventory formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
}

impl Format {
    /// The format of a job output's `Content-Type` (`text/csv` or JSON).
    pub fn from_content_type(ct: Option<&str>) -> Format {
        if ct.is_some_and(|c| c.starts_with("text/csv")) {
            Format::Csv
        } else {
            Format::Json
        }
    }
}

fn bad(msg: impl Into<String>) -> GlacierError {
    GlacierError::Archive(format!("malformed inventory: {}", msg.into()))
}

/// A push parser: feed it chunks with [`InventoryParser::push`], then call
/// [`InventoryParser::finish`].
pub struct InventoryParser {
    inner: Inner,
}

enum Inner {
    Json(JsonScan),
    Csv(Box<CsvScan>),
}

impl InventoryParser {
    pub fn new(format: Format) -> InventoryParser {
        InventoryParser {
            inner: match format {
                Format::Json => Inner::Json(JsonScan::default()),
                Format::Csv => Inner::Csv(Box::new(CsvScan::new())),
            },
        }
    }

    /// Parses `chunk`, appending every entry it completes to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut VecDeque<InventoryEntry>) -> Result<()> {
        match &mut self.inner {
            Inner::Json(j) => j.push(chunk, out),
            Inner::Csv(c) => c.push(chunk, out),
        }
    }

    /// Ends the input: fails if it stopped in the middle of the inventory.
    pub fn finish(&mut self, out: &mut VecDeque<InventoryEntry>) -> Result<()> {
        match &mut self.inner {
            Inner::Json(j) if j.mode != Mode::Done => {
                Err(bad("the JSON document ends before its ArchiveList does"))
            }
            Inner::Json(_) => Ok(()),
            Inner::Csv(c) => c.finish(out),
        }
    }

    /// The inventory's `VaultARN` (JSON only), once it has been read.
    pub fn vault_arn(&self) -> Option<&str> {
        match &self.inner {
            Inner::Json(j) => j.vault_arn.as_deref(),
            Inner::Csv(_) => None,
        }
    }

    /// The inventory's `InventoryDate` (JSON only), once it has been read.
    pub fn inventory_date(&self) -> Option<&str> {
        match &self.inner {
            Inner::Json(j) => j.inventory_date.as_deref(),
            Inner::Csv(_) => None,
        }
    }
}

/// Parses a stream of inventory bytes into a stream of entries.
pub fn entries<S>(body: S, format: Format) -> impl Stream<Item = Result<InventoryEntry>>
where
    S: Stream<Item = Result<Bytes>> + Unpin,
{
    let state = (body, InventoryParser::new(format), VecDeque::new(), false);
    futures_util::stream::unfold(
        state,
        |(mut body, mut parser, mut ready, mut ended)| async move {
            loop {
                if let Some(e) = ready.pop_front() {
                    return Some((Ok(e), (body, parser, ready, ended)));
                }
                if ended {
                    return None;
                }
                let step = match body.next().await {
                    Some(Ok(chunk)) => parser.push(&chunk, &mut ready),
                    Some(Err(e)) => Err(e),
                    None => {
                        ended = true;
                        parser.finish(&mut ready)
                    }
                };
                if let Err(e) = step {
                    ended = true;
                    ready.clear();
                    return Some((Err(e), (body, parser, ready, ended)));
                }
            }
        },
    )
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Mode {
    #[default]
    Top,
    Array,
    Done,
}

/// Frames the JSON document `{"VaultARN": .., "InventoryDate": .., "ArchiveList": [{..}, ..]}`:
/// tracks strings and nesting byte by byte, hands each array element to serde_json.
#[derive(Default)]
struct JsonScan {
    depth: u32,
    in_string: bool,
    escape: bool,
    mode: Mode,
    /// The raw text of the string being read at the top level, quotes included.
    top_string: Vec<u8>,
    last_key: Option<String>,
    expecting_value: bool,
    /// The raw text of the array element being read.
    element: Vec<u8>,
    vault_arn: Option<String>,
    inventory_date: Option<String>,
}

impl JsonScan {
    fn push(&mut self, chunk: &[u8], out: &mut VecDeque<InventoryEntry>) -> Result<()> {
        for &b in chunk {
            let in_element = self.mode == Mode::Array && self.depth >= 3;
            if in_element {
                self.element.push(b);
            }
            if self.in_string {
                if self.depth == 1 {
                    self.top_string.push(b);
                }
                if self.escape {
                    self.escape = false;
                } else if b == b'\\' {
                    self.escape = true;
                } else if b == b'"' {
                    self.in_string = false;
                    if self.depth == 1 {
                        self.top_level_string()?;
                    }
                }
                continue;
            }
            match b {
                b'"' => {
                    self.in_string = true;
                    if self.depth == 1 {
                        self.top_string.clear();
                        self.top_string.push(b);
                    }
                }
                b'{' | b'[' => {
                    if self.depth == 1 {
                        if b == b'['
                            && self.expecting_value
                            && self.last_key.as_deref() == Some("ArchiveList")
                            && self.mode == Mode::Top
                        {
                            self.mode = Mode::Array;
                        }
                        self.expecting_value = false;
                    }
                    self.depth += 1;
                    if self.mode == Mode::Array && self.depth == 3 && b == b'{' {
                        self.element.clear();
                        self.element.push(b);
                    }
                }
                b'}' | b']' => {
                    if self.depth == 0 {
                        return Err(bad("unbalanced brackets"));
                    }
                    if self.mode == Mode::Array && self.depth == 3 && b == b'}' {
                        let entry: InventoryEntry = serde_json::from_slice(&self.element)
                            .map_err(|e| bad(format!("an ArchiveList entry: {e}")))?;
                        out.push_back(entry);
                        self.element.clear();
                    }
                    self.depth -= 1;
                    if self.mode == Mode::Array && self.depth == 1 {
                        self.mode = Mode::Done;
                    }
                }
                b':' if self.depth == 1 => self.expecting_value = true,
                b',' if self.depth == 1 => self.expecting_value = false,
                _ => {}
            }
        }
        Ok(())
    }

    fn top_level_string(&mut self) -> Result<()> {
        let s: String =
            serde_json::from_slice(&self.top_string).map_err(|e| bad(format!("a string: {e}")))?;
        if self.expecting_value {
            match self.last_key.as_deref() {
                Some("VaultARN") => self.vault_arn = Some(s),
                Some("InventoryDate") => self.inventory_date = Some(s),
                _ => {}
            }
            self.expecting_value = false;
        } else {
            self.last_key = Some(s);
        }
        Ok(())
    }
}

/// CSV with `csv_core`'s push reader; the header row names the columns.
struct CsvScan {
    reader: csv_core::Reader,
    output: Vec<u8>,
    ends: Vec<usize>,
    /// Bytes of `output` and entries of `ends` used by the record being read.
    out_len: usize,
    ends_len: usize,
    /// Column positions of the five fields, from the header.
    columns: Option<[usize; 5]>,
}

const CSV_COLUMNS: [&str; 5] = [
    "ArchiveId",
    "ArchiveDescription",
    "CreationDate",
    "Size",
    "SHA256TreeHash",
];

impl CsvScan {
    fn new() -> CsvScan {
        CsvScan {
            reader: csv_core::Reader::new(),
            output: vec![0; 4096],
            ends: vec![0; 16],
            out_len: 0,
            ends_len: 0,
            columns: None,
        }
    }

    fn push(&mut self, mut input: &[u8], out: &mut VecDeque<InventoryEntry>) -> Result<()> {
        loop {
            let (result, nin, nout, nend) = self.reader.read_record(
                input,
                &mut self.output[self.out_len..],
                &mut self.ends[self.ends_len..],
            );
            input = &input[nin..];
            self.out_len += nout;
            self.ends_len += nend;
            match result {
                csv_core::ReadRecordResult::InputEmpty => return Ok(()),
                csv_core::ReadRecordResult::OutputFull => {
                    self.output.resize(self.output.len() * 2, 0)
                }
                csv_core::ReadRecordResult::OutputEndsFull => {
                    self.ends.resize(self.ends.len() * 2, 0)
                }
                csv_core::ReadRecordResult::Record => self.record(out)?,
                csv_core::ReadRecordResult::End => return Ok(()),
            }
        }
    }

    fn finish(&mut self, out: &mut VecDeque<InventoryEntry>) -> Result<()> {
        self.push(&[], out)?;
        if self.columns.is_none() {
            return Err(bad("the CSV has no header row"));
        }
        Ok(())
    }

    fn record(&mut self, out: &mut VecDeque<InventoryEntry>) -> Result<()> {
        let mut fields = Vec::with_capacity(self.ends_len);
        let mut start = 0;
        for &end in &self.ends[..self.ends_len] {
            let f = std::str::from_utf8(&self.output[start..end])
                .map_err(|_| bad("a CSV field is not UTF-8"))?;
            fields.push(f.to_owned());
            start = end;
        }
        self.out_len = 0;
        self.ends_len = 0;
        let Some(columns) = self.columns else {
            let mut cols = [0usize; 5];
            for (i, name) in CSV_COLUMNS.iter().enumerate() {
                cols[i] = fields
                    .iter()
                    .position(|f| f == name)
                    .ok_or_else(|| bad(format!("the CSV header has no {name} column")))?;
            }
            self.columns = Some(cols);
            return Ok(());
        };
        let get = |i: usize| {
            fields
                .get(columns[i])
                .cloned()
                .ok_or_else(|| bad("a CSV row has too few fields"))
        };
        out.push_back(InventoryEntry {
            archive_id: get(0)?,
            archive_description: get(1)?,
            creation_date: get(2)?,
            size: get(3)?
                .parse()
                .map_err(|_| bad("a CSV Size is not a number"))?,
            sha256_tree_hash: get(4)?,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(
        format: Format,
        doc: &[u8],
        chunk: usize,
    ) -> Result<(Vec<InventoryEntry>, InventoryParser)> {
        let mut p = InventoryParser::new(format);
        let mut out = VecDeque::new();
        for c in doc.chunks(chunk) {
            p.push(c, &mut out)?;
        }
        p.finish(&mut out)?;
        Ok((out.into_iter().collect(), p))
    }

    const JSON: &str = r#"{"VaultARN":"arn:aws:glacier:us-east-1:1:vaults/v","InventoryDate":"2024-01-01T00:00:00Z","ArchiveList":[{"ArchiveId":"a1","ArchiveDescription":"brace } and \"quote\" [x]","CreationDate":"2024-01-01T00:00:00.000Z","Size":3,"SHA256TreeHash":"aa"},{"ArchiveId":"a2","ArchiveDescription":"","CreationDate":"2024-01-02T00:00:00.000Z","Size":4,"SHA256TreeHash":"bb"}]}"#;

    #[test]
    fn json_in_any_chunking() {
        for chunk in [1, 2, 7, 64, 10_000] {
            let (entries, p) = parse_all(Format::Json, JSON.as_bytes(), chunk).unwrap();
            assert_eq!(entries.len(), 2, "chunk {chunk}");
            assert_eq!(entries[0].archive_description, r#"brace } and "quote" [x]"#);
            assert_eq!((entries[1].archive_id.as_str(), entries[1].size), ("a2", 4));
            assert_eq!(p.vault_arn(), Some("arn:aws:glacier:us-east-1:1:vaults/v"));
            assert_eq!(p.inventory_date(), Some("2024-01-01T00:00:00Z"));
        }
        assert!(
            parse_all(Format::Json, &JSON.as_bytes()[..JSON.len() - 20], 5).is_err(),
            "truncated"
        );
        let (none, _) = parse_all(
            Format::Json,
            br#"{"VaultARN":"x","InventoryDate":"d","ArchiveList":[]}"#,
            3,
        )
        .unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn csv_in_any_chunking_with_quoting() {
        let doc = "ArchiveId,ArchiveDescription,CreationDate,Size,SHA256TreeHash\r\na1,\"comma, and \"\"quote\"\"\",2024-01-01T00:00:00.000Z,3,aa\na2,,2024-01-02T00:00:00.000Z,4,bb\n";
        for chunk in [1, 3, 50, 10_000] {
            let (entries, _) = parse_all(Format::Csv, doc.as_bytes(), chunk).unwrap();
            assert_eq!(entries.len(), 2, "chunk {chunk}");
            assert_eq!(entries[0].archive_description, r#"comma, and "quote""#);
            assert_eq!((entries[1].archive_id.as_str(), entries[1].size), ("a2", 4));
        }
        assert!(parse_all(Format::Csv, b"Nope,Columns\n1,2\n", 4).is_err());
    }
}
