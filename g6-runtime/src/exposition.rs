//! The one exposition reader (the read side of [`crate::encode`]): Prometheus text
//! 0.0.4 and OpenMetrics 1.0 text into families with their declared type, help and
//! unit, and each sample's name, labels, value and timestamp. `g6 check-scrape`, the
//! replay's backfill and the tests all read expositions through it.
//!
//! Hand-written rather than on a crate (checked: `prometheus-parse`,
//! `openmetrics-parser`, `nom-openmetrics`, `prom_text_format_parser`):
//! `prometheus-parse` skips lines it cannot match without a word, cuts label sets at
//! the first `}` even inside a quoted value, drops `# UNIT` and gives no line numbers;
//! `openmetrics-parser` refuses a whole exposition on the first family whose series
//! carry different label names, which Prometheus accepts and
//! which `g6 check-scrape` exists to report, not to refuse; `nom-openmetrics` gives nom
//! error positions, not lines, and no bounds. None bounds its input. The runtime must
//! also stay free of parser-combinator and regex crates. The format is line-based and
//! small, so one reader here, with bounds and line numbers, is less than adapting any.
//!
//! What it accepts is what Prometheus accepts: families need no `# TYPE` (a sample
//! without one opens a family of its own name with `kind: None`), the series of a family
//! may carry different label names, `# TYPE` values are kept as written, comments
//! other than `HELP`, `TYPE`, `UNIT` and `EOF` are ignored. A line that is not a
//! comment, a blank or a well-formed sample is an error naming its line.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

/// Bounds on what one call reads; passing one is an error, never a truncated result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest input, in bytes.
    pub max_bytes: usize,
    /// Most samples in the whole exposition.
    pub max_samples: usize,
    /// Most labels on one sample.
    pub max_labels: usize,
}

impl Default for Limits {
    /// 256 MiB, 10 million samples, 128 labels a sample: far above any scrape
    /// Prometheus would take, low enough that a runaway input stops with a message.
    fn default() -> Self {
        Limits {
            max_bytes: 256 << 20,
            max_samples: 10_000_000,
            max_labels: 128,
        }
    }
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    /// The sample's name as written (`x_total`, `h_bucket`, ...).
    pub name: &'a str,
    /// Label names and unescaped values, in the order written.
    pub labels: Vec<(&'a str, Cow<'a, str>)>,
    /// The value (`+Inf`, `-Inf` and `NaN` included).
    pub value: f64,
    /// The timestamp as written: milliseconds in Prometheus text 0.0.4, seconds in
    /// OpenMetrics.
    pub timestamp: Option<f64>,
    /// 1-based line number.
    pub line: usize,
}

impl Sample<'_> {
    /// The unescaped value of label `name`.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_ref())
    }
}

/// A family: its metadata lines and the samples that follow them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Family<'a> {
    /// The family name (the `# TYPE`/`# HELP` name, or the sample's name without one).
    pub name: &'a str,
    /// The `# TYPE` value as written (`counter`, `gauge`, ...); `None` without one.
    pub kind: Option<&'a str>,
    /// The unescaped `# HELP` text.
    pub help: Option<Cow<'a, str>>,
    /// The `# UNIT` value.
    pub unit: Option<&'a str>,
    /// The samples, in the order written.
    pub samples: Vec<Sample<'a>>,
}

/// A parsed exposition.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Exposition<'a> {
    /// Families in order of first appearance; a name that comes back later (which
    /// Prometheus refuses) is merged into its first family.
    pub families: Vec<Family<'a>>,
    /// Whether the text ended with `# EOF` (OpenMetrics).
    pub eof: bool,
}

impl<'a> Exposition<'a> {
    /// Every sample, family after family.
    pub fn samples(&self) -> impl Iterator<Item = &Sample<'a>> {
        self.families.iter().flat_map(|f| f.samples.iter())
    }
}

/// What is wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number; 0 when the input as a whole is refused (too long).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(&self.message)
        } else {
            write!(f, "line {}: {}", self.line, self.message)
        }
    }
}

impl std::error::Error for ParseError {}

/// Suffixes a sample name may add to its family's name.
const SUFFIXES: [&str; 6] = ["_total", "_bucket", "_sum", "_count", "_created", "_info"];

