//! Checks that serde cannot make: values in range, times inside the run, targets that exist,
//! bounds in the KPI's unit. Each problem carries the path of the value at fault.

use super::kpi::{Bound, Phase};
use super::{Check, Experiment, MAX_PHASE};
use std::time::Duration;
use targets::Topology;

type Problems = Vec<(String, String)>;

/// The most concurrent viewers of a closed loop, as the open loop's rate is at most 100,000/s.
const MAX_VIEWERS: u32 = 100_000;

/// Every problem of `exp` against `topology`, as (path, message).
pub(crate) fn validate(exp: &Experiment, topology: &Topology) -> Problems {
    let mut out = Problems::new();
    let mut problem = |path: String, message: String| out.push((path, message));
    if exp.name.trim().is_empty() || exp.name.contains(['/', '\\']) {
        problem("name".into(), "name must be non-empty and contain no path separator".into());
    }
    let load = &exp.load;
    match (load.rate, load.viewers) {
        (None, None) | (Some(_), Some(_)) => {
            problem("load".into(), "the load takes `rate` (open loop) or `viewers` (closed loop)".into())
        }
        (None, Some(0)) => problem("load.viewers".into(), "viewers must be > 0".into()),
        (None, Some(_)) if load.ramp_to.is_some() => {
            problem("load.ramp_to".into(), "a ramp needs `rate`, not `viewers`".into())
        }
        _ => {}
    }
    for (field, rate) in [("rate", load.rate), ("ramp_to", load.ramp_to)] {
        if let Some(rate) = rate.map(|r| r.0).filter(|r| !(r.is_finite() && *r > 0.0 && *r <= 100_000.0)) {
            problem(format!("load.{field}"), format!("rate must be in (0, 100000] sessions/s, got {rate}"));
        }
    }
    if load.watch_segments == Some(0) {
        problem("load.watch_segments".into(), "a play session watches at least one segment".into());
    }
    if load.users == 0 {
        problem("load.users".into(), "users must be > 0".into());
    }
    let f = &load.flows;
    if !(f.play >= 0.0 && f.browse >= 0.0 && f.play + f.browse > 0.0 && (f.play + f.browse).is_finite()) {
        problem("load.flows".into(), "flow weights must be >= 0 with a positive sum".into());
    }
    if exp.load.duration.is_zero() {
        problem("load.duration".into(), "duration must be > 0".into());
    }
    if let Some(v) = load.viewers.filter(|v| *v > MAX_VIEWERS) {
        problem("load.viewers".into(), format!("viewers must be at most {MAX_VIEWERS}, got {v}"));
    }
    let lengths = [("load.warmup".to_string(), load.warmup), ("load.duration".to_string(), load.duration)];
    let recoveries = exp.abort.iter().enumerate().map(|(i, a)| (format!("abort[{i}].recovery"), a.recovery));
    for (path, d) in lengths.into_iter().chain(recoveries).filter(|(_, d)| *d > MAX_PHASE) {
        problem(
            path,
            format!("{}s is longer than a run's phase may be ({}s, 30 days)", d.as_secs(), MAX_PHASE.as_secs()),
        );
    }
    if let Some((path, message)) = exp.virtual_conflict() {
        problem(path.into(), message);
    }
    let instances = exp.instances(topology);
    super::validate_system::system_problems(exp, &mut problem);
    super::kubernetes::problems(exp, &mut problem);
    super::kubernetes::run_problems(exp, &mut problem);
    for (i, step) in exp.faults.iter().enumerate() {
        let at = |field: &str| format!("faults[{i}].{field}");
        if step.duration.is_zero() {
            problem(at("for"), "a fault window must last > 0".into());
        }
        if step.end() > exp.load.duration {
            problem(
                at("for"),
                format!(
                    "the fault window ends at {} but the run's measured duration is {}",
                    humantime::format_duration(step.end()),
                    humantime::format_duration(exp.load.duration)
                ),
            );
        }
        // A target behind a control API (`shop/inventory`) is known to that API alone; one on a
        // cluster is placed there (`kubernetes:`), where the export's gaps say what cannot be.
        let elsewhere = exp.control_instance(&step.target).is_some() || exp.system.kubernetes.is_some();
        if let (Err(e), false) = (step.target.validate(&instances), elsewhere) {
            problem(at("target"), e);
        }
        if let Err(e) = step.fault.validate() {
            problem(at("fault"), e);
        }
        if let Err(e) = step.scope.validate() {
            problem(at("scope"), e);
        }
        if let Some(r) = &step.ramp {
            if matches!(step.fault, chaos_fault::Fault::Kill { .. }) {
                problem(at("ramp"), "a kill has no share of requests to ramp".into());
            }
            if ![r.from, r.to].iter().all(|p| (0.0..=1.0).contains(p)) {
                problem(at("ramp"), format!("ramp from {} to {} must stay in [0, 1]", r.from, r.to));
            }
        }
    }
    for i in 0..exp.faults.len() {
        let name = exp.step_name(i);
        if (0..i).any(|j| exp.step_name(j) == name) {
            problem(format!("faults[{i}].name"), format!("two fault steps are named `{name}`"));
        }
    }
    if let Some(c) = &exp.cohorts {
        if !(c.experiment > 0.0 && c.experiment < 1.0) {
            problem(
                "cohorts.experiment".into(),
                format!("the experiment cohort's share {} is not in (0, 1)", c.experiment),
            );
        }
        for (i, step) in exp.faults.iter().enumerate() {
            if matches!(step.fault, chaos_fault::Fault::Kill { .. }) {
                problem(
                    format!("faults[{i}].fault"),
                    "a kill hits every user: it cannot be scoped to the experiment cohort".into(),
                );
            }
            if step.scope.cohort.is_some() {
                problem(
                    format!("faults[{i}].scope.cohort"),
                    "with `cohorts`, the experiment cohort is the scope".into(),
                );
            }
        }
    }
    if let Some(Err(e)) = exp.sequential.as_ref().map(|s| s.validate()) {
        problem("sequential".into(), e);
    }
    for (i, c) in exp.coverage.iter().enumerate() {
        if let Err(e) = c.validate() {
            problem(format!("coverage[{i}].guard"), e);
        }
    }
    for (i, a) in exp.abort.iter().enumerate() {
        let path = format!("abort[{i}]");
        let kpi = match (a.kpi, &a.probe) {
            (_, Some(probe)) => {
                super::validate_probe::abort_problems(a, probe, &path, &mut problem);
                continue;
            }
            (None, None) => {
                problem(path.clone(), "an abort condition watches a `kpi` or a `probe`".into());
                continue;
            }
            (Some(kpi), None) => kpi,
        };
        let probe_only = [("failures", a.failures.is_some()), ("every", a.every.is_some())];
        super::validate_probe::probe_only_fields(&probe_only, &path, &mut problem);
        match (&a.below, &a.above) {
            (Some(b), None) | (None, Some(b)) => {
                let field = if a.below.is_some() { "below" } else { "above" };
                if let Err(e) = b.fits(kpi) {
                    problem(format!("{path}.{field}"), e);
                }
            }
            _ => problem(path.clone(), "an abort condition takes `below` or `above` (one of them)".into()),
        }
        if a.window < Duration::from_secs(1) || a.window > exp.load.duration {
            problem(format!("{path}.window"), "the window must be at least 1s and at most the run's duration".into());
        }
    }
    for (list, checks) in [("steady_state", &exp.steady_state), ("gates", &exp.gates)] {
        for (i, check) in checks.iter().enumerate() {
            check_problems(exp, check, &format!("{list}[{i}]"), &mut problem);
        }
    }
    out
}

