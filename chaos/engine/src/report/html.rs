//! `report.html`: one self-contained page (inline CSS and SVG, no script, no network fetch) —
//! verdict, starts and play success over time with every fault window shaded and labelled, TTFF
//! over time, TTFF percentile curves per phase, the checks, KPIs and QoE per phase, services,
//! guard coverage, cohorts and the fault timeline.
//!
//! Series are downsampled to at most [`MAX_POINTS`] points, so a 10-minute run at 1,000
//! sessions/s renders as quickly as a 30-second one.

use super::svg::{Band, Chart, Series};
use super::{Exporter, Report, hgrm};
use crate::kpi::{Kpi, Phase, Workload};
use crate::record::{QoePoint, SeriesPoint};
use crate::timeline::Action;
use crate::verdict::{Outcome, Status};
use std::fmt::Write;

/// Most points drawn per series.
pub const MAX_POINTS: usize = 300;

/// The HTML exporter.
pub struct Html;

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:800px;color:#222}\
h1{margin-bottom:.2em}.verdict{font-size:1.2em;padding:.4em .8em;border-radius:6px;display:inline-block}\
.passed{background:#dff5e1}.failed{background:#fbe0e0}.aborted{background:#fff1cc}\
table{border-collapse:collapse;margin:.6em 0 1.4em;width:100%}td,th{border-bottom:1px solid #ddd;padding:3px 6px;text-align:right}\
td:first-child,th:first-child{text-align:left}.pass{color:#1a7f37}.fail{color:#c62828;font-weight:bold}\
figure{margin:1em 0}figcaption{font-weight:600}svg{width:100%;height:auto}\
.fault-band{fill:#f5a623;opacity:.18}.band-label{font-size:10px;fill:#a35f00}.axes line{stroke:#888}\
.tick{font-size:10px;fill:#555}.axis-label{font-size:11px;fill:#333}.legend{font-size:11px}";

fn esc(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Per-second points merged into one bucket.
struct Bucket {
    /// First second.
    at: f64,
    /// Seconds merged.
    secs: f64,
    sessions: u64,
    starts: u64,
    /// Worst TTFF p99 of the seconds.
    p99: Option<f64>,
    /// Median of their TTFF p50s.
    p50: Option<f64>,
    /// Play sessions: their plays' QoE, merged.
    qoe: Option<QoePoint>,
}

/// The per-second series merged into at most `MAX_POINTS` buckets.
fn downsample(series: &[SeriesPoint]) -> Vec<Bucket> {
    let per = series.len().div_ceil(MAX_POINTS).max(1);
    series
        .chunks(per)
        .map(|c| {
            let p99 =
                c.iter().filter_map(|p| p.ttff_p99_ms).fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
            let mut p50s: Vec<f64> = c.iter().filter_map(|p| p.ttff_p50_ms).collect();
            p50s.sort_by(f64::total_cmp);
            let p50 = p50s.get(p50s.len() / 2).copied();
            let (sessions, ok) = c.iter().fold((0, 0), |(s, o), p| (s + p.sessions, o + p.play_ok));
            let qoe = c.iter().filter_map(|p| p.qoe.as_ref()).fold(None, |acc: Option<QoePoint>, q| {
                let mut acc = acc.unwrap_or_default();
                acc.merge(q);
                Some(acc)
            });
            Bucket { at: f64::from(c[0].t_s), secs: c.len() as f64, sessions, starts: ok, p99, p50, qoe }
        })
        .collect()
}

/// Fault windows from the timeline: applied → removed or rolled back (or the end of the run).
fn bands(r: &Report) -> Vec<Band> {
    let mut out = Vec::new();
    for (i, e) in r.timeline.iter().enumerate() {
        if e.action != Action::Applied {
            continue;
        }
        let end = r.timeline[i + 1..]
            .iter()
            .find(|x| x.step == e.step && matches!(x.action, Action::Removed | Action::RolledBack))
            .map_or(r.load.duration_s, |x| x.at_ms as f64 / 1000.0);
        let label = format!("{}: {} on {}", e.step, e.fault, e.target);
        out.push(Band { from: e.at_ms as f64 / 1000.0, to: end, label });
    }
    out
}

/// The per-second series of the run's workload, as Play sessions' fields: for the HTTP
/// workload requests, successes and latency stand in for sessions, starts and TTFF.
fn workload_series(r: &Report) -> Vec<SeriesPoint> {
    if r.experiment.load.workload() == Workload::Play {
        return r.series.clone();
    }
    let point = |p: &SeriesPoint| {
        let h = p.http.as_ref();
        SeriesPoint {
            t_s: p.t_s,
            sessions: h.map_or(0, |h| h.requests),
            play_ok: h.map_or(0, |h| h.ok),
            ttff_p50_ms: h.and_then(|h| h.latency_p50_ms),
            ttff_p99_ms: h.and_then(|h| h.latency_p99_ms),
            http: None,
            qoe: None,
        }
    };
    r.series.iter().map(point).collect()
}

/// What the charts of a workload are called, and which histograms they draw.
struct Labels {
    rate_title: &'static str,
    rate: &'static str,
    arrivals: &'static str,
    success_title: &'static str,
    success: &'static str,
    latency_title: &'static str,
    latency: &'static str,
    histograms: &'static str,
    percentiles_title: &'static str,
}

const PLAY_LABELS: Labels = Labels {
    rate_title: "Stream starts per second",
    rate: "SPS",
    arrivals: "sessions/s",
    success_title: "Play success",
    success: "play success %",
    latency_title: "Time to first frame",
    latency: "TTFF",
    histograms: "ttff",
    percentiles_title: "TTFF by percentile (HdrHistogram)",
};

const HTTP_LABELS: Labels = Labels {
    rate_title: "Requests per second",
    rate: "successes/s",
    arrivals: "requests/s",
    success_title: "Request success",
    success: "success %",
    latency_title: "Latency from each request's intended start",
    latency: "latency",
    histograms: "requests",
    percentiles_title: "Latency by percentile (HdrHistogram)",
};

fn charts(r: &Report, s: &mut String) {
    let series = workload_series(r);
    let points = downsample(&series);
    let l = if r.experiment.load.workload() == Workload::Play { &PLAY_LABELS } else { &HTTP_LABELS };
    let line = |name: &str, f: &dyn Fn(&Bucket) -> Option<f64>| Series {
        name: name.into(),
        points: points.iter().filter_map(|b| f(b).map(|y| (b.at, y))).collect(),
    };
    let time_chart = |title: &str, y: &str, series: Vec<Series>| {
        Chart {
            title: title.into(),
            x_label: "seconds after warm-up".into(),
            y_label: y.into(),
            log_x: false,
            series,
            bands: bands(r),
        }
        .render()
    };
    s.push_str(&time_chart(
        l.rate_title,
        "per second",
        vec![
            line(l.rate, &|b| Some(b.starts as f64 / b.secs)),
            line(l.arrivals, &|b| Some(b.sessions as f64 / b.secs)),
        ],
    ));
    s.push_str(&time_chart(
        l.success_title,
        "%",
        vec![line(l.success, &|b| (b.sessions > 0).then(|| 100.0 * b.starts as f64 / b.sessions as f64))],
    ));
    let (p50, p99) = (format!("{} p50", l.latency), format!("{} p99", l.latency));
    s.push_str(&time_chart(l.latency_title, "ms", vec![line(&p50, &|b| b.p50), line(&p99, &|b| b.p99)]));
    let curves: Vec<Series> = Phase::ALL
        .iter()
        .filter_map(|phase| {
            let h = hgrm::decode(r.histograms.get(&format!("{}/{phase}", l.histograms))?)?;
            let points = h
                .iter_quantiles(2)
                .map(|v| v.quantile_iterated_to())
                .filter(|q| *q < 0.99999)
                .map(|q| (1.0 / (1.0 - q), h.value_at_quantile(q) as f64 / 1000.0))
                .collect::<Vec<_>>();
            (!points.is_empty()).then(|| Series { name: phase.to_string(), points })
        })
        .collect();
    if r.experiment.load.workload() == Workload::Play {
        for (kpi, title, y, scale) in QOE_CHARTS {
            let name = kpi.name();
            let of = |b: &Bucket| b.qoe.as_ref().and_then(|q| q.value(kpi)).map(|v| v * scale);
            s.push_str(&time_chart(title, y, vec![line(&name, &of)]));
        }
    }
    probe_charts(r, s, &time_chart);
    if !curves.is_empty() {
        let chart = Chart {
            title: l.percentiles_title.into(),
            x_label: "percentile".into(),
            y_label: "ms".into(),
            log_x: true,
            series: curves,
            bands: Vec::new(),
        };
        s.push_str(&chart.render());
    }
}

/// The QoE KPIs charted for Play sessions, each by the second its plays were pressed: (KPI,
/// title, unit, factor from the KPI's value to the unit).
const QOE_CHARTS: [(Kpi, &str, &str, f64); 6] = [
    (Kpi::RebufferRatio, "Rebuffer ratio", "% of watch time stalled", 100.0),
    (Kpi::RebuffersPerSession, "Rebuffers per started play", "stalls", 1.0),
    (Kpi::AvgBitrateKbps, "Average bitrate", "kbit/s", 1.0),
    (Kpi::SwitchesPerMinute, "Rendition switches", "per minute of media", 1.0),
    (Kpi::ExitsBeforeVideoStart, "Exits before video start", "% of Play presses", 100.0),
    (Kpi::InterruptedRatio, "Interrupted plays", "% of started plays", 100.0),
];

/// One chart per probe, its samples over time with the fault bands: a Prometheus probe's values
/// (with its bounds), another probe's samples as 100 (passed) or 0 (failed).
fn probe_charts(r: &Report, s: &mut String, time_chart: &dyn Fn(&str, &str, Vec<Series>) -> String) {
    let mut names: Vec<&str> = r.probes.iter().map(|p| p.name.as_str()).collect();
    names.dedup();
    for name in names {
        let of_name: Vec<_> = r.probes.iter().filter(|p| p.name == name).collect();
        let numeric = of_name[0].probe == "prometheus";
        let points = of_name
            .iter()
            .flat_map(|p| &p.samples)
            .filter_map(|x| {
                if numeric { x.value.map(|v| (x.at_s, v)) } else { Some((x.at_s, if x.pass { 100.0 } else { 0.0 })) }
            })
            .collect();
        let (label, y) = if numeric { ("value", "value") } else { ("passed", "% (100: passed)") };
        let mut series = vec![Series { name: label.into(), points }];
        if let Some(c) = of_name[0].comparator.filter(|_| numeric) {
            let span = (0.0, r.load.duration_s);
            for (bound, b) in bound_lines(c) {
                series.push(Series { name: bound.into(), points: vec![(span.0, b), (span.1, b)] });
            }
        }
        s.push_str(&time_chart(&format!("Probe: {name}"), y, series));
    }
}

/// The lines a comparator draws: (name, value).
fn bound_lines(c: crate::experiment::probe::Comparator) -> Vec<(&'static str, f64)> {
    use crate::experiment::probe::Comparator::*;
    match c {
        AtLeast(b) => vec![("at least", b)],
        AtMost(b) => vec![("at most", b)],
        Between(lo, hi) => vec![("at least", lo), ("at most", hi)],
        Equals(b) => vec![("equals", b)],
    }
}

fn outcome(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "<td class=\"pass\">pass</td>",
        Outcome::Fail => "<td class=\"fail\">FAIL</td>",
        Outcome::Skipped => "<td>skipped</td>",
    }
}

fn tables(r: &Report, s: &mut String) {
    s.push_str("<h2>Checks</h2><table id=\"checks\"><tr><th>check</th><th>phase</th><th>bound</th><th>observed</th><th></th></tr>");
    for c in r.checks() {
        let sign = c.op.symbol();
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{sign} {}</td><td>{}</td>{}</tr>",
            esc(&c.name),
            c.phase,
            c.kpi.format(Some(c.bound)),
            c.kpi.format(c.observed),
            outcome(c.outcome)
        );
    }
    for p in &r.probes {
        let bound = p.comparator.map(|c| format!("{c}, ")).unwrap_or_default();
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}{:.0} % of samples</td><td>{} of {}</td>{}</tr>",
            esc(&p.name),
            p.phase,
            esc(&bound),
            p.share * 100.0,
            p.passed(),
            p.samples.len(),
            outcome(p.outcome)
        );
    }
    for c in &r.coverage {
        let _ = write!(
            s,
            "<tr><td>guard {}</td><td>run</td><td>≥ {}</td><td>{}</td>{}</tr>",
            esc(&c.guard),
            c.at_least,
            c.observed,
            outcome(c.outcome)
        );
    }
    for (gate, o) in r.cohorts.iter().flat_map(|c| &c.gates) {
        let _ = write!(s, "<tr><td>cohort: {}</td><td></td><td></td><td></td>{}</tr>", esc(gate), outcome(*o));
    }
    s.push_str("</table>");

    s.push_str("<h2>KPIs and QoE per phase</h2><table id=\"kpis\"><tr><th>KPI</th>");
    for p in &r.phases {
        let _ = write!(s, "<th>{} ({:.0}–{:.0} s)</th>", p.phase, p.from_s, p.to_s);
    }
    s.push_str("</tr>");
    for kpi in Kpi::of(r.experiment.load.workload()) {
        let _ = write!(s, "<tr><td>{}</td>", kpi.name());
        for p in &r.phases {
            let _ = write!(s, "<td>{}</td>", kpi.format(p.kpis.get(&kpi).copied().flatten()));
        }
        s.push_str("</tr>");
    }
    s.push_str("</table>");

    s.push_str("<h2>Services</h2><table id=\"services\"><tr><th>service</th><th>requests</th><th>injected</th><th>knock-on errors</th><th>p50 ms</th><th>p99 ms</th><th>p99.9 ms</th></tr>");
    for v in &r.services {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td></tr>",
            esc(&v.service),
            v.requests,
            v.injected,
            v.errors.saturating_sub(v.injected),
            v.latency_ms.p50,
            v.latency_ms.p99,
            v.latency_ms.p999
        );
    }
    s.push_str("</table>");

    s.push_str("<h2>Guards</h2><table id=\"guards\"><tr><th>caller → callee</th><th>calls</th><th>retries</th><th>tries/call</th><th>budget refusals</th><th>fallbacks</th><th>timeouts</th><th>breaker opens</th><th>ejections</th></tr>");
    for g in r.guards.iter().filter(|g| g.calls > 0) {
        let _ = write!(
            s,
            "<tr><td>{} → {}</td><td>{}</td><td>{}</td><td>×{:.2}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&g.caller),
            esc(&g.callee),
            g.calls,
            g.retries,
            (g.calls + g.retries) as f64 / g.calls as f64,
            g.retries_denied_by_budget,
            g.fallbacks,
            g.timeouts,
            g.breaker_opens,
            g.ejections
        );
    }
    if let Some(run) = r.phase(Phase::Run) {
        let q = &run.qoe;
        let _ = write!(
            s,
            "<tr><td>player</td><td colspan=\"8\">{} CDN failovers · {} down-switches · {} downloads abandoned · {} stalled downloads aborted</td></tr>",
            run.failovers, q.down_switches, q.abandons, q.stall_aborts
        );
    }
    s.push_str("</table>");

    if let Some(c) = &r.cohorts {
        let (success, latency) = c.difference.names();
        let _ = write!(
            s,
            "<h2>Cohorts ({})</h2><table id=\"cohorts\"><tr><th>cohort</th><th>sessions</th><th>{success}</th><th>{latency} p50</th><th>{latency} p99</th></tr>",
            c.phase
        );
        for (name, f) in [("control", &c.control), ("experiment", &c.experiment)] {
            let (ok, p50, p99) = f.headline();
            let _ = write!(
                s,
                "<tr><td>{name}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                f.sessions,
                Kpi::SuccessRatio.format(ok),
                Kpi::LatencyP50.format(p50),
                Kpi::LatencyP99.format(p99)
            );
        }
        let (drop, (lo, hi), p) = c.difference.figures();
        let _ = write!(
            s,
            "</table><p>Drop {:.2} pp (95 % interval {:.2}..{:.2}); Mann–Whitney p on {latency}: {}</p>",
            drop * 100.0,
            lo * 100.0,
            hi * 100.0,
            p.map_or("–".into(), |p| format!("{p:.4}"))
        );
    }

    s.push_str("<h2>Fault timeline</h2><table id=\"timeline\"><tr><th>at</th><th>step</th><th>action</th><th>fault</th><th>instances</th></tr>");
    for e in &r.timeline {
        let _ = write!(
            s,
            "<tr><td>{:.1} s</td><td>{}</td><td>{:?}</td><td>{}</td><td>{}</td></tr>",
            e.at_ms as f64 / 1000.0,
            esc(&e.step),
            e.action,
            esc(&e.fault),
            esc(&e.instances.join(", "))
        );
    }
    s.push_str("</table>");
}

impl Exporter for Html {
    fn file_name(&self) -> &str {
        "report.html"
    }

    fn render(&self, r: &Report) -> Vec<u8> {
        let details = r.findings.iter().map(|f| f.detail.as_str()).collect::<Vec<_>>().join("; ");
        let (class, verdict) = match r.status {
            Status::Passed => ("passed", "passed — every gate held".to_string()),
            Status::Failed => ("failed", format!("FAILED — {details}")),
            Status::Aborted => ("aborted", format!("aborted — {details}")),
        };
        let mut s = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{0} — chaos report</title><style>{STYLE}</style></head><body><h1>{0}</h1><p class=\"verdict {class}\" id=\"verdict\">{1}</p><p>{2}</p><p>Seed {3} · {8} · {4:.0} sessions/s · warm-up {5} s · measured {6} s · started {7}</p>",
            esc(&r.experiment.name),
            esc(&verdict),
            esc(r.experiment.description.trim()),
            r.seed,
            r.load.rate_per_s,
            r.load.warmup_s,
            r.load.duration_s,
            esc(&r.run.started_at),
            r.experiment.clock
        );
        charts(r, &mut s);
        tables(r, &mut s);
        s.push_str("</body></html>\n");
        s.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qoe_kpis_are_charted_over_the_merged_seconds() {
        let qoe = |stalled_s: f64, exits: u64| QoePoint {
            plays: 2,
            exits,
            sums: crate::kpi::QoeSums { started: 1, played_s: 10.0, stalled_s, ..Default::default() },
        };
        let series: Vec<SeriesPoint> = (0..600)
            .map(|t| SeriesPoint {
                t_s: t,
                sessions: 2,
                play_ok: 1,
                ttff_p50_ms: None,
                ttff_p99_ms: None,
                http: None,
                qoe: Some(if t % 2 == 0 { qoe(0.0, 1) } else { qoe(5.0, 0) }),
            })
            .collect();
        let b = &downsample(&series)[0];
        assert_eq!(b.secs, 2.0);
        let q = b.qoe.as_ref().unwrap();
        assert_eq!(q.value(Kpi::RebufferRatio), Some(5.0 / 25.0), "stalled over watched, both seconds");
        assert_eq!(q.value(Kpi::ExitsBeforeVideoStart), Some(0.25), "one exit of four presses");
        assert_eq!(q.value(Kpi::RebuffersPerSession), Some(0.0));
    }

    #[test]
    fn a_ten_minute_run_is_drawn_with_at_most_max_points_and_no_session_lost() {
        let series: Vec<SeriesPoint> = (0..600)
            .map(|t| SeriesPoint {
                t_s: t,
                sessions: 1000,
                play_ok: 990,
                ttff_p50_ms: Some(20.0),
                ttff_p99_ms: Some(if t == 301 { 900.0 } else { 40.0 }),
                http: None,
                qoe: None,
            })
            .collect();
        let buckets = downsample(&series);
        assert_eq!(buckets.len(), MAX_POINTS);
        assert_eq!(buckets.iter().map(|b| b.sessions).sum::<u64>(), 600_000);
        assert_eq!(buckets[150].p99, Some(900.0), "the worst second survives the merge");
        assert_eq!((buckets[1].at, buckets[1].secs), (2.0, 2.0));
    }
}
