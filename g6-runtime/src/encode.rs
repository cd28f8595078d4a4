//! The one encoder, for our series and for foreign collectors, in the Prometheus text
//! format (0.0.4) or OpenMetrics 1.0 (what Prometheus asks for by default). The two
//! differ only in the family lines (an OpenMetrics counter family is named without
//! `_total`, and HELP escapes quotes) and the closing `# EOF`; sample lines are the
//! same.
//!
//! tikv's path builds a `MetricFamily` tree for every series on every scrape and then
//! formats it; most of a scrape's cost is that tree. Our stores know their series and
//! keep each series' label text rendered once, so encoding is appending bytes. Foreign
//! collectors hand over [`Family`] values, written by the same functions.

use crate::family::{Family, SampleValue};
use crate::spec_info::MetricInfo;

/// An exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// `text/plain; version=0.0.4`.
    #[default]
    Text,
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
}

impl Format {
    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    /// The format a scraper prefers, from its `Accept` header: OpenMetrics when it
    /// ranks `application/openmetrics-text` at least as high as `text/plain` (as
    /// Prometheus does), the text format otherwise.
    pub fn negotiate(accept: &str) -> Format {
        let mut open_metrics = 0.0f32;
        let mut text = 0.0f32;
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            match media.as_str() {
                "application/openmetrics-text" => open_metrics = open_metrics.max(q),
                "text/plain" | "text/*" | "*/*" => text = text.max(q),
                _ => {}
            }
        }
        if open_metrics > 0.0 && open_metrics >= text {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }

    /// What ends an exposition.
    pub fn trailer(self) -> &'static str {
        match self {
            Format::Text => "",
            Format::OpenMetrics => "# EOF\n",
        }
    }
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

/// The label text of one series of `info` (values in label order), with the layout
/// label of a histogram past its first bucket layout (see [`MetricInfo::layout_label`]).
pub fn render_series_labels(info: &MetricInfo, values: &[&str]) -> String {
    let mut names = info.label_names();
    let mut values = values.to_vec();
    let layout = info.layout_label();
    if let Some((name, version)) = &layout {
        names.push(name);
        values.push(version.as_str());
    }
    render_labels(&names, &values)
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

/// Append `# HELP` and `# TYPE` lines of the family whose samples are called `name`.
/// In OpenMetrics a counter family drops the samples' `_total`; a counter without it
/// is declared `unknown` there (its samples keep their name).
pub fn write_header(out: &mut String, name: &str, help: &str, kind: &str, format: Format) {
    let (family, kind) = match (format, kind) {
        (Format::OpenMetrics, "counter") => match name.strip_suffix("_total") {
            Some(base) => (base, "counter"),
            None => (name, "unknown"),
        },
        _ => (name, kind),
    };
    out.push_str("# HELP ");
    out.push_str(family);
    out.push(' ');
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if format == Format::OpenMetrics => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out.push_str("\n# TYPE ");
    out.push_str(family);
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

/// Append the `_bucket`, `_sum` and `_count` lines of one histogram series;
/// `cumulative` holds one count per bound and the +Inf count last.
pub fn write_histogram(
    out: &mut String,
    name: &str,
    labels: &str,
    bounds: &[String],
    cumulative: &[u64],
    sum: f64,
) {
    for (bound, count) in bounds.iter().zip(cumulative) {
        write_series(out, name, "_bucket", labels, Some(("le", bound)));
        write_u64(out, *count);
        out.push('\n');
    }
    let total = cumulative.last().copied().unwrap_or(0);
    write_series(out, name, "_bucket", labels, Some(("le", "+Inf")));
    write_u64(out, total);
    out.push('\n');
    write_series(out, name, "_sum", labels, None);
    write_f64(out, sum);
    out.push('\n');
    write_series(out, name, "_count", labels, None);
    write_u64(out, total);
    out.push('\n');
}

/// Append a family of a foreign collector.
pub fn write_family(out: &mut String, family: &Family, format: Format) {
    if family.samples.is_empty() {
        return;
    }
    write_header(
        out,
        &family.name,
        &family.help,
        family.kind.prometheus_type(),
        format,
    );
    for sample in &family.samples {
        let names: Vec<&str> = sample.labels.iter().map(|(k, _)| k.as_str()).collect();
        let values: Vec<&str> = sample.labels.iter().map(|(_, v)| v.as_str()).collect();
        let labels = render_labels(&names, &values);
        match &sample.value {
            SampleValue::Counter(v) | SampleValue::Gauge(v) => {
                write_series(out, &family.name, "", &labels, None);
                write_f64(out, *v);
                out.push('\n');
            }
            SampleValue::Histogram {
                buckets,
                sum,
                count,
            } => {
                let bounds: Vec<f64> = buckets.iter().map(|(b, _)| *b).collect();
                let mut cumulative: Vec<u64> = buckets.iter().map(|(_, c)| *c).collect();
                cumulative.push(*count);
                write_histogram(
                    out,
                    &family.name,
                    &labels,
                    &bound_texts(&bounds),
                    &cumulative,
                    *sum,
                );
            }
        }
    }
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
