//! Probes sampled through the run (`experiment::probe`): each probe check is read every `every`
//! through the phases it covers, each abort condition's probe from the end of warm-up on; the
//! samples are kept, judged per phase and shown in every report.

mod command;
mod http;
pub(crate) mod prometheus;

use crate::abort::AbortFired;
use crate::experiment::probe::{Comparator, OnEmpty, Probe};
use crate::experiment::{AbortCondition, Check};
use crate::kpi::Phase;
use crate::verdict::{CheckKind, Outcome};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// What reading a probe gave, before the check's bounds judge it.
#[derive(Debug)]
pub(crate) enum Reading {
    /// An HTTP or command probe judged by its `expect`; the detail says what was seen.
    Judged { pass: bool, detail: String },
    /// A Prometheus query's value per series (none: no series).
    Values(Vec<f64>),
    /// The probe could not be read: unreachable, timed out, a query error.
    Error(String),
}

/// One sample of a probe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// When it was taken, seconds from the end of warm-up.
    pub at_s: f64,
    /// A Prometheus probe's value (its worst series'); none for other probes and failed reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Whether it passed.
    pub pass: bool,
    /// What was seen: a status, an exit code, the server's error.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// A probe check on one phase, judged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// The check's name, or `KIND probe TARGET PHASE BOUND`.
    pub name: String,
    /// Hypothesis or gate.
    pub kind: CheckKind,
    /// `http`, `prometheus` or `command`.
    pub probe: String,
    /// The URL, query or program.
    pub target: String,
    /// The phase.
    pub phase: Phase,
    /// A Prometheus probe's bounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparator: Option<Comparator>,
    /// Share of samples that had to pass.
    pub share: f64,
    /// The phase's samples, in time order.
    pub samples: Vec<Sample>,
    /// The result.
    pub outcome: Outcome,
}

impl ProbeResult {
    /// Samples that passed.
    pub fn passed(&self) -> usize {
        self.samples.iter().filter(|s| s.pass).count()
    }

    /// The sample furthest from passing: a failed one (the furthest outside the bounds), or
    /// none when all passed.
    pub fn worst(&self) -> Option<&Sample> {
        let miss = |s: &Sample| match (s.value, self.comparator) {
            (Some(v), Some(c)) => c.shortfall(v),
            _ => f64::INFINITY,
        };
        self.samples.iter().filter(|s| !s.pass).max_by(|a, b| miss(a).total_cmp(&miss(b)))
    }

    /// `3 of 10 samples passed (needs 100 %); worst at 4.0s: 7.2 (<= 5)`, for people.
    pub fn describe(&self) -> String {
        let n = self.samples.len();
        if n == 0 {
            return format!("{} probe `{}` during {}: no sample taken", self.probe, self.target, self.phase);
        }
        let mut s = format!(
            "{} probe `{}` during {}: {} of {n} samples passed (needs {:.0} %)",
            self.probe,
            self.target,
            self.phase,
            self.passed(),
            self.share * 100.0
        );
        if let Some(w) = self.worst() {
            let value = w.value.map(|v| format!("{} ", significant(v))).unwrap_or_default();
            let bound = self.comparator.map(|c| format!("({c}) ")).unwrap_or_default();
            s += format!("; worst at {:.1}s: {value}{bound}{}", w.at_s, w.detail).trim_end();
        }
        s
    }
}

/// `v` to four significant digits (`0.3145`, `39.81`, `7`): a PromQL ratio comes back with
/// seventeen.
fn significant(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 {
        return format!("{v:.0}");
    }
    let magnitude = if v == 0.0 || !v.is_finite() { 0 } else { v.abs().log10().floor() as i32 };
    format!("{v:.*}", (3 - magnitude).max(0) as usize)
}

/// Reads probes: one HTTP client for all, and the folder command probes run from.
pub(crate) struct Reader {
    client: reqwest::Client,
    base: PathBuf,
}

impl Reader {
    /// A reader whose command probes run from `base` (the experiment's folder).
    pub fn new(base: PathBuf) -> Self {
        Self { client: reqwest::Client::new(), base }
    }

    /// One sample of `probe`, taken `at_s` after warm-up, a value held to `bounds`.
    pub async fn sample(&self, probe: &Probe, bounds: Option<Comparator>, at_s: f64) -> Sample {
        // Each probe bounds itself; this is the backstop for one that would not.
        let limit = probe.timeout() + Duration::from_secs(1);
        let reading = match tokio::time::timeout(limit, self.read(probe)).await {
            Ok(r) => r,
            Err(_) => Reading::Error(format!("no answer within {limit:?}")),
        };
        let on_empty = match probe {
            Probe::Prometheus(p) => p.on_empty,
            _ => OnEmpty::Fail,
        };
        to_sample(reading, bounds, on_empty, at_s)
    }

    async fn read(&self, probe: &Probe) -> Reading {
        match probe {
            Probe::Http(p) => http::read(p, &self.client).await,
            Probe::Prometheus(p) => prometheus::read(p, &self.client).await,
            Probe::Command(p) => command::read(p, &self.base).await,
        }
    }

