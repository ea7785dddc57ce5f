//! [`Deployment`]: the platform under test, in this process or as one process per instance —
//! the timeline and the runner talk to either the same way.

use crate::experiment::External;
use chaos_fault::server::Net;
use chaos_fault::{FaultMetrics, Rule};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use targets::{GuardStats, Platform, PlatformError, ProcessPlatform, StatsSnapshot, Topology};

/// How to start instance processes: a program and the arguments that make it serve one
/// instance (the `chaos` binary and `__instance`).
#[derive(Clone, Debug)]
pub struct InstanceProgram {
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
}

/// The running platform.
pub enum Deployment {
    /// Every instance a server in this process.
    InProcess(Platform),
    /// Every instance its own process.
    Processes(ProcessPlatform),
    /// A system elsewhere, faulted through `chaos proxy` control APIs.
    External(ExternalSystem),
}

/// A system the runner did not start: an edge URL and named proxies' control APIs.
pub struct ExternalSystem {
    edge: String,
    proxies: BTreeMap<String, String>,
    http: reqwest::Client,
}

impl ExternalSystem {
    /// The system described by `external`.
    pub fn new(external: &External) -> Self {
        let http =
            reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("a plain HTTP client builds");
        Self { edge: external.edge.clone(), proxies: external.proxies.clone(), http }
    }

    /// `POST|DELETE` on the proxy named `target`, for all its instances. Failures are not the
    /// run's to stop on: the report's figures show their effect.
    async fn call(&self, target: &str, method: reqwest::Method, path: &str, body: Option<&Rule>) {
        let Some(control) = self.proxies.get(target) else { return };
        let mut req = self.http.request(method, format!("{}/instances/*{path}", control.trim_end_matches('/')));
        if let Some(rule) = body {
            req = req.json(rule);
        }
        let _ = req.send().await;
    }

    /// Fault metrics of every instance behind every proxy, keyed `PROXY/INSTANCE`; a proxy that
    /// does not answer has none.
    async fn fault_metrics(&self) -> BTreeMap<String, FaultMetrics> {
        let mut out = BTreeMap::new();
        for (name, control) in &self.proxies {
            let url = format!("{}/instances", control.trim_end_matches('/'));
            let list: serde_json::Value = match self.http.get(url).send().await {
                Ok(r) => r.json().await.unwrap_or_default(),
                Err(_) => continue,
            };
            for i in list.as_array().into_iter().flatten() {
                let m: FaultMetrics = serde_json::from_value(i["metrics"].clone()).unwrap_or_default();
                out.insert(format!("{name}/{}", i["name"].as_str().unwrap_or("?")), m);
            }
        }
        out
    }

    /// Requests seen and faults injected per proxy: all a proxy's control API can tell.
    async fn stats(&self) -> BTreeMap<String, StatsSnapshot> {
        let metrics = self.fault_metrics().await;
        let mut out: BTreeMap<String, StatsSnapshot> =
            self.proxies.keys().map(|n| (n.clone(), StatsSnapshot::empty())).collect();
        for (key, m) in metrics {
            let proxy = key.split_once('/').map_or(key.as_str(), |(p, _)| p);
            if let Some(s) = out.get_mut(proxy) {
                s.requests += m.requests_seen;
                s.injected += m.injected.values().sum::<u64>();
            }
        }
        out
    }
}

impl Deployment {
    /// Starts `topology` in this process on `net`, or as processes when `program` is given
    /// (processes listen on TCP).
    pub async fn start(
        topology: &Topology,
        seed: u64,
        program: Option<&InstanceProgram>,
        net: &Net,
    ) -> Result<Self, PlatformError> {
        Ok(match program {
            None => Self::InProcess(Platform::start_on(net, topology, seed).await?),
            Some(p) => {
                Self::Processes(ProcessPlatform::start(topology, seed, p.program.clone(), p.args.clone()).await?)
            }
        })
    }

