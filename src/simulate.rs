//! `g6 serve --simulate`: a preview mode that drives every metric of the spec through its
//! generated accessor with plausible values, so every dashboard shows data.
//!
//! Spec-driven: the generated `metrics::simulate` visits each metric with all its closed
//! label values and a few open ones (never more than the budget allows); this module
//! only picks values from the metric's type, unit, name and buckets. Provenance
//! (`*_info`) metrics are never faked. Off by default; clearly labelled in the logs and
//! on the status page.

use g6_runtime::{Counter, FloatCounter, Gauge, Histogram, MetricInfo, Simulate};

/// Picks simulated values; deterministic for a seed.
#[derive(Debug, Clone)]
pub struct Simulator {
    state: u64,
    tick: u64,
}

impl Simulator {
    /// A simulator with a seed.
    pub fn new(seed: u64) -> Self {
        Simulator {
            state: seed ^ 0x6a09_e667_f3bc_c908,
            tick: 0,
        }
    }

    fn unit(&mut self) -> f64 {
        // SplitMix64 step.
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// One step of simulated time; call once per round of [`crate::metrics::simulate`].
    pub fn advance(&mut self) {
        self.tick += 1;
    }
}

impl Simulate for Simulator {
    /// Values for the open labels of `info`: `sim-1`, `sim-2`, ... as many as fit the
    /// budget together with the closed combinations (at most 3, at least 1).
    fn open_values(&mut self, info: &MetricInfo) -> Vec<String> {
        let closed: u64 = info
            .labels
            .iter()
            .filter_map(|l| l.values.map(|v| v.len() as u64))
            .product::<u64>()
            .max(1);
        let open = info.labels.iter().filter(|l| l.values.is_none()).count() as u32;
        let mut k: u64 = 3;
        while k > 1 && closed.saturating_mul(k.saturating_pow(open)) > info.budget {
            k -= 1;
        }
        (1..=k).map(|i| format!("sim-{i}")).collect()
    }

    /// Increment a counter by a small random amount.
    fn counter(&mut self, _info: &MetricInfo, c: &Counter) {
        c.inc_by((self.unit() * 10.0) as u64 + 1);
    }

    /// Increment a fractional counter (seconds) a little.
    fn float_counter(&mut self, _info: &MetricInfo, c: &FloatCounter) {
        c.inc_by(self.unit() * 0.5);
    }

    /// Set a gauge to a plausible value for its unit and name.
    fn gauge(&mut self, info: &MetricInfo, g: &Gauge) {
        let u = self.unit();
        let v = if info.name.ends_with("_timestamp_seconds") {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0)
                - u * 10.0
        } else {
            match info.unit {
                Some("ratio") => 0.05 + 0.9 * u,
                Some("seconds") => u * 30.0,
                Some("bytes") => 1e6 + u * 1e8,
                _ if info.name.ends_with("_active") || info.name.ends_with("_open") => {
                    (u > 0.8) as u8 as f64
                }
                _ => (u * 1000.0).round(),
            }
        };
        g.set(v);
    }

    /// Observe a few values spread over the histogram's buckets.
    fn histogram(&mut self, info: &MetricInfo, h: &Histogram) {
        let (lo, hi) = match (info.buckets.first(), info.buckets.last()) {
            (Some(a), Some(b)) if *a > 0.0 => (*a, *b),
            _ => (0.001, 1.0),
        };
        for _ in 0..5 {
            // Log-uniform between half the first bound and the last bound.
            let x = (lo / 2.0) * ((hi / (lo / 2.0)).powf(self.unit()));
            h.observe(x);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use g6_runtime::{LabelInfo, MetricKind};

    fn info(budget: u64, labels: &'static [LabelInfo]) -> MetricInfo {
        MetricInfo {
            name: "g6_x_total",
            help: "x",
            kind: MetricKind::Counter,
            unit: None,
            family: "f",
            labels,
            budget,
            buckets: &[],
            warm_all: false,
            warm_sets: &[],
            buckets_version: 1,
            enabled_by: None,
        }
    }

    #[test]
    fn open_values_fit_the_budget() {
        const ONE_OPEN: &[LabelInfo] = &[
            LabelInfo {
                name: "a",
                values: None,
            },
            LabelInfo {
                name: "r",
                values: Some(&["ok", "error", "timeout"]),
            },
        ];
        const TWO_OPEN: &[LabelInfo] = &[
            LabelInfo {
                name: "a",
                values: None,
            },
            LabelInfo {
                name: "b",
                values: None,
            },
        ];
        let mut s = Simulator::new(1);
        assert_eq!(s.open_values(&info(90, ONE_OPEN)).len(), 3);
        assert_eq!(s.open_values(&info(6, ONE_OPEN)).len(), 2);
        assert_eq!(s.open_values(&info(5, TWO_OPEN)).len(), 2);
        assert_eq!(s.open_values(&info(1, TWO_OPEN)), ["sim-1"]);
    }
}
