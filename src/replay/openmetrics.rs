//! The OpenMetrics backfill file of `g6 replay --openmetrics`.
//!
//! After each replayed snapshot the exposition is read back exactly as a scrape would
//! see it, and the series of that snapshot's index labelled `source="replay"` are kept
//! with the snapshot's own time. The file is written at the end in what
//! `promtool tsdb create-blocks-from openmetrics` takes: each family once (sorted by
//! name), its series sorted, each series' samples in increasing time with timestamps in
//! seconds, and `# EOF` last.

use g6_runtime::encode::{render_labels, write_f64};
use g6_runtime::exposition::{self, Family, Limits, Sample};
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
        // The runtime's own text: it parses unless the runtime is broken.
        let parsed = match exposition::parse(exposition, &Limits::default()) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(
                    index,
                    "replay: the exposition does not parse, nothing kept: {e}"
                );
                return Ok(0);
            }
        };
        // (family, sample) of the replayed series of this index.
        let kept: Vec<(&Family, &Sample)> = parsed
            .families
            .iter()
            .flat_map(|f| f.samples.iter().map(move |s| (f, s)))
            .filter(|(_, s)| s.label("source") == Some("replay") && s.label("index") == Some(index))
            .collect();
        if self.samples + kept.len() > self.max_samples {
            return Err(Full);
        }
        let n = kept.len();
        for (fam, sample) in kept {
            if !self.families.contains_key(fam.name) {
                self.families.insert(
                    fam.name.to_string(),
                    FamilySamples {
                        header: header(fam),
                        series: BTreeMap::new(),
                    },
                );
            }
            let Some(f) = self.families.get_mut(fam.name) else {
                continue;
            };
            let samples = f.series.entry(series_text(sample)).or_default();
            match samples.last_mut() {
                Some(last) if last.0 == at_ms => last.1 = sample.value,
                // Out of order cannot happen per index (the replay is in as-of
                // order); dropping it keeps the file valid if it ever did.
                Some(last) if last.0 > at_ms => {}
                _ => {
                    samples.push((at_ms, sample.value));
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

/// The `# HELP`, `# TYPE` and `# UNIT` lines of `family`, as OpenMetrics writes them.
fn header(family: &Family) -> String {
    let mut out = String::new();
    if let Some(help) = &family.help {
        out.push_str("# HELP ");
        out.push_str(family.name);
        out.push(' ');
        for c in help.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '"' => out.push_str("\\\""),
                c => out.push(c),
            }
        }
        out.push('\n');
    }
    for (word, value) in [("TYPE", family.kind), ("UNIT", family.unit)] {
        if let Some(value) = value {
            out.push_str("# ");
            out.push_str(word);
            out.push(' ');
            out.push_str(family.name);
            out.push(' ');
            out.push_str(value);
            out.push('\n');
        }
    }
    out
}

/// `name{labels}` as the encoder writes it (labels in their order, values escaped).
fn series_text(sample: &Sample) -> String {
    let names: Vec<&str> = sample.labels.iter().map(|(k, _)| *k).collect();
    let values: Vec<&str> = sample.labels.iter().map(|(_, v)| v.as_ref()).collect();
    format!("{}{{{}}}", sample.name, render_labels(&names, &values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_with_quotes_matches_only_itself_and_is_written_escaped_again() {
        let scrape = "# HELP g6_b say \\\"b\\\"\\n\\\\\n# TYPE g6_b gauge\n# UNIT g6_b ratio\n\
                      g6_b{index=\"A\\\",source=\\\"replay\",source=\"live\"} 1\n\
                      g6_b{index=\"A\\\"\",source=\"replay\"} 2\n# EOF\n";
        let mut b = Backfill::new(10);
        assert_eq!(b.capture(scrape, "A\",source=\"replay", 1000), Ok(0));
        assert_eq!(b.capture(scrape, "A\"", 1000), Ok(1));
        let mut out = Vec::new();
        b.write_to(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "# HELP g6_b say \\\"b\\\"\\n\\\\\n# TYPE g6_b gauge\n# UNIT g6_b ratio\n\
             g6_b{index=\"A\\\"\",source=\"replay\"} 2 1\n# EOF\n"
        );
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
