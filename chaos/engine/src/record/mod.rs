//! [`Recorder`]: session outcomes sorted into phases and one-second buckets by intended start,
//! so that figures can be read per phase, per second, or over any sliding window.

mod seconds;

use crate::cohorts::Side;
use crate::kpi::{Kpi, Phase, PhaseStats};
use crate::metrics::RunMetrics;
use crate::requests::ArrivalOutcome;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use targets::SessionOutcome;
use tokio::time::Instant;

/// The phases' time bounds, from the end of warm-up.
#[derive(Clone, Copy, Debug)]
pub struct PhaseBounds {
    /// Measured duration.
    pub duration: Duration,
    /// First fault start and last fault end, if there are faults.
    pub faults: Option<(Duration, Duration)>,
}

impl PhaseBounds {
    /// The phases a session starting at `offset` belongs to (`run` and one of the others).
    pub fn phases_of(&self, offset: Duration) -> impl Iterator<Item = Phase> {
        let part = match self.faults {
            None => None,
            Some((start, _)) if offset < start => Some(Phase::Before),
            Some((_, end)) if offset < end => Some(Phase::Faults),
            Some(_) => Some(Phase::After),
        };
        std::iter::once(Phase::Run).chain(part)
    }

    /// A phase's span, from the end of warm-up; `None` for a phase this run does not have.
    pub fn span(&self, phase: Phase) -> Option<(Duration, Duration)> {
        match (phase, self.faults) {
            (Phase::Run, _) => Some((Duration::ZERO, self.duration)),
            (_, None) => None,
            (Phase::Before, Some((start, _))) => Some((Duration::ZERO, start)),
            (Phase::Faults, Some(window)) => Some(window),
            (Phase::After, Some((_, end))) => Some((end, self.duration)),
        }
    }
}

/// One second of the run.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SeriesPoint {
    /// Second since the end of warm-up.
    pub t_s: u32,
    /// Sessions started in it.
    pub sessions: u64,
    /// Of those, successful starts.
    pub play_ok: u64,
    /// TTFF median of its successful starts (ms).
    pub ttff_p50_ms: Option<f64>,
    /// TTFF 99th percentile (ms).
    pub ttff_p99_ms: Option<f64>,
    /// HTTP workload: its requests in this second, and their successes and latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpPoint>,
    /// Play sessions: what the viewers of the plays pressed in this second saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qoe: Option<QoePoint>,
}

/// One second of Play presses (by intended start) and the QoE of those that started.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct QoePoint {
    /// Play presses.
    pub plays: u64,
    /// Of those, exits before video start.
    pub exits: u64,
    /// The started plays' QoE, summed.
    pub sums: crate::kpi::QoeSums,
}

impl QoePoint {
    /// Adds another second's.
    pub fn merge(&mut self, o: &QoePoint) {
        self.plays += o.plays;
        self.exits += o.exits;
        self.sums.merge(&o.sums);
    }

    /// A QoE KPI over it (see [`crate::kpi::QoeSums::value`]).
    pub fn value(&self, kpi: crate::kpi::Kpi) -> Option<f64> {
        self.sums.value(kpi, (self.exits, self.plays))
    }
}

/// One second of the HTTP workload's requests (by intended start).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct HttpPoint {
    /// Requests sent.
    pub requests: u64,
    /// Of those, successes.
    pub ok: u64,
    /// Latency median (ms).
    pub latency_p50_ms: Option<f64>,
    /// Latency 99th percentile (ms).
    pub latency_p99_ms: Option<f64>,
}

#[derive(Default)]
struct Inner {
    phases: BTreeMap<Phase, PhaseStats>,
    cohorts: BTreeMap<(Side, Phase), PhaseStats>,
    seconds: seconds::Seconds,
}

/// Collects outcomes while the run goes on; safe to share between session tasks.
pub struct Recorder {
    origin: Instant,
    bounds: PhaseBounds,
    inner: Mutex<Inner>,
    /// The live series outcomes are also counted in (`--metrics`), warm-up included.
    metrics: Option<Arc<RunMetrics>>,
}

impl Recorder {
    /// A recorder whose measurement starts at `origin`.
    pub fn new(origin: Instant, bounds: PhaseBounds) -> Self {
        Self { origin, bounds, inner: Mutex::default(), metrics: None }
    }

    /// The same, counting every outcome in `metrics` too.
    pub fn with_metrics(self, metrics: Option<Arc<RunMetrics>>) -> Self {
        Self { metrics, ..self }
    }

    /// The phase bounds.
    pub fn bounds(&self) -> PhaseBounds {
        self.bounds
    }

    /// Adds a session of cohort `side` that was meant to start at `intended` (warm-up
    /// sessions are ignored).
    pub fn record(&self, intended: Instant, side: Option<Side>, outcome: &SessionOutcome) {
        if let Some(m) = &self.metrics {
            m.observe_session(outcome);
        }
        self.add(intended, side, |p| p.record(outcome));
    }

