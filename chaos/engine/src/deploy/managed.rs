//! The user's own system as the runner manages it: programs it starts ([`super::programs`]),
//! `chaos proxy` instances (HTTP or TCP) it runs in this process in front of services, and
//! control APIs of fault layers embedded in the user's apps. Every one is a fault target by name.

use super::control::ControlClient;
use super::programs::{Programs, Supervisor};
use crate::experiment::system::{Program, ProxySpec};
use chaos_fault::server::Instance;
use chaos_fault::tcp::TcpProxy;
use chaos_fault::{Fault, FaultMetrics, FaultTable, Rule, derive_seed};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;
use tokio::task::JoinHandle;

/// A proxy run here.
enum Proxy {
    /// An HTTP proxy: its server and its fault table.
    Http { server: Instance, table: FaultTable },
    /// A TCP proxy: its faults are toxics. `revive` enables it again after a `kill` with
    /// `restart_after`; a restart, heal or shutdown before then cancels it.
    Tcp { proxy: TcpProxy, revive: Mutex<Option<JoinHandle<()>>> },
}

impl Proxy {
    async fn start(name: &str, spec: &ProxySpec, seed: u64) -> Result<Self, String> {
        let listen = spec.listen.parse().map_err(|_| format!("`{}` is not an IP:PORT address", spec.listen))?;
        let seed = derive_seed(seed, name);
        if spec.tcp {
            let proxy = TcpProxy::start(name, listen, &spec.upstream, seed).await.map_err(|e| e.to_string())?;
            return Ok(Proxy::Tcp { proxy, revive: Mutex::default() });
        }
        let table = FaultTable::new();
        let server = chaos_fault::proxy::start(listen, &spec.upstream, table.clone(), seed).await;
        server.map(|server| Proxy::Http { server, table }).map_err(|e| e.to_string())
    }

    fn insert(&self, name: &str, rule: &Rule) -> Result<(), String> {
        match (self, &rule.fault) {
            (Proxy::Http { table, .. }, _) => {
                table.insert(rule.clone());
                Ok(())
            }
            (Proxy::Tcp { proxy: tcp, .. }, Fault::Toxic(toxic)) => {
                let toxic = chaos_fault::Toxic { name: rule.id.to_string(), ..toxic.clone() };
                // A ramp or a retry puts the same step again: it replaces the toxic.
                let _ = tcp.remove_toxic(&toxic.name);
                tcp.add_toxic(toxic).map(drop).map_err(|e| format!("TCP proxy `{name}`: {e}"))
            }
            (Proxy::Tcp { .. }, f) => Err(format!("`{name}` is a TCP proxy: it takes toxics, not `{}`", f.kind())),
        }
    }

    fn remove(&self, id: &str) {
        match self {
            Proxy::Http { table, .. } => drop(table.remove(id)),
            // Already gone is fine: the step is over either way.
            Proxy::Tcp { proxy, .. } => drop(proxy.remove_toxic(id)),
        }
    }

    async fn kill(&self, restart_after: Option<Duration>) {
        match self {
            Proxy::Http { server, .. } => server.kill(restart_after).await,
            Proxy::Tcp { proxy, revive } => {
                let _ = proxy.set_enabled(false).await;
                if let Some(after) = restart_after {
                    let proxy = proxy.clone();
                    let task = tokio::spawn(async move {
                        tokio::time::sleep(after).await;
                        let _ = proxy.set_enabled(true).await;
                    });
                    Self::cancel(revive.lock().unwrap_or_else(|p| p.into_inner()).replace(task));
                }
            }
        }
    }

    async fn restart(&self) -> std::io::Result<()> {
        match self {
            Proxy::Http { server, .. } => server.restart().await,
            Proxy::Tcp { proxy, revive } => {
                Self::cancel(revive.lock().unwrap_or_else(|p| p.into_inner()).take());
                proxy.set_enabled(true).await
            }
        }
    }

    fn cancel(revive: Option<JoinHandle<()>>) {
        if let Some(task) = revive {
            task.abort();
        }
    }

    /// Clears its faults and brings it back up.
    async fn heal(&self) {
        match self {
            Proxy::Http { table, .. } => table.clear(),
            Proxy::Tcp { proxy, .. } => proxy.clear_toxics(),
        }
        // Best effort: the run is over and its verdict stands.
        let _ = self.restart().await;
    }

    /// A TCP proxy counts connections where the layer counts requests, and each toxic's
    /// connections where the layer counts each rule's requests.
    fn metrics(&self) -> FaultMetrics {
        match self {
            Proxy::Http { table, .. } => table.metrics(),
            Proxy::Tcp { proxy, .. } => {
                let m = proxy.metrics();
                let toxics = proxy.toxics();
                let injected = m.toxicated.values().sum::<u64>();
                FaultMetrics {
                    requests_seen: m.connections,
                    injected: if injected > 0 { [("toxic".to_string(), injected)].into() } else { Default::default() },
                    by_rule: m.toxicated,
                    active: if toxics.is_empty() { 0 } else { m.open as u64 },
                    rules: toxics.len(),
                }
            }
        }
    }

    async fn shutdown(&self) {
        match self {
            Proxy::Http { server, .. } => server.shutdown().await,
            Proxy::Tcp { proxy, revive } => {
                Self::cancel(revive.lock().unwrap_or_else(|p| p.into_inner()).take());
                proxy.shutdown().await
            }
        }
    }
}

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
