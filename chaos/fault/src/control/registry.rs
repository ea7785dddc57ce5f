//! [`Registry`]: the instances a control API (or a timeline) can reach by name.

use crate::FaultTable;
use crate::server::Instance;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

/// Instances by name: each a fault table and, when it has one, its killable server.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    entries: Arc<RwLock<BTreeMap<String, Entry>>>,
}

/// One registered instance.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Its rules.
    pub table: FaultTable,
    /// Its server, if it is killable.
    pub server: Option<Instance>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers (or replaces) an instance.
    pub fn register(&self, name: impl Into<String>, table: FaultTable, server: Option<Instance>) {
        self.entries.write().unwrap_or_else(|p| p.into_inner()).insert(name.into(), Entry { table, server });
    }

    /// The instances `name` designates: one, or all for `*`.
    pub fn select(&self, name: &str) -> Vec<(String, Entry)> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries.iter().filter(|(n, _)| name == "*" || *n == name).map(|(n, e)| (n.clone(), e.clone())).collect()
    }

    /// Halt all: removes every rule of every instance.
    pub fn halt_all(&self) {
        for (_, e) in self.select("*") {
            e.table.clear();
        }
    }
}
