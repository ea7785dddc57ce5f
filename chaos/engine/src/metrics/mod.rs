//! The run's own figures for Prometheus while it goes (`chaos run --metrics ADDR`): what the
//! workload's requests did, the phase, and which fault is in place — so a dashboard shades the
//! fault windows over the user's own panels.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `chaos_experiment_requests_total` | counter | experiment, workload, request, result (`ok`, `failed`, `dropped`; home pages also `degraded`) |
//! | `chaos_experiment_request_duration_seconds` | histogram | experiment, workload, request |
//! | `chaos_experiment_phase` | gauge | experiment, phase (1 for the phase now: `warmup`, `before`, `faults`, `after` or `run`, then `done`) |
//! | `chaos_experiment_fault_active` | gauge | experiment, step, target, kind (1 while the step's fault is in place) |
//!
//! `request` is the HTTP workload's request (or flow step) name; for Play sessions it is `play`
//! (its duration the time to first frame of a start that succeeded) and `home` (the home page).
//! Durations run from each arrival's intended start, as the report's do (no coordinated
//! omission). Warm-up traffic is counted too: the phase gauge tells it apart.
//!
//! The embedded platform's own series (`chaos_target_*`, `chaos_fault_*`, see
//! `targets::metrics`) are served on the same endpoint while it runs, so one scrape job sees the
//! system and the run.

mod server;

pub use server::serve;

use crate::experiment::Experiment;
use crate::kpi::{Phase, Workload};
use crate::requests::ArrivalOutcome;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use targets::SessionOutcome;
use targets::metrics::PlatformMetrics;

/// The request counter's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    experiment: String,
    workload: &'static str,
    request: String,
    result: &'static str,
}

/// The duration histogram's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DurationLabels {
    experiment: String,
    workload: &'static str,
    request: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    experiment: String,
    phase: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FaultLabels {
    experiment: String,
    step: String,
    target: String,
    kind: &'static str,
}

/// How a request ended, as the counter's `result` label says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Ended {
    Ok,
    Degraded,
    Failed,
    Dropped,
}

impl Ended {
    const ALL: [Ended; 4] = [Ended::Ok, Ended::Degraded, Ended::Failed, Ended::Dropped];

    fn label(self) -> &'static str {
        match self {
            Ended::Ok => "ok",
            Ended::Degraded => "degraded",
            Ended::Failed => "failed",
            Ended::Dropped => "dropped",
        }
    }
}

/// The series one request name counts in, fetched from the families once: a request then
/// costs a map lookup by its name, not a label set built and hashed.
#[derive(Clone, Debug)]
struct RequestSeries {
    results: [Counter; 4],
    duration: Histogram,
}

/// Where the run is, for the phase gauge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunPhase {
    /// Load before measuring.
    Warmup,
    /// A measured phase.
    Measured(Phase),
    /// The load has ended.
    Done,
}

impl RunPhase {
    fn label(self) -> &'static str {
        match self {
            RunPhase::Warmup => "warmup",
            RunPhase::Measured(p) => p.name(),
            RunPhase::Done => "done",
        }
    }
}

/// One run's series.
pub struct RunMetrics {
    experiment: String,
    workload: &'static str,
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<DurationLabels, Histogram, fn() -> Histogram>,
    phases: Vec<(RunPhase, Gauge)>,
    /// Each fault step's gauge, in the experiment's order.
    faults: Vec<Gauge>,
    by_request: RwLock<HashMap<Arc<str>, RequestSeries>>,
    platform: Option<PlatformMetrics>,
}

impl std::fmt::Debug for RunMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunMetrics").field("experiment", &self.experiment).finish_non_exhaustive()
    }
}

/// 1 ms to ~33 s, doubling: service times, injected delays and client timeouts each land in a
/// bucket of their own.
fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1e-3, 2.0, 16))
}

impl RunMetrics {
    /// The series of a run of `exp`: every phase it has and every fault step, at 0; `platform`
    /// the system's own, served beside them.
    pub fn new(exp: &Experiment, platform: Option<PlatformMetrics>) -> Self {
        let workload = match exp.load.workload() {
            Workload::Play => "play",
            Workload::Http => "http",
        };
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "chaos_experiment_requests",
            "Requests the workload sent, by request and result",
            requests.clone(),
        );
        let durations = Family::new_with_constructor(duration_histogram as fn() -> Histogram);
        let help = "Request duration from the intended start (Play: time to first frame of a good start)";
        registry.register("chaos_experiment_request_duration_seconds", help, durations.clone());

        let phases_family = Family::<PhaseLabels, Gauge>::default();
        let help = "1 for the phase the run is in (warmup, before, faults, after or run, done)";
        registry.register("chaos_experiment_phase", help, phases_family.clone());
        let measured =
            if exp.faults.is_empty() { vec![Phase::Run] } else { vec![Phase::Before, Phase::Faults, Phase::After] };
        let all = std::iter::once(RunPhase::Warmup).chain(measured.into_iter().map(RunPhase::Measured));
        let phases = all
            .chain([RunPhase::Done])
            .map(|p| {
                let labels = PhaseLabels { experiment: exp.name.clone(), phase: p.label() };
                (p, phases_family.get_or_create_owned(&labels))
            })
            .collect();

