//! The parts of `system:` that describe the user's own system: programs the runner starts and
//! stops, proxies it runs in front of services, and control APIs of fault layers embedded in
//! the user's apps.
//!
//! ```yaml
//! system:
//!   processes:
//!     - name: inventory
//!       run: [./target/release/inventory, --port, "9001"]
//!       env: { RUST_LOG: info }
//!       cwd: .
//!       ready: { http: "http://127.0.0.1:9001/health", within: 10s }
//!   proxies:
//!     inventory-px: { listen: "127.0.0.1:9101", upstream: "http://127.0.0.1:9001" }
//!     redis-px: { tcp: true, listen: "127.0.0.1:16379", upstream: "127.0.0.1:6379" }
//!   control:
//!     shop: "http://127.0.0.1:7474"
//! ```
//!
//! Or a cluster, where Chaos Mesh or Istio puts each fault step in place:
//!
//! ```yaml
//! system:
//!   kubernetes: { context: staging, engine: chaos-mesh }
//! ```

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// `processes:` — `true` runs the embedded platform one OS process per instance; a list names
/// the user's own programs, which the runner starts before the load and stops after it.
#[derive(Clone, Debug, PartialEq)]
pub enum Processes {
    /// The embedded platform in this process (`false`, the default) or as processes (`true`).
    Platform(bool),
    /// The user's programs.
    Programs(Vec<Program>),
}

impl Default for Processes {
    fn default() -> Self {
        Processes::Platform(false)
    }
}

impl Processes {
    /// Whether the embedded platform runs as processes.
    pub fn platform(&self) -> bool {
        matches!(self, Processes::Platform(true))
    }

    /// The user's programs (none for the embedded platform).
    pub fn programs(&self) -> &[Program] {
        match self {
            Processes::Programs(p) => p,
            Processes::Platform(_) => &[],
        }
    }

    pub(super) fn is_default(&self) -> bool {
        *self == Processes::Platform(false)
    }
}

impl Serialize for Processes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Processes::Platform(b) => s.serialize_bool(*b),
            Processes::Programs(p) => p.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Processes {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Processes;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("`true`, `false` or a list of programs (`- { name: ..., run: [...] }`)")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Processes, E> {
                Ok(Processes::Platform(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Processes, A::Error> {
                Vec::<Program>::deserialize(serde::de::value::SeqAccessDeserializer::new(seq)).map(Processes::Programs)
            }
        }
        de.deserialize_any(V)
    }
}

impl schemars::JsonSchema for Processes {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Processes".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let programs = generator.subschema_for::<Vec<Program>>();
        schemars::json_schema!({
            "description": "`true`: the embedded platform, one OS process per instance. A list: the user's own programs, started and stopped by the runner.",
            "oneOf": [{ "type": "boolean" }, programs]
        })
    }
}

/// A program of the user's that the runner starts (in its own process group, stdout and stderr
/// to files in the report folder), waits for, and stops on every exit path. A fault step may
/// target it by name with `kill` (SIGKILL; `restart_after` runs the same argv again) or `pause`
/// (SIGSTOP for the window, then SIGCONT).
#[derive(schemars::JsonSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Program {
    /// Its name: the fault target, and the name of its log files.
    pub name: String,
    /// The program and its arguments (no shell). A relative program path with a `/` counts from
    /// `cwd`.
    pub run: Vec<String>,
    /// Variables added to the runner's environment.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Its working directory, relative to the experiment file (default: the file's folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
    /// When it is ready for load (default: as soon as it runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<Ready>,
}

/// How to know a program is ready: an HTTP URL answering below 500, or a TCP port accepting.
#[derive(schemars::JsonSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ready {
    /// `http://HOST:PORT/PATH` that must answer with a status below 500.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// `HOST:PORT` that must accept a connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<String>,
    /// How long it may take (default 10 s).
    #[schemars(with = "String")]
    #[serde(default = "ten_seconds", with = "humantime_serde")]
    pub within: Duration,
}

fn ten_seconds() -> Duration {
    Duration::from_secs(10)
}

/// A `chaos proxy` the runner runs in its own process, in front of one upstream; faults on it
/// reach every request (HTTP) or connection (`tcp: true`) that goes through it.
#[derive(schemars::JsonSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxySpec {
    /// A TCP proxy for any protocol (a database, a cache, a queue): its faults are Toxiproxy's
    /// toxics (`fault: { toxic: ... }`) and `kill`. Default: an HTTP proxy with request faults.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tcp: bool,
    /// `IP:PORT` it listens on (a loopback address).
    pub listen: String,
    /// Where it forwards to: `http://HOST:PORT`, or `HOST:PORT` for a TCP proxy.
    pub upstream: String,
}

/// `system.kubernetes`: the user's services on a Kubernetes cluster. Each fault step is the
/// resource `chaos export` writes for it (an HTTPChaos, PodChaos or NetworkChaos on its own, or
/// a VirtualService), applied with `kubectl apply` at the step's start and deleted at its end;
/// what is in place when a run stops early is deleted too. Targets are placed by the
/// experiment's `kubernetes:` section, or its convention.
#[derive(schemars::JsonSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesRun {
    /// The kubeconfig context every `kubectl` command names (`--context`), so a run never acts
    /// on whatever cluster happens to be current.
    pub context: String,
    /// The fault engine installed on the cluster (default `chaos-mesh`).
    #[serde(default)]
    pub engine: super::kubernetes::Engine,
    /// The `kubectl` program (default `kubectl` on the `PATH`).
    #[serde(default = "kubectl", skip_serializing_if = "is_kubectl")]
    pub kubectl: String,
    /// Run what the engine can only approximate (as `chaos export --lossy`): a share of
    /// requests becomes every request, and so on. Default: such a step is an error.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lossy: bool,
}

fn kubectl() -> String {
    "kubectl".into()
}

fn is_kubectl(program: &str) -> bool {
    program == "kubectl"
}
