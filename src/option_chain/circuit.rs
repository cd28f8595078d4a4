//! The provider's circuit breaker: after `failures` failed cycles in a row it opens and
//! the provider is not called for a cool-down (the fallback serves, if enabled); then
//! one probe (half-open) closes it on success or opens it again for twice as long (at
//! most [`MAX_COOLDOWN`]).

use std::time::Duration;

/// Failed cycles in a row that open the circuit.
pub const DEFAULT_FAILURES: u32 = 5;
/// The first cool-down.
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(30);
/// The longest cool-down.
pub const MAX_COOLDOWN: Duration = Duration::from_secs(300);

/// Where the breaker is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum State {
    /// Calls go through.
    Closed,
    /// No calls until this Unix time.
    Open {
        /// When the next probe may go.
        until: f64,
    },
    /// One probe call is going through.
    HalfOpen,
}

/// A circuit breaker.
#[derive(Debug, Clone)]
pub struct Breaker {
    failures: u32,
    first_cooldown: f64,
    cooldown: f64,
    in_a_row: u32,
    state: State,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker::new(DEFAULT_FAILURES, DEFAULT_COOLDOWN)
    }
}

impl Breaker {
    /// A breaker that opens after `failures` failures in a row for `cooldown`.
    pub fn new(failures: u32, cooldown: Duration) -> Self {
        Breaker {
            failures: failures.max(1),
            first_cooldown: cooldown.as_secs_f64(),
            cooldown: cooldown.as_secs_f64(),
            in_a_row: 0,
            state: State::Closed,
        }
    }

    /// The state now.
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether the provider may be called at `now` (Unix seconds): closed, or open
    /// past its cool-down (the call is the half-open probe).
    pub fn allow(&mut self, now: f64) -> bool {
        match self.state {
            State::Closed | State::HalfOpen => true,
            State::Open { until } if now >= until => {
                self.state = State::HalfOpen;
                true
            }
            State::Open { .. } => false,
        }
    }

    /// Record a call's outcome at `now`. Returns true when this opened the circuit.
    pub fn record(&mut self, ok: bool, now: f64) -> bool {
        match (self.state, ok) {
            (_, true) => {
                self.state = State::Closed;
                self.in_a_row = 0;
                self.cooldown = self.first_cooldown;
                false
            }
            (State::HalfOpen, false) => {
                self.cooldown = (self.cooldown * 2.0).min(MAX_COOLDOWN.as_secs_f64());
                self.state = State::Open {
                    until: now + self.cooldown,
                };
                true
            }
            (_, false) => {
                self.in_a_row += 1;
                if self.in_a_row >= self.failures && self.state == State::Closed {
                    self.state = State::Open {
                        until: now + self.cooldown,
                    };
                    return true;
                }
                false
            }
        }
    }

    /// Whether calls are held back (open, or open and probing).
    pub fn is_open(&self) -> bool {
        self.state != State::Closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_n_failures_probes_after_the_cooldown_and_doubles_it_on_a_failed_probe() {
        let mut b = Breaker::new(3, Duration::from_secs(30));
        for t in 0..2 {
            assert!(b.allow(f64::from(t)));
            assert!(!b.record(false, f64::from(t)));
        }
        assert!(b.allow(2.0));
        assert!(b.record(false, 2.0), "the third failure opens it");
        assert!(!b.allow(10.0), "held back during the cool-down");
        assert!(b.allow(32.0), "a probe after 30 s");
        assert_eq!(b.state(), State::HalfOpen);
        assert!(b.record(false, 32.0));
        assert!(!b.allow(32.0 + 59.0), "60 s after a failed probe");
        assert!(b.allow(32.0 + 60.0));
        assert!(!b.record(true, 92.0));
        assert_eq!(b.state(), State::Closed);
        // A success resets the count and the cool-down.
        for t in 0..2 {
            b.record(false, 100.0 + f64::from(t));
        }
        assert!(b.record(false, 103.0));
        assert_eq!(b.state(), State::Open { until: 133.0 });
    }
}
