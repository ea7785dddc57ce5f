//! The accumulation of session and request outcomes into per-phase figures (the KPIs' names,
//! phases and bounds are the format's: `crate::experiment::kpi`, re-exported here).

pub use crate::experiment::kpi::{Bound, Kpi, Phase, Unit, Workload};
use crate::requests::{ArrivalOutcome, HttpStats};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;
use targets::{SessionOutcome, latency_histogram};

/// Session outcomes of one phase, accumulated.
#[derive(Clone, Debug)]
pub struct PhaseStats {
    /// Makes this figures' histograms (full or compact).
    pub(crate) histogram: fn() -> Histogram<u64>,
    /// Sessions started (HTTP workload: arrivals).
    pub sessions: u64,
    /// Of those, sessions that pressed Play (the rest only browsed home).
    pub plays: u64,
    /// Successful starts.
    pub play_ok: u64,
    /// Sessions that opened the home page (a real stream's viewers do not).
    pub homes: u64,
    /// Home pages loaded.
    pub home_ok: u64,
    /// Home pages loaded with a fallback.
    pub home_degraded: u64,
    /// CDN failovers.
    pub failovers: u64,
    /// Failed starts by reason.
    pub failures: BTreeMap<String, u64>,
    /// TTFF of successful starts, µs.
    pub ttff_us: Histogram<u64>,
    /// Home latency from intended start, µs.
    pub home_us: Histogram<u64>,
    /// What the viewers of started plays saw, summed.
    pub qoe: QoeSums,
    /// The HTTP workload's requests (`None` for Play sessions).
    pub http: Option<Box<HttpStats>>,
}

/// Sums of the QoE of started plays (media seconds).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QoeSums {
    /// Plays that started.
    pub started: u64,
    /// Media played.
    pub played_s: f64,
    /// Time stalled after the first frame.
    pub stalled_s: f64,
    /// Stalls after the first frame.
    pub rebuffers: u64,
    /// Σ bitrate × media seconds delivered.
    pub kbps_s: f64,
    /// Media seconds delivered.
    pub delivered_s: f64,
    /// Rendition changes.
    pub switches: u64,
    /// Of those, down to a lower rendition (abandoned downloads included).
    pub down_switches: u64,
    /// Downloads abandoned for a lower rendition.
    pub abandons: u64,
    /// Downloads aborted on a stalled body.
    pub stall_aborts: u64,
    /// Plays interrupted mid-stream.
    pub interrupted: u64,
}

impl QoeSums {
    /// A QoE KPI over these sums (`exits` of `plays`: presses without a first frame in time, for
    /// `exits_before_video_start`); `None` when undefined or not a QoE KPI.
    pub fn value(&self, kpi: Kpi, (exits, plays): (u64, u64)) -> Option<f64> {
        let ratio = |n: u64, d: u64| (d > 0).then(|| n as f64 / d as f64);
        match kpi {
            Kpi::RebufferRatio => {
                let watched = self.played_s + self.stalled_s;
                (watched > 0.0).then(|| self.stalled_s / watched)
            }
            Kpi::RebuffersPerSession => ratio(self.rebuffers, self.started),
            Kpi::AvgBitrateKbps => (self.delivered_s > 0.0).then(|| self.kbps_s / self.delivered_s),
            Kpi::SwitchesPerMinute => (self.played_s > 0.0).then(|| self.switches as f64 / (self.played_s / 60.0)),
            Kpi::ExitsBeforeVideoStart => ratio(exits, plays),
            Kpi::InterruptedRatio => ratio(self.interrupted, self.started),
            _ => None,
        }
    }

    fn add(&mut self, q: &targets::Qoe) {
        self.merge(&QoeSums::of(q));
    }

    /// The sums of one session.
    fn of(q: &targets::Qoe) -> Self {
        QoeSums {
            started: 1,
            played_s: q.played.as_secs_f64(),
            stalled_s: q.stalled.as_secs_f64(),
            rebuffers: u64::from(q.rebuffers),
            kbps_s: q.kbps_seconds,
            delivered_s: q.delivered.as_secs_f64(),
            switches: u64::from(q.switches),
            down_switches: u64::from(q.down_switches),
            abandons: u64::from(q.abandons),
            stall_aborts: u64::from(q.stall_aborts),
            interrupted: u64::from(q.interrupted),
        }
    }

