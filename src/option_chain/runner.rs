//! The collection loop of `g6 serve`: fetch, aggregate, publish, on an interval.
//!
//! A provider that fails, times out or returns nothing usable is counted (API calls by
//! result, snapshots by result, collection cycles) and logged at most once a minute; the
//! last good bucket values stay, and `g6_option_chain_snapshot_age_seconds{index}` keeps
//! growing so dashboards and the `G6OptionChainStale` alert show it. With the synthetic
//! fallback switched on, a failing primary is replaced by synthetic data for that cycle,
//! labelled `source="synthetic"` and `provider_mode="fallback"`.
//!
//! Ages count from the data's own as-of time when the provider reports one (a year-old
//! file is a year stale), else from the fetch. Indices known before the first fetch
//! (the provider's own, or `--index`) age from the start, so a provider that never
//! delivers is stale too; with none known, the age is kept under
//! `index="unknown"` until the first index arrives.

use super::aggregate::Aggregator;
use super::providers::synthetic::SyntheticProvider;
use super::{OptionChainProvider, ProviderError};
use crate::labels::{ProviderMode, Result as Outcome, Source};
use crate::metrics;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Endpoint label of option-chain fetches in the provider metrics.
pub const ENDPOINT: &str = "option_chain";

/// The `index` label of the snapshot age while no index is known yet.
pub const UNKNOWN_INDEX: &str = "unknown";

/// How often a persistent failure is logged.
const FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// What one cycle did.
#[derive(Debug, Clone, PartialEq)]
pub enum Cycle {
    /// The primary provider delivered; contracts aggregated.
    Ok { contracts: u64 },
    /// The primary failed; the synthetic fallback delivered.
    Fallback { error: String, contracts: u64 },
    /// Nothing usable this cycle; last good values stay.
    Failed { error: String },
}

/// Drives one provider.
pub struct Runner {
    primary: Box<dyn OptionChainProvider>,
    fallback: Option<SyntheticProvider>,
    aggregator: Aggregator,
    analytics: super::analytics::Analytics,
    /// Unix time of each index's last good snapshot (at most
    /// [`super::aggregate::max_indices`]; shared with the pre-scrape staleness hook).
    last_good: Arc<Mutex<BTreeMap<String, f64>>>,
    last_failure_log: Option<Instant>,
    suppressed_failures: u64,
    /// The provider mode last set, to count switches.
    mode: Option<ProviderMode>,
    /// Hands every good snapshot's contracts to the bus.
    publisher: Option<crate::bus::Publisher>,
    /// Only these indices are collected (`--index`); others are left out unseen.
    only: Option<std::collections::HashSet<String>>,
    /// The configured indices' counters are at zero (done at the first cycle, once
    /// `--index` selection and expected indices are known).
    indices_warm: bool,
    /// Stop after this many cycles (`--cycles`).
    cycles: Option<u64>,
    /// Holds the provider back after failures in a row.
    breaker: super::circuit::Breaker,
    /// Fields of real quotes that stopped changing.
    staleness: super::staleness::Staleness,
    /// What listed expiries are held against.
    calendar: Arc<super::calendar::Calendar>,
    /// The provider's last outcomes, for the status page.
    health: Arc<Mutex<ProviderHealth>>,
}

/// How the primary provider has been doing, as the status page tells it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProviderHealth {
    /// Unix time of its last usable snapshot.
    pub last_success: Option<f64>,
    /// Unix time of the first of the failures in a row, while it fails.
    pub failing_since: Option<f64>,
    /// Failures in a row.
    pub failures_in_a_row: u64,
    /// What the last failure said.
    pub last_error: Option<String>,
}

impl ProviderHealth {
    fn record(&mut self, now: f64, error: Option<&str>) {
        match error {
            None => {
                self.last_success = Some(now);
                self.failing_since = None;
                self.failures_in_a_row = 0;
                self.last_error = None;
            }
            Some(e) => {
                self.failing_since.get_or_insert(now);
                self.failures_in_a_row += 1;
                self.last_error = Some(e.to_string());
            }
        }
    }

