//! A fault with its scope and name.

use crate::{Fault, Scope};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The name of a rule, unique within one [`FaultTable`](crate::FaultTable).
pub type RuleId = Arc<str>;

/// A [`Fault`] applied to the requests of a [`Scope`], named so it can be removed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Unique name within a table.
    pub id: RuleId,
    /// What happens.
    pub fault: Fault,
    /// To which requests.
    #[serde(default)]
    pub scope: Scope,
}

impl Rule {
    /// A new rule.
    pub fn new(id: impl Into<RuleId>, fault: Fault, scope: Scope) -> Self {
        Self { id: id.into(), fault, scope }
    }

    /// Checks the fault and the scope.
    pub fn validate(&self) -> Result<(), String> {
        self.fault.validate()?;
        self.scope.validate()
    }
}
