//! The names of the format's measures: KPIs, their units and workloads, phases and bounds.
//! What the engine computes for them lives in `crate::kpi`.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

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
    /// HTTP workload: successful requests / requests sent and dropped.
    SuccessRatio,
    /// HTTP workload: 1 − `success_ratio`.
    ErrorRatio,
    /// HTTP workload: requests sent per second.
    Rps,
    /// HTTP workload: latency from the intended start, 50th percentile (ms).
    LatencyP50,
    /// HTTP workload: latency 90th percentile (ms).
    LatencyP90,
    /// HTTP workload: latency 99th percentile (ms).
    LatencyP99,
    /// HTTP workload: latency 99.9th percentile (ms).
    LatencyP999,
    /// HTTP workload: largest latency (ms).
    LatencyMax,
    /// HTTP workload: requests sent.
    Requests,
    /// HTTP workload: arrivals that could not be sent (too many in flight).
    Dropped,
}

/// Who calls the system: the KPIs a run has follow from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Workload {
    /// Devices pressing Play on the embedded platform (or an edge API elsewhere).
    Play,
    /// HTTP requests and flows to the user's own system (`load.http`).
    Http,
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
    pub const ALL: [Kpi; 28] = [
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
        Kpi::SuccessRatio,
        Kpi::ErrorRatio,
        Kpi::Rps,
        Kpi::LatencyP50,
        Kpi::LatencyP90,
        Kpi::LatencyP99,
        Kpi::LatencyP999,
        Kpi::LatencyMax,
        Kpi::Requests,
        Kpi::Dropped,
    ];

    /// Whether it measures the platform's home page (which a real stream's viewers do not open).
    pub fn is_home(self) -> bool {
        matches!(self, Kpi::HomeSuccessRatio | Kpi::HomeDegradedRatio | Kpi::HomeP90 | Kpi::HomeP99)
    }

    /// The workload whose KPI this is.
    pub fn workload(self) -> Workload {
        if self >= Kpi::SuccessRatio { Workload::Http } else { Workload::Play }
    }

    /// The KPIs of `workload`, in report order.
    pub fn of(workload: Workload) -> impl Iterator<Item = Kpi> {
        Kpi::ALL.into_iter().filter(move |k| k.workload() == workload)
    }

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
        matches!(
            self,
            Kpi::PlaySuccessRatio
                | Kpi::Sps
                | Kpi::HomeSuccessRatio
                | Kpi::AvgBitrateKbps
                | Kpi::Sessions
                | Kpi::SuccessRatio
                | Kpi::Rps
                | Kpi::Requests
        )
    }

    /// Its unit.
    pub fn unit(self) -> Unit {
        match self {
            Kpi::PlaySuccessRatio
            | Kpi::HomeSuccessRatio
            | Kpi::HomeDegradedRatio
            | Kpi::RebufferRatio
            | Kpi::ExitsBeforeVideoStart
            | Kpi::InterruptedRatio
            | Kpi::SuccessRatio
            | Kpi::ErrorRatio => Unit::Ratio,
            Kpi::Sps | Kpi::Rps => Unit::PerSecond,
            Kpi::Sessions | Kpi::Requests | Kpi::Dropped => Unit::Count,
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

    /// Its name in files, reports and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Before => "before",
            Phase::Faults => "faults",
            Phase::After => "after",
            Phase::Run => "run",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
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
