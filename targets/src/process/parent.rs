//! The parent side: one child process per instance.

use super::{InstanceSpec, STATS_PATH, StatsWire};
use crate::PlatformError;
use crate::guards::GuardStats;
use crate::stats::StatsSnapshot;
use crate::topology::Topology;
use chaos_fault::Rule;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

/// How to start a child: the program and the arguments that make it run one instance.
#[derive(Clone, Debug)]
struct Launcher {
    program: PathBuf,
    args: Vec<String>,
    /// Set in each child's environment (`CHAOS_RUN_ID`), so leftovers can be found.
    run_id: String,
}

struct Live {
    child: Child,
    /// Held open: the child exits when it closes.
    _stdin: ChildStdin,
    control: String,
}

/// One instance, run as a process.
struct ProcInstance {
    name: String,
    spec: InstanceSpec,
    live: Mutex<Option<Live>>,
    pending_restart: std::sync::Mutex<Option<JoinHandle<()>>>,
}

/// A platform whose instances are OS processes.
pub struct ProcessPlatform {
    topology: Topology,
    launcher: Arc<Launcher>,
    instances: Vec<Arc<ProcInstance>>,
    http: reqwest::Client,
}

impl Launcher {
    /// Starts a child for `spec` and waits for its `READY` line.
    async fn spawn(&self, spec: &InstanceSpec) -> Result<(Live, u16), PlatformError> {
        let fail = |reason: String| PlatformError::Spawn { instance: spec.instance.clone(), reason };
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .env("CHAOS_RUN_ID", &self.run_id)
            .env("CHAOS_INSTANCE", &spec.instance)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| fail(format!("cannot run {}: {e}", self.program.display())))?;
        let mut stdin = child.stdin.take().ok_or_else(|| fail("no stdin".into()))?;
        let mut line = serde_json::to_vec(spec).map_err(|e| fail(e.to_string()))?;
        line.push(b'\n');
        stdin.write_all(&line).await.map_err(|e| fail(e.to_string()))?;
        let stdout = child.stdout.take().ok_or_else(|| fail("no stdout".into()))?;
        let mut ready = String::new();
        let mut reader = BufReader::new(stdout);
        match tokio::time::timeout(Duration::from_secs(10), reader.read_line(&mut ready)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return Err(fail("no READY line within 10 s".into())),
        }
        let mut words = ready.split_whitespace();
        let parse = |w: Option<&str>| w.and_then(|p| p.parse::<u16>().ok());
        let (Some("READY"), Some(port), Some(control)) = (words.next(), parse(words.next()), parse(words.next()))
        else {
            return Err(fail(format!("unexpected first line `{}`", ready.trim())));
        };
        Ok((Live { child, _stdin: stdin, control: format!("http://127.0.0.1:{control}") }, port))
    }
}

impl ProcessPlatform {
    /// Starts every instance of `topology` as `program args...` (dependencies first).
    pub async fn start(
        topology: &Topology,
        seed: u64,
        program: PathBuf,
        args: Vec<String>,
    ) -> Result<Self, PlatformError> {
        let run_id = format!("{}-{}", std::process::id(), seed);
        let launcher = Arc::new(Launcher { program, args, run_id });
        let mut urls: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut instances = Vec::new();
        for service in topology.start_order()? {
            for name in topology.instance_names(&service) {
                let mut spec = InstanceSpec {
                    topology: topology.clone(),
                    service: service.clone(),
                    instance: name.clone(),
                    seed,
                    port: 0,
                    urls: urls.clone(),
                    parent_pid: std::process::id(),
                };
                let (live, port) = launcher.spawn(&spec).await?;
                spec.port = port;
                urls.entry(service.clone()).or_default().push(format!("http://127.0.0.1:{port}"));
                instances.push(Arc::new(ProcInstance {
                    name,
                    spec,
                    live: Mutex::new(Some(live)),
                    pending_restart: std::sync::Mutex::new(None),
                }));
            }
        }
        let http =
            reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("a plain HTTP client builds");
        Ok(Self { topology: topology.clone(), launcher, instances, http })
    }

