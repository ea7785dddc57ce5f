//! A fault with its scope, name and lifetime.

use crate::{Fault, Scope};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// The name of a rule, unique within one [`FaultTable`](crate::FaultTable).
pub type RuleId = Arc<str>;

/// A [`Fault`] applied to the requests of a [`Scope`], named so it can be removed, optionally
/// expiring by itself after `ttl`. This one representation is used by experiments, the control
/// API and reports.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
    /// The rule removes itself this long after it was added.
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    #[serde(default, with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub ttl: Option<Duration>,
}

impl Rule {
    /// A new rule without expiry.
    pub fn new(id: impl Into<RuleId>, fault: Fault, scope: Scope) -> Self {
        Self { id: id.into(), fault, scope, ttl: None }
    }

    /// The same rule, expiring `ttl` after it is added to a table.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Checks the id, the fault and the scope.
    pub fn validate(&self) -> Result<(), String> {
        if self.id.is_empty() || !self.id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c)) {
            return Err(format!("rule id `{}` must be non-empty ASCII letters, digits, `-`, `_`, `.` or `:`", self.id));
        }
        if self.ttl.is_some_and(|t| t.is_zero()) {
            return Err("ttl must be > 0".into());
        }
        self.fault.validate()?;
        self.scope.validate()
    }
}
