//! The run's report: one serde structure (`report.json`, versioned) and the exporters that turn
//! it into files. Exporters know the report, not the engine.

pub mod hgrm;
mod html;
mod json;
mod junit;
mod markdown;
mod svg;
mod write;

pub use hgrm::Hgrm;
pub use html::Html;
pub use json::Json;
pub use junit::Junit;
pub use markdown::Markdown;
pub use write::{Exporter, report_dir, stamp, write_files, write_report};

/// The files of a whole report: `report.json`, `report.md`, `report.html`, `junit.xml` and one `.hgrm` per
/// histogram.
pub fn exporters(report: &Report) -> Vec<Box<dyn Exporter>> {
    let mut all: Vec<Box<dyn Exporter>> = vec![Box::new(Json), Box::new(Markdown), Box::new(Html), Box::new(Junit)];
    all.extend(Hgrm::all(report).into_iter().map(|h| Box::new(h) as Box<dyn Exporter>));
    all
}

use crate::abort::AbortFired;
use crate::cohorts::CohortReport;
use crate::coverage::CoverageResult;
use crate::experiment::Experiment;
use crate::kpi::{Kpi, Phase};
use crate::record::SeriesPoint;
use crate::sequential::SequentialResult;
use crate::timeline::TimelineEvent;
use crate::verdict::{CheckResult, Status};
use chaos_fault::FaultMetrics;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use targets::GuardStats;

/// Version of the `report.json` schema; bumped on incompatible changes.
pub const SCHEMA_VERSION: u32 = 3;

/// Everything a run found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The experiment as run.
    pub experiment: Experiment,
    /// The file it came from.
    pub file: Option<String>,
    /// The seed used.
    pub seed: u64,
    /// When and how long the run itself took on the wall clock: the one part of the report
    /// that two runs with the same seed on the virtual clock do not share.
    #[serde(default)]
    pub run: RunInfo,
    /// The verdict.
    pub status: Status,
    /// What the verdict rests on that did not hold, gates first (empty when it passed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<crate::verdict::Finding>,
    /// Why the run stopped early, when it did.
    pub abort_reason: Option<String>,
    /// The sequential test's early decision, if it stopped the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequential: Option<SequentialResult>,
    /// The abort condition that fired, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort: Option<AbortFired>,
    /// The probe checks, each with its samples (hypothesis, then gates).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<crate::probes::ProbeResult>,
    /// What the load generator did.
    pub load: LoadReport,
    /// Fault changes as they happened.
    pub timeline: Vec<TimelineEvent>,
    /// KPIs per phase.
    pub phases: Vec<PhaseReport>,
    /// The steady-state hypothesis, checked.
    pub steady_state: Vec<CheckResult>,
    /// The gates, checked.
    pub gates: Vec<CheckResult>,
    /// Control versus experiment cohorts, compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cohorts: Option<CohortReport>,
    /// The guard coverage gates, checked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coverage: Vec<CoverageResult>,
    /// Per-service request figures (server side, injected faults included).
    pub services: Vec<ServiceReport>,
    /// What the guards did.
    pub guards: Vec<GuardStats>,
    /// What the fault layer of each instance did.
    #[serde(default)]
    pub fault_metrics: BTreeMap<String, FaultMetrics>,
    /// Per-second series.
    pub series: Vec<SeriesPoint>,
    /// Latency histograms (µs) in HdrHistogram's compressed base64 form (see [`hgrm`]):
    /// `ttff/PHASE`, `home/PHASE` and `service/NAME` (server side).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub histograms: BTreeMap<String, String>,
}

/// The run on the wall clock (kept apart from the figures, which the seed decides on the
/// virtual clock).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// Wall-clock start (RFC 3339, UTC).
    pub started_at: String,
    /// Wall-clock length of the run, seconds.
    pub wall_time_s: f64,
    /// Wall-clock time the system took to come up (every instance listening), seconds.
    pub platform_start_s: f64,
}

/// Latency percentiles in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th.
    pub p90: f64,
    /// 99th.
    pub p99: f64,
    /// 99.9th.
    pub p999: f64,
    /// Largest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

