//! `chaos export`: an experiment's fault timeline handed to a cluster's own fault engine — a
//! Chaos Mesh `Workflow` ([`chaos_mesh`]) or Istio `VirtualService`s ([`istio`]) — unchanged.
//!
//! Every field the engine cannot express is a [`Gap`] naming the experiment's field: an error,
//! or with `lossy` (where something close exists) a comment in the manifest saying what was
//! changed. Nothing is dropped silently. The load and the verdict are not exported: on a
//! cluster the traffic is real and the verdict comes from probes of its telemetry.

pub mod chaos_mesh;
pub mod istio;
mod place;
mod plan;

use crate::experiment::Experiment;
use crate::experiment::kubernetes::Kubernetes;
use chaos_fault::{Distribution, Latency};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;
use targets::Topology;

pub use crate::experiment::kubernetes::Engine;

impl Engine {
    /// Its name in prose.
    pub fn title(self) -> &'static str {
        match self {
            Self::ChaosMesh => "Chaos Mesh",
            Self::Istio => "Istio",
        }
    }

    /// Its name on the command line and in file names.
    pub fn name(self) -> &'static str {
        match self {
            Self::ChaosMesh => "chaos-mesh",
            Self::Istio => "istio",
        }
    }
}

/// A field of the experiment the engine cannot express as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gap {
    /// Its path in the experiment (`faults[0].scope.probability`).
    pub path: String,
    /// Why, and for an approximation what the manifest does instead.
    pub message: String,
    /// Whether `--lossy` may export it changed.
    pub kind: GapKind,
}

/// Whether something close exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GapKind {
    /// Exported changed with `--lossy` (and a comment saying how); an error without.
    Approximated,
    /// Nothing close exists: always an error.
    Inexpressible,
}

impl Gap {
    /// Its message, saying whether `--lossy` would let it through.
    pub fn describe(&self) -> String {
        match self.kind {
            GapKind::Approximated => format!("{} (allowed with --lossy)", self.message),
            GapKind::Inexpressible => self.message.clone(),
        }
    }
}

impl fmt::Display for Gap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.describe())
    }
}

/// The gaps met while translating.
#[derive(Debug, Default)]
pub(crate) struct Gaps(Vec<Gap>);

impl Gaps {
    /// Something close is exported instead: `message` says what.
    pub(crate) fn approximated(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Gap { path: path.into(), message: message.into(), kind: GapKind::Approximated });
    }

    /// Nothing close exists.
    pub(crate) fn inexpressible(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Gap { path: path.into(), message: message.into(), kind: GapKind::Inexpressible });
    }

    /// The manifest's changes, or every gap that forbids it.
    fn settle(self, lossy: bool) -> Result<Vec<Gap>, Vec<Gap>> {
        let blocking = |g: &Gap| g.kind == GapKind::Inexpressible || !lossy;
        if self.0.iter().any(blocking) { Err(self.0.into_iter().filter(blocking).collect()) } else { Ok(self.0) }
    }
}

/// An exported manifest.
#[derive(Clone, Debug, PartialEq)]
pub struct Export {
    /// Its file name (`NAME.chaos-mesh.yaml`).
    pub file_name: String,
    /// The YAML, led by comments saying where it came from and what was changed.
    pub text: String,
    /// What `--lossy` changed (also in the text's comments).
    pub changes: Vec<Gap>,
}

/// Exports `exp` (validated, with its `topology`) to `engine`. `Err` lists every gap that
/// forbids it: all of them, or without `lossy` the approximations too.
pub fn export(exp: &Experiment, topology: &Topology, engine: Engine, lossy: bool) -> Result<Export, Vec<Gap>> {
    let mut gaps = Gaps::default();
    if exp.faults.is_empty() {
        gaps.inexpressible("faults", "no fault steps: nothing to export");
    }
    let docs = translate(exp, topology, engine, &mut gaps, |ctx, gaps| match engine {
        Engine::ChaosMesh => chaos_mesh::render(ctx, gaps),
        Engine::Istio => istio::render(ctx, gaps),
    });
    let changes = gaps.settle(lossy)?;
    let mut text = header(exp, engine, &changes);
    for (i, doc) in docs.iter().enumerate() {
        if i > 0 {
            text.push_str("---\n");
        }
        text.push_str(doc);
    }
    Ok(Export { file_name: format!("{}.{}.yaml", exp.name, engine.name()), text, changes })
}

