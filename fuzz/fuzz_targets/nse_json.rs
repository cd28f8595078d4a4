//! The NSE JSON provider's parser, then the aggregator and analytics on what it
//! accepted: any bytes give a snapshot or an error, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(snapshot) = g6_metrics::option_chain::providers::nse::parse_nse_json(data, "NIFTY") {
        let mut aggregator = g6_metrics::option_chain::aggregate::Aggregator::new();
        let agg = aggregator.aggregate(&snapshot, 1_732_528_800);
        let _ = g6_metrics::option_chain::analytics::of_snapshot(
            &snapshot,
            &agg.accepted_rows,
            1_732_528_800,
        );
    }
});
