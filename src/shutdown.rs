//! Stopping the app's parts: one signal seen by async tasks (a tokio-util
//! [`CancellationToken`]) and by the app's own threads (a condition variable that
//! wakes them at once), so no part polls a flag or sleeps in small steps to notice it.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// A stop signal: cheap to clone, set once, seen everywhere at once.
#[derive(Clone, Debug, Default)]
pub struct Stop {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    token: CancellationToken,
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Stop {
    /// A signal not yet given.
    pub fn new() -> Self {
        Self::default()
    }

    /// Give the signal: every waiter, async or thread, wakes now. Idempotent.
    pub fn stop(&self) {
        *self.lock() = true;
        self.inner.wake.notify_all();
        self.inner.token.cancel();
    }

    /// True once [`Stop::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.inner.token.is_cancelled()
    }

    /// Resolves once stopped (for async tasks and `select!`).
    pub async fn stopped(&self) {
        self.inner.token.cancelled().await;
    }

    /// The token, for tasks that take a [`CancellationToken`].
    pub fn token(&self) -> CancellationToken {
        self.inner.token.clone()
    }

    /// Wait on this thread for `timeout` or until stopped, whichever comes first;
    /// true when stopped. A thread's "sleep until the next cycle".
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut stopped = self.lock();
        while !*stopped {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            stopped = match self.inner.wake.wait_timeout(stopped, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, bool> {
        // A panicking waiter cannot leave the flag half-written.
        self.inner
            .stopped
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiting_thread_wakes_when_stopped_not_at_its_timeout() {
        let stop = Stop::new();
        let waiter = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                (
                    stop.wait_timeout(Duration::from_secs(60)),
                    started.elapsed(),
                )
            })
        };
        stop.stop();
        let (stopped, waited) = waiter.join().unwrap();
        assert!(stopped);
        assert!(waited < Duration::from_secs(30), "woke by the signal");
        assert!(stop.is_stopped());
        assert!(stop.wait_timeout(Duration::from_secs(60)), "stays stopped");
    }

    #[test]
    fn an_unstopped_wait_returns_false_after_its_timeout() {
        let stop = Stop::new();
        let started = Instant::now();
        assert!(!stop.wait_timeout(Duration::from_millis(30)));
        assert!(started.elapsed() >= Duration::from_millis(30));
        assert!(!stop.is_stopped());
    }

    #[test]
    fn async_waiters_see_the_same_signal() {
        let stop = Stop::new();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let token = stop.token();
        stop.stop();
        rt.block_on(async {
            stop.stopped().await;
            token.cancelled().await;
        });
    }
}