    pub(crate) fn merge(&mut self, o: &QoeSums) {
        self.started += o.started;
        self.played_s += o.played_s;
        self.stalled_s += o.stalled_s;
        self.rebuffers += o.rebuffers;
        self.kbps_s += o.kbps_s;
        self.delivered_s += o.delivered_s;
        self.switches += o.switches;
        self.down_switches += o.down_switches;
        self.abandons += o.abandons;
        self.stall_aborts += o.stall_aborts;
        self.interrupted += o.interrupted;
    }
}

impl Default for PhaseStats {
    fn default() -> Self {
        Self::with_histograms(latency_histogram)
    }
}

fn us(d: Duration) -> u64 {
    d.as_micros().clamp(1, 3_600_000_000) as u64
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

/// A histogram for a one-second bucket: 2 significant digits up to 1 minute (20 KiB; buckets
/// older than 30 s are kept encoded, see `record::seconds`).
pub(crate) fn compact_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 2).expect("static bounds are valid")
}

/// The smallest histogram there is: a stand-in for one kept encoded elsewhere.
pub(crate) fn stub_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 2, 0).expect("static bounds are valid")
}

impl PhaseStats {
    fn with_histograms(histogram: fn() -> Histogram<u64>) -> Self {
        Self {
            histogram,
            sessions: 0,
            plays: 0,
            play_ok: 0,
            homes: 0,
            home_ok: 0,
            home_degraded: 0,
            failovers: 0,
            failures: BTreeMap::new(),
            ttff_us: histogram(),
            home_us: histogram(),
            qoe: QoeSums::default(),
            http: None,
        }
    }

    /// Empty figures with small histograms, for per-second buckets.
    pub fn compact() -> Self {
        Self::with_histograms(compact_histogram)
    }

    /// Empty figures whose histograms are stand-ins of a few bytes, for a bucket whose real
    /// histograms are kept encoded elsewhere.
    pub(crate) fn stub() -> Self {
        Self::with_histograms(stub_histogram)
    }

    /// Adds another phase's figures into these.
    pub fn merge(&mut self, other: &PhaseStats) {
        self.sessions += other.sessions;
        self.plays += other.plays;
        self.play_ok += other.play_ok;
        self.homes += other.homes;
        self.home_ok += other.home_ok;
        self.home_degraded += other.home_degraded;
        self.failovers += other.failovers;
        for (reason, n) in &other.failures {
            *self.failures.entry(reason.clone()).or_default() += n;
        }
        // Values above a compact histogram's bound were clamped when recorded: adding cannot fail.
        let _ = self.ttff_us.add(&other.ttff_us);
        let _ = self.home_us.add(&other.home_us);
        self.qoe.merge(&other.qoe);
        if let Some(o) = &other.http {
            self.http_mut().merge(o);
        }
    }

    fn http_mut(&mut self) -> &mut HttpStats {
        let histogram = self.histogram;
        self.http.get_or_insert_with(|| Box::new(HttpStats::new(histogram)))
    }

    /// Adds one arrival of the HTTP workload.
    pub fn record_arrival(&mut self, a: &ArrivalOutcome) {
        self.sessions += 1;
        self.http_mut().record(a);
    }

    /// (successes, tries) of the workload: plays for Play sessions; for the HTTP workload every
    /// request, dropped arrivals counted as failed tries. What cohorts and the sequential test
    /// weigh.
    pub fn successes(&self, workload: Workload) -> (u64, u64) {
        match (workload, &self.http) {
            (Workload::Play, _) => (self.play_ok, self.plays),
            (Workload::Http, Some(h)) => (h.all.ok, h.all.requests + h.all.dropped),
            (Workload::Http, None) => (0, 0),
        }
    }