    /// The topology it runs.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    fn get(&self, name: &str) -> Option<&Arc<ProcInstance>> {
        self.instances.iter().find(|i| i.name == name)
    }

    fn url(&self, i: &ProcInstance) -> String {
        format!("http://127.0.0.1:{}", i.spec.port)
    }

    /// Base URL of the (first) edge instance.
    pub fn edge_url(&self) -> String {
        let edge = self.instances.iter().find(|i| self.topology.role_of(&i.spec.service) == Some(crate::Role::Edge));
        self.url(edge.expect("validated topology has an edge"))
    }

    /// Pids of the running children.
    pub async fn pids(&self) -> Vec<u32> {
        let mut out = Vec::new();
        for i in &self.instances {
            if let Some(pid) = i.live.lock().await.as_ref().and_then(|l| l.child.id()) {
                out.push(pid);
            }
        }
        out
    }

    async fn control(&self, name: &str) -> Option<String> {
        self.get(name)?.live.lock().await.as_ref().map(|l| l.control.clone())
    }

    /// Adds (or replaces) a rule on a running instance through its control API.
    pub async fn insert_rule(&self, name: &str, rule: &Rule) -> Result<(), String> {
        let Some(control) = self.control(name).await else { return Err(format!("{name} is not running")) };
        let url = format!("{control}/instances/{name}/rules");
        let _ = self.http.delete(format!("{url}/{}", rule.id)).send().await;
        let res = self.http.post(&url).json(rule).send().await.map_err(|e| e.to_string())?;
        if res.status().is_success() { Ok(()) } else { Err(res.text().await.unwrap_or_default()) }
    }

    /// Removes a rule from a running instance (a no-op when it is down or the rule is gone).
    pub async fn remove_rule(&self, name: &str, id: &str) {
        if let Some(control) = self.control(name).await {
            let _ = self.http.delete(format!("{control}/instances/{name}/rules/{id}")).send().await;
        }
    }

    /// SIGKILLs an instance's process; with `restart_after`, starts a new one on the same port
    /// after that long.
    pub async fn kill(&self, name: &str, restart_after: Option<Duration>) {
        let Some(inst) = self.get(name).cloned() else { return };
        if let Some(mut live) = inst.live.lock().await.take() {
            let _ = live.child.start_kill();
            let _ = live.child.wait().await;
        }
        if let Some(after) = restart_after {
            let launcher = self.launcher.clone();
            let me = inst.clone();
            let task = tokio::spawn(async move {
                tokio::time::sleep(after).await;
                respawn(&launcher, &me).await;
            });
            if let Some(old) = inst.pending_restart.lock().unwrap_or_else(|p| p.into_inner()).replace(task) {
                old.abort();
            }
        }
    }

    /// Starts a killed instance again on its port; a no-op when it runs.
    pub async fn restart(&self, name: &str) {
        if let Some(inst) = self.get(name) {
            respawn(&self.launcher, inst).await;
        }
    }

    /// Removes every rule and restarts every killed instance.
    pub async fn heal(&self) {
        for i in &self.instances {
            if let Some(t) = i.pending_restart.lock().unwrap_or_else(|p| p.into_inner()).take() {
                t.abort();
            }
            match self.control(&i.name).await {
                Some(control) => drop(self.http.post(format!("{control}/reset")).send().await),
                None => respawn(&self.launcher, i).await,
            }
        }
    }

    /// Request metrics per service and the guards' counts, collected from every running child.
    pub async fn stats(&self) -> (BTreeMap<String, StatsSnapshot>, Vec<GuardStats>) {
        let mut services: BTreeMap<String, StatsSnapshot> = BTreeMap::new();
        let mut guards = Vec::new();
        for i in &self.instances {
            let res = self.http.get(format!("{}{STATS_PATH}", self.url(i))).send().await;
            let wire: StatsWire = match res {
                Ok(r) => r.json().await.unwrap_or_default(),
                Err(_) => StatsWire::default(),
            };
            services.entry(i.spec.service.clone()).or_insert_with(StatsSnapshot::empty).merge(&wire.snapshot());
            guards.extend(wire.guards);
        }
        (services, merge_guards(guards))
    }

    /// Fault metrics of every running child, from its control API.
    pub async fn fault_metrics(&self) -> BTreeMap<String, chaos_fault::FaultMetrics> {
        let mut out = BTreeMap::new();
        for i in &self.instances {
            let Some(control) = self.control(&i.name).await else { continue };
            let res = self.http.get(format!("{control}/instances/{}/metrics", i.name)).send().await;
            let all: BTreeMap<String, chaos_fault::FaultMetrics> = match res {
                Ok(r) => r.json().await.unwrap_or_default(),
                Err(_) => continue,
            };
            out.extend(all);
        }
        out
    }

    /// Kills every child.
    pub async fn shutdown(&self) {
        for i in &self.instances {
            if let Some(t) = i.pending_restart.lock().unwrap_or_else(|p| p.into_inner()).take() {
                t.abort();
            }
            if let Some(mut live) = i.live.lock().await.take() {
                let _ = live.child.start_kill();
                let _ = live.child.wait().await;
            }
        }
    }
}

async fn respawn(launcher: &Launcher, inst: &ProcInstance) {
    let mut live = inst.live.lock().await;
    if live.is_some() {
        return;
    }
    // The port may linger for a moment after the kill: bounded retries.
    for _ in 0..50 {
        if let Ok((l, _)) = launcher.spawn(&inst.spec).await {
            *live = Some(l);
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Guard counts of the same edge from several instances of a caller, added up.
fn merge_guards(all: Vec<GuardStats>) -> Vec<GuardStats> {
    let mut merged: BTreeMap<(String, String), GuardStats> = BTreeMap::new();
    for g in all {
        match merged.get_mut(&(g.caller.clone(), g.callee.clone())) {
            Some(m) => m.merge(&g),
            None => drop(merged.insert((g.caller.clone(), g.callee.clone()), g)),
        }
    }
    merged.into_values().collect()
}
