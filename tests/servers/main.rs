//! The `g6` binary run as a child process, alone and with real servers (nats-server,
//! clickhouse-server, Prometheus, Alertmanager, Chromium), in one test binary: the
//! tests talk to their children over HTTP and files, never through this process's
//! registry, so they share a process. Tests that need a server are ignored by default
//! (`scripts/test.sh` installs the servers and runs them with `--include-ignored`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

#[path = "../common/mod.rs"]
mod common;

mod alert_truth;
mod bus_nats;
mod dashboard_values;
mod e2e_prometheus;
mod family_feeds;
mod live_browser;
mod live_sse;
mod nats_scale;
mod replay_outputs;
mod replay_prometheus;
mod serve;
mod serve_memory;
mod serve_option_chain;
mod spec_variants;
mod store_ingest;
mod web_config;
