//! The OpenMetrics backfill file of `g6 replay --openmetrics`.
//!
//! After each replayed snapshot the exposition is read back exactly as a scrape would
//! see it, and the series of that snapshot's index labelled `source="replay"` are kept
//! with the snapshot's own time. The file is written at the end in what
//! `promtool tsdb create-blocks-from openmetrics` takes: each family once (sorted by
//! name), its series sorted, each series' samples in increasing time with timestamps in
//! seconds, and `# EOF` last.

use g6_runtime::encode::{escape_label_value, write_f64};
use std::collections::BTreeMap;
use std::io::Write;

/// Default bound on the samples held for the file (16 bytes each, plus the series).
pub const DEFAULT_MAX_SAMPLES: usize = 50_000_000;

/// The backfill is full: the rest of the range must go into another file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

#[derive(Debug, Default)]
struct FamilySamples {
    /// `# HELP` and `# TYPE` lines as the exposition has them.
    header: String,
    /// Series text (`name{labels}`) -> (ms, value), in time order.
    series: BTreeMap<String, Vec<(i64, f64)>>,
}

/// Samples gathered for the backfill file.
#[derive(Debug)]
pub struct Backfill {
    families: BTreeMap<String, FamilySamples>,
    samples: usize,
    max_samples: usize,
}

impl Backfill {
    /// An empty backfill holding at most `max_samples` samples.
    pub fn new(max_samples: usize) -> Self {
        Backfill {
            families: BTreeMap::new(),
            samples: 0,
            max_samples,
        }
    }

    /// Samples held.
    pub fn samples(&self) -> usize {
        self.samples
    }

    /// Series held.
    pub fn series(&self) -> usize {
        self.families.values().map(|f| f.series.len()).sum()
    }

    /// Keep, at `at_ms`, every series of `exposition` (OpenMetrics text as a scrape
    /// gets it) labelled `index="<index>"` and `source="replay"`. A second sample of a
    /// series at the same time replaces the first. `Err(Full)` (nothing kept) when the
    /// samples would pass the bound.
    pub fn capture(&mut self, exposition: &str, index: &str, at_ms: i64) -> Result<usize, Full> {
        let mut escaped = String::with_capacity(index.len());
        escape_label_value(index, &mut escaped);
        // (family, its header lines, series, value), borrowed from the exposition.
        let mut kept: Vec<(&str, (usize, usize), &str, f64)> = Vec::new();
        let mut family: Option<&str> = None;
        // Byte span of the current family's header lines.
        let mut header = (0usize, 0usize);
        let base = exposition.as_ptr() as usize;
        for line in exposition.lines() {
            if let Some(rest) = line.strip_prefix("# ") {
                let mut words = rest.splitn(3, ' ');
                let (kind, name) = (words.next(), words.next());
                if let (Some("HELP" | "TYPE" | "UNIT"), Some(name)) = (kind, name) {
                    let at = line.as_ptr() as usize - base;
                    if family != Some(name) {
                        family = Some(name);
                        header = (at, at);
                    }
                    header.1 = at + line.len();
                }
                continue;
            }
            // Most lines are not replayed series: a substring test skips them.
            if !line.contains("source=\"replay\"") {
                continue;
            }
            let Some(fam) = family else { continue };
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Some(labels) = series
                .split_once('{')
                .and_then(|(_, l)| l.strip_suffix('}'))
            else {
                continue;
            };
            if label(labels, "source") != Some("replay")
                || label(labels, "index") != Some(escaped.as_str())
            {
                continue;
            }
            let Ok(v) = value.parse::<f64>() else {
                continue;
            };
            kept.push((fam, header, series, v));
        }
        if self.samples + kept.len() > self.max_samples {
            return Err(Full);
        }
        let n = kept.len();
        for (fam, (h0, h1), series, v) in kept {
            if !self.families.contains_key(fam) {
                let mut text = exposition[h0..h1].to_string();
                text.push('\n');
                self.families.insert(
                    fam.to_string(),
                    FamilySamples {
                        header: text,
                        series: BTreeMap::new(),
                    },
                );
            }
            let Some(f) = self.families.get_mut(fam) else {
                continue;
            };
            if !f.series.contains_key(series) {
                f.series.insert(series.to_string(), Vec::new());
            }
            let Some(samples) = f.series.get_mut(series) else {
                continue;
            };
            match samples.last_mut() {
                Some(last) if last.0 == at_ms => last.1 = v,
                // Out of order cannot happen per index (the replay is in as-of
                // order); dropping it keeps the file valid if it ever did.
                Some(last) if last.0 > at_ms => {}
                _ => {
                    samples.push((at_ms, v));
                    self.samples += 1;
                }
            }
        }
        Ok(n)
    }

    /// Take back every sample at `at_ms` (the snapshots of one as-of time go in
    /// whole or not at all). Samples taken back.
    pub fn drop_at(&mut self, at_ms: i64) -> usize {
        let mut n = 0;
        for family in self.families.values_mut() {
            family.series.retain(|_, samples| {
                if samples.last().is_some_and(|s| s.0 == at_ms) {
                    samples.pop();
                    n += 1;
                }
                !samples.is_empty()
            });
        }
        self.families.retain(|_, f| !f.series.is_empty());
        self.samples -= n;
        n
    }

