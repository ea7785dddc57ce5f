//! The experiment file: what system, what load, what hypothesis, which faults, which gates.
//!
//! ```yaml
//! name: recommendations-latency
//! seed: 42
//! system: { topology: default }
//! load: { rate: 100/s, warmup: 3s, duration: 30s }
//! steady_state:
//!   - { kpi: play_success_ratio, at_least: 0.99 }
//! faults:
//!   - { at: 8s, for: 14s, target: recommendations, fault: { latency: { fixed: 2s } } }
//! gates:
//!   - { kpi: play_success_ratio, during: faults, at_least: 0.99 }
//! ```

pub mod gates;
pub mod http;
pub mod input;
pub mod kpi;
pub mod kubernetes;
mod lenient;
mod locate;
mod parse;
pub mod player;
pub mod probe;
pub mod system;
mod target;
mod validate;
mod validate_probe;
mod validate_system;
mod vars;

pub use parse::{
    ExperimentError, ExperimentErrors, load_file, load_file_with, load_mutants, locate_in_file, parse_str,
    parse_str_with,
};
pub use target::Target;

use chaos_fault::{Fault, Scope};
use kpi::{Bound, Kpi, Phase};
use probe::{Comparator, Probe};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// A parsed, validated experiment.
#[derive(schemars::JsonSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Short name; reports go under `reports/<name>/`.
    pub name: String,
    /// What the experiment shows.
    #[serde(default)]
    pub description: String,
    /// Seed of every random draw (overridden by `--seed`).
    #[serde(default)]
    pub seed: u64,
    /// The system under test.
    #[serde(default)]
    pub system: System,
    /// `real` (default): loopback sockets and the wall clock. `virtual`: the same platform on
    /// an in-memory network and tokio's paused clock, on one thread — deterministic for a seed
    /// and many times faster than real time (overridden by `--clock`).
    #[serde(default, skip_serializing_if = "Clock::is_real")]
    pub clock: Clock,
    /// The load.
    pub load: Load,
    /// KPI tolerances that must hold before and after the faults.
    #[serde(default)]
    pub steady_state: Vec<Check>,
    /// The fault timeline.
    #[serde(default)]
    pub faults: Vec<FaultStep>,
    /// The CI verdict.
    #[serde(default)]
    pub gates: Vec<Check>,
    /// Control versus experiment cohorts: faults reach only the experiment cohort.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cohorts: Option<gates::Cohorts>,
    /// A sequential test on play success that may end the run early (see `sequential`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequential: Option<gates::Sequential>,
    /// Guards that must have fired during the run (part of the verdict).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coverage: Vec<gates::CoverageGate>,
    /// The guards this experiment relies on: its mutant (`chaos run --mutant`) switches them off
    /// and must fail its gates, or the experiment proves nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relies_on: Vec<String>,
    /// Named mutants (`chaos run --mutant[=NAME]`), each the experiment with variables set (a
    /// user's system: another config, a feature switched off) or guards of the embedded
    /// platform switched off; each must fail its gates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mutants: Vec<Mutant>,
    /// Stop conditions: when one fires, faults are rolled back at once, the load goes on for
    /// the condition's `recovery`, and the run ends aborted (exit 3).
    #[serde(default)]
    pub abort: Vec<AbortCondition>,
    /// Where the targets are on a Kubernetes cluster, for `chaos export` (see
    /// [`kubernetes::Kubernetes`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<kubernetes::Kubernetes>,
    /// The file it came from (set by the loader).
    #[serde(skip)]
    pub file: Option<PathBuf>,
}

/// A variant of the experiment that must fail: what it changes is what the gates prove.
#[derive(schemars::JsonSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mutant {
    /// Its name; its reports go under `reports/<experiment>-<name>/`.
    pub name: String,
    /// Variables set for it, as `--set KEY=VALUE` would (they win over `--set`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub set: std::collections::BTreeMap<String, String>,
    /// Guards of the embedded platform switched off for it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guards_off: Vec<String>,
}

/// The clock (and network) a run happens on.
#[derive(schemars::JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Clock {
    /// Wall-clock time, services on loopback sockets.
    #[default]
    Real,
    /// tokio's paused clock on one thread, services on an in-memory network: time jumps to the
    /// next timer whenever nothing else can happen.
    Virtual,
}

impl Clock {
    fn is_real(&self) -> bool {
        *self == Clock::Real
    }
}

impl std::fmt::Display for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_real() { "real clock" } else { "virtual clock" })
    }
}

