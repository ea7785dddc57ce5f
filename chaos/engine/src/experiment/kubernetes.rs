//! The `kubernetes:` section: where the experiment's targets are on a cluster, for
//! `chaos export` (Chaos Mesh, Istio) and `chaos run` on a cluster.
//!
//! ```yaml
//! kubernetes:
//!   namespace: streaming
//!   targets:
//!     license: { selector: { app: license }, port: 8080 }
//!     cdn-0: { pod: cdn-0 }
//!     zone-b: { nodes: { topology.kubernetes.io/zone: eu-west-1b } }
//! ```
//!
//! A target not listed is found by convention: a service `NAME` is the pods labelled
//! `app: NAME` in `namespace`; an instance of the embedded platform (`cdn-0`) is the pod of that
//! name; a zone is the nodes labelled `topology.kubernetes.io/zone: ZONE`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The fault engine a cluster runs, for `chaos export --to` and `system.kubernetes.engine`.
#[derive(schemars::JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Engine {
    /// Chaos Mesh: HTTPChaos, PodChaos and NetworkChaos (in one `Workflow` when exported).
    #[default]
    ChaosMesh,
    /// Istio: a `VirtualService` per fault step, with `fault.delay` / `fault.abort`.
    Istio,
}

/// Node label Kubernetes gives a node's zone.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

/// The experiment's targets on a cluster.
#[derive(schemars::JsonSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kubernetes {
    /// Namespace of every target that names none, and of the exported resources (default
    /// `default`).
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Fault targets (a service, an instance, a service pattern such as `mid-*`, a zone) by
    /// the name the fault steps use.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub targets: BTreeMap<String, KubeTarget>,
    /// What a `kill` step becomes in Chaos Mesh (default `pod-failure`).
    #[serde(default, skip_serializing_if = "KillAs::is_default")]
    pub kill: KillAs,
}

impl Default for Kubernetes {
    fn default() -> Self {
        Self { namespace: default_namespace(), targets: BTreeMap::new(), kill: KillAs::default() }
    }
}

fn default_namespace() -> String {
    "default".into()
}

/// Where one fault target runs on the cluster.
#[derive(schemars::JsonSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubeTarget {
    /// Its namespace (default: the section's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Labels its pods carry (default `app: NAME` when neither `pod` nor `nodes` is given).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
    /// One pod, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// Labels of the nodes its pods run on (a zone: `topology.kubernetes.io/zone: ZONE`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub nodes: BTreeMap<String, String>,
    /// The container a `kill: container-kill` fault kills (default: the pod's first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// The port its HTTP server listens on, where Chaos Mesh's HTTPChaos intercepts (default 80).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Prefix of its paths as callers see them (an ingress or mesh route), put before a scope's
    /// `route` and `path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    /// Its host for Istio (default `NAME.NAMESPACE.svc.cluster.local`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// What a `kill` step becomes on a cluster.
#[derive(schemars::JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KillAs {
    /// PodChaos `pod-failure` for the step's window (or its `restart_after`): the pods stay down
    /// exactly as long as the experiment proved, then come back — what `kill` means here.
    #[default]
    PodFailure,
    /// PodChaos `pod-kill`: the pods are deleted and their controller replaces them as fast as
    /// it does (the step's window and `restart_after` do not apply: the cluster decides).
    PodKill,
    /// PodChaos `container-kill` of the target's `container`: the kubelet restarts it.
    ContainerKill,
}

impl KillAs {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// Problems of the section in `exp`, as (path, message): names Kubernetes refuses, and mapped
/// targets no fault step uses (a misspelt name would otherwise leave the real one to the
/// convention).
pub(super) fn problems(exp: &super::Experiment, problem: &mut impl FnMut(String, String)) {
    let Some(k) = &exp.kubernetes else { return };
    if !is_label(&k.namespace) {
        problem("kubernetes.namespace".into(), format!("`{}` is not a Kubernetes namespace name", k.namespace));
    }
    let mut used: Vec<&str> = exp
        .faults
        .iter()
        .flat_map(|f| [f.target.name.as_deref(), f.target.service.as_deref(), f.target.zone.as_deref()])
        .flatten()
        .collect();
    used.sort_unstable();
    used.dedup();
    for (name, t) in &k.targets {
        let at = format!("kubernetes.targets.{name}");
        if !used.contains(&name.as_str()) {
            problem(at.clone(), format!("no fault step targets `{name}` (steps target: {})", used.join(", ")));
        }
        if let Some(ns) = t.namespace.as_deref().filter(|ns| !is_label(ns)) {
            problem(format!("{at}.namespace"), format!("`{ns}` is not a Kubernetes namespace name"));
        }
        if t.pod.is_some() && !t.selector.is_empty() {
            problem(at, "a target is one `pod` or pods by `selector`, not both".into());
        }
    }
}

/// Problems of a run on a cluster (`system.kubernetes`): it goes alone and drives the user's
/// own services. (Whether its engine can express each step is the export's to say: the loader
/// asks it, `chaos_engine::export::cluster_problems`.)
pub(super) fn run_problems(exp: &super::Experiment, problem: &mut impl FnMut(String, String)) {
    let sys = &exp.system;
    let Some(run) = &sys.kubernetes else { return };
    if sys.external.is_some()
        || sys.processes != super::system::Processes::default()
        || !sys.proxies.is_empty()
        || !sys.control.is_empty()
    {
        problem(
            "system.kubernetes".into(),
            "a cluster goes alone: not with `external`, `processes`, `proxies` or `control`".into(),
        );
    }
    if !exp.load.calls_own_system() {
        problem(
            "system.kubernetes".into(),
            "the embedded platform does not run on a cluster: give your services' requests in `load.http`, \
             or your stream in `load.player`"
                .into(),
        );
    }
    if run.context.trim().is_empty() {
        problem("system.kubernetes.context".into(), "name the kubeconfig context to act on".into());
    }
}

/// An RFC 1123 label, as Kubernetes names namespaces.
fn is_label(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}
