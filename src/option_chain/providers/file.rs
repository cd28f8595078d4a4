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
    max_bytes: u64,
}

impl FileProvider {
    /// A provider for `path`, reading at most [`super::DEFAULT_MAX_INPUT_BYTES`].
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileProvider {
            path: path.into(),
            name: "file".into(),
            max_bytes: super::DEFAULT_MAX_INPUT_BYTES,
        }
    }

    /// Refuse files larger than `max_bytes` (a failure with reason `too_large`).
    pub fn max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }
}

fn default_index(path: &std::path::Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().to_uppercase())
        .unwrap_or_else(|| "UNKNOWN".into())
}

/// Parse CSV text (header row first; `#` comment lines and blank lines are skipped;
/// quoted fields may hold commas, quotes and line breaks; CRLF or LF).
pub fn parse_csv(text: &str, default_index: &str) -> Snapshot {
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut snap = Snapshot::default();
    let names: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(str::to_string).collect(),
        Err(_) => return snap,
    };
    for (i, record) in reader.records().enumerate() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                snap.rows.push(Err(Rejected {
                    reason: crate::labels::SkipReason::MissingField,
                    detail: format!("CSV record {} is unreadable: {e}", i + 1),
                }));
                continue;
            }
        };
        if record.iter().all(str::is_empty) {
            continue;
        }
        let row: Vec<(&str, String)> = names
            .iter()
            .map(String::as_str)
            .zip(record.iter().map(str::to_string))
            .collect();
        if snap.as_of.is_none() {
            snap.as_of = row_as_of(&row);
        }
        snap.rows.push(parse_row(&row, default_index));
    }
    snap
}

/// JSON has no NaN or infinities, but feeds write them: quote those bare tokens so the
/// row parses and the value is rejected as an invalid number, not as a broken line.
fn quote_non_finite(line: &str) -> Option<String> {
    let mut out = String::with_capacity(line.len() + 8);
    let mut changed = false;
    let mut rest = line;
    while let Some(pos) = rest.find(':') {
        out.push_str(&rest[..=pos]);
        rest = &rest[pos + 1..];
        let trimmed = rest.trim_start();
        let token = ["-Infinity", "Infinity", "NaN"]
            .into_iter()
            .find(|t| trimmed.starts_with(t));
        if let Some(t) = token {
            out.push_str(&rest[..rest.len() - trimmed.len()]);
            out.push('"');
            out.push_str(t);
            out.push('"');
            rest = &trimmed[t.len()..];
            changed = true;
        }
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// Parse JSON lines text.
pub fn parse_jsonl(text: &str, default_index: &str) -> Snapshot {
    let mut snap = Snapshot::default();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(line).or_else(|e| {
            quote_non_finite(line).map_or(Err(e), |fixed| serde_json::from_str(&fixed))
        });
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
        let text = super::read_capped(&self.path, self.max_bytes)?;
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
    fn non_finite_json_tokens_are_quoted() {
        assert_eq!(
            quote_non_finite(r#"{"oi": NaN, "iv":Infinity, "x": -Infinity, "s": "NaN"}"#)
                .as_deref(),
            Some(r#"{"oi": "NaN", "iv":"Infinity", "x": "-Infinity", "s": "NaN"}"#)
        );
        assert_eq!(quote_non_finite(r#"{"oi": 5}"#), None);
    }
}
