//! What happens to a request: the [`Fault`] enum and its parts.

use crate::Distribution;
use crate::distribution::VariantSeed;
use crate::one_key::{OneKey, deserialize_one, serialize_one};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// One fault, written in YAML as a single key:
/// `{ latency: { fixed: 2s } }`, `{ error: { status: 503 } }`, `reset`, `{ hang: { max: 30s } }`,
/// `{ kill: { restart_after: 5s } }`.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Delay the request by a drawn duration, then let the service answer it.
    Latency(Latency),
    /// Answer with an HTTP error without calling the service.
    Error(ErrorFault),
    /// Answer a gRPC call with a status (trailers-only) without calling the service.
    Grpc(crate::GrpcFault),
    /// Drop the connection without any response (on HTTP/2: reset the stream, RST_STREAM).
    Reset,
    /// Answer nothing until `max` has passed (the client is expected to give up first), then drop
    /// the connection.
    Hang {
        /// Upper bound of the hang, so that no task lives forever (default 60 s).
        max: Duration,
    },
    /// Stream the response body at no more than this many bytes per second.
    Throttle {
        /// The rate.
        bytes_per_s: u64,
    },
    /// Cut the response body after this many bytes, then drop the connection.
    Truncate {
        /// Bytes let through.
        after_bytes: u64,
    },
    /// Let this many bytes of the response body through, then send nothing more until `max` has
    /// passed, then drop the connection: a download that stops mid-body (Toxiproxy's `timeout`
    /// after `limit_data`). A client must notice the stall itself.
    Stall {
        /// Bytes let through before the stall.
        after_bytes: u64,
        /// How long the body stays stalled before the connection drops (default 60 s).
        max: Duration,
    },
    /// Kill the whole instance: listener closed, open connections dropped. Applied by whoever owns
    /// the server (see `server::Instance`), not by the layer.
    Kill {
        /// Restart on the same port after this long; without it, the instance stays down until
        /// the fault is removed.
        restart_after: Option<Duration>,
    },
    /// Freeze a program (SIGSTOP) for the fault's window, then let it go on (SIGCONT): the hung
    /// process whose port still accepts connections, which health checks miss. Applied by the
    /// runner to the user's programs, not by the layer.
    Pause,
    /// A Toxiproxy toxic on a TCP proxy's connections (`{ toxic: { type: latency, stream:
    /// downstream, toxicity: 1, attributes: { latency: 100 } } }`): the TCP-level faults, for
    /// dependencies that do not speak HTTP. Applied by the TCP proxy, not by the layer.
    Toxic(crate::Toxic),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HangParams {
    #[serde(with = "humantime_serde", default = "default_hang")]
    max: Duration,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThrottleParams {
    bytes_per_s: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TruncateParams {
    after_bytes: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StallParams {
    after_bytes: u64,
    #[serde(with = "humantime_serde", default = "default_hang")]
    max: Duration,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PauseParams {}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KillParams {
    #[serde(with = "humantime_serde", default, skip_serializing_if = "Option::is_none")]
    restart_after: Option<Duration>,
}

impl OneKey for Fault {
    const WHAT: &'static str = "a fault";
    const VARIANTS: &'static [&'static str] = &[
        "latency",
        "slow_first_byte",
        "error",
        "grpc",
        "reset",
        "hang",
        "throttle",
        "truncate",
        "stall",
        "kill",
        "pause",
        "toxic",
    ];

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "reset" => Some(Self::Reset),
            "hang" => Some(Self::Hang { max: default_hang() }),
            "kill" => Some(Self::Kill { restart_after: None }),
            "pause" => Some(Self::Pause),
            _ => None,
        }
    }

    fn from_entry<'de, A: MapAccess<'de>>(key: &str, map: &mut A) -> Result<Self, A::Error> {
        Ok(match key {
            "latency" => Self::Latency(map.next_value()?),
            "slow_first_byte" => Self::Latency(Latency { when: When::After, ..map.next_value()? }),
            "throttle" => Self::Throttle { bytes_per_s: map.next_value::<ThrottleParams>()?.bytes_per_s },
            "truncate" => Self::Truncate { after_bytes: map.next_value::<TruncateParams>()?.after_bytes },
            "stall" => {
                let StallParams { after_bytes, max } = map.next_value()?;
                Self::Stall { after_bytes, max }
            }
            "error" => Self::Error(map.next_value()?),
            "grpc" => Self::Grpc(map.next_value()?),
            "hang" => Self::Hang { max: map.next_value::<HangParams>()?.max },
            "kill" => Self::Kill { restart_after: map.next_value::<KillParams>()?.restart_after },
            "pause" => {
                map.next_value::<PauseParams>()?;
                Self::Pause
            }
            "toxic" => Self::Toxic(map.next_value()?),
            _ => {
                map.next_value::<de::IgnoredAny>()?;
                Self::Reset
            }
        })
    }
}

impl<'de> Deserialize<'de> for Fault {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        deserialize_one(de)
    }
}

