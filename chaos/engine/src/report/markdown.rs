//! `report.md`: the summary a pull request shows — verdict, checks, KPIs per phase, faults,
//! services and guards.

use super::{Exporter, Report};
use crate::kpi::Kpi;
use crate::verdict::{Outcome, Status};
use std::fmt::Write;

/// Markdown summary of a [`Report`].
pub struct Markdown;

fn verdict_line(r: &Report) -> String {
    match r.status {
        Status::Passed => "✅ **passed** — every gate held".into(),
        Status::Failed => {
            let failed: Vec<String> = r
                .checks()
                .filter(|c| c.outcome == Outcome::Fail)
                .map(|c| c.name.clone())
                .chain(
                    r.coverage
                        .iter()
                        .filter(|c| c.outcome == Outcome::Fail)
                        .map(|c| format!("{} never fired enough", c.guard)),
                )
                .collect();
            format!("❌ **failed** — {}", failed.join("; "))
        }
        Status::Aborted => format!("⚠️ **aborted** — {}", r.abort_reason.as_deref().unwrap_or("stopped early")),
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
        let _ = writeln!(
            s,
            "Seed {} · {} · {:.0} sessions/s · warm-up {}s · measured {}s · {} sessions sent, {} dropped · started {} · \
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
            let sign = if c.op == "at_least" { "≥" } else { "≤" };
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
            let _ = writeln!(
                s,
                "\n## Control vs experiment ({} phase)\n\n| cohort | sessions | play success | TTFF p50 | TTFF p99 |\n|---|---:|---:|---:|---:|",
                c.phase
            );
            for (name, f) in [("control", &c.control), ("experiment", &c.experiment)] {
                let _ = writeln!(
                    s,
                    "| {name} | {} | {} | {} | {} |",
                    f.sessions,
                    Kpi::PlaySuccessRatio.format(f.play_success_ratio),
                    Kpi::TtffP50.format(f.ttff_p50_ms),
                    Kpi::TtffP99.format(f.ttff_p99_ms)
                );
            }
            let p = c.ttff_mann_whitney_p.map_or("–".into(), |p| format!("{p:.4}"));
            let _ = writeln!(
                s,
                "\nPlay success drop {:.2} pp (95 % CI {:.2}..{:.2}); TTFF Mann–Whitney p = {p}.",
                c.play_success_drop * 100.0,
                c.drop_ci95.0 * 100.0,
                c.drop_ci95.1 * 100.0
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
        for kpi in Kpi::ALL {
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
            let _ = writeln!(s, "\nFailed starts by reason:\n{}", failures.join("\n"));
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
