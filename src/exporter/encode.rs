//! A streaming text-format (0.0.4) encoder over our own series.
//!
//! tikv's path builds a `MetricFamily` tree for every series on every scrape and then
//! formats it; most of a scrape's cost is that tree. Our stores know their series and
//! keep each series' label text rendered once, so encoding is appending bytes. Foreign
//! collectors in the shared registry still go through tikv's encoder, after ours.

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use std::cell::Cell;

thread_local! {
    static SKIP_OURS: Cell<bool> = const { Cell::new(false) };
}

/// Wraps a generated family in the registry: it collects normally (so
/// `registry().gather()` sees everything), except while our encoder has already written
/// it.
pub struct Ours(pub Box<dyn Collector>);

impl Collector for Ours {
    fn desc(&self) -> Vec<&Desc> {
        self.0.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        if SKIP_OURS.with(Cell::get) {
            Vec::new()
        } else {
            self.0.collect()
        }
    }
}

/// Gather the registry without our own families (they are encoded directly).
pub fn gather_foreign() -> Vec<MetricFamily> {
    SKIP_OURS.with(|s| s.set(true));
    let families = crate::registry().gather();
    SKIP_OURS.with(|s| s.set(false));
    families
}

/// Escape a label value: backslash, double quote and newline.
pub fn escape_label_value(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// The inside of `{...}` for these label names and values (empty without labels).
pub fn render_labels(names: &[&str], values: &[&str]) -> String {
    let mut out = String::new();
    for (i, (n, v)) in names.iter().zip(values).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(n);
        out.push_str("=\"");
        escape_label_value(v, &mut out);
        out.push('"');
    }
    out
}

/// Append an unsigned integer.
#[inline]
pub fn write_u64(out: &mut String, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    // Digits are ASCII.
    out.push_str(std::str::from_utf8(&buf[i..]).unwrap_or("0"));
}

/// Append a float the way Prometheus reads it.
#[inline]
pub fn write_f64(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        if v < 0.0 {
            out.push('-');
        }
        write_u64(out, v.abs() as u64);
    } else {
        use std::fmt::Write;
        let _ = write!(out, "{v}");
    }
}

/// Append `# HELP` and `# TYPE` lines.
pub fn write_header(out: &mut String, name: &str, help: &str, kind: &str) {
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push_str("\n# TYPE ");
    out.push_str(name);
    out.push(' ');
    out.push_str(kind);
    out.push('\n');
}

/// Append `name{labels} ` (no braces without labels).
#[inline]
pub fn write_series(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &str,
    extra: Option<(&str, &str)>,
) {
    out.push_str(name);
    out.push_str(suffix);
    let has_extra = extra.is_some();
    if !labels.is_empty() || has_extra {
        out.push('{');
        out.push_str(labels);
        if let Some((k, v)) = extra {
            if !labels.is_empty() {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            out.push_str(v);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
}

/// Text of each bucket bound as Prometheus writes it in `le`.
pub fn bound_texts(bounds: &[f64]) -> Vec<String> {
    bounds
        .iter()
        .map(|b| {
            let mut s = String::new();
            use std::fmt::Write;
            let _ = write!(s, "{b}");
            s
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        let mut s = String::new();
        write_u64(&mut s, 0);
        s.push(' ');
        write_u64(&mut s, 18_446_744_073_709_551_615);
        s.push(' ');
        write_f64(&mut s, -3.0);
        s.push(' ');
        write_f64(&mut s, 0.25);
        s.push(' ');
        write_f64(&mut s, f64::INFINITY);
        assert_eq!(s, "0 18446744073709551615 -3 0.25 +Inf");
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(
            render_labels(&["a", "b"], &["x\"y", "p\\q\nr"]),
            "a=\"x\\\"y\",b=\"p\\\\q\\nr\""
        );
    }
}