impl Serialize for Fault {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Latency(l) => serialize_one(s, "latency", l),
            Self::Error(e) => serialize_one(s, "error", e),
            Self::Grpc(g) => serialize_one(s, "grpc", g),
            Self::Reset => s.serialize_str("reset"),
            Self::Hang { max } => serialize_one(s, "hang", &HangParams { max: *max }),
            Self::Throttle { bytes_per_s } => {
                serialize_one(s, "throttle", &ThrottleParams { bytes_per_s: *bytes_per_s })
            }
            Self::Truncate { after_bytes } => {
                serialize_one(s, "truncate", &TruncateParams { after_bytes: *after_bytes })
            }
            Self::Stall { after_bytes, max } => {
                serialize_one(s, "stall", &StallParams { after_bytes: *after_bytes, max: *max })
            }
            Self::Kill { restart_after } => serialize_one(s, "kill", &KillParams { restart_after: *restart_after }),
            Self::Pause => s.serialize_str("pause"),
            Self::Toxic(t) => serialize_one(s, "toxic", t),
        }
    }
}

fn default_hang() -> Duration {
    Duration::from_secs(60)
}

impl Fault {
    /// An error fault with the given status and an empty body.
    pub fn error(status: u16) -> Self {
        Self::Error(ErrorFault { status, body: String::new(), headers: Default::default() })
    }

    /// A latency fault with a fixed delay.
    pub fn fixed_latency(delay: Duration) -> Self {
        Self::Latency(Latency { distribution: Distribution::Fixed(delay), jitter: Duration::ZERO, when: When::Before })
    }

    /// Whether it acts on a whole instance or program (`kill`, `pause`) rather than on requests.
    pub fn is_instance_level(&self) -> bool {
        matches!(self, Self::Kill { .. } | Self::Pause)
    }

    /// The fault's kind as a short name (`latency`, `error`, ...), for metrics and reports.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Latency(_) => "latency",
            Self::Error(_) => "error",
            Self::Grpc(_) => "grpc",
            Self::Reset => "reset",
            Self::Hang { .. } => "hang",
            Self::Throttle { .. } => "throttle",
            Self::Truncate { .. } => "truncate",
            Self::Stall { .. } => "stall",
            Self::Kill { .. } => "kill",
            Self::Pause => "pause",
            Self::Toxic(_) => "toxic",
        }
    }

    /// Checks parameters that serde cannot (status range, distribution parameters, every
    /// duration at most [`MAX_DELAY`]).
    pub fn validate(&self) -> Result<(), String> {
        check_delays(&self.durations()).map_err(|e| format!("{}: {e}", self.kind()))?;
        match self {
            Self::Latency(l) => l.distribution.validate().map_err(|e| e.to_string()),
            Self::Error(e) if !(100..=599).contains(&e.status) => {
                Err(format!("status {} is not an HTTP status (100..=599)", e.status))
            }
            Self::Error(e) => e.validate_headers(),
            Self::Hang { max } if max.is_zero() => Err("hang max must be > 0".into()),
            Self::Throttle { bytes_per_s: 0 } => Err("throttle bytes_per_s must be > 0".into()),
            Self::Toxic(t) => t.clone().checked().map(drop).map_err(|e| e.to_string()),
            _ => Ok(()),
        }
    }
}

/// The longest a fault may delay, hang, stall or keep an instance down: a day. Past it a value
/// is a typo, and near `Duration::MAX` the deadline `now + delay` cannot be represented;
/// [`Distribution::sample`] caps its draws at the same.
pub const MAX_DELAY: Duration = Duration::from_secs(86_400);

/// Checks named durations against [`MAX_DELAY`]; the error names the first one longer
/// ("NAME is …s; at most a day"). The topology's guards and the player use it too.
pub fn check_delays(durations: &[(&str, Duration)]) -> Result<(), String> {
    match durations.iter().find(|(_, d)| *d > MAX_DELAY) {
        Some((name, d)) => Err(format!("{name} is {}s; at most a day ({}s)", d.as_secs(), MAX_DELAY.as_secs())),
        None => Ok(()),
    }
}

