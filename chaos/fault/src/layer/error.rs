//! Errors the layer returns in place of a response.

use crate::RuleId;
use std::time::Duration;

/// The boxed error type of the layer's service (as in tower's own middleware).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A failure injected by the layer. Returned as the service's error, which makes hyper close the
/// connection without writing a response: the client sees the connection dropped.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum InjectedFault {
    /// A `reset` fault.
    #[error("connection reset injected by rule `{rule}`")]
    Reset {
        /// The rule that fired.
        rule: RuleId,
    },
    /// A `truncate` fault cut the response body.
    #[error("response body truncated after {after_bytes} bytes by rule `{rule}`")]
    Truncated {
        /// The rule that fired.
        rule: RuleId,
        /// Bytes let through.
        after_bytes: u64,
    },
    /// A `stall` fault held the body still for `held`, then dropped the connection.
    #[error("response body stalled after {after_bytes} bytes for {held:?} by rule `{rule}`")]
    Stalled {
        /// The rule that fired.
        rule: RuleId,
        /// Bytes let through.
        after_bytes: u64,
        /// How long the body was held.
        held: Duration,
    },
    /// A `hang` fault that reached its bound.
    #[error("hang of {max:?} injected by rule `{rule}` ran out")]
    Hang {
        /// The rule that fired.
        rule: RuleId,
        /// How long the request hung.
        max: Duration,
    },
}

impl InjectedFault {
    /// The rule that caused this failure.
    pub fn rule(&self) -> &RuleId {
        match self {
            Self::Reset { rule }
            | Self::Hang { rule, .. }
            | Self::Truncated { rule, .. }
            | Self::Stalled { rule, .. } => rule,
        }
    }
}