    /// Adds an arrival that was dropped at the in-flight limit: a failed session.
    pub fn record_dropped(&self, intended: Instant, side: Option<Side>) {
        if let Some(m) = &self.metrics {
            m.observe_dropped_session();
        }
        self.add(intended, side, PhaseStats::record_dropped);
    }

    /// Adds an arrival of the HTTP workload meant to start at `intended`.
    pub fn record_arrival(&self, intended: Instant, side: Option<Side>, outcome: &ArrivalOutcome) {
        if let Some(m) = &self.metrics {
            m.observe_arrival(outcome);
        }
        self.add(intended, side, |p| p.record_arrival(outcome));
    }

    /// Adds an arrival of the HTTP workload's `entry` that was dropped at the in-flight limit.
    pub fn record_dropped_arrival(&self, intended: Instant, side: Option<Side>, entry: &str) {
        if let Some(m) = &self.metrics {
            m.observe_dropped_arrival(entry);
        }
        self.add(intended, side, |p| p.record_dropped_arrival(entry));
    }

    fn add(&self, intended: Instant, side: Option<Side>, record: impl Fn(&mut PhaseStats)) {
        let Some(offset) = intended.checked_duration_since(self.origin) else { return };
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for p in self.bounds.phases_of(offset) {
            record(inner.phases.entry(p).or_default());
            if let Some(side) = side {
                record(inner.cohorts.entry((side, p)).or_default());
            }
        }
        inner.seconds.add(offset.as_secs() as usize, record);
    }

    /// A copy of a phase's figures so far.
    pub fn phase(&self, phase: Phase) -> PhaseStats {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.phases.get(&phase).cloned().unwrap_or_default()
    }

    /// Sessions of a phase so far (without copying its histograms).
    pub fn sessions(&self, phase: Phase) -> u64 {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.phases.get(&phase).map_or(0, |p| p.sessions)
    }

    /// A copy of one cohort's figures in a phase.
    pub fn cohort(&self, side: Side, phase: Phase) -> PhaseStats {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.cohorts.get(&(side, phase)).cloned().unwrap_or_default()
    }

    /// The figures of sessions meant to start in whole seconds `[from, to)` after warm-up.
    pub fn window(&self, from: u64, to: u64) -> PhaseStats {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.seconds.merged(from as usize, to as usize)
    }

    /// The worst value of `kpi` (of `request`, for the HTTP workload's KPIs) over every
    /// `window` (whole seconds) inside `[from, to)`: the lowest when `lower_is_worse`, else the
    /// highest; `None` when no window had a value.
    pub fn worst_window(
        &self,
        from: Duration,
        to: Duration,
        kpi: (Kpi, Option<&str>),
        window: Duration,
        lower_is_worse: bool,
    ) -> Option<f64> {
        let (from, to, w) = (from.as_secs_f64().ceil() as u64, to.as_secs(), window.as_secs().max(1));
        let (kpi, request) = kpi;
        (from..to.saturating_sub(w).saturating_add(1))
            .filter(|t| t + w <= to)
            .filter_map(|t| self.window(t, t + w).value(kpi, request, w as f64))
            .reduce(|a, b| if lower_is_worse { a.min(b) } else { a.max(b) })
    }

    /// Seconds since the end of warm-up, now (0 during warm-up).
    pub fn now_s(&self) -> f64 {
        Instant::now().saturating_duration_since(self.origin).as_secs_f64()
    }

    /// The per-second series.
    pub fn series(&self) -> Vec<SeriesPoint> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let pct = |s: &PhaseStats, q| (!s.ttff_us.is_empty()).then(|| s.ttff_us.value_at_quantile(q) as f64 / 1000.0);
        let http = |s: &PhaseStats| {
            s.http.as_ref().map(|h| HttpPoint {
                requests: h.all.requests,
                ok: h.all.ok,
                latency_p50_ms: h.all.latency_ms(0.5),
                latency_p99_ms: h.all.latency_ms(0.99),
            })
        };
        let qoe =
            |s: &PhaseStats| (s.plays > 0).then(|| QoePoint { plays: s.plays, exits: s.exits(), sums: s.qoe.clone() });
        let points = inner.seconds.map(|s| (s.sessions, s.play_ok, pct(s, 0.5), pct(s, 0.99), http(s), qoe(s)));
        let point = |(t, (sessions, play_ok, ttff_p50_ms, ttff_p99_ms, http, qoe))| SeriesPoint {
            t_s: t as u32,
            sessions,
            play_ok,
            ttff_p50_ms,
            ttff_p99_ms,
            http,
            qoe,
        };
        points.into_iter().enumerate().map(point).collect()
    }
}
