//! What the terminal shows. Takes data, writes to any `Write`.

use chaos_engine::Experiment;
use chaos_engine::Report;
use chaos_engine::experiment::Clock;
use chaos_engine::experiment::probe;
use chaos_engine::kpi::{Kpi, Workload};
use chaos_engine::verdict::{Outcome, Status};
use std::io::{self, Write};
use std::path::PathBuf;
use targets::Topology;

/// One line about what a run will do.
pub fn plan_line(exp: &Experiment) -> String {
    let unit = match exp.load.workload() {
        Workload::Play => "sessions/s",
        Workload::Http => "arrivals/s",
    };
    let load = match (exp.load.viewers, exp.load.ramp_to) {
        (Some(v), _) => format!("{v} viewers (closed loop)"),
        (None, Some(to)) => format!("{:.0} → {:.0} {unit}", exp.load.start_rate(), to.0),
        (None, None) => format!("{:.0} {unit}", exp.load.start_rate()),
    };
    format!(
        "{load}, warm-up {}, measured {}, {}, {}",
        humantime::format_duration(exp.load.warmup),
        humantime::format_duration(exp.load.duration),
        count(exp.faults.len(), "fault step"),
        count(exp.gates.len(), "gate")
    )
}

/// `1 gate`, `2 gates`, `0 gates`.
pub fn count(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

/// How a batch of runs went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
    pub aborted: usize,
}

impl Tally {
    pub fn add(&mut self, status: Status) {
        match status {
            Status::Passed => self.passed += 1,
            Status::Failed => self.failed += 1,
            Status::Aborted => self.aborted += 1,
        }
    }

    /// Aborted outranks failed, which outranks passed.
    pub fn worst(&self) -> Status {
        if self.aborted > 0 {
            Status::Aborted
        } else if self.failed > 0 {
            Status::Failed
        } else {
            Status::Passed
        }
    }
}

/// The closing line of a batch of `of` experiments: `11 experiments: 10 passed, 1 failed, 0
/// aborted` (and how many a signal kept from running).
pub fn tally(w: &mut impl Write, t: &Tally, of: usize) -> io::Result<()> {
    let (passed, failed, aborted) = (t.passed, t.failed, t.aborted);
    write!(w, "{}: {passed} passed, {failed} failed, {aborted} aborted", count(of, "experiment"))?;
    let not_run = of.saturating_sub(passed + failed + aborted);
    if not_run > 0 {
        write!(w, ", {not_run} not run")?;
    }
    writeln!(w)
}

/// `✓`, `✗` or `-` (skipped): a check's outcome in the summary.
fn mark(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Pass => "✓",
        Outcome::Fail => "✗",
        Outcome::Skipped => "-",
    }
}

