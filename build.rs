//! Generates the typed accessors, the spec table and every artifact from `metrics.yml`
//! (or `G6_METRICS_SPEC`), and refreshes `generated/`, through the g6-codegen builder.

/// Metrics the G6 app's own code calls: (name, accessor kind, labels in order). The
/// build fails with a message naming the metric when the spec drops or changes one of
/// them. `tests/engine/engine_layout.rs` checks that this list covers every accessor in `src/`.
const REQUIRED: &[(&str, &str, &[&str])] = &[
    (
        "g6_api_calls_total",
        "counter",
        &["provider", "endpoint", "result"],
    ),
    (
        "g6_api_response_latency_seconds",
        "histogram",
        &["provider", "endpoint"],
    ),
    ("g6_api_success_ratio", "gauge", &[]),
    ("g6_bus_connected", "gauge", &["bus"]),
    (
        "g6_bus_consumer_lag_messages",
        "gauge",
        &["bus", "subscriber"],
    ),
    ("g6_bus_dedupe_hits_total", "counter", &["bus"]),
    (
        "g6_bus_dropped_messages_total",
        "counter",
        &["bus", "drop_reason"],
    ),
    (
        "g6_bus_events_published_total",
        "counter",
        &["bus", "topic"],
    ),
    ("g6_bus_outbox_bytes", "gauge", &["bus"]),
    ("g6_bus_outbox_limit_bytes", "gauge", &["bus"]),
    (
        "g6_bus_publish_failures_total",
        "counter",
        &["bus", "bus_failure"],
    ),
    ("g6_bus_publish_latency_seconds", "histogram", &["bus"]),
    ("g6_bus_publish_retries_total", "counter", &["bus"]),
    ("g6_bus_published_rows_total", "counter", &["bus"]),
    ("g6_bus_queue_depth", "gauge", &["bus"]),
    (
        "g6_bus_subscriber_lost_messages_total",
        "counter",
        &["bus", "subscriber", "drop_reason"],
    ),
    ("g6_bus_subscribers", "gauge", &["bus"]),
    ("g6_collection_cycle_seconds", "histogram", &[]),
    ("g6_collection_cycles_total", "counter", &["result"]),
    ("g6_cpu_seconds_total", "float_counter", &[]),
    ("g6_cs_ingest_backlog_rows", "gauge", &["table"]),
    ("g6_cs_ingest_backpressure_active", "gauge", &["table"]),
    ("g6_cs_ingest_bytes_total", "counter", &["table"]),
    (
        "g6_cs_ingest_dropped_rows_total",
        "counter",
        &["table", "store_drop_reason"],
    ),
    (
        "g6_cs_ingest_failures_total",
        "counter",
        &["table", "store_failure"],
    ),
    ("g6_cs_ingest_latency_seconds", "histogram", &["table"]),
    (
        "g6_chain_atm_implied_volatility",
        "gauge",
        &["index", "dte", "source"],
    ),
    ("g6_chain_iv_skew", "gauge", &["index", "dte", "source"]),
    (
        "g6_chain_max_pain_strike",
        "gauge",
        &["index", "dte", "source"],
    ),
    (
        "g6_chain_open_interest_change",
        "gauge",
        &["index", "side", "source"],
    ),
    (
        "g6_chain_put_call_ratio",
        "gauge",
        &["index", "dte", "source", "pcr_basis"],
    ),
    ("g6_cs_ingest_retries_total", "counter", &["table"]),
    ("g6_cs_ingest_rows_total", "counter", &["table"]),
    ("g6_cs_ingest_backlog_limit_rows", "gauge", &["table"]),
    ("g6_expiry_resolution_latency_seconds", "histogram", &[]),
    (
        "g6_expiry_resolutions_total",
        "counter",
        &["index", "result"],
    ),
    ("g6_indices_processed_total", "counter", &["index"]),
    ("g6_lifecycle_compacted_files_total", "counter", &[]),
    ("g6_lifecycle_delete_cap_utilization", "gauge", &[]),
    ("g6_lifecycle_deleted_files_total", "counter", &[]),
    ("g6_lifecycle_reclaimed_bytes_total", "counter", &[]),
    ("g6_lifecycle_scan_seconds", "histogram", &[]),
    ("g6_memory_resident_bytes", "gauge", &[]),
    ("g6_memory_budget_bytes", "gauge", &[]),
    ("g6_memory_buffer_scale", "gauge", &["buffer"]),
    (
        "g6_memory_pressure_action_active",
        "gauge",
        &["memory_action"],
    ),
    (
        "g6_memory_pressure_actions_total",
        "counter",
        &["memory_action", "memory_tier"],
    ),
    ("g6_memory_pressure_level", "gauge", &[]),
    ("g6_memory_pressure_level_duration_seconds", "gauge", &[]),
    (
        "g6_memory_pressure_transitions_total",
        "counter",
        &["direction"],
    ),
    ("g6_option_chain_aggregation_seconds", "histogram", &[]),
    ("g6_option_chain_snapshot_age_seconds", "gauge", &["index"]),
    ("g6_option_chain_snapshots_total", "counter", &["result"]),
    (
        "g6_option_contracts_active",
        "gauge",
        &["index", "mny", "dte", "source"],
    ),
    ("g6_option_contracts_new_total", "counter", &["dte"]),
    (
        "g6_option_implied_volatility_mean",
        "gauge",
        &["index", "mny", "dte", "source"],
    ),
    (
        "g6_option_implied_volatility_contracts",
        "gauge",
        &["index", "mny", "dte", "source"],
    ),
    (
        "g6_option_implied_volatility_open_interest",
        "gauge",
        &["index", "mny", "dte", "source"],
    ),
    (
        "g6_option_implied_volatility_oi_weighted",
        "gauge",
        &["index", "mny", "dte", "source"],
    ),
    (
        "g6_option_open_interest",
        "gauge",
        &["index", "mny", "dte", "source"],
    ),
    ("g6_option_rows_skipped_total", "counter", &["skip_reason"]),
    (
        "g6_option_spread_contracts",
        "gauge",
        &["index", "mny", "dte", "source"],
    ),
    (
        "g6_option_spread_mean_ratio",
        "gauge",
        &["index", "mny", "dte", "source"],
    ),
    (
        "g6_option_volume",
        "gauge",
        &["index", "mny", "dte", "source"],
    ),
    ("g6_process_uptime_seconds", "gauge", &[]),
    (
        "g6_provider_fallbacks_total",
        "counter",
        &["provider", "reason"],
    ),
    (
        "g6_provider_fetch_failures_total",
        "counter",
        &["provider", "fetch_failure"],
    ),
    (
        "g6_provider_last_success_timestamp_seconds",
        "gauge",
        &["provider"],
    ),
    ("g6_provider_mode", "gauge", &["provider", "provider_mode"]),
    ("g6_provider_mode_switches_total", "counter", &["provider"]),
    ("g6_provider_circuit_open", "gauge", &["provider"]),
    ("g6_chain_net_delta", "gauge", &["index", "dte", "source"]),
    (
        "g6_chain_gamma_exposure",
        "gauge",
        &["index", "dte", "source"],
    ),
    (
        "g6_chain_gamma_exposure_by_moneyness",
        "gauge",
        &["index", "mny", "source"],
    ),
    ("g6_chain_zero_gamma_level", "gauge", &["index", "source"]),
    (
        "g6_chain_risk_reversal_25d",
        "gauge",
        &["index", "dte", "source"],
    ),
    (
        "g6_chain_butterfly_25d",
        "gauge",
        &["index", "dte", "source"],
    ),
    ("g6_stale_fields_total", "counter", &["index"]),
    ("g6_stale_index_active", "gauge", &["index"]),
    ("g6_stale_max_age_seconds", "gauge", &["index"]),
    (
        "g6_provider_quotes_total",
        "counter",
        &["provider", "index"],
    ),
    (
        "g6_provider_snapshot_contracts",
        "gauge",
        &["provider", "index"],
    ),
    ("g6_panel_full_resyncs_total", "counter", &[]),
    ("g6_panel_write_bytes_total", "counter", &["write_mode"]),
    ("g6_panel_writes_total", "counter", &["write_mode"]),
    ("g6_replay_skipped_total", "counter", &["replay_skip"]),
    ("g6_sse_connections", "gauge", &[]),
    ("g6_sse_events_sent_total", "counter", &["sse_event"]),
    ("g6_sse_flush_latency_seconds", "histogram", &[]),
    ("g6_sse_slow_client_disconnects_total", "counter", &[]),
    ("g6_stream_connected_clients", "gauge", &[]),
    ("g6_stream_events_total", "counter", &["kind"]),
    ("g6_stream_gate_skips_total", "counter", &["reason"]),
    ("g6_stream_lag_seconds", "gauge", &[]),
];

