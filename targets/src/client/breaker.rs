//! A circuit breaker for one caller → dependency edge.
//!
//! Hand-written rather than taken from `tower-resilience`: that crate is pre-1.0, and what the
//! platform needs is small — a failure ratio over a fixed window opens the breaker, an open
//! breaker fails calls at once (so the caller's fallback answers without waiting for a timeout),
//! and after `open_for` one probe call decides between closing and opening again.

use crate::guards::GuardCounters;
use crate::topology::BreakerSpec;
use std::sync::{Arc, Mutex};
use tokio::time::Instant;

#[derive(Debug)]
enum State {
    /// Counting calls and failures since `since`.
    Closed { since: Instant, calls: u32, failures: u32 },
    /// Failing fast until `until`.
    Open { until: Instant },
    /// One probe is out; the others fail fast.
    HalfOpen,
}

/// The breaker of one edge (shared by the caller's clones).
#[derive(Debug)]
pub struct Breaker {
    spec: BreakerSpec,
    state: Mutex<State>,
    counters: Arc<GuardCounters>,
}

/// The breaker refused the call.
#[derive(Debug, thiserror::Error)]
#[error("circuit breaker open")]
pub struct BreakerOpen;

impl Breaker {
    /// A closed breaker.
    pub fn new(spec: BreakerSpec, counters: Arc<GuardCounters>) -> Self {
        Self { spec, state: Mutex::new(State::Closed { since: Instant::now(), calls: 0, failures: 0 }), counters }
    }

    /// Whether a call may go out now (an open breaker lets one probe through after `open_for`).
    pub fn allow(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let allowed = match *state {
            State::Closed { .. } => true,
            State::Open { until } if Instant::now() >= until => {
                *state = State::HalfOpen;
                true
            }
            State::Open { .. } | State::HalfOpen => false,
        };
        if !allowed {
            self.counters.short_circuit();
        }
        allowed
    }

    /// Records the outcome of an allowed call.
    pub fn record(&self, ok: bool) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let open = State::Open { until: now + self.spec.open_for };
        *state = match *state {
            State::HalfOpen if ok => State::Closed { since: now, calls: 0, failures: 0 },
            State::HalfOpen => {
                self.counters.breaker_open();
                open
            }
            State::Closed { since, calls, failures } => {
                let (since, calls, failures) =
                    if now - since > self.spec.window { (now, 0, 0) } else { (since, calls, failures) };
                let (calls, failures) = (calls + 1, failures + u32::from(!ok));
                if calls >= self.spec.min_calls && f64::from(failures) / f64::from(calls) >= self.spec.failure_ratio {
                    self.counters.breaker_open();
                    open
                } else {
                    State::Closed { since, calls, failures }
                }
            }
            State::Open { until } => State::Open { until },
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn breaker() -> (Breaker, Arc<GuardCounters>) {
        let spec = BreakerSpec {
            failure_ratio: 0.5,
            min_calls: 4,
            window: Duration::from_secs(10),
            open_for: Duration::from_secs(5),
        };
        let counters = Arc::new(GuardCounters::default());
        (Breaker::new(spec, counters.clone()), counters)
    }

    #[tokio::test(start_paused = true)]
    async fn it_opens_on_failures_fails_fast_then_probes_and_closes() {
        let (b, counters) = breaker();
        for ok in [true, false, false, false] {
            assert!(b.allow());
            b.record(ok);
        }
        assert!(!b.allow(), "3 of 4 failed: open");
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(b.allow(), "one probe after open_for");
        assert!(!b.allow(), "only one");
        b.record(false);
        assert!(!b.allow(), "a failed probe opens it again");
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(b.allow());
        b.record(true);
        assert!(b.allow() && b.allow(), "a good probe closes it");
        let s = counters.snapshot("a", "b");
        assert_eq!((s.breaker_opens, s.short_circuited), (2, 3));
    }

    #[tokio::test(start_paused = true)]
    async fn too_few_calls_or_an_old_window_do_not_open_it() {
        let (b, _) = breaker();
        for _ in 0..3 {
            b.record(false);
        }
        assert!(b.allow(), "3 calls < min_calls");
        tokio::time::advance(Duration::from_secs(11)).await;
        b.record(false);
        assert!(b.allow(), "the window started over");
    }
}
