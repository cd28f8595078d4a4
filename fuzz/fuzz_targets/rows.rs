//! The CSV and JSON-lines row parsers, then the aggregator and analytics: any text gives
//! quotes and rejected rows, never a panic.
#![no_main]

use g6_metrics::option_chain::providers::file::{parse_csv, parse_jsonl};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for snapshot in [parse_csv(text, "NIFTY"), parse_jsonl(text, "NIFTY")] {
        let mut aggregator = g6_metrics::option_chain::aggregate::Aggregator::new();
        let agg = aggregator.aggregate(&snapshot, 1_732_528_800);
        let _ = g6_metrics::option_chain::analytics::of_snapshot(
            &snapshot,
            &agg.accepted_rows,
            1_732_528_800,
        );
    }
});
