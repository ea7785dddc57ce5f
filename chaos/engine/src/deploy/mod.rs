//! [`Deployment`]: the system under test — the embedded platform in this process or as one
//! process per instance, an external system behind proxies, the user's own system, or the
//! user's services on a cluster — which the timeline and the runner talk to the same way.
//!
//! Putting a fault in place says whether it worked. The embedded platform cannot fail to take
//! a rule; a system reached over the network can, and then the run must stop rather than pass
//! with a fault that never was.

mod control;
mod external;
pub mod kubernetes;
mod managed;
mod programs;
mod proxy;

pub use external::ExternalSystem;
pub use kubernetes::{Kubectl, KubernetesSystem};
pub use managed::{ManagedSpec, ManagedSystem};
pub use programs::{Supervisor, supervise};

use chaos_fault::server::Net;
use chaos_fault::{FaultMetrics, Rule};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use targets::{GuardStats, Platform, PlatformError, ProcessPlatform, StatsSnapshot, Topology};

/// A cluster takes whole steps ([`Deployment::change_step`]), never rules or kills by instance.
const ON_CLUSTER: &str = "on a cluster a fault step is put in place as a whole, not per instance";

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
    /// The user's own system: its programs, proxies and control APIs.
    Managed(ManagedSystem),
    /// The user's services on a cluster: each fault step a resource applied with `kubectl`.
    Kubernetes(KubernetesSystem),
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
            Self::External(e) => e.edge().to_string(),
            Self::Managed(_) | Self::Kubernetes(_) => String::new(),
        }
    }

    /// Whether every fault target is there, before the load starts: `Err` names the first one
    /// that is not (a control API that does not answer, a program that exited).
    pub async fn check_targets(&self) -> Result<(), String> {
        match self {
            Self::InProcess(_) | Self::Processes(_) => Ok(()),
            Self::External(e) => e.check().await,
            Self::Managed(m) => m.check().await,
            Self::Kubernetes(k) => k.check().await,
        }
    }

    /// Puts fault step `i` in place or takes it away as a whole, where the system takes steps
    /// rather than rules and kills on instances (a cluster): `None` elsewhere.
    pub async fn change_step(&self, i: usize, apply: bool) -> Option<Result<(), String>> {
        match self {
            Self::Kubernetes(k) => Some(k.change(i, apply).await),
            _ => None,
        }
    }

    /// Adds a rule to an instance (`Err`: it could not be put in place).
    pub async fn insert_rule(&self, instance: &str, rule: Rule) -> Result<(), String> {
        match self {
            Self::InProcess(p) => p.resolve(instance).iter().for_each(|i| i.table.insert(rule.clone())),
            // A rule that does not reach a down instance of the platform is not an error of the
            // run: a kill of that instance is under way.
            Self::Processes(p) => drop(p.insert_rule(instance, &rule).await),
            Self::External(e) => return e.insert_rule(instance, &rule).await,
            Self::Managed(m) => return m.insert_rule(instance, &rule).await,
            Self::Kubernetes(_) => return Err(ON_CLUSTER.into()),
        }
        Ok(())
    }

    /// Removes a rule from an instance.
    pub async fn remove_rule(&self, instance: &str, id: &str) -> Result<(), String> {
        match self {
            Self::InProcess(p) => {
                for i in p.resolve(instance) {
                    i.table.remove(id);
                }
            }
            Self::Processes(p) => p.remove_rule(instance, id).await,
            Self::External(e) => return e.remove_rule(instance, id).await,
            Self::Managed(m) => return m.remove_rule(instance, id).await,
            Self::Kubernetes(_) => return Err(ON_CLUSTER.into()),
        }
        Ok(())
    }

    /// Kills an instance (a SIGKILL for processes), restarting it after `restart_after`.
    pub async fn kill(&self, instance: &str, restart_after: Option<Duration>) -> Result<(), String> {
        match self {
            Self::InProcess(p) => {
                for i in p.resolve(instance) {
                    i.server.kill(restart_after).await;
                }
            }
            Self::Processes(p) => p.kill(instance, restart_after).await,
            Self::External(e) => return e.kill(instance, restart_after).await,
            Self::Managed(m) => return m.kill(instance, restart_after).await,
            Self::Kubernetes(_) => return Err(ON_CLUSTER.into()),
        }
        Ok(())
    }

    /// Brings a killed instance back.
    pub async fn restart(&self, instance: &str) -> Result<(), String> {
        match self {
            Self::InProcess(p) => {
                for i in p.resolve(instance) {
                    // A failed rebind leaves the instance down; the report's figures show it.
                    let _ = i.server.restart().await;
                }
            }
            Self::Processes(p) => p.restart(instance).await,
            Self::External(e) => return e.restart(instance).await,
            Self::Managed(m) => return m.restart(instance).await,
            Self::Kubernetes(_) => return Err(ON_CLUSTER.into()),
        }
        Ok(())
    }

    /// Freezes a program (SIGSTOP); only the user's programs can be paused.
    pub async fn pause(&self, instance: &str) -> Result<(), String> {
        match self {
            Self::Managed(m) => m.pause(instance),
            _ => Err(format!("`{instance}` is not a program of `system.processes`: only those can be paused")),
        }
    }

    /// Lets a paused program go on (SIGCONT).
    pub async fn resume(&self, instance: &str) -> Result<(), String> {
        match self {
            Self::Managed(m) => m.resume(instance),
            _ => Ok(()),
        }
    }

    /// Removes every rule, restarts every killed instance, resumes every paused program.
    pub async fn heal(&self) {
        match self {
            Self::InProcess(p) => p.heal().await,
            Self::Processes(p) => p.heal().await,
            Self::External(e) => e.heal().await,
            Self::Managed(m) => m.heal().await,
            Self::Kubernetes(k) => k.heal().await,
        }
    }

    /// Per-service request figures and guard counts.
    pub async fn stats(&self) -> (BTreeMap<String, StatsSnapshot>, Vec<GuardStats>) {
        match self {
            Self::InProcess(p) => (p.service_stats(), p.guard_stats()),
            Self::Processes(p) => p.stats().await,
            // What a proxy's control API can tell is all-time counters, earlier traffic included:
            // the run's own figures are the workload's.
            Self::External(_) | Self::Managed(_) | Self::Kubernetes(_) => (BTreeMap::new(), Vec::new()),
        }
    }

    /// The Prometheus series of the instances this process serves (the in-process platform);
    /// `None` where each instance is scraped on its own, or the system is not ours.
    pub fn prometheus(&self) -> Option<targets::metrics::PlatformMetrics> {
        match self {
            Self::InProcess(p) => Some(p.metrics()),
            Self::Processes(_) | Self::External(_) | Self::Managed(_) | Self::Kubernetes(_) => None,
        }
    }

    /// Fault metrics of every instance (requests seen, injected by kind and rule).
    pub async fn fault_metrics(&self) -> BTreeMap<String, FaultMetrics> {
        match self {
            Self::InProcess(p) => p.instances().iter().map(|i| (i.name.clone(), i.table.metrics())).collect(),
            Self::Processes(p) => p.fault_metrics().await,
            Self::External(e) => e.fault_metrics().await,
            Self::Managed(m) => m.fault_metrics().await,
            // The engines count nothing the runner could read back: the workload's figures are
            // the run's.
            Self::Kubernetes(_) => BTreeMap::new(),
        }
    }

    /// Stops everything it started.
    pub async fn shutdown(&self) {
        match self {
            Self::InProcess(p) => p.shutdown().await,
            Self::Processes(p) => p.shutdown().await,
            Self::External(_) | Self::Kubernetes(_) => {}
            Self::Managed(m) => m.shutdown().await,
        }
    }
}
