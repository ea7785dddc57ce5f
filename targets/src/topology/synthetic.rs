//! Synthetic topologies of N services for scale runs: the default platform with a layered graph
//! of `internal` mid-tier services beneath its leaves (the seed article speaks of ~700).
//!
//! Shape: the default platform's nine services, then `services - 9` internal services in up to
//! `layers` layers named `mid-L-III`. Each leaf of the default platform (auth, catalog,
//! recommendations, artwork, history, playback, license) calls `fanout` services of layer 0;
//! each service of layer L calls `fanout` of layer L+1; every internal service has at least one
//! caller. One request calls `calls_per_request` of a service's internal dependencies, chosen
//! by its user, so a request walks a path down the graph, as a real request touches a slice of
//! a large estate, rather than all 700 services at once.
//!
//! Guards: each internal call has a timeout that shrinks with depth, so that a callee's worst
//! case (two tries) fits inside its caller's timeout, one retry within a budget, and its
//! fallback on: a failing mid-tier service degrades an answer, it does not fail it.

use super::{CallPolicy, Role, ServiceSpec, Topology, TopologyError};
use chaos_fault::{Distribution, LognormalParams};
use std::time::Duration;

/// The default platform's services that call into the synthetic graph.
const LEAVES: [&str; 7] = ["auth", "catalog", "recommendations", "artwork", "history", "playback", "license"];

/// Timeout of a call from depth 0 (a leaf) into layer 0; each layer deeper gets 45 % of it.
const TOP_TIMEOUT: Duration = Duration::from_millis(100);
const TIMEOUT_SHRINK: f64 = 0.45;
const MIN_TIMEOUT: Duration = Duration::from_millis(10);

/// The shape of a synthetic topology; `synthetic:N` in an experiment's `system.topology` is
/// `SyntheticSpec::new(N)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntheticSpec {
    /// Services in all, the default platform's nine included (≥ 10).
    pub services: usize,
    /// Layers of internal services below the leaves.
    pub layers: usize,
    /// Dependencies each caller has in the next layer.
    pub fanout: usize,
    /// Of those, how many one request calls.
    pub calls_per_request: u32,
}

impl SyntheticSpec {
    /// The most services a synthetic topology may have. Each internal service is one instance: on
    /// the real clock a bound listener, its connection pools and its metrics, ~0.5 MiB (see
    /// docs/BENCHMARKS.md, "Scale"); 5,000 is ~2.5 GiB and 5,000 listening sockets, several times
    /// the ~700 services of the estate the seed article describes. Past it a typo (an extra zero or
    /// three) would exhaust memory instead of getting an error.
    pub const MAX_SERVICES: usize = 5_000;

    /// `services` services in four layers, fan-out 3, one call per request.
    pub fn new(services: usize) -> Self {
        Self { services, layers: 4, fanout: 3, calls_per_request: 1 }
    }

    /// Reads `synthetic:N`; `None` when `name` is not of that form.
    pub fn parse(name: &str) -> Option<Result<Self, String>> {
        let n = name.strip_prefix("synthetic:")?;
        Some(n.trim().parse().map(Self::new).map_err(|_| format!("`{name}`: write synthetic:N with N a whole number")))
    }
}

impl Topology {
    /// The default platform grown to `spec.services` services (see the module's docs).
    pub fn synthetic(spec: &SyntheticSpec) -> Result<Topology, TopologyError> {
        let base = Topology::default_platform();
        let internal = spec.services.checked_sub(base.services.len()).filter(|n| *n > 0).ok_or_else(|| {
            TopologyError::Invalid {
                service: "synthetic".into(),
                reason: format!("needs more than the default platform's {} services", base.services.len()),
            }
        })?;
        if spec.services > SyntheticSpec::MAX_SERVICES {
            return Err(TopologyError::Invalid {
                service: "synthetic".into(),
                reason: format!("{} services asked for; at most {}", spec.services, SyntheticSpec::MAX_SERVICES),
            });
        }
        if spec.layers == 0 || spec.fanout == 0 || spec.calls_per_request == 0 {
            return Err(TopologyError::Invalid {
                service: "synthetic".into(),
                reason: "layers, fanout and calls_per_request must be at least 1".into(),
            });
        }
        let layers = layer_names(internal, spec.layers);
        let mut t = base;
        let mut callers: Vec<String> = LEAVES.iter().map(|s| s.to_string()).collect();
        for (depth, layer) in layers.iter().enumerate() {
            let timeout = TOP_TIMEOUT.mul_f64(TIMEOUT_SHRINK.powi(depth as i32)).max(MIN_TIMEOUT);
            for (caller, deps) in callers.iter().zip(wire(callers.len(), layer.len(), spec.fanout)) {
                let caller = t.services.get_mut(caller).expect("callers are in the topology");
                caller.calls_per_request = Some(spec.calls_per_request);
                for d in deps {
                    caller.calls.insert(layer[d].clone(), internal_call(timeout));
                }
            }
            for (i, name) in layer.iter().enumerate() {
                t.services.insert(name.clone(), internal_service(i));
            }
            callers = layer.clone();
        }
        t.validate()?;
        Ok(t)
    }
}

