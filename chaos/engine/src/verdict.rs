//! Checking KPI tolerances against the measured phases: steady-state hypothesis and gates.

use crate::experiment::{Check, Experiment};
use crate::kpi::{Kpi, Phase};
use serde::{Deserialize, Serialize};
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

/// A check's operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// The value must be at least the bound.
    AtLeast,
    /// The value must be at most the bound.
    AtMost,
}

impl Op {
    /// Whether `value` satisfies `self bound`.
    pub fn holds(self, value: f64, bound: f64) -> bool {
        match self {
            Op::AtLeast => value >= bound,
            Op::AtMost => value <= bound,
        }
    }

    /// `>=` or `<=`.
    pub fn sign(self) -> &'static str {
        match self {
            Op::AtLeast => ">=",
            Op::AtMost => "<=",
        }
    }

    /// `≥` or `≤`, for documents.
    pub fn symbol(self) -> &'static str {
        match self {
            Op::AtLeast => "≥",
            Op::AtMost => "≤",
        }
    }

    /// Whether a lower value is the worse one (a lower bound's).
    pub fn lower_is_worse(self) -> bool {
        self == Op::AtLeast
    }
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Op::AtLeast => "at_least",
            Op::AtMost => "at_most",
        })
    }
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
    /// The HTTP workload's request it is about (none: every request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// The phase.
    pub phase: Phase,
    /// `at_least` or `at_most`.
    pub op: Op,
    /// The bound, in the KPI's unit (ms for latencies).
    pub bound: f64,
    /// The measured value.
    pub observed: Option<f64>,
    /// The result.
    pub outcome: Outcome,
}

/// The phases a check applies to.
pub(crate) fn phases(exp: &Experiment, check: &Check, kind: CheckKind) -> Vec<Phase> {
    match (check.during, kind, exp.faults.is_empty()) {
        (Some(p), _, _) => vec![p],
        (None, CheckKind::Gate, _) | (None, CheckKind::SteadyState, true) => vec![Phase::Run],
        (None, CheckKind::SteadyState, false) => vec![Phase::Before, Phase::After],
    }
}

/// A KPI, of one request of the HTTP workload or of all.
pub type KpiOf<'a> = (Kpi, Option<&'a str>);

/// A KPI's value over a whole phase: `(phase, kpi)` → value, `None` when the phase had none.
pub type Measured<'a> = dyn Fn(Phase, KpiOf<'_>) -> Option<f64> + 'a;

/// The worst value of a KPI over the sliding windows of a phase: `(phase, kpi, window,
/// lower_is_worse)` → value, `None` when no full window had sessions.
pub type Windowed<'a> = dyn Fn(Phase, KpiOf<'_>, Duration, bool) -> Option<f64> + 'a;

/// Evaluates `checks` of `kind` on the measured KPIs (`None`: the phase had no sessions); checks
/// with a `window` are judged on their worst sliding window.
pub fn evaluate(
    exp: &Experiment,
    checks: &[Check],
    kind: CheckKind,
    measured: &Measured<'_>,
    windowed: &Windowed<'_>,
) -> Vec<CheckResult> {
    let mut out = Vec::new();
    for (check, kpi) in checks.iter().filter_map(|c| Some((c, c.kpi?))) {
        let (op, bound) = match (check.at_least, check.at_most) {
            (Some(b), _) => (Op::AtLeast, b.value()),
            (None, Some(b)) => (Op::AtMost, b.value()),
            (None, None) => continue, // rejected by validation
        };
        let kpi_of = (kpi, check.request.as_deref());
        for phase in phases(exp, check, kind) {
            let observed = match check.window {
                Some(w) => windowed(phase, kpi_of, w, op.lower_is_worse()),
                None => measured(phase, kpi_of),
            };
            let outcome = match observed {
                None if kind == CheckKind::SteadyState => Outcome::Skipped,
                None => Outcome::Fail,
                Some(v) if op.holds(v, bound) => Outcome::Pass,
                Some(_) => Outcome::Fail,
            };
            let name = check.name.clone().unwrap_or_else(|| {
                let every = check.window.map(|w| format!(" (every {}s window)", w.as_secs())).unwrap_or_default();
                let of = check.request.as_ref().map(|r| format!("[{r}]")).unwrap_or_default();
                let sign = op.sign();
                format!("{}{of} {phase} {sign} {}{every}", kpi.name(), kpi.format(Some(bound)))
            });
            let request = check.request.clone();
            out.push(CheckResult { name, kind, kpi, request, phase, op, bound, observed, outcome });
        }
    }
    out
}