impl Experiment {
    /// What the validator finds wrong against `topology`, as (path, message): for experiments
    /// built in code rather than read from a file (the shrinker's candidates).
    pub(crate) fn problems(&self, topology: &targets::Topology) -> Vec<(String, String)> {
        validate::validate(self, topology)
    }

    /// Why this experiment cannot run on the virtual clock, as (field, message), when it asks
    /// for it: processes and external systems live on the kernel's clock and sockets, which a
    /// paused tokio clock cannot stop.
    pub fn virtual_conflict(&self) -> Option<(&'static str, String)> {
        if self.clock != Clock::Virtual {
            return None;
        }
        let why = "live on the wall clock and real sockets; run it with `clock: real`";
        if self.system.kubernetes.is_some() {
            Some((
                "system.kubernetes",
                format!("the virtual clock runs the embedded platform: a cluster and its engine {why}"),
            ))
        } else if self.system.kind(&self.load) == SystemKind::Managed {
            Some((
                "system",
                format!("the virtual clock runs the embedded platform: your programs, proxies and control APIs {why}"),
            ))
        } else if self.system.processes.platform() {
            Some((
                "system.processes",
                format!("the virtual clock runs the platform in this process: instance processes {why}"),
            ))
        } else if self.system.external.is_some() {
            Some((
                "system.external",
                format!("the virtual clock runs the embedded platform: an external system and its proxies {why}"),
            ))
        } else if self.has_probes() {
            Some(("probe", format!("probes ask servers and programs that {why}")))
        } else {
            None
        }
    }

    /// Whether a check or an abort condition names a probe.
    pub fn has_probes(&self) -> bool {
        self.steady_state.iter().chain(&self.gates).any(|c| c.probe.is_some())
            || self.abort.iter().any(|a| a.probe.is_some())
    }

    /// The folder relative paths of the experiment are resolved against: its file's.
    pub fn base_dir(&self) -> &std::path::Path {
        self.file.as_ref().and_then(|f| f.parent()).unwrap_or(std::path::Path::new("."))
    }
}

/// The system under test.
#[derive(schemars::JsonSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct System {
    /// `default` (the shipped platform), `synthetic:N` (the default platform grown to N services,
    /// 10 ≤ N ≤ 5,000, by a layered mid-tier graph, for scale runs) or a topology YAML path,
    /// relative to the experiment.
    #[serde(default = "default_topology")]
    pub topology: String,
    /// `true`: run every instance of the embedded platform as its own OS process (kills are
    /// real SIGKILLs). A list: the user's own programs, started and stopped by the runner
    /// (see [`system::Program`]).
    #[serde(default, skip_serializing_if = "system::Processes::is_default")]
    pub processes: system::Processes,
    /// Guards of the platform switched off for this run (`edge/recommendations/fallback`,
    /// `edge/*/ejection`, `player/failover`, ...): how an experiment proves a guard matters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guards_off: Vec<String>,
    /// A system running elsewhere, reached through `chaos proxy` instances, instead of the
    /// embedded platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<External>,
    /// Proxies the runner runs in its own process, by name (each a fault target).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub proxies: std::collections::BTreeMap<String, system::ProxySpec>,
    /// Control APIs of fault layers embedded in the user's apps, by name → base URL: a fault
    /// targets all the API's instances (`shop`) or one (`shop/NAME`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub control: std::collections::BTreeMap<String, String>,
    /// The user's services on a Kubernetes cluster, faulted by Chaos Mesh or Istio through
    /// `kubectl` (see [`system::KubernetesRun`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<system::KubernetesRun>,
}

/// Which system a run stands up or reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SystemKind {
    /// The embedded streaming platform (`topology`), in this process or as processes.
    Embedded,
    /// An edge API elsewhere, faulted through `chaos proxy` control APIs (`external`).
    External,
    /// The user's own system: programs, proxies and control APIs (`processes`, `proxies`,
    /// `control`) — what the HTTP workload runs against.
    Managed,
    /// The user's services on a cluster, faulted through `kubectl` (`kubernetes`).
    Kubernetes,
}

impl System {
    /// The kind of system an experiment with `load` runs on.
    pub fn kind(&self, load: &Load) -> SystemKind {
        if self.kubernetes.is_some() {
            SystemKind::Kubernetes
        } else if self.external.is_some() {
            SystemKind::External
        } else if load.calls_own_system()
            || !self.processes.programs().is_empty()
            || !self.proxies.is_empty()
            || !self.control.is_empty()
        {
            SystemKind::Managed
        } else {
            SystemKind::Embedded
        }
    }
}