/// Closed label sets whose values the app's code names (`labels::Mny::Atm`); every
/// other label of a required metric must stay open.
const REQUIRED_LABELS: &[(&str, &[&str])] = &[
    ("mny", &["deep_itm", "itm", "atm", "otm", "deep_otm"]),
    ("dte", &["ultra_short", "short", "medium", "long", "leap"]),
    ("result", &["ok", "error", "timeout"]),
    ("source", &["live", "replay", "synthetic"]),
    ("provider_mode", &["primary", "fallback", "synthetic"]),
    (
        "skip_reason",
        &[
            "expired",
            "invalid_number",
            "negative_value",
            "bad_expiry",
            "zero_strike",
            "zero_spot",
            "missing_field",
            "duplicate",
            "out_of_range",
            "bad_index",
            "index_limit",
        ],
    ),
    (
        "bus_failure",
        &[
            "unreachable",
            "timeout",
            "no_stream",
            "stream_conflict",
            "too_large",
            "rejected",
        ],
    ),
    (
        "store_failure",
        &[
            "io",
            "no_space",
            "read_only",
            "unreachable",
            "rejected",
            "timeout",
        ],
    ),
    (
        "store_drop_reason",
        &[
            "backlog_full",
            "rejected",
            "shutdown",
            "memory_pressure",
            "subscriber_lagged",
        ],
    ),
    (
        "drop_reason",
        &[
            "outbox_full",
            "subscriber_lagged",
            "too_large",
            "shutdown",
            "memory_pressure",
            "invalid",
            "incomplete",
            "undecodable",
        ],
    ),
    ("sse_event", &["full", "diff", "heartbeat"]),
    ("direction", &["up", "down"]),
    ("memory_tier", &["elevated", "high", "critical"]),
    (
        "memory_action",
        &[
            "pause_compaction",
            "shrink_live",
            "shrink_backlog",
            "shrink_outbox",
            "trim_allocator",
        ],
    ),
    (
        "buffer",
        &[
            "live_window",
            "live_client_buffer",
            "bus_outbox",
            "store_backlog",
        ],
    ),
    (
        "replay_skip",
        &[
            "not_regular",
            "unreadable",
            "bad_timestamp",
            "too_many_rows",
            "too_large",
            "replay_full",
            "unsettled",
        ],
    ),
    ("write_mode", &["diff", "full"]),
    ("pcr_basis", &["oi", "volume"]),
    ("side", &["call", "put"]),
    (
        "fetch_failure",
        &[
            "timeout",
            "still_running",
            "too_large",
            "unreadable",
            "malformed",
            "exit_status",
        ],
    ),
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let mut config = g6_codegen::Config::new();
    config
        .spec("metrics.yml")
        .spec_env("G6_METRICS_SPEC")
        .file_name("g6_metrics.rs")
        .generated_dir("generated")
        .artifacts_module(true);
    for (name, kind, labels) in REQUIRED {
        config.require_metric(name, kind, labels);
    }
    for (name, values) in REQUIRED_LABELS {
        config.require_label(name, values);
    }
    if let Err(e) = config.compile() {
        // Every problem at once, with positions and hints; no panic, no backtrace.
        eprintln!("{e}");
        std::process::exit(1);
    }
}
