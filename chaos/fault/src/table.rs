//! The active rules of one service instance, read without locks on the request path.

use crate::{Rule, RuleId};
use arc_swap::ArcSwap;
use std::sync::Arc;

/// The active [`Rule`]s of one instance, in insertion order.
///
/// Cloning gives another handle to the same table. Readers (the layer, once per request) take an
/// `arc-swap` snapshot: no lock, no allocation; writers (the timeline, a control API) copy the
/// list and swap it in, which is fine because rules change a few times per experiment.
#[derive(Clone, Debug, Default)]
pub struct FaultTable {
    rules: Arc<ArcSwap<Vec<Rule>>>,
}

impl FaultTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `rule`, replacing a rule with the same id in place.
    pub fn insert(&self, rule: Rule) {
        self.rules.rcu(|rules| {
            let mut next = Vec::clone(rules);
            match next.iter_mut().find(|r| r.id == rule.id) {
                Some(slot) => *slot = rule.clone(),
                None => next.push(rule.clone()),
            }
            next
        });
    }

    /// Removes the rule with this id; whether it was there.
    pub fn remove(&self, id: &str) -> bool {
        let mut found = false;
        self.rules.rcu(|rules| {
            let next: Vec<Rule> = rules.iter().filter(|r| &*r.id != id).cloned().collect();
            found = next.len() != rules.len();
            next
        });
        found
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.rules.store(Arc::default());
    }

    /// A snapshot of the rules (cheap: an `Arc`).
    pub fn snapshot(&self) -> Arc<Vec<Rule>> {
        self.rules.load_full()
    }

    /// The ids of the active rules.
    pub fn ids(&self) -> Vec<RuleId> {
        self.rules.load().iter().map(|r| r.id.clone()).collect()
    }

    /// Lock-free read for the request path.
    pub(crate) fn load(&self) -> arc_swap::Guard<Arc<Vec<Rule>>> {
        self.rules.load()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Fault, Scope};

    #[test]
    fn insert_replaces_by_id_and_remove_reports_presence() {
        let t = FaultTable::new();
        t.insert(Rule::new("a", Fault::error(500), Scope::default()));
        t.insert(Rule::new("b", Fault::Reset, Scope::default()));
        t.insert(Rule::new("a", Fault::error(503), Scope::default()));
        assert_eq!(t.ids(), vec![RuleId::from("a"), RuleId::from("b")]);
        assert_eq!(t.snapshot()[0].fault, Fault::error(503));
        assert!(t.remove("a"));
        assert!(!t.remove("a"));
        t.clear();
        assert!(t.snapshot().is_empty());
    }
}
