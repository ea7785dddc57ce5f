//! The user's own system as the runner manages it: programs it starts ([`super::programs`]),
//! proxies ([`super::proxy`], HTTP or TCP) it runs in this process in front of services, and
//! control APIs of fault layers embedded in the user's apps. Every one is a fault target by name.

use super::control::ControlClient;
use super::programs::{Programs, Supervisor};
use super::proxy::Proxy;
use crate::experiment::system::{Program, ProxySpec};
use chaos_fault::{FaultMetrics, Rule};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Programs, proxies and control APIs, by name.
pub struct ManagedSystem {
    programs: Programs,
    proxies: BTreeMap<String, Proxy>,
    control: BTreeMap<String, ControlClient>,
}

/// What `system:` declares for a managed run, and where its programs run from.
pub struct ManagedSpec<'a> {
    /// `system.processes`.
    pub programs: &'a [Program],
    /// `system.proxies`.
    pub proxies: &'a BTreeMap<String, ProxySpec>,
    /// `system.control`.
    pub control: &'a BTreeMap<String, String>,
    /// The experiment file's folder: programs' `cwd` counts from it.
    pub base: &'a Path,
    /// Where programs' stdout and stderr go.
    pub logs: &'a Path,
}

impl ManagedSystem {
    /// Starts the proxies, then the programs (waiting for each to be ready: a program may
    /// connect through a proxy as it starts); `Err` names what did not come up, after stopping
    /// what did.
    pub async fn start(spec: &ManagedSpec<'_>, supervisor: Option<&Supervisor>, seed: u64) -> Result<Self, String> {
        let mut proxies = BTreeMap::new();
        let stop = |proxies: BTreeMap<String, Proxy>| async move {
            for p in proxies.values() {
                p.shutdown().await;
            }
        };
        for (name, p) in spec.proxies {
            match Proxy::start(name, p, seed).await {
                Ok(proxy) => drop(proxies.insert(name.clone(), proxy)),
                Err(e) => {
                    stop(proxies).await;
                    return Err(format!("proxy `{name}`: {e}"));
                }
            }
        }
        let programs = match Programs::start(spec.programs, spec.base, spec.logs, supervisor).await {
            Ok(programs) => programs,
            Err(e) => {
                stop(proxies).await;
                return Err(e);
            }
        };
        let control = spec.control.iter().map(|(name, url)| (name.clone(), ControlClient::new(url))).collect();
        Ok(Self { programs, proxies, control })
    }

    /// Every control API answers and every program still runs.
    pub(super) async fn check(&self) -> Result<(), String> {
        for (name, api) in &self.control {
            api.check().await.map_err(|e| format!("control API `{name}` (system.control.{name}): {e}"))?;
        }
        self.programs.check()
    }

    /// The control API and the instance behind it that `target` names: `shop` (every
    /// instance) or `shop/NAME`.
    fn control<'a>(&'a self, target: &'a str) -> Option<(&'a ControlClient, &'a str)> {
        let (api, instance) = target.split_once('/').unwrap_or((target, "*"));
        self.control.get(api).map(|c| (c, instance))
    }

    fn not_a(&self, target: &str, what: &str) -> String {
        format!("`{target}` {what}")
    }

    pub(super) async fn insert_rule(&self, target: &str, rule: &Rule) -> Result<(), String> {
        if let Some(p) = self.proxies.get(target) {
            return p.insert(target, rule);
        }
        match self.control(target) {
            Some((api, instance)) => api.put_rule(instance, rule).await,
            None => Err(self.not_a(target, "is not a proxy or a control API: it takes no request faults")),
        }
    }

    pub(super) async fn remove_rule(&self, target: &str, id: &str) -> Result<(), String> {
        if let Some(p) = self.proxies.get(target) {
            p.remove(id);
            return Ok(());
        }
        match self.control(target) {
            Some((api, instance)) => api.remove_rule(instance, id).await,
            None => Err(self.not_a(target, "is not a proxy or a control API")),
        }
    }

    pub(super) async fn kill(&self, target: &str, restart_after: Option<Duration>) -> Result<(), String> {
        if self.programs.has(target) {
            return self.programs.kill(target, restart_after).await;
        }
        if let Some(p) = self.proxies.get(target) {
            p.kill(restart_after).await;
            return Ok(());
        }
        match self.control(target) {
            Some((api, instance)) => api.kill(instance, restart_after).await,
            None => Err(self.not_a(target, "is not a program, a proxy or a control API")),
        }
    }

    pub(super) async fn restart(&self, target: &str) -> Result<(), String> {
        if self.programs.has(target) {
            return self.programs.restart(target).await;
        }
        if let Some(p) = self.proxies.get(target) {
            return p.restart().await.map_err(|e| format!("proxy `{target}` cannot listen again: {e}"));
        }
        match self.control(target) {
            Some((api, instance)) => api.restart(instance).await,
            None => Err(self.not_a(target, "is not a program, a proxy or a control API")),
        }
    }

    pub(super) fn pause(&self, target: &str) -> Result<(), String> {
        self.programs.pause(target)
    }

    pub(super) fn resume(&self, target: &str) -> Result<(), String> {
        self.programs.resume(target)
    }

    pub(super) async fn heal(&self) {
        for p in self.proxies.values() {
            p.heal().await;
        }
        for api in self.control.values() {
            let _ = api.reset().await;
            let _ = api.restart("*").await;
        }
        self.programs.heal().await;
    }

    /// Fault metrics of the proxies (by name) and of the control APIs' instances (`API/NAME`).
    pub(super) async fn fault_metrics(&self) -> BTreeMap<String, FaultMetrics> {
        let mut out: BTreeMap<String, FaultMetrics> =
            self.proxies.iter().map(|(name, p)| (name.clone(), p.metrics())).collect();
        for (name, api) in &self.control {
            out.extend(api.metrics().await.into_iter().map(|(i, m)| (format!("{name}/{i}"), m)));
        }
        out
    }

    /// Stops the proxies and the programs.
    pub(super) async fn shutdown(&self) {
        for p in self.proxies.values() {
            p.shutdown().await;
        }
        self.programs.shutdown().await;
    }
}