    /// The latency cohorts compare: TTFF of successful starts, or every request's (µs).
    pub fn latencies(&self, workload: Workload) -> Option<&Histogram<u64>> {
        match workload {
            Workload::Play => Some(&self.ttff_us),
            Workload::Http => self.http.as_ref().map(|h| &h.all.latency_us),
        }
    }

    /// Adds an arrival of the HTTP workload that was never sent.
    pub fn record_dropped_arrival(&mut self, entry: &str) {
        self.sessions += 1;
        self.http_mut().record_dropped(entry);
    }

    /// Adds an arrival that never started (dropped at the in-flight limit): a failed session.
    pub fn record_dropped(&mut self) {
        self.sessions += 1;
        self.plays += 1;
        *self.failures.entry("dropped".into()).or_default() += 1;
    }

    /// Adds one session.
    pub fn record(&mut self, s: &SessionOutcome) {
        self.sessions += 1;
        if let Some(home) = &s.home {
            self.homes += 1;
            self.home_ok += u64::from(home.ok);
            self.home_degraded += u64::from(home.ok && home.degraded);
            if home.ok {
                self.home_us.saturating_record(us(home.latency));
            }
        }
        let Some(play) = &s.play else { return };
        self.plays += 1;
        self.failovers += u64::from(play.failovers);
        if let Some(q) = &play.qoe {
            self.qoe.add(q);
        }
        match (&play.ttff, &play.failure) {
            (Some(t), None) => {
                self.play_ok += 1;
                self.ttff_us.saturating_record(us(*t));
            }
            (_, failure) => {
                let reason = failure.as_ref().map_or("unknown".to_string(), ToString::to_string);
                *self.failures.entry(reason).or_default() += 1;
            }
        }
    }

    /// The KPI's value over a phase of `secs` seconds; `None` when undefined (no sessions).
    pub fn kpi(&self, kpi: Kpi, secs: f64) -> Option<f64> {
        self.value(kpi, None, secs)
    }

    /// The KPI's value for the HTTP workload's request `request` (`None`: every request; Play
    /// KPIs ignore it) over a phase of `secs` seconds; `None` when undefined.
    pub fn value(&self, kpi: Kpi, request: Option<&str>, secs: f64) -> Option<f64> {
        if kpi.workload() == Workload::Http {
            return self.http_kpi(kpi, request, secs);
        }
        let ratio = |n: u64, d: u64| (d > 0).then(|| n as f64 / d as f64);
        let pct = |h: &Histogram<u64>, q: f64| (!h.is_empty()).then(|| ms(h, q));
        match kpi {
            Kpi::PlaySuccessRatio => ratio(self.play_ok, self.plays),
            Kpi::Sps => (secs > 0.0).then(|| self.play_ok as f64 / secs),
            Kpi::TtffP50 => pct(&self.ttff_us, 0.5),
            Kpi::TtffP90 => pct(&self.ttff_us, 0.9),
            Kpi::TtffP99 => pct(&self.ttff_us, 0.99),
            Kpi::TtffP999 => pct(&self.ttff_us, 0.999),
            Kpi::TtffMax => pct(&self.ttff_us, 1.0),
            // Over every session (a dropped one failed its home page too), where sessions open one.
            Kpi::HomeSuccessRatio => ratio(self.home_ok, self.sessions).filter(|_| self.homes > 0),
            Kpi::HomeDegradedRatio => ratio(self.home_degraded, self.home_ok),
            Kpi::HomeP90 => pct(&self.home_us, 0.9),
            Kpi::HomeP99 => pct(&self.home_us, 0.99),
            Kpi::Sessions => Some(self.sessions as f64),
            _ => self.qoe.value(kpi, (self.exits(), self.plays)),
        }
    }

    /// Play presses with no first frame within the start budget.
    pub fn exits(&self) -> u64 {
        self.failures.get(&targets::PlayFailure::Budget.to_string()).copied().unwrap_or(0)
    }

