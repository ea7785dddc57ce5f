//! What the terminal shows. Takes data, writes to any `Write`.

use chaos_engine::Experiment;
use chaos_engine::Report;
use chaos_engine::experiment::Clock;
use chaos_engine::kpi::Kpi;
use chaos_engine::verdict::{Outcome, Status};
use std::io::{self, Write};
use std::path::PathBuf;
use targets::Topology;

/// One line about what a run will do.
pub fn plan_line(exp: &Experiment) -> String {
    let load = match (exp.load.viewers, exp.load.ramp_to) {
        (Some(v), _) => format!("{v} viewers (closed loop)"),
        (None, Some(to)) => format!("{:.0} → {:.0} sessions/s", exp.load.start_rate(), to.0),
        (None, None) => format!("{:.0} sessions/s", exp.load.start_rate()),
    };
    format!(
        "{load}, warm-up {}, measured {}, {} fault step(s), {} gate(s)",
        humantime::format_duration(exp.load.warmup),
        humantime::format_duration(exp.load.duration),
        exp.faults.len(),
        exp.gates.len()
    )
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
    let cols = [
        Kpi::Sessions,
        Kpi::PlaySuccessRatio,
        Kpi::Sps,
        Kpi::TtffP50,
        Kpi::TtffP99,
        Kpi::HomeDegradedRatio,
        Kpi::RebufferRatio,
        Kpi::AvgBitrateKbps,
    ];
    write!(w, "  {:<8}", "phase")?;
    for k in cols {
        write!(w, " {:>w$}", k.name(), w = k.name().len().max(10))?;
    }
    writeln!(w)?;
    for p in &r.phases {
        write!(w, "  {:<8}", p.phase.to_string())?;
        for k in cols {
            write!(w, " {:>w$}", k.format(p.kpis.get(&k).copied().flatten()), w = k.name().len().max(10))?;
        }
        writeln!(w)?;
    }
    for c in r.checks() {
        let mark = match c.outcome {
            Outcome::Pass => "✓",
            Outcome::Fail => "✗",
            Outcome::Skipped => "-",
        };
        writeln!(w, "  {mark} {:<48} observed {}", c.name, c.kpi.format(c.observed))?;
    }
    if let Some(c) = &r.cohorts {
        writeln!(
            w,
            "  cohorts ({}): control {} · experiment {} · drop {:.2} pp (95 % CI {:.2}..{:.2})",
            c.phase,
            Kpi::PlaySuccessRatio.format(c.control.play_success_ratio),
            Kpi::PlaySuccessRatio.format(c.experiment.play_success_ratio),
            c.play_success_drop * 100.0,
            c.drop_ci95.0 * 100.0,
            c.drop_ci95.1 * 100.0
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

/// Each failed check, for stderr.
pub fn failed_checks(w: &mut impl Write, r: &Report) -> io::Result<()> {
    for c in r.checks().filter(|c| c.outcome == Outcome::Fail) {
        let sign = if c.op == "at_least" { ">=" } else { "<=" };
        writeln!(
            w,
            "gate failed: {}: {} during {} was {}, bound {sign} {}",
            r.experiment.name,
            c.kpi.name(),
            c.phase,
            c.kpi.format(c.observed),
            c.kpi.format(Some(c.bound))
        )?;
    }
    for (gate, _) in r.cohorts.iter().flat_map(|c| &c.gates).filter(|(_, o)| *o == Outcome::Fail) {
        writeln!(w, "gate failed: {}: cohorts: {gate}", r.experiment.name)?;
    }
    for c in r.coverage.iter().filter(|c| c.outcome == Outcome::Fail) {
        let (name, guard, n, min) = (&r.experiment.name, &c.guard, c.observed, c.at_least);
        writeln!(w, "gate failed: {name}: guard {guard} fired {n} time(s), needs at least {min}{}", amplification(c))?;
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
    for (at, step, apply, instances) in timeline.plan() {
        let what = if apply { "apply " } else { "remove" };
        writeln!(
            w,
            "  {:>8}  {what} {step:<24} on {}",
            humantime::format_duration(at).to_string(),
            instances.join(", ")
        )?;
    }
    for (label, check) in
        exp.steady_state.iter().map(|c| ("hypothesis", c)).chain(exp.gates.iter().map(|c| ("gate", c)))
    {
        let bound = check
            .at_least
            .map(|b| format!(">= {}", check.kpi.format(Some(b.value()))))
            .or_else(|| check.at_most.map(|b| format!("<= {}", check.kpi.format(Some(b.value())))))
            .unwrap_or_default();
        let phase = match (check.during, label, exp.faults.is_empty()) {
            (Some(p), _, _) => p.to_string(),
            (None, "hypothesis", false) => "before and after".into(),
            (None, _, _) => "run".into(),
        };
        writeln!(w, "  {label:<10} {} during {phase} {bound}", check.kpi.name())?;
    }
    for c in &exp.coverage {
        writeln!(w, "  coverage   {} fired at least {}", c.guard, c.at_least)?;
    }
    for a in &exp.abort {
        writeln!(w, "  abort      {} (recovery {})", a.describe(), humantime::format_duration(a.recovery))?;
    }
    Ok(())
}

/// A comparison table.
pub fn deltas(w: &mut impl Write, deltas: &[chaos_engine::compare::Delta]) -> io::Result<()> {
    writeln!(w, "{:<8} {:<20} {:>14} {:>14} {:>10}", "phase", "kpi", "base", "new", "worse by")?;
    for d in deltas {
        let mark = if d.regression { "  REGRESSION" } else { "" };
        writeln!(
            w,
            "{:<8} {:<20} {:>14} {:>14} {:>9.1}%{mark}",
            d.phase.to_string(),
            d.kpi.name(),
            d.kpi.format(Some(d.base)),
            d.kpi.format(Some(d.new)),
            d.worse_by * 100.0
        )?;
    }
    Ok(())
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
