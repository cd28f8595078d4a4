//! The emission batcher: sharded, cache-padded pending deltas for counters and
//! histograms, merged into the registry on an adaptive schedule.
//!
//! With `G6_METRICS_BATCH_ENABLED` on (1/true/yes), each counter (whole or fractional)
//! and histogram series
//! created afterwards gets a pending cell per shard (one cache line each; a thread always
//! uses the same shard). An increment is a relaxed add to the caller's own line, so
//! threads never fight over a cache line. A flush swaps every cell to zero and adds what
//! it took to the series: a delta is either merged by this flush or still in its cell
//! for the next one, so nothing is ever lost, and nothing is dropped when the batcher is
//! busy — at a hard cap the emitting thread flushes inline.
//!
//! Flushes happen when the pending entries reach the adaptive target, when entries have
//! waited `max_wait`, on the timer (`target_interval`), when a thread that emitted
//! exits, and always right before a scrape, so a scrape never sees stale data. The
//! target follows an EWMA of the merge rate (target = rate x interval, within
//! [min, max]); a slow alpha applies when idle, and sustained under-utilisation cuts
//! the target by a quarter. Gauges are never batched: a `set` must be visible as is.

use once_cell::sync::Lazy;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Shards per batched series: twice the CPUs this process may use (so threads that
/// share a core still spread), at least 4 and at most 64 (a shard costs a cache line per
/// batched series). Threads take shards round-robin and keep theirs for life: with no
/// more emitting threads than shards no two share a cache line; beyond that, about
/// threads/shards share each.
pub fn shard_count() -> usize {
    static COUNT: Lazy<usize> = Lazy::new(|| {
        let cpus = std::thread::available_parallelism().map_or(4, |n| n.get());
        (cpus * 2).clamp(4, 64)
    });
    *COUNT
}

/// What made the batcher flush. The order is the order of the `flush_trigger` values
/// in the built-in spec fragment, which indexes `*_metrics_batch_flushes_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlushTrigger {
    /// Pending entries reached the adaptive target.
    Target,
    /// The oldest entry waited `max_wait`.
    MaxWait,
    /// The periodic timer.
    Timer,
    /// Right before a scrape.
    Scrape,
    /// An emitting thread exited.
    ThreadExit,
    /// The hard cap: the emitting thread flushed inline.
    Full,
}

impl FlushTrigger {
    /// Every trigger, in label-value order.
    pub const ALL: [FlushTrigger; 6] = [
        FlushTrigger::Target,
        FlushTrigger::MaxWait,
        FlushTrigger::Timer,
        FlushTrigger::Scrape,
        FlushTrigger::ThreadExit,
        FlushTrigger::Full,
    ];

    /// The `flush_trigger` label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            FlushTrigger::Target => "target",
            FlushTrigger::MaxWait => "max_wait",
            FlushTrigger::Timer => "timer",
            FlushTrigger::Scrape => "scrape",
            FlushTrigger::ThreadExit => "thread_exit",
            FlushTrigger::Full => "full",
        }
    }

    /// Position in [`Self::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// One cache line.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct CachePadded<T>(pub T);

/// Tunables, from `G6_EMISSION_BATCH_*` (defaults of the original G6 batcher).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `G6_METRICS_BATCH_ENABLED`: batch at all.
    pub enabled: bool,
    /// `G6_EMISSION_BATCH_TARGET_INTERVAL_MS` (200): the flush period the target aims for.
    pub target_interval: Duration,
    /// `G6_EMISSION_BATCH_MIN_SIZE` (50): smallest target.
    pub min_batch: f64,
    /// `G6_EMISSION_BATCH_MAX_SIZE` (5000): largest target.
    pub max_batch: f64,
    /// `G6_EMISSION_BATCH_ALPHA` (0.3): EWMA weight of a new rate sample.
    pub alpha: f64,
    /// `G6_EMISSION_BATCH_DECAY_ALPHA_IDLE` (0.6): weight when the rate is near idle.
    pub decay_alpha_idle: f64,
    /// `G6_EMISSION_BATCH_UNDER_UTIL_THRESHOLD` (0.3).
    pub under_util_threshold: f64,
    /// `G6_EMISSION_BATCH_UNDER_UTIL_CONSEC` (3).
    pub under_util_consec: u32,
    /// `G6_EMISSION_BATCH_MAX_WAIT_MS` (750): longest an entry waits.
    pub max_wait: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: false,
            target_interval: Duration::from_millis(200),
            min_batch: 50.0,
            max_batch: 5000.0,
            alpha: 0.3,
            decay_alpha_idle: 0.6,
            under_util_threshold: 0.3,
            under_util_consec: 3,
            max_wait: Duration::from_millis(750),
        }
    }
}