    /// Base URL of the edge.
    pub fn edge_url(&self) -> String {
        match self {
            Self::InProcess(p) => p.edge_url(),
            Self::Processes(p) => p.edge_url(),
            Self::External(e) => e.edge.clone(),
        }
    }

    /// Adds a rule to an instance.
    pub async fn insert_rule(&self, instance: &str, rule: Rule) {
        match self {
            Self::InProcess(p) => p.resolve(instance).iter().for_each(|i| i.table.insert(rule.clone())),
            // A rule that does not reach a down instance is not an error of the run.
            Self::Processes(p) => drop(p.insert_rule(instance, &rule).await),
            Self::External(e) => {
                e.call(instance, reqwest::Method::DELETE, &format!("/rules/{}", rule.id), None).await;
                e.call(instance, reqwest::Method::POST, "/rules", Some(&rule)).await;
            }
        }
    }

    /// Removes a rule from an instance.
    pub async fn remove_rule(&self, instance: &str, id: &str) {
        match self {
            Self::InProcess(p) => {
                for i in p.resolve(instance) {
                    i.table.remove(id);
                }
            }
            Self::Processes(p) => p.remove_rule(instance, id).await,
            Self::External(e) => e.call(instance, reqwest::Method::DELETE, &format!("/rules/{id}"), None).await,
        }
    }

    /// Kills an instance (a SIGKILL for processes), restarting it after `restart_after`.
    pub async fn kill(&self, instance: &str, restart_after: Option<Duration>) {
        match self {
            Self::InProcess(p) => {
                for i in p.resolve(instance) {
                    i.server.kill(restart_after).await;
                }
            }
            Self::Processes(p) => p.kill(instance, restart_after).await,
            Self::External(e) => {
                e.call(instance, reqwest::Method::POST, "/kill", None).await;
                if let Some(after) = restart_after {
                    tokio::time::sleep(after).await;
                    e.call(instance, reqwest::Method::POST, "/restart", None).await;
                }
            }
        }
    }

    /// Brings a killed instance back.
    pub async fn restart(&self, instance: &str) {
        match self {
            Self::InProcess(p) => {
                for i in p.resolve(instance) {
                    // A failed rebind leaves the instance down; the report's figures show it.
                    let _ = i.server.restart().await;
                }
            }
            Self::Processes(p) => p.restart(instance).await,
            Self::External(e) => e.call(instance, reqwest::Method::POST, "/restart", None).await,
        }
    }

    /// Removes every rule, restarts every killed instance.
    pub async fn heal(&self) {
        match self {
            Self::InProcess(p) => p.heal().await,
            Self::Processes(p) => p.heal().await,
            Self::External(e) => {
                for (name, control) in &e.proxies {
                    let _ = e.http.post(format!("{}/reset", control.trim_end_matches('/'))).send().await;
                    e.call(name, reqwest::Method::POST, "/restart", None).await;
                }
            }
        }
    }

    /// Per-service request figures and guard counts.
    pub async fn stats(&self) -> (BTreeMap<String, StatsSnapshot>, Vec<GuardStats>) {
        match self {
            Self::InProcess(p) => (p.service_stats(), p.guard_stats()),
            Self::Processes(p) => p.stats().await,
            Self::External(e) => (e.stats().await, Vec::new()),
        }
    }

    /// Fault metrics of every instance (requests seen, injected by kind and rule).
    pub async fn fault_metrics(&self) -> BTreeMap<String, FaultMetrics> {
        match self {
            Self::InProcess(p) => p.instances().iter().map(|i| (i.name.clone(), i.table.metrics())).collect(),
            Self::Processes(p) => p.fault_metrics().await,
            Self::External(e) => e.fault_metrics().await,
        }
    }

    /// Stops everything.
    pub async fn shutdown(&self) {
        match self {
            Self::InProcess(p) => p.shutdown().await,
            Self::Processes(p) => p.shutdown().await,
            Self::External(_) => {}
        }
    }
}
