//! Counters of what the guards did, per caller → dependency edge.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// What one caller's guards for one dependency did (shared by the caller's instances).
#[derive(Debug, Default)]
pub struct GuardCounters {
    calls: AtomicU64,
    retries: AtomicU64,
    budget_exhausted: AtomicU64,
    failures: AtomicU64,
    fallbacks: AtomicU64,
    ejections: AtomicU64,
    breaker_opens: AtomicU64,
    short_circuited: AtomicU64,
    timeouts: AtomicU64,
}

impl GuardCounters {
    pub(crate) fn timeout(&self) {
        self.timeouts.fetch_add(1, Relaxed);
    }
    pub(crate) fn breaker_open(&self) {
        self.breaker_opens.fetch_add(1, Relaxed);
    }
    pub(crate) fn short_circuit(&self) {
        self.short_circuited.fetch_add(1, Relaxed);
    }
    pub(crate) fn ejection(&self) {
        self.ejections.fetch_add(1, Relaxed);
    }
    pub(crate) fn call(&self) {
        self.calls.fetch_add(1, Relaxed);
    }
    pub(crate) fn retry(&self) {
        self.retries.fetch_add(1, Relaxed);
    }
    pub(crate) fn budget_exhausted(&self) {
        self.budget_exhausted.fetch_add(1, Relaxed);
    }
    pub(crate) fn failure(&self) {
        self.failures.fetch_add(1, Relaxed);
    }
    pub(crate) fn fallback(&self) {
        self.fallbacks.fetch_add(1, Relaxed);
    }

    /// The counts now.
    pub fn snapshot(&self, caller: &str, callee: &str) -> GuardStats {
        GuardStats {
            caller: caller.into(),
            callee: callee.into(),
            calls: self.calls.load(Relaxed),
            retries: self.retries.load(Relaxed),
            retries_denied_by_budget: self.budget_exhausted.load(Relaxed),
            failures: self.failures.load(Relaxed),
            fallbacks: self.fallbacks.load(Relaxed),
            ejections: self.ejections.load(Relaxed),
            breaker_opens: self.breaker_opens.load(Relaxed),
            short_circuited: self.short_circuited.load(Relaxed),
            timeouts: self.timeouts.load(Relaxed),
        }
    }
}

/// A snapshot of [`GuardCounters`], as reports show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct GuardStats {
    /// Calling service.
    pub caller: String,
    /// Dependency.
    pub callee: String,
    /// Calls made (before retries).
    pub calls: u64,
    /// Retries made.
    pub retries: u64,
    /// Retries the budget refused.
    pub retries_denied_by_budget: u64,
    /// Calls that failed after all tries.
    pub failures: u64,
    /// Times the caller served its fallback instead.
    pub fallbacks: u64,
    /// Times an instance was ejected after consecutive failures.
    #[serde(default)]
    pub ejections: u64,
    /// Times the circuit breaker opened.
    #[serde(default)]
    pub breaker_opens: u64,
    /// Calls the open breaker failed at once.
    #[serde(default)]
    pub short_circuited: u64,
    /// Tries that ran out of time (the per-try timeout fired).
    #[serde(default)]
    pub timeouts: u64,
}

impl GuardStats {
    /// Adds the counts of the same edge seen by another instance of the caller.
    pub fn merge(&mut self, other: &GuardStats) {
        self.calls += other.calls;
        self.retries += other.retries;
        self.retries_denied_by_budget += other.retries_denied_by_budget;
        self.failures += other.failures;
        self.fallbacks += other.fallbacks;
        self.ejections += other.ejections;
        self.breaker_opens += other.breaker_opens;
        self.short_circuited += other.short_circuited;
        self.timeouts += other.timeouts;
    }

    /// Tries per call (1.0 = no retries).
    pub fn retry_amplification(&self) -> f64 {
        if self.calls == 0 { 1.0 } else { (self.calls + self.retries) as f64 / self.calls as f64 }
    }
}
