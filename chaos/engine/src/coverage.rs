//! Guard coverage gates: an experiment that never exercised the guard it was written for proves
//! nothing, so a gate can require a guard to have fired.

use crate::report::PhaseReport;
use crate::verdict::Outcome;
use serde::{Deserialize, Serialize};
use targets::GuardStats;

/// `{ guard: edge/recommendations/fallback, at_least: 100 }`: the guard fired at least that often
/// over the run. Kinds counted: `fallback`, `retries`, `budget` (retries it refused),
/// `ejection`, `breaker` (times it opened), `timeout` (tries that ran out of time); the player's
/// `player/failover` (CDN failovers), `player/adaptive` (down-switches, abandoned downloads
/// included) and `player/stall_abort` (stalled downloads aborted). The callee may be `*`.
#[derive(schemars::JsonSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoverageGate {
    /// The guard.
    pub guard: String,
    /// Fewest times it must have fired (default 1).
    #[serde(default = "one")]
    pub at_least: u64,
    /// Largest retry amplification (tries per call) allowed on the guard's edges: a retry storm
    /// kept in check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amplification_at_most: Option<f64>,
}

fn one() -> u64 {
    1
}

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

    fn count(&self, guard: &str) -> Option<u64> {
        let kind = guard.strip_prefix("player/")?;
        PLAYER_KINDS.iter().find(|(k, _)| *k == kind).map(|(_, count)| count(self))
    }
}

/// A guard kind's name and where its count is read.
type Kind<T> = (&'static str, fn(&T) -> u64);

/// The player's guard kinds (`player/KIND`) and their counters.
const PLAYER_KINDS: [Kind<PlayerGuards>; 3] =
    [("failover", |p| p.failover), ("adaptive", |p| p.adaptive), ("stall_abort", |p| p.stall_abort)];

/// The kinds of a caller → callee edge (`CALLER/CALLEE/KIND`) and their counters.
const EDGE_KINDS: [Kind<GuardStats>; 6] = [
    ("fallback", |g| g.fallbacks),
    ("retries", |g| g.retries),
    ("budget", |g| g.retries_denied_by_budget),
    ("ejection", |g| g.ejections),
    ("breaker", |g| g.breaker_opens),
    ("timeout", |g| g.timeouts),
];

/// `CALLER/CALLEE/fallback|retries|… or player/failover|…`, from the tables.
fn kinds() -> String {
    let names = |ks: &[&str]| ks.join("|");
    let edge: Vec<&str> = EDGE_KINDS.iter().map(|(k, _)| *k).collect();
    let player: Vec<&str> = PLAYER_KINDS.iter().map(|(k, _)| *k).collect();
    format!("CALLER/CALLEE/{} or player/{}", names(&edge), names(&player))
}

fn edge_kind(kind: &str) -> Option<fn(&GuardStats) -> u64> {
    EDGE_KINDS.iter().find(|(k, _)| *k == kind).map(|(_, count)| *count)
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
    /// Checks the guard's name (the counters exist for these kinds only).
    pub fn validate(&self) -> Result<(), String> {
        if self.amplification_at_most.is_some_and(|a| a.is_nan() || a < 1.0) {
            return Err("amplification_at_most must be >= 1 (one try per call)".into());
        }
        if PlayerGuards::default().count(&self.guard).is_some() {
            return Ok(());
        }
        match self.guard.split('/').collect::<Vec<_>>()[..] {
            [_, _, kind] if edge_kind(kind).is_some() => Ok(()),
            _ => Err(format!("`{}`: coverage counts {}", self.guard, kinds())),
        }
    }

    /// How often the guard fired, from the guards' counters and the player's.
    pub fn count(&self, guards: &[GuardStats], player: &PlayerGuards) -> u64 {
        if let Some(n) = player.count(&self.guard) {
            return n;
        }
        let parts: Vec<&str> = self.guard.split('/').collect();
        let [caller, callee, kind] = parts[..] else { return 0 };
        let Some(count) = edge_kind(kind) else { return 0 };
        guards.iter().filter(|g| g.caller == caller && (callee == "*" || g.callee == callee)).map(count).sum()
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
        let parts: Vec<&str> = self.guard.split('/').collect();
        let edges = guards
            .iter()
            .filter(|g| parts.len() == 3 && g.caller == parts[0] && (parts[1] == "*" || g.callee == parts[1]));
        let (calls, retries) = edges.fold((0, 0), |(c, r), g| (c + g.calls, r + g.retries));
        if calls == 0 { 1.0 } else { (calls + retries) as f64 / calls as f64 }
    }
}
