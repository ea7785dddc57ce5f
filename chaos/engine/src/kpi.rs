//! KPIs, phases and bounds, and the accumulation of session outcomes into per-phase figures.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;
use targets::{SessionOutcome, latency_histogram};

/// A key performance indicator of the platform, as the device sees it.
#[derive(schemars::JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kpi {
    /// Successful starts / Play presses.
    PlaySuccessRatio,
    /// Successful starts per second (stream starts per second).
    Sps,
    /// Time to first frame, 50th percentile (ms).
    TtffP50,
    /// TTFF 90th percentile (ms).
    TtffP90,
    /// TTFF 99th percentile (ms).
    TtffP99,
    /// TTFF 99.9th percentile (ms).
    TtffP999,
    /// Largest TTFF (ms).
    TtffMax,
    /// Home pages that loaded / sessions.
    HomeSuccessRatio,
    /// Loaded home pages that had a fallback row / loaded home pages.
    HomeDegradedRatio,
    /// Home page latency from the session's intended start, 90th percentile (ms).
    HomeP90,
    /// Home page latency from the session's intended start, 99th percentile (ms).
    HomeP99,
    /// Sessions started in the phase.
    Sessions,
    /// Time stalled after the first frame / (time played + time stalled), media time.
    RebufferRatio,
    /// Stalls after the first frame per started play.
    RebuffersPerSession,
    /// Average bitrate of the segments delivered, kbit/s (weighted by media time).
    AvgBitrateKbps,
    /// Rendition changes per minute of media played.
    SwitchesPerMinute,
    /// Plays whose viewer left before the first frame (start budget exceeded) / Play presses.
    ExitsBeforeVideoStart,
    /// Started plays that stopped before the viewer's last segment (no CDN could serve one) /
    /// started plays.
    InterruptedRatio,
}

/// The unit of a KPI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// In [0, 1].
    Ratio,
    /// Milliseconds.
    Millis,
    /// Per second.
    PerSecond,
    /// A count.
    Count,
    /// Kilobits per second.
    Kbps,
    /// A plain number (per session, per minute).
    Number,
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unit::Ratio => "a ratio",
            Unit::Millis => "milliseconds",
            Unit::PerSecond => "a rate per second",
            Unit::Count => "a count",
            Unit::Kbps => "kbit/s",
            Unit::Number => "a number",
        })
    }
}

impl Kpi {
    /// Every KPI, in report order.
    pub const ALL: [Kpi; 18] = [
        Kpi::PlaySuccessRatio,
        Kpi::Sps,
        Kpi::TtffP50,
        Kpi::TtffP90,
        Kpi::TtffP99,
        Kpi::TtffP999,
        Kpi::TtffMax,
        Kpi::HomeSuccessRatio,
        Kpi::HomeDegradedRatio,
        Kpi::HomeP90,
        Kpi::HomeP99,
        Kpi::Sessions,
        Kpi::RebufferRatio,
        Kpi::RebuffersPerSession,
        Kpi::AvgBitrateKbps,
        Kpi::SwitchesPerMinute,
        Kpi::ExitsBeforeVideoStart,
        Kpi::InterruptedRatio,
    ];

    /// The KPI's name as written in experiments.
    pub fn name(self) -> String {
        serde_json::to_value(self).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
    }

    /// A value of this KPI in its unit, for people (`–` for none).
    pub fn format(self, value: Option<f64>) -> String {
        match (value, self.unit()) {
            (None, _) => "–".into(),
            (Some(v), Unit::Ratio) => format!("{:.2} %", v * 100.0),
            (Some(v), Unit::Millis) => format!("{v:.1} ms"),
            (Some(v), Unit::PerSecond) => format!("{v:.1}/s"),
            (Some(v), Unit::Count) => format!("{v:.0}"),
            (Some(v), Unit::Kbps) => format!("{v:.0} kbit/s"),
            (Some(v), Unit::Number) => format!("{v:.2}"),
        }
    }

    /// Whether a higher value is better (for regressions and directions in reports).
    pub fn higher_is_better(self) -> bool {
        matches!(self, Kpi::PlaySuccessRatio | Kpi::Sps | Kpi::HomeSuccessRatio | Kpi::AvgBitrateKbps | Kpi::Sessions)
    }

    /// Its unit.
    pub fn unit(self) -> Unit {
        match self {
            Kpi::PlaySuccessRatio
            | Kpi::HomeSuccessRatio
            | Kpi::HomeDegradedRatio
            | Kpi::RebufferRatio
            | Kpi::ExitsBeforeVideoStart
            | Kpi::InterruptedRatio => Unit::Ratio,
            Kpi::Sps => Unit::PerSecond,
            Kpi::Sessions => Unit::Count,
            Kpi::AvgBitrateKbps => Unit::Kbps,
            Kpi::RebuffersPerSession | Kpi::SwitchesPerMinute => Unit::Number,
            _ => Unit::Millis,
        }
    }
}

