//! [`Recorder`]: session outcomes sorted into phases and one-second buckets by intended start.

use crate::kpi::{Phase, PhaseStats};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Mutex;
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
}

#[derive(Default)]
struct Bucket {
    sessions: u64,
    play_ok: u64,
    ttff_us: Option<Histogram<u64>>,
}

/// Collects outcomes while the run goes on; safe to share between session tasks.
pub struct Recorder {
    origin: Instant,
    bounds: PhaseBounds,
    inner: Mutex<(BTreeMap<Phase, PhaseStats>, Vec<Bucket>)>,
}

impl Recorder {
    /// A recorder whose measurement starts at `origin`.
    pub fn new(origin: Instant, bounds: PhaseBounds) -> Self {
        Self { origin, bounds, inner: Mutex::default() }
    }

    /// The phase bounds.
    pub fn bounds(&self) -> PhaseBounds {
        self.bounds
    }

    /// Adds a session that was meant to start at `intended` (warm-up sessions are ignored).
    pub fn record(&self, intended: Instant, outcome: &SessionOutcome) {
        self.add(
            intended,
            |p| p.record(outcome),
            |b| {
                b.play_ok += u64::from(outcome.play.ok);
                if let Some(t) = outcome.play.ttff {
                    // 2 significant digits: a per-second series needs no more, and stays small.
                    let h = b
                        .ttff_us
                        .get_or_insert_with(|| Histogram::new_with_bounds(1, 3_600_000_000, 2).expect("static bounds"));
                    let _ = h.record(t.as_micros().clamp(1, 3_600_000_000) as u64);
                }
            },
        );
    }

    /// Adds an arrival that was dropped at the in-flight limit: a failed session.
    pub fn record_dropped(&self, intended: Instant) {
        self.add(
            intended,
            |p| {
                p.sessions += 1;
                *p.failures.entry("dropped".into()).or_default() += 1;
            },
            |_| {},
        );
    }

    fn add(&self, intended: Instant, phase: impl Fn(&mut PhaseStats), bucket: impl FnOnce(&mut Bucket)) {
        let Some(offset) = intended.checked_duration_since(self.origin) else { return };
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (phases, buckets) = &mut *inner;
        for p in self.bounds.phases_of(offset) {
            phase(phases.entry(p).or_default());
        }
        let second = offset.as_secs() as usize;
        if buckets.len() <= second {
            buckets.resize_with(second + 1, Bucket::default);
        }
        buckets[second].sessions += 1;
        bucket(&mut buckets[second]);
    }

    /// A copy of a phase's figures so far.
    pub fn phase(&self, phase: Phase) -> PhaseStats {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.0.get(&phase).cloned().unwrap_or_default()
    }

    /// The per-second series.
    pub fn series(&self) -> Vec<SeriesPoint> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let pct = |b: &Bucket, q| b.ttff_us.as_ref().map(|h| h.value_at_quantile(q) as f64 / 1000.0);
        inner
            .1
            .iter()
            .enumerate()
            .map(|(t, b)| SeriesPoint {
                t_s: t as u32,
                sessions: b.sessions,
                play_ok: b.play_ok,
                ttff_p50_ms: pct(b, 0.5),
                ttff_p99_ms: pct(b, 0.99),
            })
            .collect()
    }
}
