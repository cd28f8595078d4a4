//! Text forms of values the spec and the generators write: YAML scalars that
//! round-trip any string, JSON strings, and pretty JSON documents.

use serde_json::Value;

/// A YAML scalar that round-trips any string: single-quoted, or double-quoted with
/// JSON escapes when it holds control characters (YAML accepts JSON escapes there).
pub fn yaml_str(s: &str) -> String {
    if s.chars().any(char::is_control) {
        let mut out = String::new();
        write_json_string(s, &mut out);
        out
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

/// Append `s` as a JSON (and YAML double-quoted) string literal.
pub fn write_json_string(s: &str, out: &mut String) {
    // Serialising a &str cannot fail; the fallback keeps the output valid JSON anyway.
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()));
}

/// Pretty JSON with a trailing newline.
pub fn to_json_text(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_else(|_| "{}".into());
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_strings_round_trip_quotes_and_newlines() {
        assert_eq!(yaml_str("a 'b'"), "'a ''b'''");
        assert_eq!(yaml_str("x\ny"), "\"x\\ny\"");
    }
}
