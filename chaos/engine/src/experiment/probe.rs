//! Probes: the system judged by its own telemetry — a health endpoint, a PromQL query, a check
//! script — in place of a KPI in a steady-state check, a gate or an abort condition (as
//! LitmusChaos' httpProbe, promProbe and cmdProbe, Chaos Toolkit's probes, Argo Rollouts'
//! analysis queries).
//!
//! ```yaml
//! steady_state:
//!   - name: shop-healthy
//!     probe: { http: { url: "http://127.0.0.1:8080/health", expect: { status: [200], json: { "/status": "up" } } } }
//! gates:
//!   - name: error-budget
//!     during: faults
//!     every: 2s
//!     probe:
//!       prometheus:
//!         url: "http://127.0.0.1:9090"
//!         query: 'sum(rate(chaos_target_errors_total{service="license"}[15s]))'
//!     at_most: 5
//! abort:
//!   - { probe: { command: { run: [./check-db.sh], timeout: 5s } }, failures: 3 }
//! ```
//!
//! A probe is sampled every `every` (default 2 s) through the phases its check covers; each
//! sample passes or fails (an HTTP or command probe by its `expect`, a Prometheus probe by the
//! check's bounds), and the check holds when the share `share` (default all) of its samples did.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// What a probe asks.
#[derive(schemars::JsonSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Probe {
    /// An HTTP request; a sample passes when the answer meets `expect`.
    Http(HttpProbe),
    /// A PromQL query; its value is held to the check's bounds.
    Prometheus(PrometheusProbe),
    /// A program (argv, no shell); a sample passes when it meets `expect`.
    Command(CommandProbe),
}

impl Probe {
    /// `http`, `prometheus` or `command`.
    pub fn kind(&self) -> &'static str {
        match self {
            Probe::Http(_) => "http",
            Probe::Prometheus(_) => "prometheus",
            Probe::Command(_) => "command",
        }
    }

    /// What it asks, in a few words: the URL, the query or the program.
    pub fn target(&self) -> String {
        match self {
            Probe::Http(h) => format!("{} {}", h.method.as_deref().unwrap_or("GET"), h.url),
            Probe::Prometheus(p) => p.query.clone(),
            Probe::Command(c) => c.run.join(" "),
        }
    }

    /// Whether a sample is a number held to bounds (Prometheus) rather than a pass or a fail.
    pub fn is_numeric(&self) -> bool {
        matches!(self, Probe::Prometheus(_))
    }

    /// The time one sample may take.
    pub fn timeout(&self) -> Duration {
        match self {
            Probe::Http(h) => h.timeout,
            Probe::Prometheus(p) => p.timeout,
            Probe::Command(c) => c.timeout,
        }
    }
}

fn five_seconds() -> Duration {
    Duration::from_secs(5)
}

/// `{ url, method, headers, body, timeout, expect }`.
#[derive(schemars::JsonSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpProbe {
    /// `http://HOST:PORT/PATH`.
    pub url: String,
    /// Default `GET`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Request headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Longest wait for the whole answer (default 5 s); a later one is a failed sample.
    #[schemars(with = "String")]
    #[serde(default = "five_seconds", with = "humantime_serde")]
    pub timeout: Duration,
    /// What the answer must be (default: any 2xx or 3xx status).
    #[serde(default)]
    pub expect: HttpExpect,
}

/// What an HTTP probe's answer must be.
#[derive(schemars::JsonSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpExpect {
    /// Accepted statuses (default 200–399).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status: Vec<u16>,
    /// Text the body must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    /// JSON pointers (RFC 6901, `/status`, `/checks/0/ok`) into the body, each with the value it
    /// must equal or the range `{ at_least, at_most }` its number must lie in.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub json: BTreeMap<String, JsonExpect>,
}

/// What a JSON pointer must find.
#[derive(schemars::JsonSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum JsonExpect {
    /// A number in a range.
    Range(JsonRange),
    /// Any other value: equal to it.
    Equals(serde_json::Value),
}

/// `{ at_least: 1, at_most: 10 }` (either or both).
#[derive(schemars::JsonSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonRange {
    /// Lower bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_least: Option<f64>,
    /// Upper bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_most: Option<f64>,
}

