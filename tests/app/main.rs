//! The app's parts in process: bus, stores, replay, live hub, memory governor,
//! providers and exporter routes, in one test binary. Every test that asserts on
//! this process's metrics registry runs its body in a process of its own
//! ([`common::in_own_process`]), so the modules can share a binary.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

#[path = "../common/mod.rs"]
mod common;

mod analytics;
mod bus_inproc;
mod bus_message;
mod exporter_routes;
mod live_hub;
mod market_model;
mod memory_governor;
mod provider_bounds;
mod replay;
mod replay_clickhouse;
mod sql_dashboards;
mod store_clickhouse;
mod store_parquet;
