//! A system the runner did not start: an edge URL, and named `chaos proxy` control APIs that
//! put faults in front of its services.

use super::control::ControlClient;
use crate::experiment::External;
use chaos_fault::{FaultMetrics, Rule};
use std::collections::BTreeMap;
use std::time::Duration;

/// The edge and the proxies of `system.external`.
pub struct ExternalSystem {
    edge: String,
    proxies: BTreeMap<String, ControlClient>,
}

impl ExternalSystem {
    /// The system described by `external`.
    pub fn new(external: &External) -> Self {
        let proxies = external.proxies.iter().map(|(name, url)| (name.clone(), ControlClient::new(url))).collect();
        Self { edge: external.edge.clone(), proxies }
    }

    /// Where the device presses Play.
    pub fn edge(&self) -> &str {
        &self.edge
    }

    fn proxy(&self, name: &str) -> Result<&ControlClient, String> {
        self.proxies.get(name).ok_or_else(|| format!("`{name}` is not a proxy of `system.external`"))
    }

    /// Every proxy's control API answers.
    pub(super) async fn check(&self) -> Result<(), String> {
        for (name, proxy) in &self.proxies {
            proxy.check().await.map_err(|e| format!("proxy `{name}` (system.external.proxies.{name}): {e}"))?;
        }
        Ok(())
    }

    pub(super) async fn insert_rule(&self, target: &str, rule: &Rule) -> Result<(), String> {
        self.proxy(target)?.put_rule("*", rule).await
    }

    pub(super) async fn remove_rule(&self, target: &str, id: &str) -> Result<(), String> {
        self.proxy(target)?.remove_rule("*", id).await
    }

    pub(super) async fn kill(&self, target: &str, restart_after: Option<Duration>) -> Result<(), String> {
        self.proxy(target)?.kill("*", restart_after).await
    }

    pub(super) async fn restart(&self, target: &str) -> Result<(), String> {
        self.proxy(target)?.restart("*").await
    }

    pub(super) async fn heal(&self) {
        for proxy in self.proxies.values() {
            // Healing is best effort: the run is over, its verdict already stands.
            let _ = proxy.reset().await;
            let _ = proxy.restart("*").await;
        }
    }

    /// Fault metrics of every instance behind every proxy, keyed `PROXY/INSTANCE`.
    pub(super) async fn fault_metrics(&self) -> BTreeMap<String, FaultMetrics> {
        let mut out = BTreeMap::new();
        for (name, proxy) in &self.proxies {
            out.extend(proxy.metrics().await.into_iter().map(|(i, m)| (format!("{name}/{i}"), m)));
        }
        out
    }
}