fn check_problems(exp: &Experiment, check: &Check, path: &str, problem: &mut impl FnMut(String, String)) {
    phase_problems(exp, check, path, problem);
    let kpi = match (check.kpi, &check.probe) {
        (_, Some(probe)) => return super::validate_probe::check_problems(check, probe, path, problem),
        (None, None) => return problem(path.into(), "a check names a `kpi` or a `probe`".into()),
        (Some(kpi), None) => kpi,
    };
    let probe_only = [
        ("between", check.between.is_some()),
        ("equals", check.equals.is_some()),
        ("every", check.every.is_some()),
        ("share", check.share.is_some()),
    ];
    super::validate_probe::probe_only_fields(&probe_only, path, problem);
    match (&check.at_least, &check.at_most) {
        (None, None) => problem(path.into(), "a check needs `at_least` or `at_most`".into()),
        (Some(_), Some(_)) => problem(path.into(), "a check takes `at_least` or `at_most`, not both".into()),
        (Some(b), None) | (None, Some(b)) => {
            let field = if check.at_least.is_some() { "at_least" } else { "at_most" };
            if let Err(e) = b.fits(kpi) {
                problem(format!("{path}.{field}"), e);
            }
        }
    }
    if let Some(w) = check.window.filter(|w| *w < Duration::from_secs(1) || *w > exp.load.duration) {
        problem(
            format!("{path}.window"),
            format!("window {} must be at least 1s and at most the run's duration", humantime::format_duration(w)),
        );
    }
}

/// Whether the check's phase exists in this run.
fn phase_problems(exp: &Experiment, check: &Check, path: &str, problem: &mut impl FnMut(String, String)) {
    if exp.faults.is_empty() && matches!(check.during, Some(Phase::Faults | Phase::After)) {
        problem(format!("{path}.during"), "there are no faults, so there is no `faults` or `after` phase".into());
    }
    if check.during == Some(Phase::Before) && exp.fault_window().is_some_and(|(start, _)| start.is_zero()) {
        problem(format!("{path}.during"), "the first fault starts at 0s, so the `before` phase is empty".into());
    }
}

impl Bound {
    /// Whether this bound is written in the unit of `kpi`.
    fn fits(&self, kpi: super::kpi::Kpi) -> Result<(), String> {
        use super::kpi::Unit;
        match (self, kpi.unit()) {
            (Bound::Duration(_), Unit::Millis) => Ok(()),
            (Bound::Duration(_), unit) => Err(format!("`{}` is {unit}, not a duration", kpi.name())),
            (Bound::Number(n), Unit::Ratio) if !(0.0..=1.0).contains(n) => {
                Err(format!("`{}` is a ratio in [0, 1], got {n}", kpi.name()))
            }
            (Bound::Number(n), _) if !n.is_finite() || *n < 0.0 => Err(format!("bound must be a number >= 0, got {n}")),
            (Bound::Number(_), _) => Ok(()),
        }
    }
}