/// A system under test that the runner does not start: the device talks to `edge`; faults go to
/// the proxies, each named as a fault target and reached through its control API.
#[derive(schemars::JsonSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct External {
    /// Where the device presses Play (a service speaking the edge API, possibly behind a proxy).
    pub edge: String,
    /// Fault targets: name → control API URL of a `chaos proxy`.
    pub proxies: std::collections::BTreeMap<String, String>,
}

impl External {
    /// The proxies as instances, for target selection (`zone` is `external`).
    pub fn instances(&self) -> Vec<targets::InstanceInfo> {
        self.proxies
            .keys()
            .map(|n| targets::InstanceInfo { name: n.clone(), service: n.clone(), zone: "external".into() })
            .collect()
    }
}

fn default_topology() -> String {
    "default".into()
}

impl Default for System {
    fn default() -> Self {
        Self {
            topology: default_topology(),
            processes: system::Processes::default(),
            guards_off: Vec::new(),
            external: None,
            proxies: Default::default(),
            control: Default::default(),
            kubernetes: None,
        }
    }
}

/// The load. Open loop (`rate`, optionally ramping to `ramp_to` over warm-up and duration):
/// sessions arrive on schedule whether or not earlier ones were answered. Closed loop
/// (`viewers`): N viewers, each starting a new session when the last one ends.
#[derive(schemars::JsonSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Load {
    /// Arrivals per second: `200/s`, `600/m` or a number (per second).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<Rate>,
    /// The arrival rate at the end of the run; it ramps linearly from `rate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ramp_to: Option<Rate>,
    /// Closed loop: this many concurrent viewers (at most 100,000) instead of an arrival rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub viewers: Option<u32>,
    /// The mix of sessions by weight: `play` (home then Play) and `browse` (home only).
    #[serde(default)]
    pub flows: Flows,
    /// Distinct subscribers the sessions are drawn from (default 10,000; fewer means users come
    /// back more often, so caches keyed by user matter more).
    #[serde(default = "default_users")]
    pub users: u64,
    /// Segments each play session watches (default: the topology's `player.watch_segments`,
    /// 15 segments = 60 s of media).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch_segments: Option<u32>,
    /// The HTTP workload: requests and flows sent to the system under test instead of Play
    /// sessions (see [`http::HttpEntry`]); its KPIs are `success_ratio`, `latency_p99`, ... .
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<http::HttpEntry>,
    /// Viewers of a real HLS or DASH stream on your own origins instead of Play sessions on the
    /// platform (see [`player::PlayerLoad`]); its KPIs are the Play sessions' but the home page's
    /// (`play_success_ratio`, `ttff_p99`, `rebuffer_ratio`, `avg_bitrate_kbps`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub player: Option<player::PlayerLoad>,
    /// Load before measuring starts (connections warm, caches filled); at most 30 days.
    #[schemars(with = "String")]
    #[serde(with = "humantime_serde", default)]
    pub warmup: Duration,
    /// Measured time, at most 30 days; fault times count from its start.
    #[schemars(with = "String")]
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
}

fn default_users() -> u64 {
    10_000
}

/// Session kinds by weight.
#[derive(schemars::JsonSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flows {
    /// Weight of sessions that press Play (default 1).
    #[serde(default = "one_f64")]
    pub play: f64,
    /// Weight of sessions that only browse the home page (default 0).
    #[serde(default)]
    pub browse: f64,
}

fn one_f64() -> f64 {
    1.0
}

impl Default for Flows {
    fn default() -> Self {
        Self { play: 1.0, browse: 0.0 }
    }
}

impl Load {
    /// The arrival rate at the start (0 for closed loop).
    pub fn start_rate(&self) -> f64 {
        self.rate.map_or(0.0, |r| r.0)
    }

    /// Who calls the system.
    pub fn workload(&self) -> kpi::Workload {
        if self.http.is_empty() { kpi::Workload::Play } else { kpi::Workload::Http }
    }

    /// Whether it calls the user's own system (HTTP requests, a real stream) rather than the
    /// platform's edge.
    pub fn calls_own_system(&self) -> bool {
        !self.http.is_empty() || self.player.is_some()
    }
}

/// An arrival rate in sessions per second.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Rate(pub f64);

