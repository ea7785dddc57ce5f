//! The format's statistical and coverage gates: `cohorts`, `sequential` and `coverage`. What the
//! engine computes for them lives in `crate::cohorts`, `crate::sequential` and `crate::coverage`.

use super::kpi::Workload;
use serde::{Deserialize, Serialize};

/// The experiment's cohort settings. Users are split by a stable hash of their id (the Play
/// workload's viewer, the HTTP workload's `{{user}}`); the gates compare what the two cohorts saw.
#[derive(schemars::JsonSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cohorts {
    /// Share of users in the experiment cohort, in (0, 1); faults reach only them.
    pub experiment: f64,
    /// Gate (Play workload): the experiment cohort's play success may be at most this far below
    /// control's (fails when the 95 % interval of the drop lies wholly above it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_play_success_drop: Option<f64>,
    /// Gate (Play workload): the Mann–Whitney test must not find the cohorts' TTFF different at
    /// this level (fails when p < ttff_min_p).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttff_min_p: Option<f64>,
    /// Gate (HTTP workload): the experiment cohort's request success may be at most this far
    /// below control's (fails when the 95 % interval of the drop lies wholly above it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_success_drop: Option<f64>,
    /// Gate (HTTP workload): the Mann–Whitney test must not find the cohorts' request latencies
    /// different at this level (fails when p < latency_min_p).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_min_p: Option<f64>,
}

impl Cohorts {
    /// The gates set, by key, with the workload each belongs to.
    pub fn gates(&self) -> [(&'static str, Option<f64>, Workload); 4] {
        [
            ("max_play_success_drop", self.max_play_success_drop, Workload::Play),
            ("ttff_min_p", self.ttff_min_p, Workload::Play),
            ("max_success_drop", self.max_success_drop, Workload::Http),
            ("latency_min_p", self.latency_min_p, Workload::Http),
        ]
    }
}

/// `sequential: { good: 0.995, bad: 0.98, alpha: 0.01, beta: 0.01 }`: tests "play success is
/// `good`" against "it is `bad`" on the starts of the fault window (of the run without faults);
/// for the HTTP workload, request success on its requests.
#[derive(schemars::JsonSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sequential {
    /// Play success ratio that counts as good.
    pub good: f64,
    /// Play success ratio that counts as bad (lower than `good`).
    pub bad: f64,
    /// Chance of calling a good system bad (default 0.01).
    #[serde(default = "one_percent")]
    pub alpha: f64,
    /// Chance of calling a bad system good (default 0.01).
    #[serde(default = "one_percent")]
    pub beta: f64,
}

fn one_percent() -> f64 {
    0.01
}

impl Sequential {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), String> {
        let unit = |p: f64| p > 0.0 && p < 1.0;
        if !(unit(self.good) && unit(self.bad) && self.bad < self.good) {
            return Err(format!("need 0 < bad < good < 1, got bad {} and good {}", self.bad, self.good));
        }
        if !(unit(self.alpha) && unit(self.beta)) {
            return Err("alpha and beta must be in (0, 1)".into());
        }
        Ok(())
    }
}

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

/// A guard a coverage gate counts, parsed from its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Guard<'a> {
    /// `CALLER/CALLEE/KIND`; the callee may be `*`.
    Edge {
        /// The calling service.
        caller: &'a str,
        /// The called service, or `*` for any.
        callee: &'a str,
        /// Which of the edge's guards.
        kind: EdgeGuard,
    },
    /// `player/KIND`.
    Player(PlayerGuard),
}

/// The guards of a caller → callee edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EdgeGuard {
    /// Fallbacks served.
    Fallback,
    /// Retries sent.
    Retries,
    /// Retries the budget refused.
    Budget,
    /// Replicas ejected.
    Ejection,
    /// Times the breaker opened.
    Breaker,
    /// Tries that ran out of time.
    Timeout,
}

/// The player's guards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlayerGuard {
    /// CDN failovers.
    Failover,
    /// Down-switches.
    Adaptive,
    /// Stalled downloads aborted.
    StallAbort,
}

impl EdgeGuard {
    const ALL: [(EdgeGuard, &str); 6] = [
        (EdgeGuard::Fallback, "fallback"),
        (EdgeGuard::Retries, "retries"),
        (EdgeGuard::Budget, "budget"),
        (EdgeGuard::Ejection, "ejection"),
        (EdgeGuard::Breaker, "breaker"),
        (EdgeGuard::Timeout, "timeout"),
    ];
}

impl PlayerGuard {
    const ALL: [(PlayerGuard, &str); 3] = [
        (PlayerGuard::Failover, "failover"),
        (PlayerGuard::Adaptive, "adaptive"),
        (PlayerGuard::StallAbort, "stall_abort"),
    ];
}

/// The kind named `name` in `table`.
fn find<T: Copy>(table: &[(T, &str)], name: &str) -> Option<T> {
    table.iter().find(|(_, n)| *n == name).map(|(kind, _)| *kind)
}

/// `CALLER/CALLEE/fallback|retries|… or player/failover|…`, from the tables.
fn kinds() -> String {
    let names = |ks: &[&str]| ks.join("|");
    let edge: Vec<&str> = EdgeGuard::ALL.iter().map(|(_, n)| *n).collect();
    let player: Vec<&str> = PlayerGuard::ALL.iter().map(|(_, n)| *n).collect();
    format!("CALLER/CALLEE/{} or player/{}", names(&edge), names(&player))
}

impl CoverageGate {
    /// The guard it counts, or why its name names none.
    pub fn parsed(&self) -> Result<Guard<'_>, String> {
        let unknown = || format!("`{}`: coverage counts {}", self.guard, kinds());
        match self.guard.split('/').collect::<Vec<_>>()[..] {
            ["player", kind] => find(&PlayerGuard::ALL, kind).map(Guard::Player).ok_or_else(unknown),
            [caller, callee, kind] => {
                find(&EdgeGuard::ALL, kind).map(|kind| Guard::Edge { caller, callee, kind }).ok_or_else(unknown)
            }
            _ => Err(unknown()),
        }
    }

    /// Checks the guard's name (the counters exist for these kinds only) and the bound.
    pub fn validate(&self) -> Result<(), String> {
        if self.amplification_at_most.is_some_and(|a| a.is_nan() || a < 1.0) {
            return Err("amplification_at_most must be >= 1 (one try per call)".into());
        }
        self.parsed().map(|_| ())
    }
}
