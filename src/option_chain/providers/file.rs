//! `file:PATH`: a CSV file with a header row, or JSON lines (one object per line), with
//! the contract columns of [`crate::option_chain::rows`]. Read afresh on every fetch.

use crate::labels::Source;
use crate::option_chain::rows::{json_row, parse_row, row_as_of};
use crate::option_chain::{OptionChainProvider, ProviderError, Rejected, Snapshot};
use std::path::PathBuf;

/// Reads quotes from a CSV or JSON-lines file.
pub struct FileProvider {
    path: PathBuf,
    name: String,
}

impl FileProvider {
    /// A provider for `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileProvider {
            path: path.into(),
            name: "file".into(),
        }
    }
}

/// Split one CSV line, honouring double quotes.
pub fn split_csv_line(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn default_index(path: &std::path::Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().to_uppercase())
        .unwrap_or_else(|| "UNKNOWN".into())
}

/// Parse CSV text (header row first).
pub fn parse_csv(text: &str, default_index: &str) -> Snapshot {
    let mut lines = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'));
    let Some(header) = lines.next() else {
        return Snapshot::default();
    };
    let names: Vec<String> = split_csv_line(header)
        .into_iter()
        .map(|h| h.trim().to_string())
        .collect();
    let mut snap = Snapshot::default();
    for line in lines {
        let values = split_csv_line(line);
        let row: Vec<(&str, String)> = names.iter().map(String::as_str).zip(values).collect();
        if snap.as_of.is_none() {
            snap.as_of = row_as_of(&row);
        }
        snap.rows.push(parse_row(&row, default_index));
    }
    snap
}

/// Parse JSON lines text.
pub fn parse_jsonl(text: &str, default_index: &str) -> Snapshot {
    let mut snap = Snapshot::default();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(line);
        let row = parsed.ok().and_then(|v| {
            json_row(&v).map(|r| {
                r.into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect::<Vec<_>>()
            })
        });
        match row {
            Some(owned) => {
                let row: Vec<(&str, String)> =
                    owned.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
                if snap.as_of.is_none() {
                    snap.as_of = row_as_of(&row);
                }
                snap.rows.push(parse_row(&row, default_index));
            }
            None => snap.rows.push(Err(Rejected {
                reason: crate::labels::SkipReason::MissingField,
                detail: format!("line {} is not a JSON object", i + 1),
            })),
        }
    }
    snap
}

impl OptionChainProvider for FileProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn source(&self) -> Source {
        Source::Replay
    }

    fn fetch(&mut self) -> Result<Snapshot, ProviderError> {
        let text = std::fs::read_to_string(&self.path).map_err(|e| {
            ProviderError::Failed(format!("cannot read {}: {e}", self.path.display()))
        })?;
        let index = default_index(&self.path);
        let is_csv = self
            .path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
            || !text.trim_start().starts_with('{');
        Ok(if is_csv {
            parse_csv(&text, &index)
        } else {
            parse_jsonl(&text, &index)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes() {
        assert_eq!(split_csv_line("a,\"b,c\",\"d\"\"e\""), ["a", "b,c", "d\"e"]);
    }
}