impl schemars::JsonSchema for Rate {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Rate".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Sessions per second: `200/s`, `600/m`, `36000/h` or a number.",
            "oneOf": [{ "type": "number", "exclusiveMinimum": 0 }, { "type": "string", "pattern": "^\\s*[0-9.]+\\s*(/\\s*[smh])?\\s*$" }]
        })
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Rate;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a rate such as `200/s`, `600/m` or a number of sessions per second")
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Rate, E> {
                Ok(Rate(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Rate, E> {
                Ok(Rate(v as f64))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Rate, E> {
                Ok(Rate(v as f64))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Rate, E> {
                let (n, per) = v.split_once('/').unwrap_or((v, "s"));
                let n: f64 = n.trim().parse().map_err(|_| E::invalid_value(serde::de::Unexpected::Str(v), &self))?;
                let secs = match per.trim() {
                    "s" => 1.0,
                    "m" => 60.0,
                    "h" => 3600.0,
                    _ => return Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
                };
                Ok(Rate(n / secs))
            }
        }
        de.deserialize_any(V)
    }
}

/// One step of the fault timeline.
#[derive(schemars::JsonSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultStep {
    /// Name of the step (default `fault-N`); it is the rule id on the targets.
    #[serde(default)]
    pub name: Option<String>,
    /// Start, from the end of warm-up — or from the end of the step named in `after`.
    #[schemars(with = "String")]
    #[serde(with = "humantime_serde", default)]
    pub at: Duration,
    /// Start `at` after this step ends (a dependency; steps without one run in parallel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// Raise (or lower) the scope's probability step by step over the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ramp: Option<Ramp>,
    /// `at` resolved against `after`, from the end of warm-up (set by the loader).
    #[serde(skip)]
    pub start: Duration,
    /// How long the fault stays.
    #[schemars(with = "String")]
    #[serde(rename = "for", with = "humantime_serde")]
    pub duration: Duration,
    /// A service (all its instances), one instance (`cdn-1`), or a selector
    /// (`{ service: cdn, count: 2 }`, `{ zone: zone-a }`).
    pub target: Target,
    /// What happens.
    pub fault: Fault,
    /// To which requests (not for `kill`).
    #[serde(default)]
    pub scope: Scope,
}

/// A ramp of the share of requests faulted: `{ from: 0, to: 0.5, every: 2s }` starts at `from`
/// and moves linearly to `to` by the end of the window, in steps of `every`.
#[derive(schemars::JsonSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ramp {
    /// Probability at the start.
    pub from: f64,
    /// Probability at the end.
    pub to: f64,
    /// Step length (default 1 s).
    #[schemars(with = "String")]
    #[serde(default = "one_second", with = "humantime_serde")]
    pub every: Duration,
}

fn one_second() -> Duration {
    Duration::from_secs(1)
}

impl Ramp {
    /// The probabilities after the first, with their offsets in the window.
    pub fn steps(&self, window: Duration) -> Vec<(Duration, f64)> {
        let every = self.every.max(Duration::from_millis(100));
        let n = (window.as_secs_f64() / every.as_secs_f64()).floor() as u32;
        (1..n)
            .map(|k| {
                let t = every * k;
                (t, self.from + (self.to - self.from) * t.as_secs_f64() / window.as_secs_f64())
            })
            .collect()
    }
}

impl FaultStep {
    /// When the fault is put in place, from the end of warm-up (`at`, or after its dependency).
    pub fn start(&self) -> Duration {
        self.start
    }

    /// When the fault is removed, from the end of warm-up.
    pub fn end(&self) -> Duration {
        self.start.saturating_add(self.duration)
    }
}

/// A tolerance on a phase, of a KPI or of a probe's samples: a steady-state hypothesis or a
/// gate. Exactly one of `kpi` and `probe`.
#[derive(schemars::JsonSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// A name for reports (default: derived from the check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The KPI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kpi: Option<Kpi>,
    /// A probe of the system's own telemetry, sampled through the phase (see `probe`).
    #[schemars(with = "Option<Probe>")]
    #[serde(default, with = "serde_yaml::with::singleton_map", skip_serializing_if = "Option::is_none")]
    pub probe: Option<Probe>,
    /// For the HTTP workload's KPIs: the request, flow or flow step (`FLOW/STEP`) it is about;
    /// without it, every request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// The phase it applies to. Gates default to `run`; steady-state checks apply to `before`
    /// and `after` (or `run` when there are no faults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub during: Option<Phase>,
    /// Lower bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_least: Option<Bound>,
    /// Upper bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_most: Option<Bound>,
    /// Check every sliding window of this length inside the phase (whole seconds) and keep the
    /// worst, instead of the phase as a whole.
    #[schemars(with = "Option<String>")]
    #[serde(default, with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub window: Option<Duration>,
    /// A probe's value in `[low, high]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub between: Option<(f64, f64)>,
    /// A probe's value equal to this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<f64>,
    /// A probe is sampled this often through the phase (default 2 s).
    #[schemars(with = "Option<String>")]
    #[serde(default, with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub every: Option<Duration>,
    /// Share of a probe's samples that must pass, in (0, 1] (default 1: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<f64>,
}

