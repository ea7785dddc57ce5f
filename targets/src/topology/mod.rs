//! The platform's shape: services, replicas, zones, service times and call policies (YAML).

use chaos_fault::{Distribution, check_delays};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// The default topology shipped with the crate.
pub const DEFAULT_TOPOLOGY: &str = include_str!("default.yaml");

mod media;
mod synthetic;
pub use media::{AbrSpec, MediaSpec, PlayerSpec};
pub use synthetic::SyntheticSpec;

/// A whole platform.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// Services by name.
    pub services: BTreeMap<String, ServiceSpec>,
    /// The device's settings.
    pub player: PlayerSpec,
    /// What is streamed: the bitrate ladder, segment length and media time scale.
    #[serde(default)]
    pub media: MediaSpec,
    /// Whether every instance honours request-scoped faults (`x-chaos-context`); off by default.
    #[serde(default)]
    pub request_faults: bool,
}

/// What a service does; the name of a service is its role unless `role` says otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Gateway: `/home`, `/play/{title}`.
    Edge,
    /// Validates sessions.
    Auth,
    /// Title metadata.
    Catalog,
    /// Personalised rows.
    Recommendations,
    /// Images for rows.
    Artwork,
    /// Continue-watching and resume positions.
    History,
    /// Manifests with ranked CDN URLs.
    Playback,
    /// DRM licenses.
    License,
    /// Segment bytes.
    Cdn,
    /// A mid-tier service of a synthetic graph: `/work` spends its service time after calling
    /// its own dependencies (see [`Topology::synthetic`]). Never implied by a name.
    Internal,
}

impl Role {
    /// Every role, in the order of DESIGN.md's table.
    pub const ALL: [Role; 9] = [
        Role::Edge,
        Role::Auth,
        Role::Catalog,
        Role::Recommendations,
        Role::Artwork,
        Role::History,
        Role::Playback,
        Role::License,
        Role::Cdn,
    ];

    /// The role's name as written in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Edge => "edge",
            Role::Auth => "auth",
            Role::Catalog => "catalog",
            Role::Recommendations => "recommendations",
            Role::Artwork => "artwork",
            Role::History => "history",
            Role::Playback => "playback",
            Role::License => "license",
            Role::Cdn => "cdn",
            Role::Internal => "internal",
        }
    }

    fn from_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

/// One service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// What it does (default: the role named like the service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Number of instances.
    #[serde(default = "one")]
    pub replicas: u32,
    /// Zones the instances are spread over, round-robin.
    #[serde(default = "default_zones")]
    pub zones: Vec<String>,
    /// Time one request spends inside the service.
    pub service_time: Distribution,
    /// Dependencies and the caller's guard for each.
    #[serde(default)]
    pub calls: BTreeMap<String, CallPolicy>,
    /// The service whose instances a `playback` service ranks in its manifests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steers: Option<String>,
    /// How many of its `internal` dependencies one request calls, chosen by the request's user
    /// (the same user takes the same path); default: all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calls_per_request: Option<u32>,
}

fn one() -> u32 {
    1
}

fn default_zones() -> Vec<String> {
    vec!["zone-a".into()]
}

/// Where an instance is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceInfo {
    /// `SERVICE-N`.
    pub name: String,
    /// Its service.
    pub service: String,
    /// Its zone.
    pub zone: String,
}

/// The caller's guard for one dependency.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallPolicy {
    /// Per-try timeout.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Retries after the first try (each to the next instance), if the budget allows.
    #[serde(default)]
    pub retries: u32,
    /// The retry budget (tower's `TpsBudget`).
    #[serde(default)]
    pub budget: RetryBudget,
    /// Whether the caller's fallback for this dependency is on.
    #[serde(default = "yes")]
    pub fallback: bool,
    /// Eject an instance after this many consecutive failed tries (0: never).
    #[serde(default = "default_eject_after")]
    pub eject_after: u32,
    /// How long an ejected instance is skipped.
    #[serde(default = "default_eject_for", with = "humantime_serde")]
    pub eject_for: Duration,
    /// A circuit breaker on this dependency (none by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breaker: Option<BreakerSpec>,
}