impl Fault {
    /// The fault's own durations, by parameter name (a latency's distribution checks its own).
    fn durations(&self) -> Vec<(&'static str, Duration)> {
        match self {
            Self::Latency(l) => vec![("jitter", l.jitter)],
            Self::Hang { max } | Self::Stall { max, .. } => vec![("max", *max)],
            Self::Kill { restart_after: Some(d) } => vec![("restart_after", *d)],
            _ => Vec::new(),
        }
    }
}

/// An HTTP error answered in place of the service.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorFault {
    /// Status code, 100..=599.
    pub status: u16,
    /// Response body (text).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub body: String,
    /// Extra response headers, e.g. `Retry-After`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

impl ErrorFault {
    fn validate_headers(&self) -> Result<(), String> {
        for (name, value) in &self.headers {
            http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("`{name}` is not a valid header name"))?;
            http::HeaderValue::from_str(value).map_err(|_| format!("header `{name}` has an invalid value"))?;
        }
        Ok(())
    }
}

/// Injected latency: a delay drawn from a [`Distribution`] plus uniform jitter of ± `jitter`,
/// before the service is called or after it answered.
///
/// In YAML the distribution's key, `jitter` and `when` share one map:
/// `{ fixed: 100ms, jitter: 20ms, when: after }`. `slow_first_byte: { fixed: 1s }` is the same
/// as `latency: { fixed: 1s, when: after }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Latency {
    /// Where the delay is drawn from.
    pub distribution: Distribution,
    /// Uniform noise of ± this much added to each draw (Toxiproxy's jitter).
    pub jitter: Duration,
    /// Whether the delay comes before the service is called or after it answered.
    pub when: When,
}

/// Where a latency fault waits.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum When {
    /// Before the inner service is called: the whole answer is late, the service works later.
    #[default]
    Before,
    /// After the inner service answered, before its response head goes out: the service did its
    /// work on time, the client sees a slow first byte; the body then streams normally.
    After,
}

impl Latency {
    /// Draws one delay.
    pub fn sample<R: rand::Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        let base = self.distribution.sample(rng);
        if self.jitter.is_zero() {
            return base;
        }
        let j = self.jitter.as_secs_f64();
        let noise = rand::RngExt::random_range(rng, -j..=j);
        Duration::from_secs_f64((base.as_secs_f64() + noise).max(0.0))
    }
}

#[derive(Serialize)]
struct LatencyOut<'a> {
    #[serde(flatten)]
    distribution: &'a Distribution,
    #[serde(with = "humantime_serde", skip_serializing_if = "Duration::is_zero")]
    jitter: Duration,
    #[serde(skip_serializing_if = "is_before")]
    when: When,
}

fn is_before(w: &When) -> bool {
    *w == When::Before
}

impl Serialize for Latency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        LatencyOut { distribution: &self.distribution, jitter: self.jitter, when: self.when }.serialize(s)
    }
}

/// Hand-written because serde's `flatten` cannot be combined with `deny_unknown_fields`, and both
/// the one-key distribution shape and the rejection of misspelt keys are wanted.
impl<'de> Deserialize<'de> for Latency {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct LatencyVisitor;

