//! The canonical form of a spec and its hash.
//!
//! The original hashed raw bytes, so CRLF or a comment changed the hash. We hash a
//! canonical rendering of the parsed tree instead: keys sorted, comments and layout gone,
//! plain numbers normalised (`0.10` == `0.1`), quoting irrelevant for strings.

use crate::quote::write_json_string;
use crate::yaml::{Node, NodeKind};
use sha2::{Digest, Sha256};
use std::fmt::Write;

/// Render the tree as compact JSON with sorted keys.
pub fn canonical_text(node: &Node) -> String {
    let mut out = String::new();
    write_node(node, &mut out);
    out
}

fn write_node(node: &Node, out: &mut String) {
    match &node.kind {
        NodeKind::Scalar { text, quoted } => write_scalar(text, *quoted, node.is_null(), out),
        NodeKind::Seq(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_node(item, out);
            }
            out.push(']');
        }
        NodeKind::Map(entries) => {
            let mut sorted: Vec<(&str, &Node)> = entries
                .iter()
                .map(|(k, v)| (k.as_scalar().unwrap_or(""), v))
                .collect();
            sorted.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(k, out);
                out.push(':');
                write_node(v, out);
            }
            out.push('}');
        }
    }
}

fn write_scalar(text: &str, quoted: bool, is_null: bool, out: &mut String) {
    if is_null {
        out.push_str("null");
        return;
    }
    if !quoted {
        if let Ok(n) = text.trim().parse::<f64>() {
            if n.is_finite() {
                // `{:?}` round-trips and is the same for 0.1 and 0.10.
                let _ = write!(out, "{n:?}");
                return;
            }
        }
        if matches!(text, "true" | "True" | "TRUE" | "false" | "False" | "FALSE") {
            out.push_str(&text.to_ascii_lowercase());
            return;
        }
    }
    write_json_string(text, out);
}

/// Full SHA-256 (64 hex chars) of the canonical text.
pub fn sha256_hex(canonical: &str) -> String {
    let digest = Sha256::digest(canonical.as_bytes());
    let mut hex = String::with_capacity(64);
    for b in digest.iter() {
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;

    fn hash(src: &str) -> String {
        sha256_hex(&canonical_text(&parse(src).0.unwrap()))
    }

    #[test]
    fn layout_and_quoting_do_not_matter() {
        let a = hash("b: [1, 0.10]\na: {x: \"hi\"}\n");
        let b = hash("# comment\r\na:\r\n    x: hi\r\nb:\r\n  - 1\r\n  - 0.1\r\n");
        assert_eq!(a, b);
    }

    #[test]
    fn content_matters() {
        assert_ne!(hash("a: 1\n"), hash("a: 2\n"));
        assert_ne!(hash("a: [x, y]\n"), hash("a: [y, x]\n"));
    }
}
