//! Guard coverage gates: an experiment that never exercised the guard it was written for proves
//! nothing, so a gate can require a guard to have fired.

use crate::experiment::gates::{EdgeGuard, Guard, PlayerGuard};
use crate::report::PhaseReport;
use crate::verdict::Outcome;
use serde::{Deserialize, Serialize};
use targets::GuardStats;

pub use crate::experiment::gates::CoverageGate;

/// How often the player's guards fired over the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlayerGuards {
    /// CDN failovers.
    pub failover: u64,
    /// Down-switches.
    pub adaptive: u64,
    /// Stalled downloads aborted.
    pub stall_abort: u64,
}

impl PlayerGuards {
    /// The player's guard counts of a phase.
    pub fn of(phase: &PhaseReport) -> Self {
        Self { failover: phase.failovers, adaptive: phase.qoe.down_switches, stall_abort: phase.qoe.stall_aborts }
    }

    fn count(&self, guard: PlayerGuard) -> u64 {
        match guard {
            PlayerGuard::Failover => self.failover,
            PlayerGuard::Adaptive => self.adaptive,
            PlayerGuard::StallAbort => self.stall_abort,
        }
    }
}

/// The counter of an edge's guard.
fn edge_count(guard: &GuardStats, kind: EdgeGuard) -> u64 {
    match kind {
        EdgeGuard::Fallback => guard.fallbacks,
        EdgeGuard::Retries => guard.retries,
        EdgeGuard::Budget => guard.retries_denied_by_budget,
        EdgeGuard::Ejection => guard.ejections,
        EdgeGuard::Breaker => guard.breaker_opens,
        EdgeGuard::Timeout => guard.timeouts,
    }
}

/// The edges `caller → callee` (`*`: any callee) among `guards`.
fn edges<'g>(guards: &'g [GuardStats], caller: &str, callee: &str) -> impl Iterator<Item = &'g GuardStats> {
    guards.iter().filter(move |g| g.caller == caller && (callee == "*" || g.callee == callee))
}

/// A coverage gate, checked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CoverageResult {
    /// The guard.
    pub guard: String,
    /// The bound.
    pub at_least: u64,
    /// How often it fired.
    pub observed: u64,
    /// Tries per call on the guard's edges, when bounded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amplification: Option<f64>,
    /// The bound on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amplification_at_most: Option<f64>,
    /// Pass or fail.
    pub outcome: Outcome,
}

impl CoverageGate {
    /// How often the guard fired, from the guards' counters and the player's.
    pub fn count(&self, guards: &[GuardStats], player: &PlayerGuards) -> u64 {
        match self.parsed() {
            Ok(Guard::Player(kind)) => player.count(kind),
            Ok(Guard::Edge { caller, callee, kind }) => {
                edges(guards, caller, callee).map(|g| edge_count(g, kind)).sum()
            }
            Err(_) => 0,
        }
    }

    /// The gate, checked.
    pub fn evaluate(&self, guards: &[GuardStats], player: &PlayerGuards) -> CoverageResult {
        let observed = self.count(guards, player);
        let amplification = self.amplification_at_most.map(|_| self.amplification(guards));
        let bounded = match (amplification, self.amplification_at_most) {
            (Some(a), Some(max)) => a <= max,
            _ => true,
        };
        let outcome = if observed >= self.at_least && bounded { Outcome::Pass } else { Outcome::Fail };
        CoverageResult {
            guard: self.guard.clone(),
            at_least: self.at_least,
            observed,
            amplification,
            amplification_at_most: self.amplification_at_most,
            outcome,
        }
    }

    /// Tries per call over the guard's edges (1.0 without calls).
    fn amplification(&self, guards: &[GuardStats]) -> f64 {
        let Ok(Guard::Edge { caller, callee, .. }) = self.parsed() else { return 1.0 };
        let (calls, retries) = edges(guards, caller, callee).fold((0, 0), |(c, r), g| (c + g.calls, r + g.retries));
        if calls == 0 { 1.0 } else { (calls + retries) as f64 / calls as f64 }
    }
}
