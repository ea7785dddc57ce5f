//! Checking KPI tolerances against the measured phases: steady-state hypothesis and gates.

use crate::experiment::{Check, Experiment};
use crate::kpi::{Kpi, Phase};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Whether the run passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every gate and hypothesis held.
    Passed,
    /// A gate or hypothesis failed.
    Failed,
    /// The run stopped early (signal, or the system was not steady before the faults).
    Aborted,
}

impl Status {
    /// The process exit code: 0 passed, 1 failed, 3 aborted (2 is bad input).
    pub fn exit_code(self) -> u8 {
        match self {
            Status::Passed => 0,
            Status::Failed => 1,
            Status::Aborted => 3,
        }
    }
}

/// Where a check comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// The steady-state hypothesis.
    SteadyState,
    /// A gate.
    Gate,
}

/// How a check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The bound held.
    Pass,
    /// The bound was broken, or a gate had no data to judge.
    Fail,
    /// A hypothesis on a phase without sessions.
    Skipped,
}

/// One check on one phase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// A readable name: the check's own or `kpi phase >= bound`.
    pub name: String,
    /// Hypothesis or gate.
    pub kind: CheckKind,
    /// The KPI.
    pub kpi: Kpi,
    /// The phase.
    pub phase: Phase,
    /// `at_least` or `at_most`.
    pub op: String,
    /// The bound, in the KPI's unit (ms for latencies).
    pub bound: f64,
    /// The measured value.
    pub observed: Option<f64>,
    /// The result.
    pub outcome: Outcome,
}

/// The phases a check applies to.
fn phases(exp: &Experiment, check: &Check, kind: CheckKind) -> Vec<Phase> {
    match (check.during, kind, exp.faults.is_empty()) {
        (Some(p), _, _) => vec![p],
        (None, CheckKind::Gate, _) | (None, CheckKind::SteadyState, true) => vec![Phase::Run],
        (None, CheckKind::SteadyState, false) => vec![Phase::Before, Phase::After],
    }
}

/// The worst value of a KPI over the sliding windows of a phase: `(phase, kpi, window,
/// lower_is_worse)` → value, `None` when no full window had sessions.
pub type Windowed<'a> = dyn Fn(Phase, Kpi, Duration, bool) -> Option<f64> + 'a;

/// Evaluates `checks` of `kind` on the measured KPIs (`None`: the phase had no sessions); checks
/// with a `window` are judged on their worst sliding window.
pub fn evaluate(
    exp: &Experiment,
    checks: &[Check],
    kind: CheckKind,
    kpis: &BTreeMap<Phase, BTreeMap<Kpi, Option<f64>>>,
    windowed: &Windowed<'_>,
) -> Vec<CheckResult> {
    let mut out = Vec::new();
    for check in checks {
        let (op, bound) = match (check.at_least, check.at_most) {
            (Some(b), _) => ("at_least", b.value()),
            (None, Some(b)) => ("at_most", b.value()),
            (None, None) => continue, // rejected by validation
        };
        for phase in phases(exp, check, kind) {
            let observed = match check.window {
                Some(w) => windowed(phase, check.kpi, w, op == "at_least"),
                None => kpis.get(&phase).and_then(|k| k.get(&check.kpi)).copied().flatten(),
            };
            let outcome = match observed {
                None if kind == CheckKind::SteadyState => Outcome::Skipped,
                None => Outcome::Fail,
                Some(v) if (op == "at_least" && v >= bound) || (op == "at_most" && v <= bound) => Outcome::Pass,
                Some(_) => Outcome::Fail,
            };
            let sign = if op == "at_least" { ">=" } else { "<=" };
            let name = check.name.clone().unwrap_or_else(|| {
                let every = check.window.map(|w| format!(" (every {}s window)", w.as_secs())).unwrap_or_default();
                format!("{} {phase} {sign} {}{every}", check.kpi.name(), check.kpi.format(Some(bound)))
            });
            out.push(CheckResult { name, kind, kpi: check.kpi, phase, op: op.into(), bound, observed, outcome });
        }
    }
    out
}

/// The verdict of a finished run: failed if any check failed.
pub fn status(results: &[CheckResult]) -> Status {
    if results.iter().any(|r| r.outcome == Outcome::Fail) { Status::Failed } else { Status::Passed }
}