impl Check {
    /// A probe sample's bounds: the check's `at_least`, `at_most`, `between` or `equals`.
    pub fn comparator(&self) -> Option<Comparator> {
        match (self.at_least, self.at_most, self.between, self.equals) {
            (Some(lo), Some(hi), _, _) => Some(Comparator::Between(lo.value(), hi.value())),
            (Some(b), None, _, _) => Some(Comparator::AtLeast(b.value())),
            (None, Some(b), _, _) => Some(Comparator::AtMost(b.value())),
            (None, None, Some((lo, hi)), _) => Some(Comparator::Between(lo, hi)),
            (None, None, None, Some(b)) => Some(Comparator::Equals(b)),
            (None, None, None, None) => None,
        }
    }
}

/// A stop condition (AWS FIS's stop conditions, ChAP's automatic abort).
#[derive(schemars::JsonSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbortCondition {
    /// The KPI watched (or `probe`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kpi: Option<Kpi>,
    /// A probe watched instead of a KPI: the condition fires after `failures` failed samples in
    /// a row (a Prometheus sample fails when it is `below` or `above` the bound).
    #[schemars(with = "Option<Probe>")]
    #[serde(default, with = "serde_yaml::with::singleton_map", skip_serializing_if = "Option::is_none")]
    pub probe: Option<Probe>,
    /// With `probe`: failed samples in a row that fire the condition (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failures: Option<u32>,
    /// With `probe`: how often it is sampled (default 2 s).
    #[schemars(with = "Option<String>")]
    #[serde(default, with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub every: Option<Duration>,
    /// For the HTTP workload's KPIs: the request it is about (default: every request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// Fires when the KPI falls below this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below: Option<Bound>,
    /// Fires when the KPI rises above this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above: Option<Bound>,
    /// Sliding window the KPI is computed over (whole seconds, default 5 s).
    #[schemars(with = "String")]
    #[serde(default = "default_abort_window", with = "humantime_serde")]
    pub window: Duration,
    /// Fewer sessions than this in a window never fire the condition (default 10).
    #[serde(default = "default_min_sessions")]
    pub min_sessions: u64,
    /// Load goes on this long after the rollback, to see the recovery (default 5 s, at most 30
    /// days).
    #[schemars(with = "String")]
    #[serde(default = "default_recovery", with = "humantime_serde")]
    pub recovery: Duration,
}

fn default_abort_window() -> Duration {
    Duration::from_secs(5)
}

fn default_min_sessions() -> u64 {
    10
}

fn default_recovery() -> Duration {
    Duration::from_secs(5)
}

impl AbortCondition {
    /// `kpi < bound` or `kpi > bound`, for people.
    pub fn describe(&self) -> String {
        let (sign, b) = match (self.below, self.above) {
            (Some(b), _) => ("<", b),
            (None, Some(b)) => (">", b),
            (None, None) => ("?", kpi::Bound::Number(f64::NAN)),
        };
        if let Some(p) = &self.probe {
            let n = self.failures.unwrap_or(1);
            let bound = if p.is_numeric() { format!(" {sign} {}", b.value()) } else { String::new() };
            return format!("{} probe `{}`{bound} failing {n} time(s) in a row", p.kind(), p.target());
        }
        let Some(kpi) = self.kpi else { return "?".into() };
        let of = self.request.as_ref().map(|r| format!("[{r}]")).unwrap_or_default();
        format!("{}{of} {sign} {} over {}s", kpi.name(), kpi.format(Some(b.value())), self.window.as_secs())
    }

    /// Whether `value` breaches the condition.
    pub fn breached(&self, value: f64) -> bool {
        self.below.is_some_and(|b| value < b.value()) || self.above.is_some_and(|b| value > b.value())
    }
}

/// The longest warm-up, measured time or recovery of a run, and of `chaos load`: 30 days. Past
/// it a value is a typo, and near `Duration::MAX` the run's deadlines could not be represented.
pub const MAX_PHASE: Duration = Duration::from_secs(30 * 86_400);