/// A part of the measured run, by the intended start of each session.
#[derive(schemars::JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// From the end of warm-up to the first fault.
    Before,
    /// From the first fault's start to the last fault's end.
    Faults,
    /// From the last fault's end to the end of the run.
    After,
    /// The whole measured run.
    Run,
}

impl Phase {
    /// Every phase, in time order (`run` last).
    pub const ALL: [Phase; 4] = [Phase::Before, Phase::Faults, Phase::After, Phase::Run];
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Before => "before",
            Phase::Faults => "faults",
            Phase::After => "after",
            Phase::Run => "run",
        })
    }
}

/// A bound: a number in the KPI's unit, or a duration for millisecond KPIs (`800ms`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Bound {
    /// A plain number.
    Number(f64),
    /// A duration.
    Duration(Duration),
}

impl Bound {
    /// The bound in the KPI's unit (durations in milliseconds).
    pub fn value(self) -> f64 {
        match self {
            Bound::Number(n) => n,
            Bound::Duration(d) => d.as_secs_f64() * 1000.0,
        }
    }
}

impl Serialize for Bound {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Bound::Number(n) => s.serialize_f64(*n),
            Bound::Duration(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
        }
    }
}

impl schemars::JsonSchema for Bound {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Bound".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A number in the KPI's unit, or a duration such as `800ms` for latency KPIs.",
            "oneOf": [{ "type": "number" }, { "type": "string" }]
        })
    }
}

impl<'de> Deserialize<'de> for Bound {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Bound;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number or a duration such as `800ms`")
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Bound, E> {
                Ok(Bound::Number(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Bound, E> {
                Ok(Bound::Number(v as f64))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Bound, E> {
                Ok(Bound::Number(v as f64))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Bound, E> {
                humantime::parse_duration(v).map(Bound::Duration).map_err(|e| E::custom(format!("`{v}`: {e}")))
            }
        }
        de.deserialize_any(V)
    }
}

/// Session outcomes of one phase, accumulated.
#[derive(Clone, Debug)]
pub struct PhaseStats {
    /// Sessions started.
    pub sessions: u64,
    /// Of those, sessions that pressed Play (the rest only browsed home).
    pub plays: u64,
    /// Successful starts.
    pub play_ok: u64,
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

    fn merge(&mut self, o: &QoeSums) {
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
            sessions: 0,
            plays: 0,
            play_ok: 0,
            home_ok: 0,
            home_degraded: 0,
            failovers: 0,
            failures: BTreeMap::new(),
            ttff_us: histogram(),
            home_us: histogram(),
            qoe: QoeSums::default(),
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
        self.home_ok += u64::from(s.home.ok);
        self.home_degraded += u64::from(s.home.ok && s.home.degraded);
        if s.home.ok {
            self.home_us.saturating_record(us(s.home.latency));
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
            Kpi::HomeSuccessRatio => ratio(self.home_ok, self.sessions),
            Kpi::HomeDegradedRatio => ratio(self.home_degraded, self.home_ok),
            Kpi::HomeP90 => pct(&self.home_us, 0.9),
            Kpi::HomeP99 => pct(&self.home_us, 0.99),
            Kpi::Sessions => Some(self.sessions as f64),
            Kpi::RebufferRatio => {
                let q = &self.qoe;
                (q.played_s + q.stalled_s > 0.0).then(|| q.stalled_s / (q.played_s + q.stalled_s))
            }
            Kpi::RebuffersPerSession => ratio(self.qoe.rebuffers, self.qoe.started),
            Kpi::AvgBitrateKbps => (self.qoe.delivered_s > 0.0).then(|| self.qoe.kbps_s / self.qoe.delivered_s),
            Kpi::SwitchesPerMinute => {
                (self.qoe.played_s > 0.0).then(|| self.qoe.switches as f64 / (self.qoe.played_s / 60.0))
            }
            Kpi::ExitsBeforeVideoStart => {
                ratio(self.failures.get(&targets::PlayFailure::Budget.to_string()).copied().unwrap_or(0), self.plays)
            }
            Kpi::InterruptedRatio => ratio(self.qoe.interrupted, self.qoe.started),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use targets::{HomeOutcome, PlayFailure, PlayOutcome, Qoe};

    fn session(ok: bool, ttff_ms: u64) -> SessionOutcome {
        SessionOutcome {
            home: HomeOutcome { ok: true, degraded: !ok, latency: Duration::from_millis(5) },
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
