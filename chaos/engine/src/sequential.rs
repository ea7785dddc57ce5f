//! A sequential probability ratio test (Wald's SPRT) on play success (request success for the HTTP
//! workload): the run may stop as soon as
//! the evidence says "good" or "bad" with the chosen error rates, instead of always running its
//! full length.

use crate::kpi::{Phase, Workload};
use crate::record::Recorder;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::time::Duration;

pub use crate::experiment::gates::Sequential;

/// What the test decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// The evidence favours `good`.
    Good,
    /// The evidence favours `bad`.
    Bad,
}

/// The test's outcome, when it decided before the end.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SequentialResult {
    /// What it decided.
    pub decision: Decision,
    /// When, seconds from the end of warm-up.
    pub at_s: f64,
    /// Plays counted (HTTP workload: requests, dropped arrivals included).
    pub plays: u64,
    /// Of which failed.
    pub failures: u64,
    /// The log-likelihood ratio (bad over good) at the decision, and the bounds it crossed.
    pub llr: f64,
    /// Lower bound (accept good) and upper bound (accept bad).
    pub bounds: (f64, f64),
}

impl Sequential {
    /// (accept-good bound, accept-bad bound) of the log-likelihood ratio.
    pub fn bounds(&self) -> (f64, f64) {
        ((self.beta / (1.0 - self.alpha)).ln(), ((1.0 - self.beta) / self.alpha).ln())
    }

    /// The log-likelihood ratio of "bad" over "good" after `ok` successes and `failed` failures.
    pub fn llr(&self, ok: u64, failed: u64) -> f64 {
        ok as f64 * (self.bad / self.good).ln() + failed as f64 * ((1.0 - self.bad) / (1.0 - self.good)).ln()
    }

    /// The decision the counts support, if any.
    pub fn decide(&self, ok: u64, failed: u64) -> Option<Decision> {
        let (lo, hi) = self.bounds();
        let llr = self.llr(ok, failed);
        (llr >= hi).then_some(Decision::Bad).or((llr <= lo).then_some(Decision::Good))
    }
}

/// Watches `phase` every 250 ms (sessions a second old, so they have finished) until `done`
/// resolves or the test decides.
pub async fn watch(
    test: Option<&Sequential>,
    workload: Workload,
    phase: Phase,
    recorder: &Recorder,
    done: impl Future<Output = ()>,
) -> Option<SequentialResult> {
    let Some(test) = test else {
        done.await;
        return None;
    };
    tokio::pin!(done);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            biased;
            _ = &mut done => return None,
            _ = tick.tick() => {}
        }
        let now = recorder.now_s();
        let (from, to) = recorder.bounds().span(phase)?;
        let settled = Duration::from_secs_f64((now - 1.0).max(0.0)).min(to);
        if settled <= from {
            continue;
        }
        let stats = recorder.window(from.as_secs(), settled.as_secs());
        let (ok, tries) = stats.successes(workload);
        let failed = tries - ok;
        if let Some(decision) = test.decide(ok, failed) {
            return Some(SequentialResult {
                decision,
                at_s: now,
                plays: tries,
                failures: failed,
                llr: test.llr(ok, failed),
                bounds: test.bounds(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test() -> Sequential {
        Sequential { good: 0.99, bad: 0.9, alpha: 0.01, beta: 0.01 }
    }

    #[test]
    fn clear_evidence_decides_and_thin_evidence_waits() {
        let t = test();
        assert_eq!(t.decide(10, 0), None, "ten good plays are not yet enough");
        assert_eq!(t.decide(200, 0), Some(Decision::Good));
        assert_eq!(t.decide(20, 5), Some(Decision::Bad));
        assert_eq!(t.decide(95, 5), None, "5 % failures sit between 1 % and 10 %");
    }

    #[test]
    fn parameters_must_make_sense() {
        assert!(test().validate().is_ok());
        assert!(Sequential { bad: 0.995, ..test() }.validate().is_err());
        assert!(Sequential { alpha: 0.0, ..test() }.validate().is_err());
    }
}