/// A circuit breaker: at least `min_calls` calls in the current `window` with a failure share of
/// `failure_ratio` or more open it for `open_for`; then one probe call decides.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerSpec {
    /// Failure share that opens the breaker.
    pub failure_ratio: f64,
    /// Calls needed in a window before it can open.
    pub min_calls: u32,
    /// Counting window.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// How long it stays open before a probe.
    #[serde(with = "humantime_serde")]
    pub open_for: Duration,
}

/// The most instances a topology starts: on the real clock each is a bound listener, and
/// 10,000 is half this machine's open-file limit (the synthetic graphs stop at 5,000 services).
const MAX_INSTANCES: u64 = 10_000;

impl CallPolicy {
    /// The guard's durations, by name, for [`check_delays`].
    fn durations(&self) -> Vec<(&'static str, Duration)> {
        let mut all = vec![("timeout", self.timeout), ("eject_for", self.eject_for), ("budget.ttl", self.budget.ttl)];
        if let Some(b) = &self.breaker {
            all.extend([("breaker.window", b.window), ("breaker.open_for", b.open_for)]);
        }
        all
    }
}

fn default_eject_after() -> u32 {
    3
}

fn default_eject_for() -> Duration {
    Duration::from_secs(2)
}

fn yes() -> bool {
    true
}

/// A retry budget: retries may add at most `retry_ratio` of the calls of the last `ttl`, plus
/// `min_per_s` retries per second, so that retries cannot turn an outage into a storm.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryBudget {
    /// Window over which calls are counted.
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
    /// Retries always allowed per second.
    pub min_per_s: u32,
    /// Retries allowed as a share of calls, in [0, 1000].
    pub retry_ratio: f32,
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self { ttl: Duration::from_secs(10), min_per_s: 10, retry_ratio: 0.2 }
    }
}

/// Why a topology cannot run.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    /// The YAML does not parse into a topology.
    #[error("{0}")]
    Yaml(#[from] serde_yaml::Error),
    /// The topology parses but is inconsistent.
    #[error("service `{service}`: {reason}")]
    Invalid {
        /// The service at fault.
        service: String,
        /// What is wrong.
        reason: String,
    },
}

impl Topology {
    /// The default platform.
    pub fn default_platform() -> Self {
        Self::from_yaml(DEFAULT_TOPOLOGY).expect("the shipped default topology is valid")
    }

    /// Parses and validates a topology.
    pub fn from_yaml(yaml: &str) -> Result<Self, TopologyError> {
        let topology: Topology = serde_yaml::from_str(yaml)?;
        topology.validate()?;
        Ok(topology)
    }

    /// The role of a service.
    pub fn role_of(&self, service: &str) -> Option<Role> {
        let spec = self.services.get(service)?;
        spec.role.or_else(|| Role::from_name(service))
    }

    /// Instance names of a service: `NAME-0`, `NAME-1`, ...
    pub fn instance_names(&self, service: &str) -> Vec<String> {
        let replicas = self.services.get(service).map_or(0, |s| s.replicas);
        (0..replicas).map(|i| format!("{service}-{i}")).collect()
    }

    /// Every instance as (instance name, service, zone), services in name order; the zone of
    /// instance `i` is `zones[i % zones.len()]`, as the platform places it.
    pub fn instances(&self) -> Vec<InstanceInfo> {
        let mut out = Vec::new();
        for (service, spec) in &self.services {
            for (i, name) in self.instance_names(service).into_iter().enumerate() {
                let zone = spec.zones[i % spec.zones.len()].clone();
                out.push(InstanceInfo { name, service: service.clone(), zone });
            }
        }
        out
    }