    /// One line for the status page at `now` (Unix seconds), for provider `name`.
    pub fn describe(&self, name: &str, now: f64) -> String {
        let ago = |t: f64| format!("{:.0} s ago", (now - t).max(0.0));
        match (&self.failing_since, &self.last_error) {
            (Some(since), Some(error)) => format!(
                "Provider {name}: FAILING since {} ({} failures in a row; {}): {error}",
                ago(*since),
                self.failures_in_a_row,
                match self.last_success {
                    Some(t) => format!("the gauges hold its last good snapshot, {}", ago(t)),
                    None => "no good snapshot yet: the option-chain gauges are empty".into(),
                }
            ),
            _ => match self.last_success {
                Some(t) => format!("Provider {name}: ok, last snapshot {}", ago(t)),
                None => format!("Provider {name}: no snapshot yet"),
            },
        }
    }
}

/// Set `g6_option_chain_snapshot_age_seconds{index}` from the last good times.
fn set_ages(last_good: &Mutex<BTreeMap<String, f64>>, now: f64) {
    let last_good = last_good.lock().unwrap_or_else(|p| p.into_inner());
    for (index, at) in last_good.iter() {
        metrics::option_chain_snapshot_age_seconds(index).set((now - at).max(0.0));
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Warm the provider's series at zero, so a rate over a failure or fallback counter
/// reads 0 on a healthy run instead of nothing until the first failure.
fn warm(primary: &dyn OptionChainProvider) {
    let provider = primary.name();
    for reason in crate::labels::FetchFailure::ALL {
        metrics::provider_fetch_failures_total(provider, reason).inc_by(0);
    }
    // The one fallback reason the runner has; 0 also without --fallback-synthetic.
    metrics::provider_fallbacks_total(provider, "primary_failed").inc_by(0);
}

/// Warm the index-labelled counters of the configured indices (those the runner
/// expects, after `--index` selection) at zero.
fn warm_indices<'a>(provider: &str, indices: impl Iterator<Item = &'a String>) {
    for index in indices.filter(|i| *i != UNKNOWN_INDEX) {
        metrics::provider_quotes_total(provider, index).inc_by(0);
        metrics::indices_processed_total(index).inc_by(0);
        for result in Outcome::ALL {
            metrics::expiry_resolutions_total(index, result).inc_by(0);
        }
    }
}

impl Runner {
    /// A runner for `primary`; `fallback_synthetic` opts into the synthetic fallback.
    pub fn new(primary: Box<dyn OptionChainProvider>, fallback_synthetic: bool) -> Self {
        if primary.source() == Source::Synthetic {
            tracing::warn!(provider = primary.name(), "option-chain data is SYNTHETIC (generated, not market data); every option-chain series carries source=\"synthetic\"");
        }
        // The series exists from the start, so a rate over it reads 0, not nothing.
        metrics::provider_mode_switches_total(primary.name()).inc_by(0);
        metrics::provider_circuit_open(primary.name()).set(0.0);
        warm(primary.as_ref());
        let started = unix_now();
        let mut last_good: BTreeMap<String, f64> = primary
            .indices()
            .into_iter()
            .take(super::aggregate::max_indices())
            .map(|i| (i, started))
            .collect();
        if last_good.is_empty() {
            last_good.insert(UNKNOWN_INDEX.to_string(), started);
        }
        Runner {
            primary,
            fallback: fallback_synthetic
                .then(|| SyntheticProvider::new(super::providers::synthetic::DEFAULT_SEED)),
            aggregator: Aggregator::new(),
            analytics: super::analytics::Analytics::default(),
            last_good: Arc::new(Mutex::new(last_good)),
            last_failure_log: None,
            suppressed_failures: 0,
            mode: None,
            publisher: None,
            only: None,
            indices_warm: false,
            cycles: None,
            breaker: super::circuit::Breaker::default(),
            staleness: super::staleness::Staleness::default(),
            calendar: super::calendar::current(),
            health: Arc::default(),
        }
    }

    /// Hold listed expiries against `calendar` instead of the one in force.
    pub fn calendar(mut self, calendar: Arc<super::calendar::Calendar>) -> Self {
        self.calendar = calendar;
        self
    }

    /// Open the circuit after `failures` failed cycles in a row, for `cooldown` at first
    /// (defaults: 5, 30 s).
    pub fn circuit(mut self, failures: u32, cooldown: Duration) -> Self {
        self.breaker = super::circuit::Breaker::new(failures, cooldown);
        self
    }

    /// Call fields stale after `snapshots` snapshots and `max_age` unchanged in session
    /// (defaults: 12, 120 s).
    pub fn staleness(mut self, snapshots: u32, max_age: Duration) -> Self {
        self.staleness = super::staleness::Staleness::new(
            snapshots,
            max_age.as_secs_f64(),
            super::aggregate::max_indices(),
        );
        self
    }

    /// Publish the contracts of every good snapshot through `publisher`.
    pub fn with_publisher(mut self, publisher: crate::bus::Publisher) -> Self {
        self.publisher = Some(publisher);
        self
    }

    /// Collect only `indices` (`--index`): rows of other indices are left out before
    /// aggregation, so several collectors can split a provider's indices between them.
    /// Each listed index is also expected (see [`Self::expect_indices`]).
    pub fn only_indices(mut self, indices: &[String]) -> Self {
        let set: std::collections::HashSet<String> = indices
            .iter()
            .map(|i| i.trim().to_string())
            .filter(|i| !i.is_empty())
            .collect();
        if set.is_empty() {
            return self;
        }
        {
            let mut last_good = self.last_good.lock().unwrap_or_else(|p| p.into_inner());
            last_good.retain(|i, _| set.contains(i) || i == UNKNOWN_INDEX);
        }
        self.only = Some(set);
        self.expect_indices(indices)
    }

    /// Stop after `n` cycles (`g6 serve --cycles`).
    pub fn cycles(mut self, n: Option<u64>) -> Self {
        self.cycles = n;
        self
    }

    /// The publisher, when the runner has one.
    pub fn publisher(&self) -> Option<&crate::bus::Publisher> {
        self.publisher.as_ref()
    }

    /// Also expect `indices` (`--index`): each ages from the start until it arrives.
    pub fn expect_indices(self, indices: &[String]) -> Self {
        let started = unix_now();
        {
            let mut last_good = self.last_good.lock().unwrap_or_else(|p| p.into_inner());
            let indices: Vec<&str> = indices
                .iter()
                .map(|i| i.trim())
                .filter(|i| !i.is_empty())
                .collect();
            for i in indices.iter().take(super::aggregate::max_indices()) {
                last_good.entry(i.to_string()).or_insert(started);
            }
            if !indices.is_empty() {
                last_good.remove(UNKNOWN_INDEX);
            }
        }
        self
    }

    /// The primary provider's name.
    pub fn provider_name(&self) -> &str {
        self.primary.name()
    }

    /// The provider's outcomes as they happen (shared: the status page reads it).
    pub fn health(&self) -> Arc<Mutex<ProviderHealth>> {
        Arc::clone(&self.health)
    }

    fn set_mode(&mut self, mode: ProviderMode) {
        let name = self.primary.name();
        if self.mode.is_some_and(|m| m != mode) {
            metrics::provider_mode_switches_total(name).inc();
        }
        self.mode = Some(mode);
        for m in ProviderMode::ALL {
            metrics::provider_mode(name, m).set(if m == mode { 1.0 } else { 0.0 });
        }
    }

    fn log_failure(&mut self, error: &str) {
        let now = Instant::now();
        let due = self
            .last_failure_log
            .is_none_or(|at| now.duration_since(at) >= FAILURE_LOG_INTERVAL);
        if due {
            tracing::warn!(
                provider = self.primary.name(),
                error,
                suppressed = self.suppressed_failures,
                "{}",
                if self
                    .health
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .last_success
                    .is_some()
                {
                    "option-chain provider failed; keeping the last good values"
                } else {
                    "option-chain provider failed; no good snapshot yet, so the option-chain gauges stay empty"
                }
            );
            self.last_failure_log = Some(now);
            self.suppressed_failures = 0;
        } else {
            self.suppressed_failures += 1;
        }
    }

    /// Fetch from `provider`, timing and counting the call.
    fn fetch(provider: &mut dyn OptionChainProvider) -> Result<super::Snapshot, ProviderError> {
        let name = provider.name().to_string();
        let timer = metrics::api_response_latency_seconds(&name, ENDPOINT).start_timer();
        let result = provider.fetch();
        timer.stop_and_record();
        let outcome = match &result {
            Ok(_) => Outcome::Ok,
            Err(e) => {
                metrics::provider_fetch_failures_total(&name, e.reason).inc();
                if e.is_timeout() {
                    Outcome::Timeout
                } else {
                    Outcome::Error
                }
            }
        };
        metrics::api_calls_total(&name, ENDPOINT, outcome).inc();
        result
    }

    /// Aggregate and publish a fetched snapshot (what a cycle does after a successful
    /// fetch): buckets under one consistent update, per-index provider metrics, the
    /// last-good times. `None` when it held no usable contract.
    pub fn publish(
        &mut self,
        provider: &str,
        source: Source,
        snapshot: &super::Snapshot,
        now: f64,
    ) -> Option<u64> {
        let filtered;
        let snapshot = match &self.only {
            Some(only) => {
                filtered = super::Snapshot {
                    as_of: snapshot.as_of,
                    rows: snapshot
                        .rows
                        .iter()
                        .filter(|r| r.as_ref().map_or(true, |q| only.contains(&q.index)))
                        .cloned()
                        .collect(),
                };
                &filtered
            }
            None => snapshot,
        };
        let timer = metrics::option_chain_aggregation_seconds().start_timer();
        let agg = self.aggregator.aggregate(snapshot, now as i64);
        self.forget(&agg.forgotten);
        if agg.accepted == 0 {
            // Nothing usable: count the skipped rows, keep the last good buckets.
            Aggregator::publish_counts(&agg);
            timer.stop_and_discard();
            return None;
        }
        // Staleness of market data (and of the model standing in for it); a replay is
        // recorded data, and fallback data is not the provider's.
        if provider == self.primary.name() && matches!(source, Source::Live | Source::Synthetic) {
            let as_of = snapshot.as_of.unwrap_or(now as i64);
            let open = self.primary.session().is_open(as_of);
            let mut by_index: BTreeMap<&str, Vec<&super::Quote>> = BTreeMap::new();
            for &row in &agg.accepted_rows {
                if let Some(Ok(q)) = snapshot.rows.get(row as usize) {
                    by_index.entry(q.index.as_str()).or_default().push(q);
                }
            }
            for (index, rows) in by_index {
                self.staleness.observe(index, &rows, as_of as f64, open);
            }
        }
        // IVs and Greeks once, for the analytics and the bus message both.
        let priced = super::exposure::PricedRows::of(
            snapshot,
            &agg.accepted_rows,
            snapshot.as_of.unwrap_or(now as i64),
        );
        let analytics = super::analytics::of_priced_snapshot(
            snapshot,
            &agg.accepted_rows,
            &priced,
            super::analytics::exposure_enabled(),
        );
        crate::exporter::consistent_update(|| {
            self.aggregator.publish(&agg, source);
            self.analytics.publish(&analytics, source);
        });
        timer.stop_and_record();
        // The data's own time when it has one; never in the future. Only the primary's
        // data makes an index fresh: synthetic fallback data must not hide staleness.
        let as_of = snapshot.as_of.map_or(now, |t| (t as f64).min(now));
        let fresh = provider == self.primary.name();
        let mut last_good = self.last_good.lock().unwrap_or_else(|p| p.into_inner());
        if fresh && last_good.remove(UNKNOWN_INDEX).is_some() {
            metrics::option_chain_snapshot_age_seconds(UNKNOWN_INDEX).set(0.0);
        }
        for (index, buckets) in &agg.per_index {
            let contracts: u64 = buckets.iter().map(|b| b.contracts).sum();
            metrics::provider_quotes_total(provider, index).inc_by(contracts);
            metrics::provider_snapshot_contracts(provider, index).set(contracts as f64);
            metrics::indices_processed_total(index).inc();
            if fresh {
                last_good.insert(index.clone(), as_of);
            }
        }
        // Bounded like the aggregator: the least recently good indices go first, and
        // their age series with them (under the lock, so the pre-scrape hook cannot
        // set it again).
        while last_good.len() > super::aggregate::max_indices() {
            let oldest = last_good
                .iter()
                .min_by(|a, b| a.1.total_cmp(b.1))
                .map(|(i, _)| i.clone());
            match oldest {
                Some(i) => {
                    last_good.remove(&i);
                    metrics::remove_option_chain_snapshot_age_seconds(&i);
                }
                None => break,
            };
        }
        drop(last_good);
        self.resolve_expiries(snapshot, &agg, snapshot.as_of.unwrap_or(now as i64));
        metrics::provider_last_success_timestamp_seconds(provider).set(now);
        if let Some(publisher) = self.publisher.as_mut() {
            let as_of_ms = snapshot.as_of.map(|t| t.saturating_mul(1000));
            publisher.publish_priced(
                snapshot,
                &agg.accepted_rows,
                Some(&priced),
                source,
                provider,
                now,
                as_of_ms,
            );
        }
        Some(agg.accepted)
    }

    /// Expiry resolution, timed per index: the distinct expiries each aggregated index
    /// lists (expired rows included) held against the calendar at `as_of`, counted by
    /// result.
    fn resolve_expiries(
        &self,
        snapshot: &super::Snapshot,
        agg: &super::aggregate::Aggregation,
        as_of: i64,
    ) {
        let mut listed: Vec<(&str, Vec<i64>)> = agg
            .per_index
            .keys()
            .map(|i| (i.as_str(), Vec::new()))
            .collect();
        // Rows come grouped by index and expiry: remember the last group found.
        let mut at: Option<usize> = None;
        for q in snapshot.rows.iter().filter_map(|r| r.as_ref().ok()) {
            let slot = match at {
                Some(i) if listed[i].0 == q.index => Some(i),
                _ => listed.iter().position(|(i, _)| *i == q.index),
            };
            at = slot.or(at);
            if let Some(i) = slot {
                let expiries = &mut listed[i].1;
                if expiries.last() != Some(&q.expiry) && !expiries.contains(&q.expiry) {
                    expiries.push(q.expiry);
                }
            }
        }
        for (index, expiries) in listed {
            let timer = metrics::expiry_resolution_latency_seconds().start_timer();
            let r = self.calendar.resolve(index, &expiries, as_of);
            timer.stop_and_record();
            metrics::expiry_resolutions_total(index, Outcome::Ok).inc_by(r.ok);
            metrics::expiry_resolutions_total(index, Outcome::Error).inc_by(r.error);
        }
    }

    /// Drop the per-index state of indices the aggregator forgot, before their series
    /// are removed (by the aggregator's next publish): nothing here sets them again.
    fn forget(&mut self, forgotten: &[String]) {
        if forgotten.is_empty() {
            return;
        }
        let mut last_good = self.last_good.lock().unwrap_or_else(|p| p.into_inner());
        for index in forgotten {
            self.analytics.forget(index);
            last_good.remove(index);
            // The age series now, under the lock the pre-scrape hook takes; the rest
            // go with the aggregator's publish.
            metrics::remove_option_chain_snapshot_age_seconds(index);
        }
    }

    /// Run one cycle at wall-clock time `now` (Unix seconds).
    pub fn tick_at(&mut self, now: f64) -> Cycle {
        let cycle_timer = metrics::collection_cycle_seconds().start_timer();
        let name = self.primary.name().to_string();
        let source = self.primary.source();
        if !self.indices_warm {
            self.indices_warm = true;
            let last_good = self.last_good.lock().unwrap_or_else(|p| p.into_inner());
            warm_indices(&name, last_good.keys());
        }
        // An open circuit holds the provider back until its cool-down ends.
        let called = self.breaker.allow(now);
        let outcome = if !called {
            // A held-back call fails fast: counted as a failed call, so the provider
            // stays down in `g6_api_calls_total` (and G6ProviderDown keeps firing) while
            // the circuit is open.
            metrics::api_calls_total(&name, ENDPOINT, Outcome::Error).inc();
            Err((
                Outcome::Error,
                format!("{name}: the circuit is open after repeated failures; the provider is not called until its cool-down ends"),
            ))
        } else {
            match Self::fetch(self.primary.as_mut()) {
                Ok(snapshot) => match self.publish(&name, source, &snapshot, now) {
                    Some(contracts) => Ok(contracts),
                    None => Err((
                        Outcome::Error,
                        format!(
                            "{name} returned no usable contracts ({} rows)",
                            snapshot.rows.len()
                        ),
                    )),
                },
                Err(e) if e.is_timeout() => Err((Outcome::Timeout, e.to_string())),
                Err(e) => Err((Outcome::Error, e.to_string())),
            }
        };
        if called && self.breaker.record(outcome.is_ok(), now) {
            tracing::warn!(
                provider = %name,
                state = ?self.breaker.state(),
                "circuit opened: the provider failed repeatedly; it is not called until the cool-down ends (the synthetic fallback serves, if enabled)"
            );
        }
        metrics::provider_circuit_open(&name).set(if self.breaker.is_open() { 1.0 } else { 0.0 });
        self.health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(now, outcome.as_ref().err().map(|(_, e)| e.as_str()));
        let cycle = match outcome {
            Ok(contracts) => {
                metrics::option_chain_snapshots_total(Outcome::Ok).inc();
                metrics::api_success_ratio().set(1.0);
                self.set_mode(if source == Source::Synthetic {
                    ProviderMode::Synthetic
                } else {
                    ProviderMode::Primary
                });
                Cycle::Ok { contracts }
            }
            Err((result, error)) => {
                metrics::option_chain_snapshots_total(result).inc();
                metrics::api_success_ratio().set(0.0);
                self.log_failure(&error);
                match self.fallback.as_mut().map(|f| f.snapshot_at(now as i64)) {
                    Some(snapshot) => {
                        metrics::provider_fallbacks_total(&name, "primary_failed").inc();
                        let contracts = self
                            .publish("synthetic", Source::Synthetic, &snapshot, now)
                            .unwrap_or(0);
                        self.set_mode(ProviderMode::Fallback);
                        Cycle::Fallback { error, contracts }
                    }
                    None => Cycle::Failed { error },
                }
            }
        };
        metrics::collection_cycles_total(match cycle {
            Cycle::Ok { .. } => Outcome::Ok,
            _ => Outcome::Error,
        })
        .inc();
        set_ages(&self.last_good, now);
        cycle_timer.stop_and_record();
        cycle
    }

    /// Run one cycle now.
    pub fn tick(&mut self) -> Cycle {
        self.tick_at(unix_now())
    }

    /// Run cycles every `interval` on a thread until `stop` is given (or, with
    /// [`Self::cycles`], until that many have run: then it gives `stop`). Snapshot ages are
    /// also refreshed right before every scrape, so they grow even while a cycle waits
    /// on a slow provider.
    pub fn spawn(
        mut self,
        interval: Duration,
        stop: crate::shutdown::Stop,
    ) -> std::io::Result<Collector> {
        let last_good = Arc::clone(&self.last_good);
        crate::exporter::add_pre_scrape_hook(Arc::new(move || set_ages(&last_good, unix_now())));
        // Dropped when the thread ends, however it ends: what `join_within` waits on.
        let (ended, ended_rx) = std::sync::mpsc::channel::<()>();
        let handle = std::thread::Builder::new()
            .name("g6-option-chain".into())
            .spawn(move || {
                let _ended = ended;
                let mut done = 0u64;
                if self.cycles == Some(0) {
                    stop.stop();
                }
                while !stop.is_stopped() {
                    let started = Instant::now();
                    self.tick();
                    done += 1;
                    if self.cycles.is_some_and(|n| done >= n) {
                        stop.stop();
                        break;
                    }
                    // Until the next cycle, or at once when stopped.
                    stop.wait_timeout(interval.saturating_sub(started.elapsed()));
                }
            })?;
        Ok(Collector {
            handle,
            ended: ended_rx,
        })
    }
}

/// The collection thread of [`Runner::spawn`].
#[derive(Debug)]
pub struct Collector {
    handle: std::thread::JoinHandle<()>,
    ended: std::sync::mpsc::Receiver<()>,
}

impl Collector {
    /// Wait up to `timeout` for the thread to end (after its stop was given) and join
    /// it; false if it is still in a cycle (a fetch stuck on a hung read), which is
    /// then left to die with the process.
    pub fn join_within(self, timeout: Duration) -> bool {
        match self.ended.recv_timeout(timeout) {
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => false,
            Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                let _ = self.handle.join();
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ProviderHealth;

    #[test]
    fn provider_health_says_failing_with_the_error_then_ok_after_a_success() {
        let mut h = ProviderHealth::default();
        assert_eq!(h.describe("nse", 100.0), "Provider nse: no snapshot yet");
        h.record(100.0, Some("timed out"));
        h.record(105.0, Some("HTTP 503"));
        assert_eq!(
            h.describe("nse", 110.0),
            "Provider nse: FAILING since 10 s ago (2 failures in a row; no good snapshot yet: the option-chain gauges are empty): HTTP 503"
        );
        h.record(115.0, None);
        assert_eq!(
            h.describe("nse", 120.0),
            "Provider nse: ok, last snapshot 5 s ago"
        );
        h.record(125.0, Some("HTTP 503"));
        assert!(h
            .describe("nse", 130.0)
            .contains("the gauges hold its last good snapshot, 15 s ago"));
    }
}