    /// Write the file: families sorted, series sorted, samples in time, `# EOF`.
    pub fn write_to(&self, out: &mut impl Write) -> std::io::Result<()> {
        let mut buf = String::with_capacity(1 << 16);
        for family in self.families.values() {
            if family.series.is_empty() {
                continue;
            }
            buf.push_str(&family.header);
            for (series, samples) in &family.series {
                for (ms, v) in samples {
                    buf.push_str(series);
                    buf.push(' ');
                    write_f64(&mut buf, *v);
                    buf.push(' ');
                    write_seconds(&mut buf, *ms);
                    buf.push('\n');
                    if buf.len() > 1 << 16 {
                        out.write_all(buf.as_bytes())?;
                        buf.clear();
                    }
                }
            }
        }
        buf.push_str("# EOF\n");
        out.write_all(buf.as_bytes())
    }
}

/// Seconds with up to millisecond precision: `1700000000`, `1700000000.125`, `-1.500`.
pub fn write_seconds(out: &mut String, ms: i64) {
    use std::fmt::Write as _;
    if ms < 0 {
        out.push('-');
    }
    let abs = ms.unsigned_abs();
    let (s, frac) = (abs / 1000, abs % 1000);
    if frac == 0 {
        let _ = write!(out, "{s}");
    } else {
        let _ = write!(out, "{s}.{frac:03}");
    }
}

/// The raw (still escaped) value of label `name` in `a="x",b="y"`.
fn label<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    let bytes = labels.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let eq = labels[i..].find("=\"")? + i;
        let key = labels[i..eq].trim_start_matches(',');
        let start = eq + 2;
        // The value ends at the first quote not escaped by a backslash.
        let mut j = start;
        while j < bytes.len() {
            match bytes[j] {
                b'\\' => j += 2,
                b'"' => break,
                _ => j += 1,
            }
        }
        if j >= bytes.len() {
            return None;
        }
        if key == name {
            return Some(&labels[start..j]);
        }
        i = j + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_found_with_escapes_in_other_values() {
        let l = r#"index="A\",source=\"replay",source="live",x="\\""#;
        assert_eq!(label(l, "index"), Some(r#"A\",source=\"replay"#));
        assert_eq!(label(l, "source"), Some("live"));
        assert_eq!(label(l, "x"), Some(r"\\"));
        assert_eq!(label(l, "y"), None);
    }

    #[test]
    fn only_the_replayed_series_of_the_index_are_kept_and_written_sorted() {
        let scrape = "# HELP g6_b b\n# TYPE g6_b gauge\n\
                      g6_b{index=\"N\",source=\"replay\"} 2\n\
                      g6_b{index=\"N\",source=\"live\"} 9\n\
                      g6_b{index=\"B\",source=\"replay\"} 9\n\
                      # HELP g6_a a\n# TYPE g6_a gauge\n\
                      g6_a{index=\"N\",dte=\"short\",source=\"replay\"} NaN\n\
                      g6_a{index=\"N\",dte=\"long\",source=\"replay\"} 1.5\n\
                      g6_c 3\n# EOF\n";
        let mut b = Backfill::new(100);
        assert_eq!(b.capture(scrape, "N", 1_700_000_000_000), Ok(3));
        let later = scrape.replace("} 2\n", "} 4\n");
        assert_eq!(b.capture(&later, "N", 1_700_000_005_250), Ok(3));
        // The same time again replaces, never duplicates.
        let again = scrape.replace("} 2\n", "} 5\n");
        assert_eq!(b.capture(&again, "N", 1_700_000_005_250), Ok(3));
        assert_eq!(b.samples(), 6);
        let mut out = Vec::new();
        b.write_to(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "# HELP g6_a a\n# TYPE g6_a gauge\n\
             g6_a{index=\"N\",dte=\"long\",source=\"replay\"} 1.5 1700000000\n\
             g6_a{index=\"N\",dte=\"long\",source=\"replay\"} 1.5 1700000005.250\n\
             g6_a{index=\"N\",dte=\"short\",source=\"replay\"} NaN 1700000000\n\
             g6_a{index=\"N\",dte=\"short\",source=\"replay\"} NaN 1700000005.250\n\
             # HELP g6_b b\n# TYPE g6_b gauge\n\
             g6_b{index=\"N\",source=\"replay\"} 2 1700000000\n\
             g6_b{index=\"N\",source=\"replay\"} 5 1700000005.250\n\
             # EOF\n"
        );
    }

    #[test]
    fn seconds_keep_milliseconds_and_their_sign() {
        let text = |ms| {
            let mut s = String::new();
            write_seconds(&mut s, ms);
            s
        };
        assert_eq!(text(1_700_000_000_000), "1700000000");
        assert_eq!(text(1_700_000_000_007), "1700000000.007");
        assert_eq!(text(-1500), "-1.500");
        assert_eq!(text(-1000), "-1");
    }

    #[test]
    fn samples_at_a_time_are_taken_back_whole() {
        let scrape = "# TYPE g6_b gauge\ng6_b{index=\"N\",source=\"replay\"} 1\n";
        let mut b = Backfill::new(10);
        b.capture(scrape, "N", 1000).unwrap();
        b.capture(scrape, "N", 2000).unwrap();
        assert_eq!(b.drop_at(2000), 1);
        assert_eq!(b.drop_at(2000), 0);
        assert_eq!(b.samples(), 1);
        assert_eq!(b.drop_at(1000), 1);
        assert_eq!(b.series(), 0);
    }

    #[test]
    fn a_full_backfill_keeps_nothing_of_the_snapshot_that_does_not_fit() {
        let scrape = "# TYPE g6_b gauge\ng6_b{index=\"N\",source=\"replay\",k=\"1\"} 1\n\
                      g6_b{index=\"N\",source=\"replay\",k=\"2\"} 1\n";
        let mut b = Backfill::new(3);
        assert_eq!(b.capture(scrape, "N", 1000), Ok(2));
        assert_eq!(b.capture(scrape, "N", 2000), Err(Full));
        assert_eq!(b.samples(), 2);
    }
}
