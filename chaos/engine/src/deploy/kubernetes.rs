//! The user's services on a Kubernetes cluster: each fault step is its engine resource (what
//! `chaos export` writes for it, as a resource of its own), applied with `kubectl apply` at the
//! step's start and deleted at its end. We write no cluster agent: Chaos Mesh or Istio does the
//! faulting; the runner keeps the timeline, the load and the verdict.
//!
//! Every command names the context (`--context`), so a run never acts on whatever cluster
//! happens to be current, and reads its manifest from standard input (no file left behind).

use crate::export::StepResource;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// How long one `kubectl` command may take: an API server that does not answer in this time
/// fails the change (and so stops the run) rather than stall the timeline.
const KUBECTL_TIMEOUT: Duration = Duration::from_secs(30);

/// Most of a command's error output kept for a message.
const MAX_STDERR: usize = 2000;

/// `kubectl` bound to one context.
#[derive(Clone, Debug)]
pub struct Kubectl {
    program: PathBuf,
    context: String,
}

impl Kubectl {
    /// `program` (a relative path with a `/` counts from `base`, the experiment's folder) on
    /// `context`.
    pub fn new(program: &str, context: &str, base: &Path) -> Self {
        // `./x` from a file in the working folder (an empty `base`) must stay a path, not
        // become a name looked up on the `PATH`.
        let base = if base.as_os_str().is_empty() { Path::new(".") } else { base };
        let program = match program.strip_prefix("./") {
            Some(here) => base.join(here),
            None if program.contains('/') => base.join(program),
            None => program.into(),
        };
        Self { program, context: context.into() }
    }

    /// The full argument list of a command: the context first.
    pub fn args(&self, args: &[&str]) -> Vec<String> {
        ["--context", &self.context].iter().chain(args).map(|s| s.to_string()).collect()
    }

    /// The command line, as a user would type it (`--dry-run` prints these).
    pub fn line(&self, args: &[&str]) -> String {
        let mut words = vec![self.program.display().to_string()];
        words.extend(self.args(args));
        words.join(" ")
    }

    /// Runs `kubectl ARGS` with `stdin` fed in; its standard output, or why it failed (the
    /// command, its exit status and what it wrote to standard error).
    pub async fn run(&self, args: &[&str], stdin: &str) -> Result<String, String> {
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(self.args(args))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let line = self.line(args);
        let mut child = cmd.spawn().map_err(|e| format!("cannot run `{line}`: {e}"))?;
        let exchange = async move {
            if let Some(mut input) = child.stdin.take() {
                // A command that exits without reading its input is judged by its exit status.
                let _ = input.write_all(stdin.as_bytes()).await;
            }
            child.wait_with_output().await
        };
        // The child goes with the future when time is up: kill_on_drop ends it.
        let output = match tokio::time::timeout(KUBECTL_TIMEOUT, exchange).await {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => return Err(format!("`{line}`: {e}")),
            Err(_) => return Err(format!("`{line}` still running after {KUBECTL_TIMEOUT:?}: killed")),
        };
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&output.stderr[..output.stderr.len().min(MAX_STDERR)]).into_owned();
        Err(format!("`{line}` failed ({}): {}", output.status, stderr.trim()))
    }
}

/// The `kubectl` arguments that put a step in place and take it away.
pub const APPLY: &[&str] = &["apply", "--filename", "-"];
/// Deleting what is already gone is no error: a rollback may follow a half-made change.
pub const DELETE: &[&str] = &["delete", "--ignore-not-found", "--filename", "-"];
/// Asks the API server to check every resource, without making any.
pub const VALIDATE: &[&str] = &["apply", "--dry-run=server", "--filename", "-"];

/// A cluster and the resource of each fault step.
pub struct KubernetesSystem {
    kubectl: Kubectl,
    /// By step index.
    steps: BTreeMap<usize, StepResource>,
    /// The steps applied and not yet deleted, deleted by `heal` whatever happened.
    applied: Mutex<BTreeSet<usize>>,
}

impl KubernetesSystem {
    /// The system that runs `steps` through `kubectl`.
    pub fn new(kubectl: Kubectl, steps: Vec<StepResource>) -> Self {
        let steps = steps.into_iter().map(|s| (s.step, s)).collect();
        Self { kubectl, steps, applied: Mutex::default() }
    }

    /// Its `kubectl`.
    pub fn kubectl(&self) -> &Kubectl {
        &self.kubectl
    }

    /// Every step's resource, as one manifest of several documents.
    pub fn all_resources(&self) -> String {
        let all: Vec<&str> = self.steps.values().map(|s| s.yaml.as_str()).collect();
        all.join("---\n")
    }

    /// Step `i`'s resource.
    pub fn resource(&self, i: usize) -> Option<&str> {
        self.steps.get(&i).map(|s| s.yaml.as_str())
    }

    /// Each set of pods the steps act on, once: (the first step acting on them, the `kubectl`
    /// arguments listing them).
    pub fn pod_queries(&self) -> Vec<(usize, Vec<String>)> {
        let mut out: Vec<(usize, Vec<String>)> = Vec::new();
        for s in self.steps.values() {
            let args = s.pods.list_args();
            if !out.iter().any(|(_, a)| *a == args) {
                out.push((s.step, args));
            }
        }
        out
    }

    /// Before the load: the API server accepts every step's resource (its engine's CRDs are
    /// installed, the fields valid), and every step has pods to act on.
    pub(super) async fn check(&self) -> Result<(), String> {
        self.kubectl.run(VALIDATE, &self.all_resources()).await?;
        for (step, args) in self.pod_queries() {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let found = self.kubectl.run(&args, "").await.map_err(|e| format!("faults[{step}]: {e}"))?;
            if found.trim().is_empty() {
                return Err(format!("faults[{step}]: no pod matches (`{}`)", self.kubectl.line(&args)));
            }
        }
        Ok(())
    }

    /// Puts step `i` in place (`apply`) or takes it away.
    pub(super) async fn change(&self, i: usize, apply: bool) -> Result<(), String> {
        let step = self.steps.get(&i).ok_or_else(|| format!("faults[{i}] has no resource on the cluster"))?;
        if apply {
            // Marked before the command: one that failed half way is deleted by the rollback.
            self.applied().insert(i);
            self.kubectl.run(APPLY, &step.yaml).await.map(drop)
        } else {
            self.kubectl.run(DELETE, &step.yaml).await?;
            self.applied().remove(&i);
            Ok(())
        }
    }

    fn applied(&self) -> std::sync::MutexGuard<'_, BTreeSet<usize>> {
        self.applied.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Deletes every step still applied (best effort: the run is over, its verdict stands).
    pub(super) async fn heal(&self) {
        let left = std::mem::take(&mut *self.applied());
        for i in left {
            if let Err(e) = self.change(i, false).await {
                tracing::warn!(step = i, error = %e, "could not delete a fault resource");
            }
        }
    }
}