impl Experiment {
    /// Resolves each step's start against its `after` dependency; an error names the step
    /// index and why (unknown step, cycle).
    pub(crate) fn resolve_starts(&mut self) -> Result<(), (usize, String)> {
        let names: Vec<String> = (0..self.faults.len()).map(|i| self.step_name(i)).collect();
        let mut done: Vec<Option<Duration>> = vec![None; self.faults.len()];
        fn start_of(
            i: usize,
            steps: &[FaultStep],
            names: &[String],
            done: &mut Vec<Option<Duration>>,
            path: &mut Vec<usize>,
        ) -> Result<Duration, (usize, String)> {
            if let Some(s) = done[i] {
                return Ok(s);
            }
            if path.contains(&i) {
                return Err((i, format!("`after` makes a cycle through `{}`", names[i])));
            }
            path.push(i);
            let start = match &steps[i].after {
                None => steps[i].at,
                Some(dep) => {
                    let j = names
                        .iter()
                        .position(|n| n == dep)
                        .ok_or_else(|| (i, format!("`after: {dep}` names no fault step")))?;
                    // Saturating: a start past the run is reported by the validator, not a panic.
                    start_of(j, steps, names, done, path)?.saturating_add(steps[j].duration).saturating_add(steps[i].at)
                }
            };
            path.pop();
            done[i] = Some(start);
            Ok(start)
        }
        for i in 0..self.faults.len() {
            let start = start_of(i, &self.faults, &names, &mut done, &mut Vec::new())?;
            self.faults[i].start = start;
        }
        Ok(())
    }

    /// The mutant: the same experiment with the guards it `relies_on` switched off in `topology`.
    pub fn mutant(&self, topology: &targets::Topology) -> Result<(Experiment, targets::Topology), String> {
        if self.relies_on.is_empty() {
            return Err(format!("experiment `{}` declares no `relies_on` guard, so it has no mutant", self.name));
        }
        let mut exp = self.clone();
        let mut topology = topology.clone();
        exp.name = format!("{}-mutant", self.name);
        for guard in &self.relies_on {
            topology.switch_off(guard)?;
            exp.system.guards_off.push(guard.clone());
        }
        Ok((exp, topology))
    }

    /// The instances fault targets are chosen among: the topology's, the external system's
    /// proxies, or the managed system's programs, proxies and control APIs (zones `process`,
    /// `proxy`, `control`).
    pub fn instances(&self, topology: &targets::Topology) -> Vec<targets::InstanceInfo> {
        let sys = &self.system;
        match sys.kind(&self.load) {
            SystemKind::Embedded => topology.instances(),
            SystemKind::External => sys.external.as_ref().map(External::instances).unwrap_or_default(),
            // Targets are placed on the cluster by name (`kubernetes:`), not among instances.
            SystemKind::Kubernetes => Vec::new(),
            SystemKind::Managed => {
                let named = |names: Vec<&String>, zone: &str| {
                    names
                        .into_iter()
                        .map(|n| targets::InstanceInfo { name: n.clone(), service: n.clone(), zone: zone.into() })
                        .collect::<Vec<_>>()
                };
                let programs = sys.processes.programs().iter().map(|p| &p.name).collect();
                let mut all = named(programs, "process");
                all.extend(named(sys.proxies.keys().collect(), "proxy"));
                all.extend(named(sys.control.keys().collect(), "control"));
                all
            }
        }
    }

    /// A target naming one instance behind a control API (`shop/inventory`), which only that
    /// API knows: it is taken as it is.
    pub fn control_instance(&self, target: &Target) -> Option<String> {
        let name = target.name.as_ref()?;
        let (api, instance) = name.split_once('/')?;
        (self.system.control.contains_key(api) && !instance.is_empty()).then(|| name.clone())
    }

    /// Warm-up plus measured time.
    pub fn total(&self) -> Duration {
        self.load.warmup.saturating_add(self.load.duration)
    }

    /// The name of fault step `i` (its rule id on the targets).
    pub fn step_name(&self, i: usize) -> String {
        self.faults[i].name.clone().unwrap_or_else(|| format!("fault-{i}"))
    }

    /// The window from the first fault's start to the last fault's end, if there are faults.
    pub fn fault_window(&self) -> Option<(Duration, Duration)> {
        let start = self.faults.iter().map(FaultStep::start).min()?;
        let end = self.faults.iter().map(FaultStep::end).max()?;
        Some((start, end))
    }
}
