//! Runtime support for `#[safe_emit]`: catch panics and errors in emission code, count
//! them, and log them without flooding.
//!
//! The first failure of an emitter is logged with its error and counted once in
//! `<namespace>_emission_failure_once_total`; later failures are logged at most once a minute per
//! emitter, with how many were suppressed in between. The default panic hook's message is
//! suppressed inside `#[safe_emit]` bodies (we log the panic ourselves), and printed as
//! usual everywhere else.

use once_cell::sync::Lazy;
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt::Debug;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Mutex, Once};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// How often a failing emitter may log after its first failure.
pub const LOG_INTERVAL: Duration = Duration::from_secs(60);

thread_local! {
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    static LAST_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if DEPTH.with(Cell::get) > 0 {
                let loc = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()));
                LAST_LOCATION.with(|c| *c.borrow_mut() = loc);
            } else {
                previous(info);
            }
        }));
    });
}

struct Depth;

impl Depth {
    fn enter() -> Depth {
        DEPTH.with(|d| d.set(d.get() + 1));
        Depth
    }
}

impl Drop for Depth {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// Run `f`, catching a panic. Used by `#[safe_emit]` on sync functions.
pub fn catch_unwind<R>(f: impl FnOnce() -> R) -> Result<R, Box<dyn Any + Send>> {
    install_hook();
    let _depth = Depth::enter();
    panic::catch_unwind(AssertUnwindSafe(f))
}

/// A future that turns a panic while polling `F` into `Err`.
pub struct CatchUnwind<F> {
    inner: Pin<Box<F>>,
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.inner.as_mut();
        match catch_unwind(move || inner.poll(cx)) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(p) => Poll::Ready(Err(p)),
        }
    }
}

/// Wrap a future so a panic while polling it comes back as `Err`. Used by
/// `#[safe_emit]` on async functions; `T` pins the body's output type.
pub fn catch_unwind_future<F: Future<Output = T>, T>(f: F) -> CatchUnwind<F> {
    CatchUnwind { inner: Box::pin(f) }
}

/// Decides which occurrences of a repeated event are logged: the first, then at most
/// one per interval, each saying how many went unlogged since the last one logged.
/// `#[safe_emit]` logs failures through it; anything else that must not flood the log
/// (a stream of bad messages, say) can too.
#[derive(Debug, Clone)]
pub struct LogLimiter {
    interval: Duration,
    last_log: Option<Instant>,
    suppressed: u64,
}

impl LogLimiter {
    /// A limiter that lets one occurrence per `interval` through (after the first).
    pub const fn new(interval: Duration) -> Self {
        LogLimiter {
            interval,
            last_log: None,
            suppressed: 0,
        }
    }

    /// Record one occurrence at `now`. `Some(n)` when it is to be logged, `n` being the
    /// occurrences not logged since the last one that was; `None` when it is not.
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        match self.last_log {
            Some(at) if now.saturating_duration_since(at) < self.interval => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last_log = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }

    /// Occurrences not logged since the last one that was.
    pub fn suppressed(&self) -> u64 {
        self.suppressed
    }
}

impl Default for LogLimiter {
    /// One message per [`LOG_INTERVAL`].
    fn default() -> Self {
        LogLimiter::new(LOG_INTERVAL)
    }
}

#[derive(Default)]
struct EmitterState {
    failures: u64,
    log: LogLimiter,
}

static STATES: Lazy<Mutex<HashMap<&'static str, EmitterState>>> = Lazy::new(Default::default);

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

/// Create `emitter`'s failure series at zero (called once per `#[safe_emit]` function,
/// at its first call): an emitter that runs and never fails reads 0, not nothing.
pub fn warm(emitter: &'static str) {
    crate::self_metrics::with(move |sm| {
        sm.emission_failures_total.get(&[emitter]);
        sm.emission_failure_once_total.get(&[emitter]);
    });
}

/// Record a panic caught in `emitter`.
pub fn record_panic(emitter: &'static str, payload: Box<dyn Any + Send>) {
    let location = LAST_LOCATION.with(|c| c.borrow_mut().take());
    let message = match location {
        Some(loc) => format!("panic at {loc}: {}", panic_message(&*payload)),
        None => format!("panic: {}", panic_message(&*payload)),
    };
    record(emitter, &message);
}

/// Record an `Err` returned by `emitter`.
pub fn record_error<E: Debug>(emitter: &'static str, error: &E) {
    record(emitter, &format!("error: {error:?}"));
}

fn record(emitter: &'static str, error: &str) {
    crate::self_metrics::with(move |sm| sm.emission_failures_total.get(&[emitter]).inc());
    let mut states = STATES.lock().unwrap_or_else(|p| p.into_inner());
    let state = states.entry(emitter).or_default();
    state.failures += 1;
    let Some(suppressed) = state.log.allow(Instant::now()) else {
        return;
    };
    if state.failures == 1 {
        crate::self_metrics::with(move |sm| sm.emission_failure_once_total.get(&[emitter]).inc());
        tracing::warn!(
            emitter,
            error,
            "emission failed; the caller was not affected (first failure of this emitter)"
        );
    } else {
        tracing::warn!(
            emitter,
            error,
            suppressed,
            total = state.failures,
            "emission still failing; {suppressed} failures were not logged since the last message"
        );
    }
}

/// Failures recorded for `emitter` so far (0 when it never failed).
pub fn failures(emitter: &str) -> u64 {
    let states = STATES.lock().unwrap_or_else(|p| p.into_inner());
    states.get(emitter).map_or(0, |s| s.failures)
}

/// Every emitter that failed, with its failure count, sorted by name.
pub fn failing_emitters() -> Vec<(&'static str, u64)> {
    let states = STATES.lock().unwrap_or_else(|p| p.into_inner());
    let mut v: Vec<_> = states.iter().map(|(k, s)| (*k, s.failures)).collect();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_limiter_lets_the_first_through_then_one_per_interval_with_the_suppressed_count() {
        let mut log = LogLimiter::new(Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(log.allow(t0), Some(0), "the first is logged");
        for s in 1..=5 {
            assert_eq!(log.allow(t0 + Duration::from_secs(s)), None);
        }
        assert_eq!(log.suppressed(), 5);
        assert_eq!(
            log.allow(t0 + Duration::from_secs(60)),
            Some(5),
            "a minute on: logged, saying 5 were not"
        );
        assert_eq!(log.suppressed(), 0);
        assert_eq!(log.allow(t0 + Duration::from_secs(61)), None);
    }
}
