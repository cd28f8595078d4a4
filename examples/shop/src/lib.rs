//! A shop's metrics on the g6-metrics engine: `build.rs` generates the accessors from
//! `shop.yml`; they run on `g6-runtime`. Nothing here knows about G6.

// `labels`, `spec`, `metrics`, `init()` and the spec hashes.
include!(concat!(env!("OUT_DIR"), "/metrics.rs"));

/// Record one completed checkout.
pub fn checkout(payment: labels::Payment, region: &str, seconds: f64) {
    metrics::orders_total(payment, region).inc();
    metrics::checkout_duration_seconds(payment).observe(seconds);
}

/// Publish a stock level read from a feed; a bad reading never reaches the caller, it
/// is counted in `shop_emission_failures_total{emitter="shop::stock"}`.
#[g6_macros::safe_emit(emitter = "shop::stock")]
pub fn publish_stock(warehouse: &str, reading: &str) -> Result<(), std::num::ParseFloatError> {
    metrics::stock_items(warehouse).set(reading.parse()?);
    Ok(())
}