/// The verdict, KPIs per phase, the checks and where the report is.
pub fn summary(w: &mut impl Write, r: &Report, written: &[PathBuf], quiet: bool) -> io::Result<()> {
    let verdict = match r.status {
        Status::Passed => "PASSED",
        Status::Failed => "FAILED",
        Status::Aborted => "ABORTED",
    };
    let clock = if r.experiment.clock == Clock::Virtual { ", virtual clock" } else { "" };
    writeln!(
        w,
        "{}: {verdict} (exit {}) in {:.1} s, seed {}{clock}",
        r.experiment.name,
        r.status.exit_code(),
        r.run.wall_time_s,
        r.seed
    )?;
    if let Some(reason) = &r.abort_reason {
        writeln!(w, "  aborted: {reason}")?;
    }
    if let Some(q) = &r.sequential {
        let verdict = if q.decision == chaos_engine::sequential::Decision::Good { "good" } else { "bad" };
        writeln!(
            w,
            "  stopped early at {:.1}s: the sequential test found play success {verdict} ({} plays, {} failed)",
            q.at_s, q.plays, q.failures
        )?;
    }
    if quiet {
        return Ok(());
    }
    let cols: &[Kpi] = match r.experiment.load.workload() {
        Workload::Play => &PLAY_COLUMNS,
        Workload::Http => &HTTP_COLUMNS,
    };
    write!(w, "  {:<8}", "phase")?;
    for k in cols {
        write!(w, " {:>w$}", k.name(), w = k.name().len().max(10))?;
    }
    writeln!(w)?;
    for p in &r.phases {
        write!(w, "  {:<8}", p.phase.to_string())?;
        for k in cols {
            write!(w, " {:>w$}", k.format(p.kpis.get(k).copied().flatten()), w = k.name().len().max(10))?;
        }
        writeln!(w)?;
    }
    if r.experiment.load.workload() == Workload::Http {
        requests(w, r)?;
    }
    for c in r.checks() {
        writeln!(w, "  {} {:<48} observed {}", mark(c.outcome), c.name, c.kpi.format(c.observed))?;
    }
    for p in &r.probes {
        let (passed, n) = (p.passed(), p.samples.len());
        writeln!(w, "  {} {:<48} {passed} of {n} samples passed", mark(p.outcome), p.name)?;
    }
    if let Some(c) = &r.cohorts {
        let (drop, (lo, hi), _) = c.difference.figures();
        writeln!(
            w,
            "  cohorts ({}, {}): control {} · experiment {} · drop {:.2} pp (95 % CI {:.2}..{:.2})",
            c.phase,
            c.difference.names().0,
            Kpi::SuccessRatio.format(c.control.headline().0),
            Kpi::SuccessRatio.format(c.experiment.headline().0),
            drop * 100.0,
            lo * 100.0,
            hi * 100.0
        )?;
        for (gate, outcome) in &c.gates {
            writeln!(w, "  {} {gate}", if *outcome == Outcome::Pass { "✓" } else { "✗" })?;
        }
    }
    for c in &r.coverage {
        let mark = if c.outcome == Outcome::Pass { "✓" } else { "✗" };
        let guard = format!("guard {}", c.guard);
        writeln!(w, "  {mark} {guard:<48} fired {} time(s), at least {}{}", c.observed, c.at_least, amplification(c))?;
    }
    if let Some(md) = written.iter().find(|p| p.extension().is_some_and(|e| e == "md")) {
        writeln!(w, "  report: {}", md.display())?;
    }
    Ok(())
}

/// The KPIs the summary shows for Play sessions.
const PLAY_COLUMNS: [Kpi; 8] = [
    Kpi::Sessions,
    Kpi::PlaySuccessRatio,
    Kpi::Sps,
    Kpi::TtffP50,
    Kpi::TtffP99,
    Kpi::HomeDegradedRatio,
    Kpi::RebufferRatio,
    Kpi::AvgBitrateKbps,
];

/// The KPIs the summary shows for the HTTP workload.
const HTTP_COLUMNS: [Kpi; 7] =
    [Kpi::Requests, Kpi::SuccessRatio, Kpi::Rps, Kpi::LatencyP50, Kpi::LatencyP99, Kpi::LatencyMax, Kpi::Dropped];

/// How many failure reasons a phase's line names.
const TOP_REASONS: usize = 4;

/// The HTTP workload: each request's figures over the run, then why requests failed, per phase.
fn requests(w: &mut impl Write, r: &Report) -> io::Result<()> {
    if let Some(run) = r.phase(chaos_engine::kpi::Phase::Run) {
        for (name, q) in &run.requests {
            let v = |k: Kpi| k.format(q.kpis.get(&k).copied().flatten());
            writeln!(
                w,
                "  {name:<24} {} sent, success {}, p50 {}, p99 {}",
                v(Kpi::Requests),
                v(Kpi::SuccessRatio),
                v(Kpi::LatencyP50),
                v(Kpi::LatencyP99)
            )?;
        }
    }
    for p in r.phases.iter().filter(|p| !p.failures.is_empty()) {
        writeln!(w, "  failed in {:<7} {}", p.phase.to_string(), top_reasons(&p.failures))?;
    }
    Ok(())
}

/// `status 503 × 120, timeout × 4, …`, most frequent first.
pub fn top_reasons(failures: &std::collections::BTreeMap<String, u64>) -> String {
    let mut by_count: Vec<(&String, &u64)> = failures.iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut parts: Vec<String> = by_count.iter().take(TOP_REASONS).map(|(f, n)| format!("{f} × {n}")).collect();
    if by_count.len() > TOP_REASONS {
        parts.push(format!("{} other reason(s)", by_count.len() - TOP_REASONS));
    }
    parts.join(", ")
}

/// What did not hold, for stderr, one `gate failed: EXPERIMENT: DETAIL` each (an abort is in
/// the summary).
pub fn failed_checks(w: &mut impl Write, r: &Report) -> io::Result<()> {
    use chaos_engine::verdict::FindingKind;
    for f in r.findings.iter().filter(|f| f.kind != FindingKind::Aborted) {
        writeln!(w, "gate failed: {}: {}", r.experiment.name, f.detail)?;
    }
    Ok(())
}

