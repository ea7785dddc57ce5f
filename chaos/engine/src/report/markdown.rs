//! `report.md`: the summary a pull request shows — verdict, checks, KPIs per phase, faults,
//! services and guards.

use super::{Exporter, Report};
use crate::kpi::{Kpi, Workload};
use crate::verdict::{Outcome, Status};
use std::fmt::Write;

/// Markdown summary of a [`Report`].
pub struct Markdown;

fn verdict_line(r: &Report) -> String {
    let details = || r.findings.iter().map(|f| f.detail.as_str()).collect::<Vec<_>>().join("; ");
    match r.status {
        Status::Passed => "✅ **passed** — every gate held".into(),
        Status::Failed => format!("❌ **failed** — {}", details()),
        Status::Aborted => format!("⚠️ **aborted** — {}", details()),
    }
}

impl Exporter for Markdown {
    fn file_name(&self) -> &str {
        "report.md"
    }

    fn render(&self, r: &Report) -> Vec<u8> {
        let mut s = String::new();
        let _ = writeln!(s, "# {}\n", r.experiment.name);
        let _ = writeln!(s, "{}\n", verdict_line(r));
        if !r.experiment.description.is_empty() {
            let _ = writeln!(s, "{}\n", r.experiment.description.trim());
        }
        let unit = if r.experiment.load.workload() == Workload::Http { "arrivals" } else { "sessions" };
        let _ = writeln!(
            s,
            "Seed {} · {} · {:.0} {unit}/s · warm-up {}s · measured {}s · {} {unit} sent, {} dropped · started {} · \
             platform up in {:.2} s\n",
            r.seed,
            r.experiment.clock,
            r.load.rate_per_s,
            r.load.warmup_s,
            r.load.duration_s,
            r.load.sent,
            r.load.dropped,
            r.run.started_at,
            r.run.platform_start_s
        );

        let _ = writeln!(s, "## Checks\n\n| | check | kind | phase | bound | observed |\n|---|---|---|---|---|---|");
        for c in r.checks() {
            let icon = match c.outcome {
                Outcome::Pass => "✅",
                Outcome::Fail => "❌",
                Outcome::Skipped => "➖",
            };
            let sign = c.op.symbol();
            let kind = serde_json::to_value(c.kind).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
            let _ = writeln!(
                s,
                "| {icon} | {} | {kind} | {} | {sign} {} | {} |",
                c.name,
                c.phase,
                c.kpi.format(Some(c.bound)),
                c.kpi.format(c.observed)
            );
        }

        if !r.probes.is_empty() {
            let _ = writeln!(
                s,
                "\n## Probes\n\n| | check | kind | phase | samples passed | worst sample |\n|---|---|---|---|---|---|"
            );
            for p in &r.probes {
                let icon = match p.outcome {
                    Outcome::Pass => "✅",
                    Outcome::Fail => "❌",
                    Outcome::Skipped => "➖",
                };
                let kind = if p.kind == crate::verdict::CheckKind::Gate { "gate" } else { "steady_state" };
                let worst = p.worst().map_or("–".into(), |w| {
                    let value = w.value.map(|v| format!("{v} ")).unwrap_or_default();
                    format!("{value}{} at {:.1} s", w.detail, w.at_s)
                });
                let (n, passed) = (p.samples.len(), p.passed());
                let _ = writeln!(s, "| {icon} | {} | {kind} | {} | {passed} of {n} | {worst} |", p.name, p.phase);
            }
            let _ = writeln!(s);
        }

        if let Some(q) = &r.sequential {
            let _ = writeln!(
                s,
                "Stopped early by the sequential test at {:.1} s: play success looks **{}** after {} plays with {} failures (log-likelihood ratio {:.2}, bounds {:.2} / {:.2}).\n",
                q.at_s,
                if q.decision == crate::sequential::Decision::Good { "good" } else { "bad" },
                q.plays,
                q.failures,
                q.llr,
                q.bounds.0,
                q.bounds.1
            );
        }

        if let Some(c) = &r.cohorts {
            let (success, latency) = c.difference.names();
            let _ = writeln!(
                s,
                "\n## Control vs experiment ({} phase)\n\n| cohort | sessions | {success} | {latency} p50 | {latency} p99 |\n|---|---:|---:|---:|---:|",
                c.phase
            );
            for (name, f) in [("control", &c.control), ("experiment", &c.experiment)] {
                let (ok, p50, p99) = f.headline();
                let _ = writeln!(
                    s,
                    "| {name} | {} | {} | {} | {} |",
                    f.sessions,
                    Kpi::SuccessRatio.format(ok),
                    Kpi::LatencyP50.format(p50),
                    Kpi::LatencyP99.format(p99)
                );
            }
            let (drop, (lo, hi), p) = c.difference.figures();
            let p = p.map_or("–".into(), |p| format!("{p:.4}"));
            let (drop, lo, hi) = (drop * 100.0, lo * 100.0, hi * 100.0);
            let _ = writeln!(
                s,
                "\n{} drop {drop:.2} pp (95 % CI {lo:.2}..{hi:.2}); {latency} Mann–Whitney p = {p}.",
                success[..1].to_ascii_uppercase() + &success[1..]
            );
            for (gate, outcome) in &c.gates {
                let _ = writeln!(s, "- {} {gate}", if *outcome == Outcome::Pass { "✅" } else { "❌" });
            }
        }

        if !r.coverage.is_empty() {
            let _ = writeln!(
                s,
                "\n## Guard coverage\n\n| | guard | fired | at least | amplification |\n|---|---|---:|---:|---:|"
            );
            for c in &r.coverage {
                let icon = if c.outcome == Outcome::Pass { "✅" } else { "❌" };
                let amp = match (c.amplification, c.amplification_at_most) {
                    (Some(a), Some(max)) => format!("×{a:.2} (≤ ×{max})"),
                    _ => "–".into(),
                };
                let _ = writeln!(s, "| {icon} | {} | {} | {} | {amp} |", c.guard, c.observed, c.at_least);
            }
        }

        let _ = write!(s, "\n## KPIs per phase\n\n| KPI |");
        for p in &r.phases {
            let _ = write!(s, " {} ({:.0}–{:.0} s) |", p.phase, p.from_s, p.to_s);
        }
        let _ = write!(s, "\n|---|{}\n", "---|".repeat(r.phases.len()));
        let workload = r.experiment.load.workload();
        for kpi in Kpi::of(workload) {
            let _ = write!(s, "| {} |", kpi.name());
            for p in &r.phases {
                let _ = write!(s, " {} |", kpi.format(p.kpis.get(&kpi).copied().flatten()));
            }
            s.push('\n');
        }
        let failures: Vec<String> = r
            .phases
            .iter()
            .filter(|p| !p.failures.is_empty())
            .map(|p| {
                let reasons: Vec<String> = p.failures.iter().map(|(k, v)| format!("{k} ×{v}")).collect();
                format!("- {}: {}", p.phase, reasons.join(", "))
            })
            .collect();
        if !failures.is_empty() {
            let what = if workload == Workload::Http { "requests" } else { "starts" };
            let _ = writeln!(s, "\nFailed {what} by reason:\n{}", failures.join("\n"));
        }
        if let Some(run) = r.phase(crate::kpi::Phase::Run).filter(|p| !p.requests.is_empty()) {
            let _ = writeln!(
                s,
                "\n## Requests (whole run)\n\n| request | sent | success | rps | p50 | p99 | max | failures |\n|---|---:|---:|---:|---:|---:|---:|---|"
            );
            for (name, q) in &run.requests {
                let v = |k: Kpi| k.format(q.kpis.get(&k).copied().flatten());
                let failures: Vec<String> = q.failures.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
                let _ = writeln!(
                    s,
                    "| {name} | {} | {} | {} | {} | {} | {} | {} |",
                    v(Kpi::Requests),
                    v(Kpi::SuccessRatio),
                    v(Kpi::Rps),
                    v(Kpi::LatencyP50),
                    v(Kpi::LatencyP99),
                    v(Kpi::LatencyMax),
                    failures.join(", ")
                );
            }
        }

        if !r.timeline.is_empty() {
            let _ =
                writeln!(s, "\n## Fault timeline\n\n| at | step | action | fault | instances |\n|---|---|---|---|---|");
            for e in &r.timeline {
                let action =
                    serde_json::to_value(e.action).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
                let _ = writeln!(
                    s,
                    "| {:.1} s | {} | {action} | {} | {} |",
                    e.at_ms as f64 / 1000.0,
                    e.step,
                    e.fault,
                    e.instances.join(", ")
                );
            }
        }

        if !r.services.is_empty() {
            let _ = writeln!(
                s,
                "\n## Services\n\n| service | requests | errors | injected | p50 | p90 | p99 | p99.9 | max |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|"
            );
            for sv in &r.services {
                let l = &sv.latency_ms;
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
                    sv.service, sv.requests, sv.errors, sv.injected, l.p50, l.p90, l.p99, l.p999, l.max
                );
            }
        }

        if !r.guards.is_empty() {
            let _ = writeln!(
                s,
                "\n## Guards\n\n| caller → dependency | calls | timeouts | retries | denied by budget | ejections | breaker opened | short-circuited | failures | fallbacks | amplification |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
            );
            for g in &r.guards {
                let _ = writeln!(
                    s,
                    "| {} → {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | ×{:.2} |",
                    g.caller,
                    g.callee,
                    g.calls,
                    g.timeouts,
                    g.retries,
                    g.retries_denied_by_budget,
                    g.ejections,
                    g.breaker_opens,
                    g.short_circuited,
                    g.failures,
                    g.fallbacks,
                    g.retry_amplification()
                );
            }
        }
        let faulted: Vec<_> = r.fault_metrics.iter().filter(|(_, m)| !m.injected.is_empty()).collect();
        if !faulted.is_empty() {
            let _ = writeln!(
                s,
                "\n## Injected faults by instance\n\n| instance | requests seen | injected |\n|---|---:|---|"
            );
            for (name, m) in faulted {
                let kinds: Vec<String> = m.injected.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
                let _ = writeln!(s, "| {name} | {} | {} |", m.requests_seen, kinds.join(", "));
            }
        }
        s.into_bytes()
    }
}