    /// Switches a guard off, so that an experiment can prove it relies on it. Names:
    /// `CALLER/CALLEE/fallback`, `.../retries`, `.../budget` (retries no longer limited),
    /// `.../ejection`, `.../timeout`, `.../breaker` (CALLEE may be `*`), and the player's
    /// `player/failover`, `player/adaptive`, `player/stall_abort`.
    pub fn switch_off(&mut self, guard: &str) -> Result<(), String> {
        let parts: Vec<&str> = guard.split('/').collect();
        if let ["player", kind] = parts[..] {
            let switch = match kind {
                "failover" => &mut self.player.failover,
                "adaptive" => &mut self.player.adaptive,
                "stall_abort" => &mut self.player.stall_abort,
                other => {
                    return Err(format!(
                        "`{guard}`: the player has no guard `{other}` (failover, adaptive, stall_abort)"
                    ));
                }
            };
            *switch = false;
            return Ok(());
        }
        let [caller, callee, kind] = parts[..] else {
            return Err(format!("`{guard}` is not a guard: write CALLER/CALLEE/KIND or player/KIND"));
        };
        let spec = self.services.get_mut(caller).ok_or_else(|| format!("`{guard}`: no service `{caller}`"))?;
        let policies: Vec<&mut CallPolicy> = spec
            .calls
            .iter_mut()
            .filter(|(name, _)| callee == "*" || name.as_str() == callee)
            .map(|(_, p)| p)
            .collect();
        if policies.is_empty() {
            return Err(format!("`{guard}`: `{caller}` does not call `{callee}`"));
        }
        let switch: fn(&mut CallPolicy) = match kind {
            "fallback" => |p| p.fallback = false,
            "retries" => |p| p.retries = 0,
            "budget" => |p| p.budget = RetryBudget { ttl: p.budget.ttl, min_per_s: 1_000_000, retry_ratio: 1000.0 },
            "ejection" => |p| p.eject_after = 0,
            "timeout" => |p| p.timeout = Duration::from_secs(3600),
            "breaker" => |p| p.breaker = None,
            other => {
                return Err(format!(
                    "`{guard}`: no guard `{other}` (fallback, retries, budget, ejection, timeout, breaker)"
                ));
            }
        };
        policies.into_iter().for_each(switch);
        Ok(())
    }

    /// Checks roles, references, counts and distributions.
    pub fn validate(&self) -> Result<(), TopologyError> {
        let invalid = |service: &str, reason: String| TopologyError::Invalid { service: service.into(), reason };
        let instances: u64 = self.services.values().map(|s| u64::from(s.replicas)).sum();
        if instances > MAX_INSTANCES {
            return Err(invalid("topology", format!("{instances} instances in all; at most {MAX_INSTANCES}")));
        }
        for (name, spec) in &self.services {
            if self.role_of(name).is_none() {
                return Err(invalid(name, "no `role` and the name is not a known role".into()));
            }
            if spec.replicas == 0 || spec.zones.is_empty() {
                return Err(invalid(name, "needs at least one replica and one zone".into()));
            }
            spec.service_time.validate().map_err(|e| invalid(name, e.to_string()))?;
            for (callee, policy) in &spec.calls {
                if !self.services.contains_key(callee) {
                    return Err(invalid(name, format!("calls unknown service `{callee}`")));
                }
                if policy.timeout.is_zero() {
                    return Err(invalid(name, format!("call to `{callee}` has a zero timeout")));
                }
                check_delays(&policy.durations()).map_err(|e| invalid(name, format!("call to `{callee}`: {e}")))?;
                let callee_internal = self.role_of(callee) == Some(Role::Internal);
                if self.role_of(name) == Some(Role::Internal) && !callee_internal {
                    return Err(invalid(name, format!("an internal service calls only internal ones, not `{callee}`")));
                }
            }
            if spec.calls_per_request == Some(0) {
                return Err(invalid(name, "calls_per_request must be at least 1".into()));
            }
            if let Some(steered) = spec.steers.as_ref().filter(|s| !self.services.contains_key(*s)) {
                return Err(invalid(name, format!("steers unknown service `{steered}`")));
            }
        }
        self.media.validate().map_err(|reason| invalid("media", reason))?;
        check_delays(&self.player.durations()).map_err(|reason| invalid("player", reason))?;
        if !self.services.keys().any(|s| self.role_of(s) == Some(Role::Edge)) {
            return Err(invalid("edge", "a topology needs one edge service".into()));
        }
        self.start_order().map(|_| ())
    }