/// `, amplification ×A (at most ×B)` for coverage gates that bound it.
fn amplification(c: &chaos_engine::coverage::CoverageResult) -> String {
    match (c.amplification, c.amplification_at_most) {
        (Some(a), Some(max)) => format!(", amplification ×{a:.2} (at most ×{max})"),
        _ => String::new(),
    }
}

/// The resolved plan of an experiment, for `--dry-run`.
pub fn plan(w: &mut impl Write, exp: &Experiment, topology: &Topology, seed: u64) -> io::Result<()> {
    writeln!(w, "{} (seed {seed}): {}", exp.name, plan_line(exp))?;
    if !exp.system.guards_off.is_empty() {
        writeln!(w, "  guards off: {}", exp.system.guards_off.join(", "))?;
    }
    let timeline = chaos_engine::timeline::Timeline::new(exp, topology, seed);
    let plan = timeline.plan();
    for (at, i, apply, instances) in &plan {
        let what = if *apply { "apply " } else { "remove" };
        let step = exp.step_name(*i);
        writeln!(
            w,
            "  {:>8}  {what} {step:<24} on {}",
            humantime::format_duration(*at).to_string(),
            instances.join(", ")
        )?;
    }
    for (label, check) in
        exp.steady_state.iter().map(|c| ("hypothesis", c)).chain(exp.gates.iter().map(|c| ("gate", c)))
    {
        let phase = match (check.during, label, exp.faults.is_empty()) {
            (Some(p), _, _) => p.to_string(),
            (None, "hypothesis", false) => "before and after".into(),
            (None, _, _) => "run".into(),
        };
        let (what, bound) = match (&check.probe, check.kpi) {
            (Some(p), _) => {
                let every = humantime::format_duration(check.every.unwrap_or(probe::DEFAULT_EVERY));
                let bound = check.comparator().filter(|_| p.is_numeric()).map(|c| c.to_string()).unwrap_or_default();
                (format!("{} probe `{}` every {every}", p.kind(), p.target()), bound)
            }
            (None, Some(kpi)) => {
                let bound = check
                    .at_least
                    .map(|b| format!(">= {}", kpi.format(Some(b.value()))))
                    .or_else(|| check.at_most.map(|b| format!("<= {}", kpi.format(Some(b.value())))))
                    .unwrap_or_default();
                (kpi.name(), bound)
            }
            (None, None) => continue,
        };
        writeln!(w, "  {label:<10} {what} during {phase} {bound}")?;
    }
    for c in &exp.coverage {
        writeln!(w, "  coverage   {} fired at least {}", c.guard, c.at_least)?;
    }
    for a in &exp.abort {
        writeln!(w, "  abort      {} (recovery {})", a.describe(), humantime::format_duration(a.recovery))?;
    }
    cluster_plan(w, exp, topology, &plan)
}

/// On a cluster (`system.kubernetes`), the `kubectl` commands the run would make, each with
/// the manifest it reads, as a shell would run them.
fn cluster_plan(
    w: &mut impl Write,
    exp: &Experiment,
    topology: &Topology,
    plan: &[(std::time::Duration, usize, bool, Vec<String>)],
) -> io::Result<()> {
    use chaos_engine::deploy::kubernetes::{APPLY, DELETE, Kubectl, KubernetesSystem, VALIDATE};
    let Some(run) = &exp.system.kubernetes else { return Ok(()) };
    // Validated: the steps have their resources.
    let Ok(steps) = chaos_engine::export::steps(exp, topology, run.engine, run.lossy) else { return Ok(()) };
    let cluster = KubernetesSystem::new(Kubectl::new(&run.kubectl, &run.context, exp.base_dir()), steps);
    let heredoc = |w: &mut dyn Write, args: &[&str], yaml: &str| {
        writeln!(w, "{} <<'EOF'\n{yaml}EOF", cluster.kubectl().line(args))
    };
    writeln!(w, "# on kubeconfig context `{}` ({}), before the load:", run.context, run.engine.title())?;
    writeln!(w, "# the API server checks every step's resource")?;
    heredoc(w, VALIDATE, &cluster.all_resources())?;
    for (step, args) in cluster.pod_queries() {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        writeln!(w, "# faults[{step}] has pods to act on\n{}", cluster.kubectl().line(&args))?;
    }
    for (at, i, apply, _) in plan {
        let Some(yaml) = cluster.resource(*i) else { continue };
        let (what, args) = if *apply { ("apply", APPLY) } else { ("delete", DELETE) };
        writeln!(w, "# {} after warm-up: {what} `{}`", humantime::format_duration(*at), exp.step_name(*i))?;
        heredoc(w, args, yaml)?;
    }
    Ok(())
}