/// What kind of part of the verdict did not hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A steady-state check or a gate.
    Check,
    /// A probe check (steady state or gate): too few of its samples passed.
    Probe,
    /// A guard that did not fire enough (or amplified too much).
    Coverage,
    /// A cohort gate: the experiment cohort fared worse than the control.
    Cohort,
    /// The sequential test decided the run is bad.
    Sequential,
    /// The run stopped early (a signal, an unsteady system, an abort condition, a fault that
    /// could not be applied or removed).
    Aborted,
}

/// One part of the verdict that did not hold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Its kind.
    pub kind: FindingKind,
    /// A name that stays the same from run to run of the experiment (a check's name,
    /// `coverage: GUARD`, `cohorts: GATE`, `sequential: bad`, `aborted`), so that runs with
    /// other seeds or timelines can be asked whether *this* failed again.
    pub name: String,
    /// What was seen, for people.
    pub detail: String,
}

/// The run's verdict: decided once, here; every report and the terminal only display it.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// Passed, failed or aborted.
    pub status: Status,
    /// What did not hold, gates first.
    pub findings: Vec<Finding>,
}

/// The parts of a run the verdict rests on.
pub struct Evidence<'a> {
    /// Steady-state checks and gates.
    pub checks: &'a [CheckResult],
    /// Probe checks.
    pub probes: &'a [crate::probes::ProbeResult],
    /// Guard coverage gates.
    pub coverage: &'a [crate::coverage::CoverageResult],
    /// The cohort comparison.
    pub cohorts: Option<&'a crate::cohorts::CohortReport>,
    /// The sequential test's decision.
    pub sequential: Option<&'a crate::sequential::SequentialResult>,
    /// Why the run stopped early, if it was aborted.
    pub aborted: Option<&'a str>,
}

/// Decides the verdict: aborted when the run stopped early, failed when anything else did not
/// hold, passed otherwise.
pub fn decide(e: &Evidence<'_>) -> Verdict {
    let mut findings = Vec::new();
    let checks = e.checks.iter().filter(|c| c.outcome == Outcome::Fail);
    // Gates first: they are what a CI job is about.
    let (gates, steady): (Vec<&CheckResult>, Vec<&CheckResult>) = checks.partition(|c| c.kind == CheckKind::Gate);
    for c in gates.into_iter().chain(steady) {
        findings.push(Finding { kind: FindingKind::Check, name: c.name.clone(), detail: c.describe() });
    }
    let probes = e.probes.iter().filter(|p| p.outcome == Outcome::Fail);
    let (probe_gates, probe_steady): (Vec<_>, Vec<_>) = probes.partition(|p| p.kind == CheckKind::Gate);
    for p in probe_gates.into_iter().chain(probe_steady) {
        findings.push(Finding { kind: FindingKind::Probe, name: p.name.clone(), detail: p.describe() });
    }
    for c in e.coverage.iter().filter(|c| c.outcome == Outcome::Fail) {
        let amplification = match (c.amplification, c.amplification_at_most) {
            (Some(a), Some(max)) => format!(", amplification ×{a:.2} (at most ×{max})"),
            _ => String::new(),
        };
        let detail =
            format!("guard {} fired {} time(s), needs at least {}{amplification}", c.guard, c.observed, c.at_least);
        findings.push(Finding { kind: FindingKind::Coverage, name: format!("coverage: {}", c.guard), detail });
    }
    for (gate, _) in e.cohorts.iter().flat_map(|c| &c.gates).filter(|(_, o)| *o == Outcome::Fail) {
        let name = format!("cohorts: {}", crate::report::gate_name(gate));
        findings.push(Finding { kind: FindingKind::Cohort, name, detail: format!("cohorts: {gate}") });
    }
    if let Some(q) = e.sequential.filter(|q| q.decision == crate::sequential::Decision::Bad) {
        let detail = format!(
            "the sequential test found play success bad at {:.1}s ({} plays, {} failed)",
            q.at_s, q.plays, q.failures
        );
        findings.push(Finding { kind: FindingKind::Sequential, name: "sequential: bad".into(), detail });
    }
    if let Some(reason) = e.aborted {
        findings.push(Finding { kind: FindingKind::Aborted, name: "aborted".into(), detail: reason.to_string() });
    }
    let status = if e.aborted.is_some() {
        Status::Aborted
    } else if findings.is_empty() {
        Status::Passed
    } else {
        Status::Failed
    };
    Verdict { status, findings }
}

impl CheckResult {
    /// `KPI[request] during PHASE was VALUE, bound OP BOUND`.
    pub fn describe(&self) -> String {
        let of = self.request.as_ref().map(|r| format!("[{r}]")).unwrap_or_default();
        format!(
            "{}{of} during {} was {}, bound {} {}",
            self.kpi.name(),
            self.phase,
            self.kpi.format(self.observed),
            self.op.sign(),
            self.kpi.format(Some(self.bound))
        )
    }
}
