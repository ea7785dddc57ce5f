//! Targets as separate OS processes, one per instance: a kill is a real `SIGKILL`, a restart a
//! new process on the same port.
//!
//! The parent ([`ProcessPlatform`]) starts each instance by running a program (the `chaos` binary's
//! hidden `__instance` mode) that calls [`run_instance`]: the parent writes an [`InstanceSpec`] as
//! one JSON line on the child's stdin and reads `READY <port> <control-port>` from its stdout.
//! Faults reach the child through its control API; its metrics through `GET /__chaos/stats` on
//! its own port.
//!
//! No child outlives the parent: each child asks the kernel for `SIGKILL` when its parent dies
//! (`PR_SET_PDEATHSIG`, checked against the parent's pid to close the race), exits when its stdin
//! (held by the parent) closes, and the parent kills its children on drop and on shutdown.

mod child;
mod parent;

pub use child::run_instance;
pub use parent::ProcessPlatform;

use crate::guards::GuardStats;
use crate::stats::{StatsSnapshot, latency_histogram};
use crate::topology::Topology;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The path, on each instance's own port, of its metrics.
pub const STATS_PATH: &str = "/__chaos/stats";

/// Everything a child needs to be one instance.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InstanceSpec {
    /// The whole topology.
    pub topology: Topology,
    /// Its service.
    pub service: String,
    /// Its instance name (`SERVICE-N`).
    pub instance: String,
    /// The experiment seed.
    pub seed: u64,
    /// The port to bind (0: any).
    pub port: u16,
    /// Base URLs of every started instance, by service (its dependencies at least).
    pub urls: BTreeMap<String, Vec<String>>,
    /// The parent's pid: the child exits if its parent is not this one.
    pub parent_pid: u32,
}

/// An instance's metrics as they cross the process boundary.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StatsWire {
    /// Requests.
    pub requests: u64,
    /// 5xx and dropped.
    pub errors: u64,
    /// Injected.
    pub injected: u64,
    /// Latency histogram as (µs, count) pairs.
    pub latency_us: Vec<(u64, u64)>,
    /// The instance's guards (callers only).
    pub guards: Vec<GuardStats>,
}

impl StatsWire {
    fn from_snapshot(s: &StatsSnapshot, guards: Vec<GuardStats>) -> Self {
        let latency_us = s.latency_us.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect();
        Self { requests: s.requests, errors: s.errors, injected: s.injected, latency_us, guards }
    }

    fn snapshot(&self) -> StatsSnapshot {
        let mut latency_us = latency_histogram();
        for &(value, count) in &self.latency_us {
            let _ = latency_us.record_n(value, count);
        }
        StatsSnapshot { requests: self.requests, errors: self.errors, injected: self.injected, latency_us }
    }
}
