//! [`Deployment`]: the platform under test, in this process or as one process per instance —
//! the timeline and the runner talk to either the same way.

use chaos_fault::Rule;
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
}

impl Deployment {
    /// Starts `topology` in this process, or as processes when `program` is given.
    pub async fn start(
        topology: &Topology,
        seed: u64,
        program: Option<&InstanceProgram>,
    ) -> Result<Self, PlatformError> {
        Ok(match program {
            None => Self::InProcess(Platform::start(topology, seed).await?),
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
        }
    }

    /// Adds a rule to an instance.
    pub async fn insert_rule(&self, instance: &str, rule: Rule) {
        match self {
            Self::InProcess(p) => p.resolve(instance).iter().for_each(|i| i.table.insert(rule.clone())),
            // A rule that does not reach a down instance is not an error of the run.
            Self::Processes(p) => drop(p.insert_rule(instance, &rule).await),
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
        }
    }

    /// Removes every rule, restarts every killed instance.
    pub async fn heal(&self) {
        match self {
            Self::InProcess(p) => p.heal().await,
            Self::Processes(p) => p.heal().await,
        }
    }

    /// Per-service request figures and guard counts.
    pub async fn stats(&self) -> (BTreeMap<String, StatsSnapshot>, Vec<GuardStats>) {
        match self {
            Self::InProcess(p) => (p.service_stats(), p.guard_stats()),
            Self::Processes(p) => p.stats().await,
        }
    }

    /// Stops everything.
    pub async fn shutdown(&self) {
        match self {
            Self::InProcess(p) => p.shutdown().await,
            Self::Processes(p) => p.shutdown().await,
        }
    }
}
