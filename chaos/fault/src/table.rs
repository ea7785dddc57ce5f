//! The active rules of one service instance, read without locks on the request path, and the
//! instance's fault metrics.

use crate::layer::RouteKey;
use crate::{Rule, RuleId};
use arc_swap::ArcSwap;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use tokio::time::Instant;

/// The active [`Rule`]s of one instance, in insertion order, and what they did.
///
/// Cloning gives another handle to the same table. Readers (the layer, once per request) take an
/// `arc-swap` snapshot: no lock, no allocation; writers (the timeline, the control API) copy the
/// list and swap it in, which is fine because rules change a few times per experiment.
#[derive(Clone, Debug, Default)]
pub struct FaultTable {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    rules: ArcSwap<Vec<Arc<ActiveRule>>>,
    seen: AtomicU64,
    injected: [AtomicU64; KINDS.len()],
}

/// Fault kinds, in the order of the metrics array.
const KINDS: [&str; 9] = ["latency", "error", "reset", "hang", "throttle", "truncate", "stall", "kill", "other"];

/// A rule in a table, with its runtime state.
#[derive(Debug)]
pub(crate) struct ActiveRule {
    pub rule: Rule,
    /// The route's quick check (see [`RouteKey`]).
    pub key: RouteKey,
    expires_at: Option<Instant>,
    active: AtomicUsize,
    hits: AtomicU64,
}

/// Holds one of a rule's `max_active` slots; frees it when dropped.
#[derive(Debug)]
pub(crate) struct Slot(Arc<ActiveRule>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Relaxed);
    }
}

impl Slot {
    /// The id of the rule this slot belongs to.
    pub fn rule_id(&self) -> &str {
        &self.0.rule.id
    }
}

impl ActiveRule {
    /// A rule that lives outside any table (a request-scoped fault).
    pub fn ephemeral(rule: Rule) -> Arc<Self> {
        Self::new(rule, None)
    }

    fn new(rule: Rule, expires_at: Option<Instant>) -> Arc<Self> {
        let key = RouteKey::of(rule.scope.route.as_deref());
        Arc::new(Self { rule, key, expires_at, active: AtomicUsize::new(0), hits: AtomicU64::new(0) })
    }

    pub fn is_live(&self, now: impl FnOnce() -> Instant) -> bool {
        self.expires_at.is_none_or(|at| now() < at)
    }

    /// Counts a hit and takes a slot, unless `max_active` are taken.
    pub fn enter(self: &Arc<Self>) -> Option<Slot> {
        let taken = self.active.fetch_add(1, Relaxed);
        if self.rule.scope.max_active.is_some_and(|max| taken >= max) {
            self.active.fetch_sub(1, Relaxed);
            return None;
        }
        self.hits.fetch_add(1, Relaxed);
        Some(Slot(self.clone()))
    }
}

/// A snapshot of an instance's fault metrics.
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct FaultMetrics {
    /// Requests that went through the layer.
    pub requests_seen: u64,
    /// Faults injected, by kind.
    pub injected: BTreeMap<String, u64>,
    /// Faults injected, by rule (rules still in the table).
    pub by_rule: BTreeMap<String, u64>,
    /// Requests under a fault right now.
    pub active: u64,
    /// Rules in the table (expired ones excluded).
    pub rules: usize,
}