/// A comparison table.
pub fn deltas(w: &mut impl Write, deltas: &[chaos_engine::compare::Delta]) -> io::Result<()> {
    writeln!(w, "{:<8} {:<20} {:>14} {:>14}  {:<18} {:>9}", "phase", "kpi", "base", "new", "change", "limit")?;
    for d in deltas {
        let mark = if d.regression { "  REGRESSION" } else { "" };
        writeln!(
            w,
            "{:<8} {:<20} {:>14} {:>14}  {:<18} {:>8.1}%{mark}",
            d.phase.to_string(),
            d.kpi.name(),
            d.kpi.format(Some(d.base)),
            d.kpi.format(Some(d.new)),
            d.change(),
            d.limit * 100.0
        )?;
    }
    let regressions = deltas.iter().filter(|d| d.regression).count();
    match regressions {
        0 => writeln!(w, "no regression past its limit ({} KPI(s) compared)", deltas.len()),
        n => writeln!(w, "{n} KPI(s) worse than their limit"),
    }
}

/// KPIs on the real and the virtual clock, with the range the real value may take.
pub fn agreement(w: &mut impl Write, found: &[chaos_engine::clocks::KpiAgreement]) -> io::Result<()> {
    writeln!(w, "{:<8} {:<24} {:>14} {:>14}   real may be", "phase", "kpi", "real", "virtual")?;
    for a in found {
        let mark = if a.agrees() { "" } else { "  DISAGREES" };
        writeln!(
            w,
            "{:<8} {:<24} {:>14} {:>14}   {} … {}{mark}",
            a.phase.to_string(),
            a.kpi.name(),
            a.kpi.format(Some(a.real)),
            a.kpi.format(Some(a.virtual_value)),
            a.kpi.format(Some(a.allowed.0)),
            a.kpi.format(Some(a.allowed.1)),
        )?;
    }
    Ok(())
}

/// The services of a topology.
pub fn topology(w: &mut impl Write, t: &Topology) -> io::Result<()> {
    writeln!(w, "Services of the default topology:")?;
    for (name, spec) in &t.services {
        let calls: Vec<&str> = spec.calls.keys().map(String::as_str).collect();
        let calls = if calls.is_empty() { String::new() } else { format!(" → {}", calls.join(", ")) };
        writeln!(w, "  {name:<16} {} replica(s) in {}{calls}", spec.replicas, spec.zones.join(", "))?;
    }
    Ok(())
}

/// What `chaos load` measured, wrk-style.
pub fn http_load(
    w: &mut impl Write,
    load: &chaos_engine::http_load::HttpLoad,
    r: &chaos_engine::http_load::HttpLoadReport,
) -> io::Result<()> {
    let mode = match load.rate {
        Some(rate) => format!("open loop at {rate:.0}/s"),
        None => "closed loop".to_string(),
    };
    writeln!(
        w,
        "{} — {} connections, {mode}, {} measured after {} warm-up",
        load.url,
        load.connections,
        humantime::format_duration(load.duration),
        humantime::format_duration(load.warmup)
    )?;
    writeln!(w, "  requests  {} ({:.1}/s), errors {}", r.ok + r.errors, r.requests_per_s(), r.errors)?;
    if let Some(rate) = load.rate {
        writeln!(
            w,
            "  achieved  {:.1}/s sent in the measured time (×{:.4} of {rate:.0}/s)",
            r.achieved_per_s(),
            r.achieved_per_s() / rate
        )?;
    }
    let ms = |q: f64| r.latency_us.value_at_quantile(q) as f64 / 1000.0;
    writeln!(
        w,
        "  latency   p50 {:.3} ms · p90 {:.3} ms · p99 {:.3} ms · p99.9 {:.3} ms · max {:.3} ms",
        ms(0.5),
        ms(0.9),
        ms(0.99),
        ms(0.999),
        r.latency_us.max() as f64 / 1000.0
    )
}