/// Read `text` within `limits`.
///
/// Samples belong to the family of the last metadata line when their name is its name
/// or its name plus one of `_total`, `_bucket`, `_sum`, `_count`, `_created`, `_info`;
/// otherwise they join the family met before that they extend, or one of their own
/// name.
pub fn parse<'a>(text: &'a str, limits: &Limits) -> Result<Exposition<'a>, ParseError> {
    if text.len() > limits.max_bytes {
        return Err(ParseError {
            line: 0,
            message: format!(
                "the exposition is {} bytes, over the limit of {}",
                text.len(),
                limits.max_bytes
            ),
        });
    }
    let mut out = Exposition::default();
    let mut by_name: HashMap<&'a str, usize> = HashMap::new();
    let mut current: Option<usize> = None;
    let mut samples = 0usize;
    for (n, raw) in text.lines().enumerate() {
        let line_no = n + 1;
        let err = |message: String| ParseError {
            line: line_no,
            message,
        };
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if out.eof {
            if line.trim().is_empty() {
                continue;
            }
            return Err(err("text after `# EOF`".into()));
        }
        if line.trim().is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            let rest = rest.trim_start_matches([' ', '\t']);
            if rest.trim_end() == "EOF" {
                out.eof = true;
                continue;
            }
            let (word, rest) = split_word(rest);
            if !matches!(word, "HELP" | "TYPE" | "UNIT") {
                // A plain comment.
                continue;
            }
            let (name, value) = split_word(rest);
            if !is_metric_name(name) {
                return Err(err(format!("`# {word}` needs a metric name, not {name:?}")));
            }
            let i = family_index(&mut out.families, &mut by_name, current, name);
            current = Some(i);
            let family = &mut out.families[i];
            match word {
                "HELP" => family.help = Some(unescape(value)),
                "TYPE" => {
                    let kind = value.trim_end();
                    if kind.is_empty() || kind.contains([' ', '\t']) {
                        return Err(err(format!("`# TYPE {name}` needs one type, not {kind:?}")));
                    }
                    family.kind = Some(kind);
                }
                _ => family.unit = Some(value.trim_end()),
            }
            continue;
        }
        let sample = sample(line, line_no, limits).map_err(err)?;
        samples += 1;
        if samples > limits.max_samples {
            return Err(err(format!(
                "more than {} samples (the limit)",
                limits.max_samples
            )));
        }
        let belongs = |family: &str| {
            sample.name == family
                || SUFFIXES
                    .iter()
                    .any(|s| sample.name.strip_suffix(s) == Some(family))
        };
        let i = match current {
            Some(i) if belongs(out.families[i].name) => i,
            // A family met before (a stray line between its samples, which Prometheus
            // refuses, is no reason to split it), else a family of the sample's name.
            _ => match SUFFIXES
                .iter()
                .filter_map(|s| sample.name.strip_suffix(s))
                .find_map(|base| by_name.get(base).copied())
            {
                Some(i) => i,
                None => family_index(&mut out.families, &mut by_name, None, sample.name),
            },
        };
        current = Some(i);
        out.families[i].samples.push(sample);
    }
    Ok(out)
}

/// The family called `name` (made when new). A metadata line for the current family
/// stays in it.
fn family_index<'a>(
    families: &mut Vec<Family<'a>>,
    by_name: &mut HashMap<&'a str, usize>,
    current: Option<usize>,
    name: &'a str,
) -> usize {
    if let Some(i) = current.filter(|&i| families[i].name == name) {
        return i;
    }
    *by_name.entry(name).or_insert_with(|| {
        families.push(Family {
            name,
            ..Family::default()
        });
        families.len() - 1
    })
}