    /// Services in an order where every dependency starts before its callers; an error names a
    /// service on a cycle.
    pub fn start_order(&self) -> Result<Vec<String>, TopologyError> {
        fn visit<'a>(
            t: &'a Topology,
            name: &'a str,
            done: &mut Vec<String>,
            path: &mut Vec<&'a str>,
        ) -> Result<(), TopologyError> {
            if done.iter().any(|d| d == name) {
                return Ok(());
            }
            if path.contains(&name) {
                return Err(TopologyError::Invalid { service: name.into(), reason: "is on a call cycle".into() });
            }
            path.push(name);
            let spec = &t.services[name];
            for dep in spec.calls.keys().map(String::as_str).chain(spec.steers.as_deref()) {
                visit(t, dep, done, path)?;
            }
            path.pop();
            done.push(name.to_string());
            Ok(())
        }
        let mut done = Vec::new();
        for name in self.services.keys() {
            visit(self, name, &mut done, &mut Vec::new())?;
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_topology_has_every_role_and_three_cdn_replicas() {
        let t = Topology::default_platform();
        for role in Role::ALL {
            assert!(t.services.keys().any(|s| t.role_of(s) == Some(role)), "{role:?} missing");
        }
        assert!(t.services["cdn"].replicas >= 3);
        let order = t.start_order().unwrap();
        let pos = |s: &str| order.iter().position(|o| o == s).unwrap();
        assert!(pos("cdn") < pos("playback") && pos("license") < pos("edge"));
    }

    #[test]
    fn guards_are_switched_off_by_name_and_unknown_names_are_refused() {
        let mut t = Topology::default_platform();
        t.switch_off("edge/recommendations/fallback").unwrap();
        t.switch_off("edge/*/ejection").unwrap();
        t.switch_off("player/failover").unwrap();
        let edge = &t.services["edge"];
        assert!(!edge.calls["recommendations"].fallback && edge.calls["license"].fallback);
        assert!(edge.calls.values().all(|p| p.eject_after == 0));
        assert!(!t.player.failover);
        assert!(t.switch_off("edge/nope/fallback").unwrap_err().contains("does not call"));
        assert!(t.switch_off("edge/license/magic").unwrap_err().contains("no guard"));
        assert!(t.switch_off("license").is_err());
    }

    #[test]
    fn cycles_and_unknown_callees_are_rejected() {
        let mut t = Topology::default_platform();
        let policy = t.services["edge"].calls["auth"].clone();
        t.services.get_mut("auth").unwrap().calls.insert("edge".into(), policy.clone());
        assert!(t.validate().unwrap_err().to_string().contains("cycle"));
        let mut t = Topology::default_platform();
        t.services.get_mut("edge").unwrap().calls.insert("nope".into(), policy);
        assert!(t.validate().unwrap_err().to_string().contains("unknown service `nope`"));
    }

    #[test]
    fn too_many_instances_and_durations_past_a_day_are_rejected_naming_them() {
        let day = Duration::from_secs(86_400);
        let err = |change: &dyn Fn(&mut Topology)| {
            let mut t = Topology::default_platform();
            change(&mut t);
            t.validate().map_err(|e| e.to_string())
        };
        assert_eq!(err(&|t| t.services.get_mut("cdn").unwrap().replicas = 9_000), Ok(()));
        let too_many = err(&|t| t.services.get_mut("cdn").unwrap().replicas = u32::MAX).unwrap_err();
        assert!(too_many.contains("4294967310 instances in all; at most 10000"), "{too_many}");
        assert_eq!(err(&|t| t.player.cdn_timeout = day), Ok(()));
        let slow = [
            (err(&|t| t.player.cdn_timeout = Duration::MAX), "service `player`: cdn_timeout is"),
            (err(&|t| t.media.segment = day * 2), "service `media`: segment is 172800s"),
            (
                err(&|t| t.services.get_mut("edge").unwrap().calls.get_mut("license").unwrap().timeout = Duration::MAX),
                "service `edge`: call to `license`: timeout is",
            ),
        ];
        for (got, says) in slow {
            let got = got.unwrap_err();
            assert!(got.contains(says) && got.contains("at most a day"), "{got}");
        }
    }
}