    /// Whether every Prometheus server the probes ask answers: checked before the load starts.
    pub async fn check_servers<'a>(&self, probes: impl Iterator<Item = &'a Probe>) -> Result<(), String> {
        for probe in probes {
            if let Probe::Prometheus(p) = probe {
                prometheus::answers(&p.url, &self.client).await.map_err(|e| format!("Prometheus at {}: {e}", p.url))?;
            }
        }
        Ok(())
    }
}

/// A reading judged: values by `bounds` (the worst series counts), no series by `on_empty`.
fn to_sample(reading: Reading, bounds: Option<Comparator>, on_empty: OnEmpty, at_s: f64) -> Sample {
    match (reading, bounds) {
        (Reading::Judged { pass, detail }, _) => Sample { at_s, value: None, pass, detail },
        (Reading::Error(detail), _) => Sample { at_s, value: None, pass: false, detail },
        (Reading::Values(vs), _) if vs.is_empty() => {
            Sample { at_s, value: None, pass: on_empty == OnEmpty::Pass, detail: "no series".into() }
        }
        (Reading::Values(vs), Some(c)) => {
            let worst =
                vs.iter().copied().max_by(|a, b| c.shortfall(*a).total_cmp(&c.shortfall(*b))).unwrap_or(f64::NAN);
            let detail = if vs.len() > 1 { format!("worst of {} series", vs.len()) } else { String::new() };
            Sample { at_s, value: Some(worst), pass: c.holds(worst), detail }
        }
        // The validator gives every value a bound.
        (Reading::Values(vs), None) => {
            Sample { at_s, value: vs.first().copied(), pass: false, detail: "no bound".into() }
        }
    }
}

/// The probe checks of a run and their samples so far.
pub(crate) struct ProbeLog<'a> {
    checks: Vec<Watched<'a>>,
    samples: Vec<Mutex<Vec<Sample>>>,
}

/// A probe check, with the spans it is sampled in (from the end of warm-up).
struct Watched<'a> {
    check: &'a Check,
    kind: CheckKind,
    probe: &'a Probe,
    phases: Vec<(Phase, (Duration, Duration))>,
}