fn env_num(name: &str, default: f64) -> f64 {
    match std::env::var(name) {
        Ok(v) => match v.trim().parse::<f64>() {
            Ok(n) if n.is_finite() && n >= 0.0 => n,
            _ => {
                tracing::warn!(variable = name, value = %v, default, "ignoring an invalid batcher setting");
                default
            }
        },
        Err(_) => default,
    }
}

impl Config {
    /// Read the environment.
    pub fn from_env() -> Self {
        let d = Config::default();
        let min_batch = env_num("G6_EMISSION_BATCH_MIN_SIZE", d.min_batch).max(1.0);
        Config {
            enabled: crate::flag::env_flag("G6_METRICS_BATCH_ENABLED"),
            target_interval: Duration::from_millis(
                env_num("G6_EMISSION_BATCH_TARGET_INTERVAL_MS", 200.0).max(1.0) as u64,
            ),
            min_batch,
            max_batch: env_num("G6_EMISSION_BATCH_MAX_SIZE", d.max_batch).max(min_batch),
            alpha: env_num("G6_EMISSION_BATCH_ALPHA", d.alpha).clamp(0.01, 1.0),
            decay_alpha_idle: env_num("G6_EMISSION_BATCH_DECAY_ALPHA_IDLE", d.decay_alpha_idle)
                .clamp(0.01, 1.0),
            under_util_threshold: env_num(
                "G6_EMISSION_BATCH_UNDER_UTIL_THRESHOLD",
                d.under_util_threshold,
            ),
            under_util_consec: env_num("G6_EMISSION_BATCH_UNDER_UTIL_CONSEC", 3.0).max(1.0) as u32,
            max_wait: Duration::from_millis(env_num("G6_EMISSION_BATCH_MAX_WAIT_MS", 750.0) as u64),
        }
    }
}

/// The adaptive batch target.
#[derive(Debug, Clone, PartialEq)]
pub struct Adaptive {
    config: Config,
    /// Smoothed merge rate, entries per second.
    pub ewma_rate: f64,
    /// Current target, entries per flush.
    pub target: f64,
    /// Entries of the last flush divided by the target it was measured against.
    pub utilization: f64,
    under_util_streak: u32,
}

impl Adaptive {
    /// Start at the minimum target.
    pub fn new(config: Config) -> Self {
        Adaptive {
            target: config.min_batch,
            ewma_rate: 0.0,
            utilization: 0.0,
            under_util_streak: 0,
            config,
        }
    }

    /// Account for a flush that merged `merged` entries `elapsed` after the previous one.
    pub fn record(&mut self, merged: usize, elapsed: Duration) {
        let c = &self.config;
        let secs = elapsed.as_secs_f64().max(1e-3);
        let rate = merged as f64 / secs;
        let idle_rate = c.min_batch / c.target_interval.as_secs_f64() / 4.0;
        let alpha = if rate < idle_rate {
            c.decay_alpha_idle
        } else {
            c.alpha
        };
        self.ewma_rate = alpha * rate + (1.0 - alpha) * self.ewma_rate;
        self.utilization = merged as f64 / self.target.max(1.0);
        let mut target =
            (self.ewma_rate * c.target_interval.as_secs_f64()).clamp(c.min_batch, c.max_batch);
        if self.utilization < c.under_util_threshold {
            self.under_util_streak += 1;
            if self.under_util_streak >= c.under_util_consec {
                target = (target.min(self.target) * 0.75).max(c.min_batch);
                self.under_util_streak = 0;
            }
        } else {
            self.under_util_streak = 0;
        }
        self.target = target.clamp(c.min_batch, c.max_batch);
    }
}

/// Something holding pending deltas (a metric store).
pub trait Flush: Sync {
    /// Merge every pending delta; return how many non-empty cells were merged.
    fn flush_pending(&self) -> usize;
}

struct State {
    adaptive: Adaptive,
    last_flush: Instant,
}

struct Batcher {
    config: Config,
    pending: AtomicUsize,
    oldest_pending_ms: AtomicU64,
    epoch: Instant,
    state: Mutex<State>,
    wake: Condvar,
    wake_lock: Mutex<bool>,
    started: AtomicBool,
}

/// The batcher's settings: installed ([`crate::Settings`]) or the environment's.
static CONFIG: once_cell::sync::OnceCell<Config> = once_cell::sync::OnceCell::new();