impl Percentiles {
    /// Percentiles of a histogram of microseconds.
    pub fn of_us(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        Self {
            p50: ms(0.5),
            p90: ms(0.9),
            p99: ms(0.99),
            p999: ms(0.999),
            max: h.max() as f64 / 1000.0,
            mean: h.mean() / 1000.0,
        }
    }
}

/// The load generator's figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    /// Arrivals per second.
    pub rate_per_s: f64,
    /// Warm-up, seconds.
    pub warmup_s: f64,
    /// Measured duration, seconds.
    pub duration_s: f64,
    /// Sessions started.
    pub sent: u64,
    /// Sessions that ran to their end.
    pub completed: u64,
    /// Arrivals dropped at the in-flight limit.
    pub dropped: u64,
    /// Arrivals not started because the run stopped early.
    pub cancelled: u64,
    /// Session time from intended start to the end of the session.
    pub session_latency_ms: Percentiles,
}

/// One phase's figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhaseReport {
    /// The phase.
    pub phase: Phase,
    /// Start, seconds from the end of warm-up.
    pub from_s: f64,
    /// End.
    pub to_s: f64,
    /// KPI values (`null` when the phase had no sessions).
    pub kpis: BTreeMap<Kpi, Option<f64>>,
    /// TTFF percentiles of successful starts.
    pub ttff_ms: Percentiles,
    /// Failed starts by reason.
    pub failures: BTreeMap<String, u64>,
    /// CDN failovers.
    pub failovers: u64,
    /// Sums of what the viewers of started plays saw (stalls, bitrate, switches, abandoned and
    /// stall-aborted downloads, interruptions).
    #[serde(default)]
    pub qoe: crate::kpi::QoeSums,
    /// HTTP workload: each request's, flow's and flow step's figures, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requests: BTreeMap<String, RequestReport>,
}

/// One request's (or flow's) figures in a phase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestReport {
    /// The HTTP workload's KPIs for it.
    pub kpis: BTreeMap<Kpi, Option<f64>>,
    /// Its failures by reason (`status 503`, `timeout`, `refused`, `reset`, ...).
    pub failures: BTreeMap<String, u64>,
}

impl RequestReport {
    /// `name`'s figures in `stats`, a phase of `secs` seconds.
    pub fn of(stats: &crate::kpi::PhaseStats, name: &str, secs: f64) -> Self {
        let kpis = Kpi::of(crate::kpi::Workload::Http).map(|k| (k, stats.value(k, Some(name), secs))).collect();
        let failures = stats
            .http
            .as_ref()
            .and_then(|h| h.get(Some(name)))
            .map(|r| r.failures.iter().map(|(f, n)| (f.to_string(), *n)).collect())
            .unwrap_or_default();
        Self { kpis, failures }
    }
}

/// One service's request figures over the whole run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceReport {
    /// Service name.
    pub service: String,
    /// Requests seen.
    pub requests: u64,
    /// 5xx answers and dropped connections.
    pub errors: u64,
    /// Of the errors, injected by the fault layer.
    pub injected: u64,
    /// Server-side latency (to response head), injected delays included.
    pub latency_ms: Percentiles,
}

impl Report {
    /// Every check: hypothesis then gates.
    pub fn checks(&self) -> impl Iterator<Item = &CheckResult> {
        self.steady_state.iter().chain(&self.gates)
    }

    /// A phase's report.
    pub fn phase(&self, phase: Phase) -> Option<&PhaseReport> {
        self.phases.iter().find(|p| p.phase == phase)
    }

    /// The names of what failed, gates first: checks by name, `cohorts: GATE`, `coverage:
    /// GUARD`, and `sequential: bad` — the same names in every run of the experiment, so runs
    /// with other seeds or timelines can be asked whether *this* gate failed again.
    pub fn failed(&self) -> Vec<String> {
        let failed = self.findings.iter().filter(|f| f.kind != crate::verdict::FindingKind::Aborted);
        failed.map(|f| f.name.clone()).collect()
    }
}

/// A cohort gate's name without its measured figures (`play success drop 0.42 pp (…) within
/// 0.50 pp` → `play success drop`; `TTFF unchanged: Mann–Whitney p …` → `TTFF unchanged`).
pub(crate) fn gate_name(gate: &str) -> &str {
    gate.split(|c: char| c.is_ascii_digit() || c == ':').next().unwrap_or(gate).trim()
}
