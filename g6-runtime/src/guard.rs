//! The cardinality guard's bookkeeping: which metrics exist, how many label sets each
//! uses against its budget, and the growth check against a baseline snapshot.

pub use crate::names::Tracked;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Series usage of one metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    /// Metric name.
    pub metric: &'static str,
    /// Label sets in use.
    pub series: usize,
    /// Budget from the spec.
    pub budget: u64,
    /// Resolutions folded into overflow (or dropped, for gauges).
    pub overflowed: u64,
}

/// Usage of every metric created so far, sorted by name.
pub fn usage() -> Vec<Usage> {
    let mut v: Vec<Usage> = crate::names::stores()
        .iter()
        .map(|t| Usage {
            metric: t.info().name,
            series: t.series_in_use(),
            budget: t.info().budget,
            overflowed: t.overflowed(),
        })
        .collect();
    v.sort_by_key(|u| u.metric);
    v
}

/// Export series-in-use and budget per metric (`<namespace>_cardinality_series`,
/// `<namespace>_cardinality_budget`). Runs before every scrape.
pub fn refresh_gauges() {
    let Some(sm) = crate::self_metrics::get() else {
        return;
    };
    for u in usage() {
        sm.cardinality_series.get(&[u.metric]).set(u.series as f64);
        sm.cardinality_budget.get(&[u.metric]).set(u.budget as f64);
    }
}

/// The growth guard's settings: installed ([`crate::Settings`]) or the environment's.
static GROWTH: once_cell::sync::OnceCell<Result<GrowthConfig, GuardError>> =
    once_cell::sync::OnceCell::new();

/// Install the growth guard's settings; false when some were installed already.
pub(crate) fn install_growth_config(config: Result<GrowthConfig, GuardError>) -> bool {
    GROWTH.set(config).is_ok()
}

/// The growth guard's settings in use: installed ones, else the environment's as
/// they are now (an error for a malformed variable).
pub(crate) fn growth_config() -> Result<GrowthConfig, GuardError> {
    match GROWTH.get() {
        Some(installed) => installed.clone(),
        None => GrowthConfig::from_env(),
    }
}

/// Settings of the growth guard, from the environment.
#[derive(Debug, Clone, PartialEq)]
pub struct GrowthConfig {
    /// `G6_CARDINALITY_BASELINE`: a snapshot to compare against.
    pub baseline: Option<PathBuf>,
    /// `G6_CARDINALITY_SNAPSHOT`: where to write the current snapshot.
    pub snapshot: Option<PathBuf>,
    /// `G6_CARDINALITY_ALLOW_GROWTH_PERCENT` (default 10).
    pub allow_growth_percent: f64,
    /// `G6_CARDINALITY_FAIL_ON_EXCESS` (1/true/yes).
    pub fail_on_excess: bool,
}

impl GrowthConfig {
    /// Read the `G6_CARDINALITY_*` variables; a malformed percentage is an error.
    pub fn from_env() -> Result<Self, GuardError> {
        let path = |k: &str| {
            std::env::var(k)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(PathBuf::from)
        };
        let allow_growth_percent = match std::env::var("G6_CARDINALITY_ALLOW_GROWTH_PERCENT") {
            Ok(v) if !v.trim().is_empty() => v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|p| p.is_finite() && *p >= 0.0)
                .ok_or_else(|| {
                    GuardError::Config(format!(
                        "G6_CARDINALITY_ALLOW_GROWTH_PERCENT={v:?} is not a non-negative number (e.g. 10)"
                    ))
                })?,
            _ => 10.0,
        };
        Ok(GrowthConfig {
            baseline: path("G6_CARDINALITY_BASELINE"),
            snapshot: path("G6_CARDINALITY_SNAPSHOT"),
            allow_growth_percent,
            fail_on_excess: crate::flag::env_flag("G6_CARDINALITY_FAIL_ON_EXCESS"),
        })
    }
}

/// What the growth check found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GrowthReport {
    /// Metrics whose series grew more than allowed: (metric, baseline, now).
    pub offenders: Vec<(String, u64, u64)>,
    /// Metrics with series now that the baseline does not list.
    pub new_groups: Vec<String>,
    /// Largest growth over the baseline as a ratio (0.1 = 10%).
    pub max_growth_ratio: f64,
}