/// Install the batcher's settings; false when they are in use already.
pub(crate) fn install_config(config: Config) -> bool {
    CONFIG.set(config).is_ok()
}

static BATCHER: Lazy<Batcher> = Lazy::new(|| {
    let config = CONFIG.get_or_init(Config::from_env).clone();
    Batcher {
        state: Mutex::new(State {
            adaptive: Adaptive::new(config.clone()),
            last_flush: Instant::now(),
        }),
        config,
        pending: AtomicUsize::new(0),
        oldest_pending_ms: AtomicU64::new(u64::MAX),
        epoch: Instant::now(),
        wake: Condvar::new(),
        wake_lock: Mutex::new(false),
        started: AtomicBool::new(false),
    }
});

static STORES: Lazy<Mutex<Vec<&'static dyn Flush>>> = Lazy::new(Default::default);

/// True when new series are created batched.
pub fn enabled() -> bool {
    BATCHER.config.enabled
}

/// True when series of `info` are created batched: batching is on and the metric is
/// not one of the batcher's own (those must be current when a flush reports them).
pub fn batched_metric(info: &crate::MetricInfo) -> bool {
    enabled()
        && matches!(
            info.kind,
            crate::MetricKind::Counter
                | crate::MetricKind::FloatCounter
                | crate::MetricKind::Histogram
        )
        && !crate::self_metrics::get().is_some_and(|sm| sm.is_batcher_metric(info))
}

/// The settings in force.
pub fn config() -> Config {
    BATCHER.config.clone()
}

/// Register a store whose series may hold pending deltas.
pub(crate) fn register(store: &'static dyn Flush) {
    STORES.lock().unwrap_or_else(|p| p.into_inner()).push(store);
    ensure_flusher();
}

static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

/// Flushes what this thread left pending when it exits.
struct ThreadExit;

impl Drop for ThreadExit {
    fn drop(&mut self) {
        if BATCHER.pending.load(Ordering::Relaxed) > 0 {
            flush(FlushTrigger::ThreadExit);
        }
    }
}

thread_local! {
    static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
    static EXIT_GUARD: ThreadExit = const { ThreadExit };
}

/// This thread's shard.
#[inline]
pub fn shard() -> usize {
    SHARD.with(|s| {
        let v = s.get();
        if v != usize::MAX {
            return v;
        }
        let v = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % shard_count();
        s.set(v);
        // Touch the guard so its destructor runs at thread exit.
        EXIT_GUARD.with(|_| {});
        v
    })
}

