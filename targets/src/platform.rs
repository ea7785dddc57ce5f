//! [`Platform`]: the topology's services started as real HTTP servers on 127.0.0.1.

use crate::assemble::{self, GuardEdge, Urls};
use crate::client::http_client;
use crate::guards::GuardStats;
use crate::metrics::{self, InstanceLabels, PlatformMetrics, Source};
use crate::stats::{InstanceStats, StatsSnapshot};
use crate::topology::{Role, Topology};
use chaos_fault::FaultTable;
use chaos_fault::control::{ControlConfig, ControlError, ControlServer, Registry};
use chaos_fault::server::{Instance, Net};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One running instance: its server (killable), its fault table and its metrics.
#[derive(Clone, Debug)]
pub struct InstanceHandle {
    /// `SERVICE-N`.
    pub name: String,
    /// The service it belongs to.
    pub service: String,
    /// Its zone.
    pub zone: String,
    /// The server (kill / restart).
    pub server: Instance,
    /// The rules its fault layer applies.
    pub table: FaultTable,
    /// Its request metrics.
    pub stats: Arc<InstanceStats>,
}

/// A running platform.
pub struct Platform {
    topology: Topology,
    instances: Vec<InstanceHandle>,
    guards: Vec<GuardEdge>,
    registry: Registry,
}

/// Why a platform could not start.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// The topology is inconsistent.
    #[error(transparent)]
    Topology(#[from] crate::TopologyError),
    /// An instance process did not start.
    #[error("cannot start instance {instance}: {reason}")]
    Spawn {
        /// The instance.
        instance: String,
        /// What went wrong.
        reason: String,
    },
    /// A port could not be bound.
    #[error("cannot bind instance {instance}: {source}")]
    Bind {
        /// The instance.
        instance: String,
        /// The socket error.
        source: std::io::Error,
    },
}

impl Platform {
    /// Starts every service of `topology` (dependencies first), each instance seeded from `seed`.
    pub async fn start(topology: &Topology, seed: u64) -> Result<Self, PlatformError> {
        Self::start_on(&Net::Tcp, topology, seed).await
    }

    /// [`Platform::start`] on `net`: with an in-memory network no socket is opened, the
    /// instances take direct calls (no HTTP/1 bytes: `Instance::bind_direct`), and they are
    /// reached through [`http_client`](crate::http_client) on the same network.
    pub async fn start_on(net: &Net, topology: &Topology, seed: u64) -> Result<Self, PlatformError> {
        let http = http_client(net);
        let mut urls = Urls::new();
        let mut instances = Vec::new();
        let mut guards = Vec::new();
        let registry = Registry::new();
        for name in topology.start_order()? {
            let spec = &topology.services[&name];
            let (deps, edges) = assemble::clients(topology, &name, &urls, &http);
            guards.extend(edges);
            for (i, instance) in topology.instance_names(&name).into_iter().enumerate() {
                let (svc, table, stats) =
                    assemble::instance(topology, &name, &instance, seed, &deps, &urls, net.timer());
                let addr = ([127, 0, 0, 1], 0).into();
                let server = match net {
                    Net::Tcp => Instance::bind_on(net, instance.clone(), addr, svc).await,
                    Net::Mem(mem) => Instance::bind_direct(mem, instance.clone(), addr, svc).await,
                };
                let server = server.map_err(|source| PlatformError::Bind { instance: instance.clone(), source })?;
                urls.entry(name.clone()).or_default().push(server.url());
                registry.register(instance.clone(), table.clone(), Some(server.clone()));
                let zone = spec.zones[i % spec.zones.len()].clone();
                instances.push(InstanceHandle { name: instance, service: name.clone(), zone, server, table, stats });
            }
        }
        Ok(Self { topology: topology.clone(), instances, guards, registry })
    }

    /// The topology it runs.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Every instance.
    pub fn instances(&self) -> &[InstanceHandle] {
        &self.instances
    }

    /// The instances a target names: a service (all its instances) or one instance (`cdn-1`).
    pub fn resolve(&self, target: &str) -> Vec<&InstanceHandle> {
        self.instances.iter().filter(|i| i.service == target || i.name == target).collect()
    }

    /// Base URL of the (first) edge instance.
    pub fn edge_url(&self) -> String {
        let edge = self.instances.iter().find(|i| self.topology.role_of(&i.service) == Some(Role::Edge));
        edge.expect("validated topology has an edge").server.url()
    }

    /// Request metrics per service (instances merged), in name order.
    pub fn service_stats(&self) -> BTreeMap<String, StatsSnapshot> {
        let mut out: BTreeMap<String, StatsSnapshot> = BTreeMap::new();
        for i in &self.instances {
            out.entry(i.service.clone()).or_insert_with(StatsSnapshot::empty).merge(&i.stats.snapshot());
        }
        out
    }

    /// What every guard did.
    pub fn guard_stats(&self) -> Vec<GuardStats> {
        self.guards.iter().map(|(caller, callee, c)| c.snapshot(caller, callee)).collect()
    }

    /// Prometheus metrics of every instance, as one scrape.
    pub fn metrics(&self) -> PlatformMetrics {
        let source = |i: &InstanceHandle| Source {
            labels: InstanceLabels { service: i.service.clone(), replica: i.name.clone(), zone: i.zone.clone() },
            stats: i.stats.clone(),
            table: i.table.clone(),
        };
        PlatformMetrics(self.instances.iter().map(source).collect())
    }

    /// Serves [`Platform::metrics`] on `addr` (`GET /metrics`), one scrape target for the whole
    /// platform; each instance also serves its own on its port.
    pub async fn serve_metrics(&self, addr: std::net::SocketAddr) -> std::io::Result<Instance> {
        let metrics = Arc::new(self.metrics());
        let svc = tower::service_fn(move |req: http::Request<hyper::body::Incoming>| {
            let res = match req.uri().path() {
                "/metrics" => metrics::scrape(&metrics, req.headers().get(http::header::ACCEPT)),
                _ => {
                    let mut res = http::Response::new(http_body_util::Full::new("see /metrics\n".into()));
                    *res.status_mut() = http::StatusCode::NOT_FOUND;
                    res
                }
            };
            std::future::ready(Ok::<_, std::convert::Infallible>(res))
        });
        Instance::bind("metrics", addr, svc).await
    }

    /// Every instance by name, for the control API.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Serves the control API over every instance of the platform.
    pub async fn serve_control(&self, config: ControlConfig) -> Result<ControlServer, ControlError> {
        chaos_fault::control::serve(self.registry.clone(), config).await
    }

    /// Removes every fault rule and brings killed instances back.
    pub async fn heal(&self) {
        for i in &self.instances {
            i.table.clear();
            if !i.server.is_up() {
                let _ = i.server.restart().await;
            }
        }
    }

    /// Stops every instance.
    pub async fn shutdown(&self) {
        for i in &self.instances {
            i.server.shutdown().await;
        }
    }
}
