//! What the spec is checked against about Grafana: the units it knows, the panel cap of a
//! dashboard and the newest dashboard schema the generators write.

/// Most panels one dashboard may hold.
pub const PANEL_CAP: usize = 36;
/// Newest classic dashboard schema version (Grafana 13); the default is 41 (11.6) and
/// the spec's `grafana: {schema_version: N}` picks another.
pub const MAX_SCHEMA_VERSION: u32 = 42;
/// Grafana units accepted in `panels[].unit`.
pub const GRAFANA_UNITS: &[&str] = &[
    "none",
    "short",
    "percent",
    "percentunit",
    "s",
    "ms",
    "µs",
    "us",
    "ns",
    "m",
    "h",
    "d",
    "dtdurations",
    "bytes",
    "decbytes",
    "bits",
    "decbits",
    "kbytes",
    "mbytes",
    "Bps",
    "bps",
    "binBps",
    "reqps",
    "ops",
    "rps",
    "wps",
    "rowsps",
    "iops",
    "cps",
    "hertz",
    "currencyINR",
    "currencyUSD",
    "bool",
    "bool_yes_no",
    "dateTimeAsIso",
    "dateTimeFromNow",
    "locale",
    "sishort",
];