        let faults_family = Family::<FaultLabels, Gauge>::default();
        registry.register("chaos_experiment_fault_active", "1 while the fault step is in place", faults_family.clone());
        let faults = exp
            .faults
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let labels = FaultLabels {
                    experiment: exp.name.clone(),
                    step: exp.step_name(i),
                    target: f.target.to_string(),
                    kind: f.fault.kind(),
                };
                faults_family.get_or_create_owned(&labels)
            })
            .collect();
        let experiment = exp.name.clone();
        let by_request = RwLock::default();
        Self { experiment, workload, registry, requests, durations, phases, faults, by_request, platform }
    }

    /// The series of request `name`, made on its first sight.
    fn series(&self, name: &Arc<str>) -> RequestSeries {
        if let Some(s) = self.by_request.read().unwrap_or_else(|p| p.into_inner()).get(name) {
            return s.clone();
        }
        let counter = |result: Ended| {
            let labels = RequestLabels {
                experiment: self.experiment.clone(),
                workload: self.workload,
                request: name.to_string(),
                result: result.label(),
            };
            self.requests.get_or_create_owned(&labels)
        };
        let labels =
            DurationLabels { experiment: self.experiment.clone(), workload: self.workload, request: name.to_string() };
        let series =
            RequestSeries { results: Ended::ALL.map(counter), duration: self.durations.get_or_create_owned(&labels) };
        let mut map = self.by_request.write().unwrap_or_else(|p| p.into_inner());
        map.entry(name.clone()).or_insert(series).clone()
    }

    fn count(&self, name: &Arc<str>, result: Ended, duration: Option<Duration>) {
        let series = self.series(name);
        // `ALL` lists the variants in declaration order: a variant's number is its counter.
        series.results[result as usize].inc();
        if let Some(d) = duration {
            series.duration.observe(d.as_secs_f64());
        }
    }

    /// Counts a Play session: its home page and its play.
    pub fn observe_session(&self, s: &SessionOutcome) {
        if let Some(home) = &s.home {
            let ended = match (home.ok, home.degraded) {
                (false, _) => Ended::Failed,
                (true, true) => Ended::Degraded,
                (true, false) => Ended::Ok,
            };
            self.count(&HOME, ended, home.ok.then_some(home.latency));
        }
        if let Some(play) = &s.play {
            match (&play.ttff, &play.failure) {
                (Some(t), None) => self.count(&PLAY, Ended::Ok, Some(*t)),
                _ => self.count(&PLAY, Ended::Failed, None),
            }
        }
    }

    /// Counts a Play session dropped at the in-flight limit.
    pub fn observe_dropped_session(&self) {
        self.count(&PLAY, Ended::Dropped, None);
    }

    /// Counts every request of an HTTP arrival (a flow's own name too).
    pub fn observe_arrival(&self, a: &ArrivalOutcome) {
        for r in &a.requests {
            self.count(&r.name, if r.result.is_ok() { Ended::Ok } else { Ended::Failed }, Some(r.latency));
        }
        if a.flow {
            self.count(&a.entry, if a.failure().is_none() { Ended::Ok } else { Ended::Failed }, Some(a.latency));
        }
    }

    /// Counts an HTTP arrival of `entry` dropped at the in-flight limit.
    pub fn observe_dropped_arrival(&self, entry: &str) {
        self.count(&Arc::from(entry), Ended::Dropped, None);
    }

    /// Sets the phase gauge to `now`.
    pub fn set_phase(&self, now: RunPhase) {
        for (p, g) in &self.phases {
            g.set(i64::from(*p == now));
        }
    }

    /// Sets each fault step's gauge: `active[i]` for the experiment's step `i`.
    pub fn set_faults(&self, active: &[bool]) {
        for (g, on) in self.faults.iter().zip(active) {
            g.set(i64::from(*on));
        }
    }

    /// The exposition: the run's series, then the platform's.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode_registry(&mut out, &self.registry);
        if let Some(platform) = &self.platform {
            let mut registry = Registry::default();
            registry.register_collector(Box::new(platform.clone()));
            let _ = encode_registry(&mut out, &registry);
        }
        let _ = encode_eof(&mut out);
        out
    }
}

static PLAY: std::sync::LazyLock<Arc<str>> = std::sync::LazyLock::new(|| Arc::from("play"));
static HOME: std::sync::LazyLock<Arc<str>> = std::sync::LazyLock::new(|| Arc::from("home"));

/// What `--metrics` serves: the run going on now (or the last one), swapped as runs follow one
/// another in one `chaos run`.
#[derive(Debug, Default)]
pub struct MetricsBoard {
    current: RwLock<Option<Arc<RunMetrics>>>,
}

impl MetricsBoard {
    /// The series of a run of `exp` on a system whose own series are `platform`, served from
    /// now on (in place of the last run's).
    pub fn start(&self, exp: &Experiment, platform: Option<PlatformMetrics>) -> Arc<RunMetrics> {
        let run = Arc::new(RunMetrics::new(exp, platform));
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(run.clone());
        run
    }

    /// The exposition of the run served; before any run, an empty one.
    pub fn render(&self) -> String {
        match self.current.read().unwrap_or_else(|p| p.into_inner()).clone() {
            Some(run) => run.render(),
            None => "# EOF\n".to_string(),
        }
    }
}