/// The growth guard failed or could not run.
#[derive(Debug, Clone, PartialEq)]
pub enum GuardError {
    /// Bad settings.
    Config(String),
    /// The baseline could not be read or parsed.
    Baseline(String),
    /// Growth beyond the allowance with `G6_CARDINALITY_FAIL_ON_EXCESS` set.
    Excess(GrowthReport),
}

impl fmt::Display for GuardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GuardError::Config(m) | GuardError::Baseline(m) => f.write_str(m),
            GuardError::Excess(r) => {
                write!(
                    f,
                    "cardinality grew beyond the allowance for {} metric(s):",
                    r.offenders.len()
                )?;
                for (m, was, now) in &r.offenders {
                    write!(f, " {m} {was}->{now};")?;
                }
                write!(f, " raise G6_CARDINALITY_ALLOW_GROWTH_PERCENT, refresh the baseline, or unset G6_CARDINALITY_FAIL_ON_EXCESS")
            }
        }
    }
}

impl std::error::Error for GuardError {}

/// Render a snapshot: one `metric series` line per metric, sorted.
pub fn render_snapshot(usage: &[Usage]) -> String {
    let mut out = String::from("# g6 cardinality snapshot v1: metric series_in_use\n");
    for u in usage {
        out.push_str(&format!("{} {}\n", u.metric, u.series));
    }
    out
}

/// Parse a snapshot written by [`render_snapshot`].
pub fn parse_snapshot(text: &str, path: &Path) -> Result<BTreeMap<String, u64>, GuardError> {
    let mut map = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        let parsed = match (
            parts.next(),
            parts.next().map(str::parse::<u64>),
            parts.next(),
        ) {
            (Some(m), Some(Ok(n)), None) => Some((m.to_string(), n)),
            _ => None,
        };
        let (m, n) = parsed.ok_or_else(|| {
            GuardError::Baseline(format!(
                "{}:{}: expected `metric_name series_count`, found {line:?}",
                path.display(),
                i + 1
            ))
        })?;
        map.insert(m, n);
    }
    Ok(map)
}

/// Compare current usage with a baseline.
pub fn compare(
    baseline: &BTreeMap<String, u64>,
    usage: &[Usage],
    allow_percent: f64,
) -> GrowthReport {
    let mut r = GrowthReport::default();
    for u in usage {
        let now = u.series as u64;
        match baseline.get(u.metric) {
            None if now > 0 => r.new_groups.push(u.metric.to_string()),
            None => {}
            Some(&was) => {
                if was > 0 && now > was {
                    let ratio = (now - was) as f64 / was as f64;
                    r.max_growth_ratio = r.max_growth_ratio.max(ratio);
                }
                let allowed = was as f64 * (1.0 + allow_percent / 100.0);
                if now as f64 > allowed {
                    r.offenders.push((u.metric.to_string(), was, now));
                }
            }
        }
    }
    r
}

/// Run the growth guard: write the snapshot if asked, compare with the baseline if
/// given, export the guard gauges, and fail only when `fail_on_excess` is set.
pub fn check_growth(config: &GrowthConfig) -> Result<GrowthReport, GuardError> {
    let current = usage();
    if let Some(path) = &config.snapshot {
        if let Err(e) = std::fs::write(path, render_snapshot(&current)) {
            tracing::warn!(path = %path.display(), error = %e, "cannot write the cardinality snapshot");
        }
    }
    let report = match &config.baseline {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                GuardError::Baseline(format!(
                    "cannot read G6_CARDINALITY_BASELINE {}: {e}",
                    path.display()
                ))
            })?;
            compare(
                &parse_snapshot(&text, path)?,
                &current,
                config.allow_growth_percent,
            )
        }
        None => GrowthReport::default(),
    };
    if let Some(sm) = crate::self_metrics::get() {
        sm.cardinality_guard_offenders
            .get(0)
            .set(report.offenders.len() as f64);
        sm.cardinality_guard_new_groups
            .get(0)
            .set(report.new_groups.len() as f64);
        sm.cardinality_guard_growth_ratio
            .get(0)
            .set(report.max_growth_ratio);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        sm.cardinality_guard_last_run_timestamp_seconds
            .get(0)
            .set(now);
    }
    if !report.offenders.is_empty() {
        if config.fail_on_excess {
            return Err(GuardError::Excess(report));
        }
        tracing::warn!(offenders = ?report.offenders, "cardinality grew beyond the allowance over the baseline");
    }
    Ok(report)
}