/// A cell went from empty to non-empty: one more pending entry.
#[cold]
pub fn note_pending() {
    let b = &*BATCHER;
    let n = b.pending.fetch_add(1, Ordering::Relaxed) + 1;
    if n == 1 {
        let now = b.epoch.elapsed().as_millis() as u64;
        let _ = b.oldest_pending_ms.compare_exchange(
            u64::MAX,
            now,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
    if n as f64 >= b.config.max_batch * 4.0 {
        // The flusher is behind: merge on this thread rather than let pending grow.
        flush(FlushTrigger::Full);
    } else if n == b.config.min_batch as usize || n % 1024 == 0 {
        wake_flusher();
    }
}

/// `merged` pending cells were cleared outside a flush (a reused handle's reset):
/// take them off the pending count as a flush would.
pub(crate) fn forget_pending(merged: usize) {
    if merged == 0 {
        return;
    }
    let _ = BATCHER
        .pending
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |p| {
            Some(p.saturating_sub(merged))
        });
}

fn wake_flusher() {
    let b = &*BATCHER;
    if let Ok(mut flag) = b.wake_lock.try_lock() {
        *flag = true;
        b.wake.notify_one();
    }
}

fn ensure_flusher() {
    let b = &*BATCHER;
    if !b.config.enabled || b.started.swap(true, Ordering::AcqRel) {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("g6-batch-flusher".into())
        .spawn(|| {
            let b = &*BATCHER;
            loop {
                let tick = Duration::from_millis(10);
                {
                    let guard = b.wake_lock.lock().unwrap_or_else(|p| p.into_inner());
                    let (mut guard, _) = b
                        .wake
                        .wait_timeout(guard, tick)
                        .unwrap_or_else(|p| p.into_inner());
                    *guard = false;
                }
                if let Some(trigger) = due() {
                    flush(trigger);
                }
            }
        });
    if let Err(e) = spawned {
        // Without the thread, scrapes and thread exits still flush.
        tracing::error!(error = %e, "cannot start the batch flusher thread");
    }
}

/// Which trigger, if any, says to flush now.
fn due() -> Option<FlushTrigger> {
    let b = &*BATCHER;
    let pending = b.pending.load(Ordering::Relaxed);
    if pending == 0 {
        return None;
    }
    let (target, since_flush) = {
        let s = b.state.lock().unwrap_or_else(|p| p.into_inner());
        (s.adaptive.target, s.last_flush.elapsed())
    };
    let oldest = b.oldest_pending_ms.load(Ordering::Relaxed);
    let waited =
        b.epoch.elapsed().as_millis() as u64 - oldest.min(b.epoch.elapsed().as_millis() as u64);
    if pending as f64 >= target {
        Some(FlushTrigger::Target)
    } else if oldest != u64::MAX && waited >= b.config.max_wait.as_millis() as u64 {
        Some(FlushTrigger::MaxWait)
    } else if since_flush >= b.config.target_interval {
        Some(FlushTrigger::Timer)
    } else {
        None
    }
}

/// Merge every pending delta now. Returns the number of entries merged.
pub fn flush(trigger: FlushTrigger) -> usize {
    let b = &*BATCHER;
    if !b.config.enabled {
        return 0;
    }
    let started = Instant::now();
    let mut state = b.state.lock().unwrap_or_else(|p| p.into_inner());
    let depth = b.pending.load(Ordering::Relaxed);
    b.oldest_pending_ms.store(u64::MAX, Ordering::Relaxed);
    let stores: Vec<&'static dyn Flush> = STORES.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let merged: usize = stores.iter().map(|s| s.flush_pending()).sum();
    // Cells filled again since we swapped them are counted anew by note_pending.
    let _ = b
        .pending
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |p| {
            Some(p.saturating_sub(merged))
        });
    let elapsed = state.last_flush.elapsed();
    state.last_flush = Instant::now();
    state.adaptive.record(merged, elapsed);
    let (target, utilization) = (state.adaptive.target, state.adaptive.utilization);
    drop(state);
    if let Some(sm) = crate::self_metrics::get() {
        sm.metrics_batch_queue_depth.get(0).set(depth as f64);
        sm.metrics_batch_flushes_total.get(trigger.index()).inc();
        sm.metrics_batch_merged_total.get(0).inc_by(merged as u64);
        sm.metrics_batch_adaptive_target.get(0).set(target);
        sm.metrics_batch_adaptive_utilization
            .get(0)
            .set(utilization);
        sm.metrics_batch_flush_duration_seconds
            .get(0)
            .observe(started.elapsed().as_secs_f64());
    }
    merged
}

/// The current adaptive target (entries per flush).
pub fn target() -> f64 {
    BATCHER
        .state
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .adaptive
        .target
}

/// Entries pending right now.
pub fn pending() -> usize {
    BATCHER.pending.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adaptive() -> Adaptive {
        Adaptive::new(Config {
            enabled: true,
            ..Config::default()
        })
    }

    #[test]
    fn target_rises_under_load_and_stays_below_max() {
        let mut a = adaptive();
        assert_eq!(a.target, 50.0);
        let mut last = a.target;
        for _ in 0..20 {
            // 10,000 entries per 200 ms flush: 50,000/s.
            a.record(10_000, Duration::from_millis(200));
            assert!(a.target >= last, "target must not fall under rising load");
            last = a.target;
        }
        assert_eq!(a.target, 5000.0, "capped at max");
    }

    #[test]
    fn target_falls_when_idle_and_stays_above_min() {
        let mut a = adaptive();
        for _ in 0..20 {
            a.record(10_000, Duration::from_millis(200));
        }
        let loaded = a.target;
        for _ in 0..30 {
            a.record(1, Duration::from_millis(200));
        }
        assert!(
            a.target < loaded / 10.0,
            "{} did not fall from {loaded}",
            a.target
        );
        assert_eq!(a.target, 50.0, "floored at min");
        assert!(a.utilization < 0.3);
    }

    #[test]
    fn sustained_under_utilisation_cuts_the_target() {
        let mut a = adaptive();
        for _ in 0..10 {
            a.record(4000, Duration::from_millis(200));
        }
        // A steady rate whose EWMA target stays high but whose flushes are small:
        // after 3 under-utilised flushes the target is cut by a quarter.
        let before = a.target;
        a.record(100, Duration::from_millis(10));
        a.record(100, Duration::from_millis(10));
        let two = a.target;
        a.record(100, Duration::from_millis(10));
        assert!(
            a.target <= two * 0.75 + 1e-9 || a.target == 50.0,
            "{before} -> {two} -> {}",
            a.target
        );
    }
}