        impl<'de> Visitor<'de> for LatencyVisitor {
            type Value = Latency;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a map with one distribution key (fixed, uniform, normal, lognormal, pareto) and optional jitter",
                )
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Latency, A::Error> {
                let (mut distribution, mut jitter, mut when) = (None, None, When::Before);
                while let Some(key) = map.next_key::<String>()? {
                    if key == "jitter" {
                        jitter = Some(map.next_value::<humantime_serde::Serde<Duration>>()?.into_inner());
                    } else if key == "when" {
                        when = map.next_value()?;
                    } else if Distribution::VARIANTS.contains(&key.as_str()) {
                        if distribution.is_some() {
                            return Err(de::Error::custom("latency takes exactly one distribution"));
                        }
                        distribution = Some(map.next_value_seed(VariantSeed(&key))?);
                    } else {
                        const EXPECTED: &[&str] =
                            &["fixed", "uniform", "normal", "lognormal", "pareto", "jitter", "when"];
                        return Err(de::Error::unknown_field(&key, EXPECTED));
                    }
                }
                let distribution =
                    distribution.ok_or_else(|| de::Error::missing_field("fixed|uniform|normal|lognormal|pareto"))?;
                Ok(Latency { distribution, jitter: jitter.unwrap_or_default(), when })
            }
        }
        de.deserialize_map(LatencyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_and_toxic_faults_read_and_write_back_the_same() {
        for json in [
            r#"{"grpc":{"code":"unavailable","message":"down"}}"#,
            r#"{"toxic":{"name":"","stream":"upstream","toxicity":0.5,"type":"latency","attributes":{"latency":100,"jitter":0}}}"#,
        ] {
            let f: Fault = serde_json::from_str(json).unwrap();
            assert_eq!(serde_json::to_string(&f).unwrap(), json);
        }
        let istio: Fault = serde_json::from_str(r#"{"grpc":{"code":"UNAVAILABLE"}}"#).unwrap();
        assert_eq!(istio.kind(), "grpc");
        assert!(serde_json::from_str::<Fault>(r#"{"grpc":{"code":14,"mesage":"x"}}"#).is_err(), "unknown key refused");
    }

    #[test]
    fn a_duration_longer_than_a_day_is_refused_naming_it_and_a_day_is_not() {
        let longest = ["2h", "86400s"];
        let too_long = ["86401s", "18446744073709551615s"];
        let faults = [
            r#"{"latency":{"fixed":"D"}}"#,
            r#"{"latency":{"uniform":{"min":"1s","max":"D"}}}"#,
            r#"{"latency":{"fixed":"1s","jitter":"D"}}"#,
            r#"{"hang":{"max":"D"}}"#,
            r#"{"stall":{"after_bytes":10,"max":"D"}}"#,
            r#"{"kill":{"restart_after":"D"}}"#,
        ];
        for json in faults {
            for d in longest {
                let f: Fault = serde_json::from_str(&json.replace('D', d)).unwrap();
                assert_eq!(f.validate(), Ok(()), "{json} with {d}");
            }
            for d in too_long {
                let f: Fault = serde_json::from_str(&json.replace('D', d)).unwrap();
                let err = f.validate().unwrap_err();
                assert!(err.contains(&format!("is {}; at most a day", d)), "{json} with {d}: {err}");
            }
        }
    }

    #[test]
    fn latency_reads_a_distribution_key_beside_jitter() {
        let f: Fault = serde_json::from_str(r#"{"latency":{"fixed":"100ms","jitter":"20ms"}}"#).unwrap();
        let Fault::Latency(l) = &f else { panic!("not latency: {f:?}") };
        assert_eq!(l.distribution, Distribution::Fixed(Duration::from_millis(100)));
        assert_eq!(l.jitter, Duration::from_millis(20));
        let back = serde_json::to_string(&f).unwrap();
        assert_eq!(back, r#"{"latency":{"fixed":"100ms","jitter":"20ms"}}"#);
    }

    #[test]
    fn latency_rejects_a_misspelt_key_and_two_distributions() {
        let e = serde_json::from_str::<Fault>(r#"{"latency":{"fixd":"100ms"}}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `fixd`"), "{e}");
        let e = serde_json::from_str::<Fault>(r#"{"latency":{"fixed":"1ms","uniform":{"min":"1ms","max":"2ms"}}}"#)
            .unwrap_err();
        assert!(e.to_string().contains("exactly one"), "{e}");
    }

    #[test]
    fn unit_and_struct_faults_parse() {
        assert_eq!(serde_json::from_str::<Fault>(r#""reset""#).unwrap(), Fault::Reset);
        assert_eq!(
            serde_json::from_str::<Fault>(r#"{"kill":{"restart_after":"5s"}}"#).unwrap(),
            Fault::Kill { restart_after: Some(Duration::from_secs(5)) }
        );
        assert_eq!(serde_json::from_str::<Fault>(r#"{"hang":{}}"#).unwrap(), Fault::Hang { max: default_hang() });
    }

    #[test]
    fn body_faults_error_headers_and_slow_first_byte_parse() {
        let f: Fault = serde_json::from_str(r#"{"throttle":{"bytes_per_s":1024}}"#).unwrap();
        assert_eq!(f, Fault::Throttle { bytes_per_s: 1024 });
        let f: Fault = serde_json::from_str(r#"{"slow_first_byte":{"fixed":"1s"}}"#).unwrap();
        assert!(matches!(f, Fault::Latency(Latency { when: When::After, .. })));
        let f: Fault = serde_json::from_str(r#"{"error":{"status":429,"headers":{"retry-after":"3"}}}"#).unwrap();
        assert!(f.validate().is_ok());
        let bad: Fault = serde_json::from_str(r#"{"error":{"status":429,"headers":{"bad header":"3"}}}"#).unwrap();
        assert!(bad.validate().unwrap_err().contains("bad header"));
    }

    #[test]
    fn jitter_stays_within_its_bound() {
        use rand::SeedableRng;
        let l = Latency {
            distribution: Distribution::Fixed(Duration::from_millis(100)),
            jitter: Duration::from_millis(10),
            when: When::Before,
        };
        let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
        for _ in 0..1000 {
            let d = l.sample(&mut rng);
            assert!(d >= Duration::from_millis(90) && d <= Duration::from_millis(110), "{d:?}");
        }
    }
}