/// The first word of `s` and the rest after the blanks that end it.
fn split_word(s: &str) -> (&str, &str) {
    match s.find([' ', '\t']) {
        Some(i) => (&s[..i], s[i..].trim_start_matches([' ', '\t'])),
        None => (s, ""),
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`.
fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`.
fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `\\`, `\n` and `\"` unescaped (text 0.0.4 help never escapes a quote, so reading
/// `\"` there as one is harmless); any other backslash is kept as written, as
/// Prometheus does.
fn unescape(s: &str) -> Cow<'_, str> {
    if !s.contains('\\') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') => out.push('"'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

/// A sample line: `name[{labels}] value [timestamp]`, an OpenMetrics exemplar
/// (` # {...} value [timestamp]`) allowed after it.
fn sample<'a>(line: &'a str, line_no: usize, limits: &Limits) -> Result<Sample<'a>, String> {
    let end = line.find(['{', ' ', '\t']).unwrap_or(line.len());
    let name = &line[..end];
    if !is_metric_name(name) {
        return Err(format!("{name:?} is not a metric name"));
    }
    let mut labels: Vec<(&'a str, Cow<'a, str>)> = Vec::new();
    let mut rest = &line[end..];
    if let Some(inner) = rest.strip_prefix('{') {
        let mut s = inner;
        loop {
            s = s.trim_start_matches([' ', '\t']);
            if let Some(after) = s.strip_prefix('}') {
                rest = after;
                break;
            }
            if s.is_empty() {
                return Err("unclosed `{`".into());
            }
            let eq = s.find('=').ok_or("a label needs `=\"value\"`")?;
            let key = s[..eq].trim_end_matches([' ', '\t']);
            if !is_label_name(key) {
                return Err(format!("{key:?} is not a label name"));
            }
            let value = s[eq + 1..].trim_start_matches([' ', '\t']);
            let Some(value) = value.strip_prefix('"') else {
                return Err("a label value must be quoted".into());
            };
            // The value ends at the first quote no backslash escapes.
            let bytes = value.as_bytes();
            let mut j = 0;
            while j < bytes.len() && bytes[j] != b'"' {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            if j >= bytes.len() {
                return Err("unclosed label value".into());
            }
            if labels.iter().any(|(k, _)| *k == key) {
                return Err(format!("label {key:?} given twice"));
            }
            if labels.len() == limits.max_labels {
                return Err(format!(
                    "more than {} labels on one sample (the limit)",
                    limits.max_labels
                ));
            }
            labels.push((key, unescape(&value[..j])));
            s = value[j + 1..].trim_start_matches([' ', '\t']);
            if let Some(after) = s.strip_prefix(',') {
                s = after;
            } else if !s.contains('}') {
                return Err("unclosed `{`".into());
            } else if !s.starts_with('}') {
                return Err("labels must be separated by `,`".into());
            }
        }
    }
    // An exemplar is not part of the sample.
    let rest = match rest.find(" # ") {
        Some(i) => &rest[..i],
        None => rest,
    };
    let mut words = rest.split_ascii_whitespace();
    let value_text = words.next().ok_or("no value")?;
    let value = number(value_text).ok_or_else(|| format!("{value_text:?} is not a number"))?;
    let timestamp = match words.next() {
        None => None,
        Some(t) => Some(
            t.parse::<f64>()
                .ok()
                .filter(|t| t.is_finite())
                .ok_or_else(|| format!("{t:?} is not a timestamp"))?,
        ),
    };
    if let Some(extra) = words.next() {
        return Err(format!("{extra:?} after the timestamp"));
    }
    Ok(Sample {
        name,
        labels,
        value,
        timestamp,
        line: line_no,
    })
}

/// A float as Go's `ParseFloat` (which Prometheus uses) reads one: `+Inf`, `-Inf`,
/// `NaN` in any case included, `Infinity` too.
fn number(s: &str) -> Option<f64> {
    // Rust's parser takes `inf`, `infinity` and `nan` in any case with an optional
    // sign, like Go's; it refuses `_` separators and hex, like Prometheus does.
    s.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Exposition<'_> {
        parse(text, &Limits::default()).expect("parses")
    }

    fn error(text: &str, limits: &Limits) -> String {
        parse(text, limits).expect_err("refused").to_string()
    }

    #[test]
    fn families_keep_type_help_and_unit_and_their_samples() {
        let e = read(
            "# HELP g6_q_seconds Wait \\\\ time\\n2\n# TYPE g6_q_seconds histogram\n\
             # UNIT g6_q_seconds seconds\n\
             g6_q_seconds_bucket{le=\"0.5\"} 1\ng6_q_seconds_bucket{le=\"+Inf\"} 2\n\
             g6_q_seconds_sum 0.75\ng6_q_seconds_count 2\n\
             # TYPE g6_up_total counter\ng6_up_total 3\n# EOF\n",
        );
        assert!(e.eof);
        assert_eq!(e.families.len(), 2);
        let h = &e.families[0];
        assert_eq!(
            (h.name, h.kind, h.unit),
            ("g6_q_seconds", Some("histogram"), Some("seconds"))
        );
        assert_eq!(h.help.as_deref(), Some("Wait \\ time\n2"));
        let names: Vec<&str> = h.samples.iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [
                "g6_q_seconds_bucket",
                "g6_q_seconds_bucket",
                "g6_q_seconds_sum",
                "g6_q_seconds_count"
            ]
        );
        assert_eq!(h.samples[1].label("le"), Some("+Inf"));
        assert_eq!(h.samples[2].value, 0.75);
        assert_eq!(h.samples[3].line, 7);
        assert_eq!(e.families[1].kind, Some("counter"));
        assert_eq!(e.families[1].samples[0].value, 3.0);
    }

    #[test]
    fn label_values_are_unescaped_and_may_hold_braces_commas_and_quotes() {
        let e =
            read("m{a=\"x\\\\y\",b=\"say \\\"hi\\\"\",c=\"1\\n2\",d=\"}{,=\", e = \"sp\" ,} 1\n");
        let s = &e.families[0].samples[0];
        assert_eq!(s.label("a"), Some("x\\y"));
        assert_eq!(s.label("b"), Some("say \"hi\""));
        assert_eq!(s.label("c"), Some("1\n2"));
        assert_eq!(s.label("d"), Some("}{,="));
        assert_eq!(s.label("e"), Some("sp"));
        // Unescaped values borrow the input; escaped ones are copied.
        assert!(matches!(s.labels[3].1, Cow::Borrowed(_)));
        assert!(matches!(s.labels[0].1, Cow::Owned(_)));
    }

    #[test]
    fn infinities_nan_and_timestamps_are_read() {
        let e = read("a +Inf\nb -Inf 1700000000000\nc NaN 1700000000.125\nd{x=\"1\"} -2.5e3 -7\n");
        let s: Vec<&Sample> = e.samples().collect();
        assert_eq!(s[0].value, f64::INFINITY);
        assert_eq!(s[0].timestamp, None);
        assert_eq!(s[1].value, f64::NEG_INFINITY);
        assert_eq!(s[1].timestamp, Some(1_700_000_000_000.0));
        assert!(s[2].value.is_nan());
        assert_eq!(s[2].timestamp, Some(1_700_000_000.125));
        assert_eq!((s[3].value, s[3].timestamp), (-2500.0, Some(-7.0)));
    }

    #[test]
    fn an_exemplar_after_a_sample_is_not_its_timestamp() {
        let e = read("# TYPE r counter\nr_total{a=\"1\"} 4 # {trace_id=\"x\"} 1 1700000000\n");
        let s = &e.families[0].samples[0];
        assert_eq!((s.value, s.timestamp), (4.0, None));
    }

    #[test]
    fn samples_without_type_and_mixed_label_names_are_kept_not_refused() {
        let e = read(
            "# TYPE c counter\nc_total{a=\"1\"} 1\nc_total{b=\"1\"} 2\nloose 3\n# a comment\n",
        );
        assert_eq!(e.families.len(), 2);
        assert_eq!(e.families[0].samples.len(), 2);
        assert_eq!((e.families[1].name, e.families[1].kind), ("loose", None));
        assert!(!e.eof);
    }

    #[test]
    fn broken_lines_are_errors_with_their_line_numbers() {
        let l = Limits::default();
        assert_eq!(
            error("# TYPE a gauge\na{x=1} 2\n", &l),
            "line 2: a label value must be quoted"
        );
        assert_eq!(error("a two\n", &l), "line 1: \"two\" is not a number");
        assert_eq!(error("\n\na{x=\"1\" 2\n", &l), "line 3: unclosed `{`");
        assert_eq!(error("a{x=\"1 2\n", &l), "line 1: unclosed label value");
        assert_eq!(error("a{x=\"1\"\n", &l), "line 1: unclosed `{`");
        assert_eq!(error("a\n", &l), "line 1: no value");
        assert_eq!(error("1a 2\n", &l), "line 1: \"1a\" is not a metric name");
        assert_eq!(
            error("a{1x=\"1\"} 2\n", &l),
            "line 1: \"1x\" is not a label name"
        );
        assert_eq!(
            error("a{x=\"1\",x=\"2\"} 2\n", &l),
            "line 1: label \"x\" given twice"
        );
        assert_eq!(
            error("a{x=\"1\" y=\"2\"} 2\n", &l),
            "line 1: labels must be separated by `,`"
        );
        assert_eq!(error("a 1 2 3\n", &l), "line 1: \"3\" after the timestamp");
        assert_eq!(
            error("a 1 soon\n", &l),
            "line 1: \"soon\" is not a timestamp"
        );
        assert_eq!(error("a 1\n# EOF\nb 2\n", &l), "line 3: text after `# EOF`");
        assert_eq!(
            error("# TYPE a\n", &l),
            "line 1: `# TYPE a` needs one type, not \"\""
        );
    }

    #[test]
    fn bounds_stop_the_read_with_a_message() {
        let limits = Limits {
            max_bytes: 20,
            max_samples: 2,
            max_labels: 1,
        };
        assert_eq!(
            error("a_long_metric_name_here 1\n", &limits),
            "the exposition is 26 bytes, over the limit of 20"
        );
        assert_eq!(
            error("a 1\nb 2\nc 3\n", &limits),
            "line 3: more than 2 samples (the limit)"
        );
        assert_eq!(
            error(
                "a{x=\"1\",y=\"2\"} 1\n",
                &Limits {
                    max_bytes: 99,
                    ..limits
                }
            ),
            "line 1: more than 1 labels on one sample (the limit)"
        );
    }

    #[test]
    fn crlf_line_ends_and_a_family_that_comes_back_are_read() {
        let e = read("# TYPE a gauge\r\na 1\r\n# TYPE b gauge\nb 2\na 3\n");
        let a = &e.families[0];
        assert_eq!(
            a.samples.iter().map(|s| s.value).collect::<Vec<_>>(),
            [1.0, 3.0]
        );
        assert_eq!(e.families.len(), 2);
    }
}