    fn http_kpi(&self, kpi: Kpi, request: Option<&str>, secs: f64) -> Option<f64> {
        let empty;
        let r = match self.http.as_deref().and_then(|h| h.get(request)) {
            Some(r) => r,
            None => {
                // A name with nothing recorded yet: zero requests, not an unknown KPI.
                empty = crate::requests::HttpStats::new(stub_histogram);
                &empty.all
            }
        };
        match kpi {
            Kpi::SuccessRatio => r.success_ratio(),
            Kpi::ErrorRatio => r.success_ratio().map(|s| 1.0 - s),
            Kpi::Rps => (secs > 0.0).then(|| r.requests as f64 / secs),
            Kpi::LatencyP50 => r.latency_ms(0.5),
            Kpi::LatencyP90 => r.latency_ms(0.9),
            Kpi::LatencyP99 => r.latency_ms(0.99),
            Kpi::LatencyP999 => r.latency_ms(0.999),
            Kpi::LatencyMax => r.latency_ms(1.0),
            Kpi::Requests => Some(r.requests as f64),
            Kpi::Dropped => Some(r.dropped as f64),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use targets::{HomeOutcome, PlayFailure, PlayOutcome, Qoe};

    fn session(ok: bool, ttff_ms: u64) -> SessionOutcome {
        SessionOutcome {
            home: Some(HomeOutcome { ok: true, degraded: !ok, latency: Duration::from_millis(5) }),
            play: Some(PlayOutcome {
                ok,
                ttff: ok.then(|| Duration::from_millis(ttff_ms)),
                failure: (!ok).then_some(PlayFailure::Cdn),
                failovers: 0,
                qoe: ok.then(|| Qoe {
                    played: Duration::from_secs(60),
                    stalled: Duration::from_secs(u64::from(ttff_ms.is_multiple_of(2))),
                    rebuffers: u32::from(ttff_ms.is_multiple_of(2)),
                    kbps_seconds: 3000.0 * 60.0,
                    delivered: Duration::from_secs(60),
                    switches: 2,
                    ..Qoe::default()
                }),
            }),
        }
    }

    #[test]
    fn kpis_follow_the_recorded_sessions() {
        let mut p = PhaseStats::default();
        for i in 0..98 {
            p.record(&session(true, 10 + i));
        }
        p.record(&session(false, 0));
        p.record(&session(false, 0));
        assert_eq!(p.kpi(Kpi::PlaySuccessRatio, 10.0), Some(0.98));
        assert_eq!(p.kpi(Kpi::Sps, 10.0), Some(9.8));
        assert_eq!(p.kpi(Kpi::HomeDegradedRatio, 10.0), Some(0.02));
        let p50 = p.kpi(Kpi::TtffP50, 10.0).unwrap();
        assert!((58.0..=60.1).contains(&p50), "{p50}");
        assert_eq!(p.failures["cdn"], 2);
        // 49 of the 98 started plays stalled 1 s in 60 s played.
        let rebuffer = p.kpi(Kpi::RebufferRatio, 10.0).unwrap();
        assert!((rebuffer - 49.0 / (98.0 * 60.0 + 49.0)).abs() < 1e-9, "{rebuffer}");
        assert_eq!(p.kpi(Kpi::RebuffersPerSession, 10.0), Some(0.5));
        assert_eq!(p.kpi(Kpi::AvgBitrateKbps, 10.0), Some(3000.0));
        assert_eq!(p.kpi(Kpi::SwitchesPerMinute, 10.0), Some(2.0));
        assert_eq!(p.kpi(Kpi::ExitsBeforeVideoStart, 10.0), Some(0.0));
        assert_eq!(p.kpi(Kpi::InterruptedRatio, 10.0), Some(0.0));
        assert_eq!(PhaseStats::default().kpi(Kpi::PlaySuccessRatio, 1.0), None);
    }

    #[test]
    fn bounds_read_numbers_and_durations() {
        let b: Bound = serde_json::from_str("\"800ms\"").unwrap();
        assert_eq!(b.value(), 800.0);
        let b: Bound = serde_json::from_str("0.995").unwrap();
        assert_eq!(b.value(), 0.995);
        assert_eq!(Kpi::TtffP99.name(), "ttff_p99");
    }
}