/// `render`'s translation of `exp` for `engine`, in the context every translation reads; its
/// gaps go to `gaps`, led by the cohorts (neither engine picks users: they are left out).
fn translate<T>(
    exp: &Experiment,
    topology: &Topology,
    engine: Engine,
    gaps: &mut Gaps,
    render: impl FnOnce(&Context, &mut Gaps) -> T,
) -> T {
    let cluster = exp.kubernetes.clone().unwrap_or_default();
    let ctx = Context { exp, cluster: &cluster, instances: exp.instances(topology) };
    if exp.cohorts.is_some() {
        gaps.approximated("cohorts", format!("{} has no user cohorts: every user is faulted", engine.title()));
    }
    render(&ctx, gaps)
}

/// One fault step as the engine's own resource, which `chaos run` on a cluster applies at the
/// step's start and deletes at its end.
#[derive(Clone, Debug, PartialEq)]
pub struct StepResource {
    /// The step's index in `faults`.
    pub step: usize,
    /// The resource's YAML (one document).
    pub yaml: String,
    /// The pods it acts on, which must be there before the load starts.
    pub pods: Pods,
}

/// Pods on the cluster: by label, or one by name, in a namespace.
#[derive(Clone, Debug, PartialEq)]
pub struct Pods {
    /// Their namespace.
    pub namespace: String,
    /// Labels they carry (none: every pod of the namespace, as for a zone's nodes).
    pub labels: BTreeMap<String, String>,
    /// One pod by name.
    pub pod: Option<String>,
}

impl Pods {
    /// `kubectl` arguments listing them by name (`pod/NAME` lines).
    pub fn list_args(&self) -> Vec<String> {
        let mut args: Vec<String> = match &self.pod {
            Some(pod) => vec!["get".into(), "pod".into(), pod.clone()],
            None => vec!["get".into(), "pods".into()],
        };
        args.extend(["--namespace".into(), self.namespace.clone()]);
        if self.pod.is_none() && !self.labels.is_empty() {
            let selector: Vec<String> = self.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            args.extend(["--selector".into(), selector.join(",")]);
        }
        args.extend(["--output".into(), "name".into()]);
        args
    }
}

/// Each fault step of `exp` (validated, with its `topology`) as a resource of `engine`'s, for
/// a run on a cluster. `Err` lists every gap that forbids it, as [`export`] does; abort
/// conditions are not gaps here, since the runner watches them itself.
pub fn steps(
    exp: &Experiment,
    topology: &Topology,
    engine: Engine,
    lossy: bool,
) -> Result<Vec<StepResource>, Vec<Gap>> {
    let mut gaps = Gaps::default();
    let steps = translate(exp, topology, engine, &mut gaps, |ctx, gaps| match engine {
        Engine::ChaosMesh => chaos_mesh::steps(ctx, gaps),
        Engine::Istio => istio::steps(ctx, gaps),
    });
    gaps.settle(lossy)?;
    let pods = |p: place::Placement| Pods { namespace: p.namespace, labels: p.labels, pod: p.pod };
    Ok(steps.into_iter().map(|(step, placement, yaml)| StepResource { step, yaml, pods: pods(placement) }).collect())
}

/// On a cluster (`system.kubernetes`), each fault step its engine cannot run as written, as
/// (path, message) for the loader to place in the file: the gaps of [`steps`].
pub fn cluster_problems(exp: &Experiment, topology: &Topology) -> Vec<(String, String)> {
    let Some(run) = &exp.system.kubernetes else { return Vec::new() };
    let Err(gaps) = steps(exp, topology, run.engine, run.lossy) else { return Vec::new() };
    let problem = |g: Gap| {
        let lossy =
            if g.kind == GapKind::Approximated { " (allowed with `system.kubernetes.lossy: true`)" } else { "" };
        (g.path, format!("on {}: {}{lossy}", run.engine.title(), g.message))
    };
    gaps.into_iter().map(problem).collect()
}

/// What every translation reads.
pub(crate) struct Context<'a> {
    pub exp: &'a Experiment,
    pub cluster: &'a Kubernetes,
    /// The experiment's instances (its targets' names), to tell an instance from a service.
    pub instances: Vec<targets::InstanceInfo>,
}

