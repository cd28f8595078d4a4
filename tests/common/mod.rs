//! Helpers shared by integration tests.
#![allow(dead_code)]

use prometheus::proto::{MetricFamily, MetricType};

/// All families currently in the shared registry.
pub fn gather() -> Vec<MetricFamily> {
    g6_metrics::registry().gather()
}

/// The value of the series `name{labels}` (counter, gauge, or histogram sample count).
pub fn value(name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let families = gather();
    let family = families.iter().find(|f| f.name() == name)?;
    let kind = family.get_field_type();
    family.get_metric().iter().find_map(|m| {
        let pairs = m.get_label();
        let matches = labels.len() == pairs.len()
            && labels
                .iter()
                .all(|(k, v)| pairs.iter().any(|p| p.name() == *k && p.value() == *v));
        if !matches {
            return None;
        }
        match kind {
            MetricType::COUNTER => Some(m.get_counter().get_value()),
            MetricType::GAUGE => Some(m.get_gauge().get_value()),
            MetricType::HISTOGRAM => Some(m.get_histogram().get_sample_count() as f64),
            _ => None,
        }
    })
}

/// Number of series of `name` in the registry.
pub fn series_count(name: &str) -> usize {
    gather()
        .iter()
        .find(|f| f.name() == name)
        .map_or(0, |f| f.get_metric().len())
}
