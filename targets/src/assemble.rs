//! Building one service's clients and one instance's stack from the topology — shared by the
//! in-process [`Platform`](crate::Platform) and the one-instance child processes.

use crate::client::{DepClient, Ejection, Endpoints, HttpClient};
use crate::guards::GuardCounters;
use crate::metrics::{Exposed, InstanceLabels, PlatformMetrics, Source};
use crate::services::{Ctx, Deps, Routes, router};
use crate::stats::{InstanceStats, Metered};
use crate::topology::{Role, Topology};
use chaos_fault::{FaultLayer, FaultService, FaultTable, Timer, derive_seed};
use std::collections::BTreeMap;
use std::sync::Arc;
use tower::Layer;

/// Base URLs of every started instance, by service.
pub(crate) type Urls = BTreeMap<String, Vec<String>>;

/// The guard counters of one caller → dependency edge.
pub(crate) type GuardEdge = (String, String, Arc<GuardCounters>);

/// The stack one instance serves: `/metrics` first, then request metrics outside the fault
/// layer, the service's routes inside.
pub(crate) type InstanceStack = Exposed<Metered<FaultService<Routes>>>;

/// The guarded clients of service `name` (its dependencies must be in `urls`).
pub(crate) fn clients(topology: &Topology, name: &str, urls: &Urls, http: &HttpClient) -> (Deps, Vec<GuardEdge>) {
    let spec = &topology.services[name];
    let mut deps = Deps::default();
    let mut guards = Vec::new();
    for (callee, policy) in &spec.calls {
        let counters = Arc::new(GuardCounters::default());
        guards.push((name.to_string(), callee.clone(), counters.clone()));
        let ejection = Ejection { eject_after: policy.eject_after, eject_for: policy.eject_for };
        let endpoints = Endpoints::new(urls[callee].clone(), http.clone(), ejection, counters.clone());
        let client = DepClient::new(callee, endpoints, policy, counters);
        match topology.role_of(callee).expect("validated topology") {
            Role::Internal => deps.internal.push(client),
            role => {
                deps.by_role.insert(role, client);
            }
        }
    }
    let internal = deps.internal.len();
    deps.per_request = spec.calls_per_request.map_or(internal, |n| n as usize).min(internal);
    deps.salt = deps.internal.first().map_or(0, |d| crate::services::stable_hash(d.callee()));
    (deps, guards)
}

/// Instance `instance` of service `name`: its stack, its fault table, its metrics. Injected
/// delays run on `timer` (the network's: see [`chaos_fault::server::Net::timer`]).
pub(crate) fn instance(
    topology: &Topology,
    name: &str,
    instance: &str,
    seed: u64,
    deps: &Deps,
    urls: &Urls,
    timer: Timer,
) -> (InstanceStack, FaultTable, Arc<InstanceStats>) {
    let spec = &topology.services[name];
    let role = topology.role_of(name).expect("validated topology");
    let steered = spec.steers.as_ref().map(|s| urls[s].clone()).unwrap_or_default();
    let instance_seed = derive_seed(seed, instance);
    let media = Arc::new(topology.media.clone());
    let ctx = Ctx::new(spec.service_time.clone(), instance_seed, deps.clone(), steered, media);
    let table = FaultTable::new();
    let stats = Arc::new(InstanceStats::default());
    let mut layer = FaultLayer::new(table.clone()).seed(instance_seed).timer(timer);
    if topology.request_faults {
        layer = layer.honour_context(name, instance);
    }
    // Placed as the platform places it: replica i in zones[i % zones.len()].
    let index = topology.instance_names(name).iter().position(|n| n == instance).unwrap_or(0);
    let zone = spec.zones[index % spec.zones.len()].clone();
    let labels = InstanceLabels { service: name.into(), replica: instance.into(), zone };
    let own = PlatformMetrics(vec![Source { labels, stats: stats.clone(), table: table.clone() }]);
    let svc = Exposed::new(Metered::new(layer.layer(router(role, Arc::new(ctx))), stats.clone()), own);
    (svc, table, stats)
}