fn header(exp: &Experiment, engine: Engine, changes: &[Gap]) -> String {
    let file = exp.file.as_ref().and_then(|f| f.file_name()).map(|f| format!(" ({})", f.to_string_lossy()));
    let mut text = format!(
        "# Exported by `chaos export --to {}` from experiment `{}`{}.\n\
         # Times count from the end of the experiment's warm-up. The load and the verdict are not\n\
         # here: on a cluster the traffic is real, and the experiment's probes judge it.\n",
        engine.name(),
        exp.name,
        file.unwrap_or_default()
    );
    if exp.kubernetes.is_none() {
        text.push_str(
            "# No `kubernetes:` section: targets are found by convention (a service NAME is the\n\
             # pods labelled app=NAME in namespace default; an instance is the pod of that name).\n",
        );
    }
    for change in changes {
        text.push_str(&format!("# Changed (--lossy): {}: {}\n", change.path, change.message));
    }
    text
}

/// A duration as Go's `time.ParseDuration` reads it (`8s`, `1500ms`), which both engines use.
pub(crate) fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) { format!("{}s", ms / 1000) } else { format!("{ms}ms") }
}

/// A latency fault's delay: the fixed one, or (approximated) the distribution's median.
pub(crate) fn fixed_delay(l: &Latency, at: &str, gaps: &mut Gaps) -> Duration {
    if !l.jitter.is_zero() {
        gaps.approximated(format!("{at}.jitter"), "only fixed delays: the jitter is left out");
    }
    let median = match l.distribution {
        Distribution::Fixed(d) => return d,
        Distribution::Uniform(u) => (u.min + u.max) / 2,
        Distribution::Normal(n) => n.mean,
        Distribution::Lognormal(l) => l.median,
        Distribution::Pareto(p) => p.scale.mul_f64(2f64.powf(1.0 / p.shape)),
    };
    gaps.approximated(at, format!("only fixed delays: the distribution's median, {}", go_duration(median)));
    median
}

/// The paths a scope picks, under the target's `path_prefix`: what both engines match on.
pub(crate) enum PathScope {
    /// Every path.
    Any,
    /// Paths starting with this.
    Prefix(String),
    /// A path pattern (`*` one segment, a final `**` the rest) under `prefix`.
    Pattern { prefix: String, pattern: String },
}

/// The scope's `route` and `path` with `p`'s prefix; an engine takes one of them, so a `path`
/// outside the `route` (which the layer would never match either) is refused.
pub(crate) fn path_scope(p: &place::Placement, scope: &chaos_fault::Scope, at: &str, gaps: &mut Gaps) -> PathScope {
    let prefix = p.mapping.path_prefix.as_deref().unwrap_or("").trim_end_matches('/').to_string();
    match (&scope.route, &scope.path) {
        (None, None) if prefix.is_empty() => PathScope::Any,
        (None, None) => PathScope::Prefix(format!("{prefix}/")),
        (Some(route), None) => PathScope::Prefix(format!("{prefix}{route}")),
        (route, Some(pattern)) => {
            if route.as_ref().is_some_and(|r| !pattern.starts_with(r.as_str())) {
                gaps.inexpressible(format!("{at}.scope.path"), "one path match: the path must begin with `route`");
            }
            PathScope::Pattern { prefix, pattern: pattern.clone() }
        }
    }
}

/// A Kubernetes object name (RFC 1123 label: lowercase letters, digits and `-`, at most 63).
pub(crate) fn k8s_name(parts: &[&str]) -> String {
    let joined = parts.join("-").to_ascii_lowercase();
    let mut name: String = joined.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    name.truncate(63);
    let trimmed = name.trim_matches('-');
    if trimmed.is_empty() { "chaos".into() } else { trimmed.to_string() }
}

/// YAML text of a serializable manifest.
pub(crate) fn to_yaml(value: &impl serde::Serialize) -> String {
    // Plain structs of strings, numbers and maps: serializing them cannot fail.
    serde_yaml::to_string(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_written_as_go_reads_them() {
        assert_eq!(go_duration(Duration::from_secs(8)), "8s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(go_duration(Duration::from_secs(600)), "600s");
    }

    #[test]
    fn names_are_rfc1123_labels() {
        assert_eq!(k8s_name(&["Auth_Outage", "fault 0"]), "auth-outage-fault-0");
        assert_eq!(k8s_name(&["--"]), "chaos");
        assert_eq!(k8s_name(&[&"x".repeat(80)]).len(), 63);
    }

    #[test]
    fn approximations_block_only_without_lossy() {
        let gaps = || {
            let mut g = Gaps::default();
            g.approximated("faults[0].scope.probability", "every request");
            g
        };
        assert!(gaps().settle(false).is_err());
        assert_eq!(gaps().settle(true).unwrap().len(), 1);
        let mut g = gaps();
        g.inexpressible("faults[1].fault", "no truncation");
        assert_eq!(g.settle(true).unwrap_err().len(), 1);
    }
}