/// Names of `n` internal services in up to `layers` layers, the first layers one larger when
/// `n` does not divide evenly.
fn layer_names(n: usize, layers: usize) -> Vec<Vec<String>> {
    let layers = layers.min(n);
    (0..layers)
        .map(|l| {
            let size = n / layers + usize::from(l < n % layers);
            (0..size).map(|i| format!("mid-{l}-{i:03}")).collect()
        })
        .collect()
}

/// For each of `callers`, the indices of its dependencies among `callees`: every callee gets a
/// caller (callee `j` is called by caller `j % callers`), then each caller is topped up to
/// `fanout` distinct callees (or all of them, when there are fewer).
fn wire(callers: usize, callees: usize, fanout: usize) -> Vec<Vec<usize>> {
    let want = fanout.min(callees);
    let mut deps: Vec<Vec<usize>> = vec![Vec::new(); callers];
    for j in 0..callees {
        deps[j % callers].push(j);
    }
    for (i, d) in deps.iter_mut().enumerate() {
        let mut next = i * want;
        while d.len() < want {
            let j = next % callees;
            if !d.contains(&j) {
                d.push(j);
            }
            next += 1;
        }
    }
    deps
}

fn internal_call(timeout: Duration) -> CallPolicy {
    CallPolicy {
        timeout,
        retries: 1,
        budget: Default::default(),
        fallback: true,
        eject_after: 0,
        eject_for: Duration::from_secs(2),
        breaker: None,
    }
}

/// Internal service `i` of a layer: one replica, in zone a, b or c by turn.
fn internal_service(i: usize) -> ServiceSpec {
    ServiceSpec {
        role: Some(Role::Internal),
        replicas: 1,
        zones: vec![["zone-a", "zone-b", "zone-c"][i % 3].into()],
        service_time: Distribution::Lognormal(LognormalParams { median: Duration::from_micros(300), sigma: 0.3 }),
        calls: Default::default(),
        steers: None,
        calls_per_request: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_synthetic_topology_has_the_asked_number_of_services_and_every_internal_one_is_called() {
        for n in [10, 100, 700] {
            let t = Topology::synthetic(&SyntheticSpec::new(n)).unwrap();
            assert_eq!(t.services.len(), n);
            for (name, spec) in &t.services {
                if spec.role == Some(Role::Internal) {
                    assert!(t.services.values().any(|s| s.calls.contains_key(name)), "{name} has no caller");
                }
            }
            let order = t.start_order().unwrap();
            assert_eq!(order.len(), n);
        }
    }

    #[test]
    fn deeper_calls_time_out_sooner_so_a_callee_fits_inside_its_caller() {
        let t = Topology::synthetic(&SyntheticSpec::new(100)).unwrap();
        let timeout_into = |layer: usize| {
            let callee = format!("mid-{layer}-000");
            let (_, spec) = t.services.iter().find(|(_, s)| s.calls.contains_key(&callee)).unwrap();
            spec.calls[&callee].timeout
        };
        for layer in 1..4 {
            let (outer, inner) = (timeout_into(layer - 1), timeout_into(layer));
            assert!(inner * 2 <= outer, "layer {layer}: {inner:?} twice does not fit in {outer:?}");
        }
    }

    #[test]
    fn too_few_services_and_bad_names_are_refused() {
        assert!(Topology::synthetic(&SyntheticSpec::new(9)).is_err());
        assert!(SyntheticSpec::parse("synthetic:abc").unwrap().is_err());
        assert_eq!(SyntheticSpec::parse("synthetic:700").unwrap().unwrap().services, 700);
        assert!(SyntheticSpec::parse("default").is_none());
    }

    #[test]
    fn more_services_than_the_most_allowed_are_refused_without_building_them() {
        let at_most = Topology::synthetic(&SyntheticSpec::new(SyntheticSpec::MAX_SERVICES)).unwrap();
        assert_eq!(at_most.services.len(), SyntheticSpec::MAX_SERVICES);
        for n in [SyntheticSpec::MAX_SERVICES + 1, 3_000_000_000, usize::MAX] {
            let err = Topology::synthetic(&SyntheticSpec::new(n)).unwrap_err().to_string();
            assert!(err.contains(&format!("at most {}", SyntheticSpec::MAX_SERVICES)), "{n}: {err}");
        }
    }
}
