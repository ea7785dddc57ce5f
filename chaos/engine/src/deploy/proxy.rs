//! A proxy the runner runs in this process in front of one of the user's services: HTTP (the
//! fault layer, request faults) or TCP (Toxiproxy's toxics), with one interface for the managed
//! system to apply, remove, kill and heal.

use crate::experiment::system::ProxySpec;
use chaos_fault::server::Instance;
use chaos_fault::tcp::TcpProxy;
use chaos_fault::{Fault, FaultMetrics, FaultTable, Rule, derive_seed};
use std::sync::Mutex;
use std::time::Duration;
use tokio::task::JoinHandle;

/// A proxy run here.
pub(super) enum Proxy {
    /// An HTTP proxy: its server and its fault table.
    Http { server: Instance, table: FaultTable },
    /// A TCP proxy: its faults are toxics. `revive` enables it again after a `kill` with
    /// `restart_after`; a restart, heal or shutdown before then cancels it.
    Tcp { proxy: TcpProxy, revive: Mutex<Option<JoinHandle<()>>> },
}

impl Proxy {
    pub(super) async fn start(name: &str, spec: &ProxySpec, seed: u64) -> Result<Self, String> {
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

    pub(super) fn insert(&self, name: &str, rule: &Rule) -> Result<(), String> {
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

    pub(super) fn remove(&self, id: &str) {
        match self {
            Proxy::Http { table, .. } => drop(table.remove(id)),
            // Already gone is fine: the step is over either way.
            Proxy::Tcp { proxy, .. } => drop(proxy.remove_toxic(id)),
        }
    }

    pub(super) async fn kill(&self, restart_after: Option<Duration>) {
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

    pub(super) async fn restart(&self) -> std::io::Result<()> {
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
    pub(super) async fn heal(&self) {
        match self {
            Proxy::Http { table, .. } => table.clear(),
            Proxy::Tcp { proxy, .. } => proxy.clear_toxics(),
        }
        // Best effort: the run is over and its verdict stands.
        let _ = self.restart().await;
    }

    /// A TCP proxy counts connections where the layer counts requests, and each toxic's
    /// connections where the layer counts each rule's requests.
    pub(super) fn metrics(&self) -> FaultMetrics {
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

    pub(super) async fn shutdown(&self) {
        match self {
            Proxy::Http { server, .. } => server.shutdown().await,
            Proxy::Tcp { proxy, revive } => {
                Self::cancel(revive.lock().unwrap_or_else(|p| p.into_inner()).take());
                proxy.shutdown().await
            }
        }
    }
}