impl<'a> ProbeLog<'a> {
    /// The probe checks among `checks`, each with the phases (and their spans) it covers.
    pub fn new(checks: impl Iterator<Item = (CheckKind, &'a Check, Vec<(Phase, (Duration, Duration))>)>) -> Self {
        let checks: Vec<Watched<'a>> = checks
            .filter_map(|(kind, check, phases)| Some(Watched { check, kind, probe: check.probe.as_ref()?, phases }))
            .collect();
        let samples = checks.iter().map(|_| Mutex::new(Vec::new())).collect();
        Self { checks, samples }
    }

    /// Samples every probe check on its schedule (`origin`: the end of warm-up) until `done`:
    /// at `every / 2`, `3 every / 2`, … into each phase it covers; a phase shorter than `every`
    /// once, at its middle, so that no phase goes unsampled.
    pub async fn run(&self, reader: &Reader, origin: Instant, done: impl std::future::Future<Output = ()>) {
        let all = futures_util::future::join_all(self.checks.iter().zip(&self.samples).map(|(w, log)| async move {
            let every = w.check.every.unwrap_or(crate::experiment::probe::DEFAULT_EVERY);
            for (_, (from, to)) in &w.phases {
                // Mid-interval: no sample lands on a phase's edge, where a fault is being put in
                // or taken out.
                let mut next = origin + *from + every.min(to.saturating_sub(*from)) / 2;
                while next < origin + *to {
                    tokio::time::sleep_until(next).await;
                    let at_s = Instant::now().saturating_duration_since(origin).as_secs_f64();
                    let sample = reader.sample(w.probe, w.check.comparator(), at_s).await;
                    log.lock().unwrap_or_else(|p| p.into_inner()).push(sample);
                    next = next_tick(next, every);
                }
            }
        }));
        tokio::select! {
            _ = all => {}
            _ = done => {}
        }
    }

    /// The checks judged on their samples, one result per check and phase. A phase without a
    /// sample fails a gate and skips a hypothesis, as a KPI without sessions does.
    pub fn judge(&self, kind: CheckKind) -> Vec<ProbeResult> {
        let mut out = Vec::new();
        for (w, log) in self.checks.iter().zip(&self.samples).filter(|(w, _)| w.kind == kind) {
            let samples = log.lock().unwrap_or_else(|p| p.into_inner()).clone();
            for (phase, span) in &w.phases {
                out.push(judged(w, *phase, in_span(&samples, *span)));
            }
        }
        out
    }

    /// Why the hypothesis' probes do not hold on the `before` phase so far, if they do not.
    pub fn unsteady_before(&self) -> Option<String> {
        let failed: Vec<String> = self
            .checks
            .iter()
            .zip(&self.samples)
            .filter(|(w, _)| w.kind == CheckKind::SteadyState)
            .filter_map(|(w, log)| {
                let (_, span) = w.phases.iter().find(|(p, _)| *p == Phase::Before)?;
                let samples = in_span(&log.lock().unwrap_or_else(|p| p.into_inner()), *span);
                let r = judged(w, Phase::Before, samples);
                (r.outcome == Outcome::Fail).then(|| format!("{}: {}", r.name, r.describe()))
            })
            .collect();
        (!failed.is_empty()).then(|| failed.join("; "))
    }
}

/// The first tick of the schedule `next`, `next + every`, … still ahead: a sample slower than
/// `every` skips the ticks it overran.
fn next_tick(mut next: Instant, every: Duration) -> Instant {
    while next <= Instant::now() {
        next += every;
    }
    next
}

/// The samples taken in `[from, to)` seconds after warm-up.
fn in_span(samples: &[Sample], (from, to): (Duration, Duration)) -> Vec<Sample> {
    let (from, to) = (from.as_secs_f64(), to.as_secs_f64());
    samples.iter().filter(|s| s.at_s >= from && s.at_s < to).cloned().collect()
}

fn judged(w: &Watched<'_>, phase: Phase, samples: Vec<Sample>) -> ProbeResult {
    let share = w.check.share.unwrap_or(1.0);
    let passed = samples.iter().filter(|s| s.pass).count();
    let outcome = match samples.len() {
        0 if w.kind == CheckKind::SteadyState => Outcome::Skipped,
        0 => Outcome::Fail,
        n if passed as f64 >= share * n as f64 - 1e-9 => Outcome::Pass,
        _ => Outcome::Fail,
    };
    let comparator = if w.probe.is_numeric() { w.check.comparator() } else { None };
    let name = w.check.name.clone().unwrap_or_else(|| {
        let bound = comparator.map(|c| format!(" {c}")).unwrap_or_default();
        format!("{} probe {} {phase}{bound}", w.probe.kind(), w.probe.target())
    });
    ProbeResult {
        name,
        kind: w.kind,
        probe: w.probe.kind().into(),
        target: w.probe.target(),
        phase,
        comparator,
        share,
        samples,
        outcome,
    }
}

/// Samples the abort conditions' probes from the end of warm-up until `done`; gives the first
/// condition whose probe failed `failures` times in a row.
pub(crate) async fn watch_abort(
    conditions: &[AbortCondition],
    reader: &Reader,
    origin: Instant,
    done: impl std::future::Future<Output = ()>,
) -> Option<AbortFired> {
    let watched: Vec<_> = conditions.iter().filter(|c| c.probe.is_some()).collect();
    if watched.is_empty() {
        done.await;
        return None;
    }
    let each = watched.iter().map(|c| async move {
        let probe = c.probe.as_ref()?;
        let bounds = match (c.below, c.above) {
            (Some(b), _) => Some(Comparator::AtLeast(b.value())),
            (None, Some(b)) => Some(Comparator::AtMost(b.value())),
            (None, None) => None,
        };
        let every = c.every.unwrap_or(crate::experiment::probe::DEFAULT_EVERY);
        let mut next = origin;
        let mut in_a_row = 0;
        loop {
            tokio::time::sleep_until(next).await;
            let at_s = Instant::now().saturating_duration_since(origin).as_secs_f64();
            let sample = reader.sample(probe, bounds, at_s).await;
            in_a_row = if sample.pass { 0 } else { in_a_row + 1 };
            if in_a_row >= c.failures.unwrap_or(1) {
                return Some(AbortFired {
                    condition: c.describe(),
                    at_s,
                    window_s: None,
                    observed: sample.value,
                    detail: Some(sample.detail),
                    recovery_s: c.recovery.as_secs_f64(),
                });
            }
            next = next_tick(next, every);
        }
    });
    let first = futures_util::future::select_all(each.map(Box::pin));
    tokio::select! {
        (fired, _, _) = first => fired,
        _ = done => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_series_decides_and_an_empty_answer_fails_unless_told() {
        let s = to_sample(Reading::Values(vec![1.0, 7.0, 3.0]), Some(Comparator::AtMost(5.0)), OnEmpty::Fail, 1.0);
        assert_eq!((s.value, s.pass), (Some(7.0), false));
        let s = to_sample(Reading::Values(vec![1.0, 3.0]), Some(Comparator::AtMost(5.0)), OnEmpty::Fail, 1.0);
        assert_eq!((s.value, s.pass), (Some(3.0), true));
        let none = || Reading::Values(vec![]);
        assert!(!to_sample(none(), Some(Comparator::AtMost(5.0)), OnEmpty::Fail, 1.0).pass);
        assert!(to_sample(none(), Some(Comparator::AtMost(5.0)), OnEmpty::Pass, 1.0).pass);
        let s = to_sample(Reading::Error("query failed: parse error".into()), None, OnEmpty::Pass, 1.0);
        assert!(!s.pass && s.detail.contains("parse error"));
    }

    #[test]
    fn a_worst_value_is_told_to_four_significant_digits() {
        let told: Vec<String> =
            [0.31446540880503143, 39.81089823339139, 7.0, 0.0, 12345.67, -0.004].map(significant).into();
        assert_eq!(told, ["0.3145", "39.81", "7", "0", "12346", "-0.004000"]);
    }
}