impl FaultTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `rule` (its `ttl` counts from now), replacing a rule with the same id in place.
    pub fn insert(&self, rule: Rule) {
        // A ttl past what an Instant can hold never expires.
        let expires_at = rule.ttl.and_then(|ttl| Instant::now().checked_add(ttl));
        let entry = ActiveRule::new(rule, expires_at);
        self.inner.rules.rcu(|rules| {
            let now = Instant::now();
            let mut next: Vec<_> = rules.iter().filter(|r| r.is_live(|| now)).cloned().collect();
            match next.iter_mut().find(|r| r.rule.id == entry.rule.id) {
                Some(slot) => *slot = entry.clone(),
                None => next.push(entry.clone()),
            }
            next
        });
    }

    /// Removes the rule with this id; whether it was there (and live).
    pub fn remove(&self, id: &str) -> bool {
        let mut found = false;
        self.inner.rules.rcu(|rules| {
            let now = Instant::now();
            found = rules.iter().any(|r| &*r.rule.id == id && r.is_live(|| now));
            rules.iter().filter(|r| &*r.rule.id != id && r.is_live(|| now)).cloned().collect::<Vec<_>>()
        });
        found
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.inner.rules.store(Arc::default());
    }

    /// The live rules, in order.
    pub fn rules(&self) -> Vec<Rule> {
        let now = Instant::now();
        self.inner.rules.load().iter().filter(|r| r.is_live(|| now)).map(|r| r.rule.clone()).collect()
    }

    /// The live rule with this id.
    pub fn get(&self, id: &str) -> Option<Rule> {
        self.rules().into_iter().find(|r| &*r.id == id)
    }

    /// The ids of the live rules.
    pub fn ids(&self) -> Vec<RuleId> {
        self.rules().into_iter().map(|r| r.id).collect()
    }

    /// The instance's fault metrics now.
    pub fn metrics(&self) -> FaultMetrics {
        let now = Instant::now();
        let rules = self.inner.rules.load();
        let live = rules.iter().filter(|r| r.is_live(|| now));
        FaultMetrics {
            requests_seen: self.inner.seen.load(Relaxed),
            injected: KINDS
                .iter()
                .zip(&self.inner.injected)
                .map(|(k, n)| (k.to_string(), n.load(Relaxed)))
                .filter(|(_, n)| *n > 0)
                .collect(),
            by_rule: live.clone().map(|r| (r.rule.id.to_string(), r.hits.load(Relaxed))).collect(),
            active: rules.iter().map(|r| r.active.load(Relaxed) as u64).sum(),
            rules: live.count(),
        }
    }

    /// Lock-free read for the request path; counts the request.
    pub(crate) fn load(&self) -> arc_swap::Guard<Arc<Vec<Arc<ActiveRule>>>> {
        self.inner.seen.fetch_add(1, Relaxed);
        self.inner.rules.load()
    }

    /// Whether no rule is in the table (live or not yet swept): then the request is counted as
    /// seen, as the layer counts it; else the layer will see and count it.
    #[cfg(feature = "proxy")]
    pub(crate) fn count_if_clear(&self) -> bool {
        let clear = self.inner.rules.load().is_empty();
        if clear {
            self.inner.seen.fetch_add(1, Relaxed);
        }
        clear
    }

    /// Counts an injected fault of `kind`.
    pub(crate) fn count(&self, kind: &str) {
        let i = KINDS.iter().position(|k| *k == kind).unwrap_or(KINDS.len() - 1);
        self.inner.injected[i].fetch_add(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Fault, Scope};
    use std::time::Duration;

    #[test]
    fn insert_replaces_by_id_and_remove_reports_presence() {
        let t = FaultTable::new();
        t.insert(Rule::new("a", Fault::error(500), Scope::default()));
        t.insert(Rule::new("b", Fault::Reset, Scope::default()));
        t.insert(Rule::new("a", Fault::error(503), Scope::default()));
        assert_eq!(t.ids(), vec![RuleId::from("a"), RuleId::from("b")]);
        assert_eq!(t.rules()[0].fault, Fault::error(503));
        assert!(t.remove("a"));
        assert!(!t.remove("a"));
        t.clear();
        assert!(t.rules().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_rule_with_a_ttl_expires_by_itself() {
        let t = FaultTable::new();
        t.insert(Rule::new("short", Fault::Reset, Scope::default()).with_ttl(Duration::from_secs(5)));
        t.insert(Rule::new("long", Fault::Reset, Scope::default()));
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(t.ids().len(), 2);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(t.ids(), vec![RuleId::from("long")]);
        assert!(!t.remove("short"), "an expired rule is gone");
    }

    #[test]
    fn max_active_slots_are_taken_and_given_back() {
        let t = FaultTable::new();
        let scope = Scope { max_active: Some(2), ..Scope::default() };
        t.insert(Rule::new("m", Fault::Reset, scope));
        let rule = t.inner.rules.load()[0].clone();
        let a = rule.enter().unwrap();
        let _b = rule.enter().unwrap();
        assert!(rule.enter().is_none());
        assert_eq!(t.metrics().active, 2);
        drop(a);
        assert!(rule.enter().is_some());
        assert_eq!(t.metrics().by_rule["m"], 3);
    }
}