/// `{ url, query }`, an instant query; with `range`, a range query reduced to one value.
#[derive(schemars::JsonSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusProbe {
    /// The server, `http://HOST:PORT` (its HTTP API is under `/api/v1`).
    pub url: String,
    /// The PromQL expression. Every series it returns is held to the bounds: the worst counts.
    pub query: String,
    /// A range query over the last `range` instead of an instant query; each series' values are
    /// reduced by `reduce`.
    #[schemars(with = "Option<String>")]
    #[serde(default, with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub range: Option<Duration>,
    /// The range query's resolution (default 5 s).
    #[schemars(with = "Option<String>")]
    #[serde(default, with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub step: Option<Duration>,
    /// How a range's values become one (default `max`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reduce: Option<Reduce>,
    /// With `reduce: quantile`: which, in (0, 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantile: Option<f64>,
    /// A query that returns no series is inconclusive: a failed sample (`fail`, default) or a
    /// passed one (`pass`).
    #[serde(default, skip_serializing_if = "OnEmpty::is_fail")]
    pub on_empty: OnEmpty,
    /// Longest wait for the answer (default 5 s).
    #[schemars(with = "String")]
    #[serde(default = "five_seconds", with = "humantime_serde")]
    pub timeout: Duration,
}

/// How a range's values become one.
#[derive(schemars::JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reduce {
    /// The largest.
    Max,
    /// The smallest.
    Min,
    /// The mean.
    Avg,
    /// The latest.
    Last,
    /// The `quantile` (nearest rank).
    Quantile,
}

/// What a query without series counts as.
#[derive(schemars::JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnEmpty {
    /// A failed sample: nothing passes by accident.
    #[default]
    Fail,
    /// A passed sample (a query that only returns series when something is wrong).
    Pass,
}

impl OnEmpty {
    fn is_fail(&self) -> bool {
        *self == OnEmpty::Fail
    }
}

/// `{ run: [PROGRAM, ARG...], timeout, env, cwd, expect }`.
#[derive(schemars::JsonSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandProbe {
    /// The program and its arguments (no shell); a relative program path is relative to `cwd`.
    pub run: Vec<String>,
    /// Extra environment variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Its working directory, relative to the experiment file (default: the file's folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
    /// Longest run (default 5 s); a program still running then is killed, a failed sample.
    #[schemars(with = "String")]
    #[serde(default = "five_seconds", with = "humantime_serde")]
    pub timeout: Duration,
    /// What the run must give (default: exit code 0).
    #[serde(default)]
    pub expect: CommandExpect,
}

/// What a command probe's run must give.
#[derive(schemars::JsonSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandExpect {
    /// The exit code (default 0).
    #[serde(default)]
    pub exit_code: i32,
    /// Text its standard output must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout_contains: Option<String>,
    /// A regular expression (Rust's `regex` syntax) its standard output must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout_matches: Option<String>,
}

/// What a probe's sample is held to: a Prometheus value's bounds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparator {
    /// At least this.
    AtLeast(f64),
    /// At most this.
    AtMost(f64),
    /// In `[low, high]`.
    Between(f64, f64),
    /// Equal to this (within 1e-9 of it).
    Equals(f64),
}

impl Comparator {
    /// Whether `value` holds.
    pub fn holds(self, value: f64) -> bool {
        match self {
            Comparator::AtLeast(b) => value >= b,
            Comparator::AtMost(b) => value <= b,
            Comparator::Between(lo, hi) => (lo..=hi).contains(&value),
            Comparator::Equals(b) => (value - b).abs() <= 1e-9,
        }
    }

    /// How far `value` is on the wrong side (0 when it holds): to pick a check's worst sample.
    pub fn shortfall(self, value: f64) -> f64 {
        match self {
            Comparator::AtLeast(b) => (b - value).max(0.0),
            Comparator::AtMost(b) => (value - b).max(0.0),
            Comparator::Between(lo, hi) => (lo - value).max(value - hi).max(0.0),
            Comparator::Equals(b) => (value - b).abs(),
        }
    }
}

impl std::fmt::Display for Comparator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Comparator::AtLeast(b) => write!(f, ">= {b}"),
            Comparator::AtMost(b) => write!(f, "<= {b}"),
            Comparator::Between(lo, hi) => write!(f, "in [{lo}, {hi}]"),
            Comparator::Equals(b) => write!(f, "== {b}"),
        }
    }
}

/// Sampling interval when a check names none.
pub const DEFAULT_EVERY: Duration = Duration::from_secs(2);
