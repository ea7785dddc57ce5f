//! Request-scoped faults that follow a request through the call graph, as Netflix's FIT and
//! Envoy's `x-envoy-fault-*` headers do: a test user's Play can fail at `license` while everyone
//! else plays.
//!
//! The context travels in the [`CONTEXT_HEADER`] as JSON, a list of entries:
//! `[{"service":"license","fault":{"error":{"status":503}},"ttl_until_ms":1764000000000,"budget":1}]`.
//! A [`FaultLayer`](crate::FaultLayer) built with `honour_context("license")` applies the entries
//! naming `license` (before its table's rules), and makes the context — with the budgets it
//! spent taken off — available to the clients the service calls while answering, through
//! [`current`], so they pass it on. Layers without `honour_context` ignore the header.

use crate::{Fault, Rule, Scope};
use http::HeaderValue;
use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};

/// The header carrying the fault context.
pub const CONTEXT_HEADER: &str = "x-chaos-context";

/// [`CONTEXT_HEADER`] as a header name, made once: a name given as a string is parsed again on
/// every lookup and insert.
pub const CONTEXT_HEADER_NAME: http::HeaderName = http::HeaderName::from_static(CONTEXT_HEADER);

/// One request-scoped fault.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestFault {
    /// The service (or instance) whose layer applies it.
    pub service: String,
    /// What happens there.
    pub fault: Fault,
    /// Which of its requests (default: all).
    #[serde(default)]
    pub scope: Scope,
    /// Wall-clock end of validity, milliseconds since the Unix epoch (wall clock, because the
    /// context crosses processes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_until_ms: Option<u64>,
    /// How many more times it may be injected along this request's path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<u32>,
}

/// The faults a request carries.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FaultContext(pub Vec<RequestFault>);

tokio::task_local! {
    static CURRENT: Option<HeaderValue>;
}

/// The context to pass on from the request being answered on this task, if any.
pub fn current() -> Option<HeaderValue> {
    CURRENT.try_with(Clone::clone).ok().flatten()
}

/// Runs `fut` with `context` as the one [`current`] returns.
pub(crate) async fn scope<F: std::future::Future>(context: Option<HeaderValue>, fut: F) -> F::Output {
    CURRENT.scope(context, fut).await
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl FaultContext {
    /// Reads a header value; `None` when it is not a valid context.
    pub fn parse(value: &HeaderValue) -> Option<Self> {
        serde_json::from_slice(value.as_bytes()).ok()
    }

    /// The header value.
    pub fn to_header(&self) -> Option<HeaderValue> {
        HeaderValue::from_str(&serde_json::to_string(self).ok()?).ok()
    }

    /// The entries for `service` (or instance `instance`) that are valid now, as rules named
    /// `ctx:INDEX`.
    pub(crate) fn rules_for(&self, service: &str, instance: &str) -> Vec<Rule> {
        let now = now_ms();
        self.0
            .iter()
            .enumerate()
            .filter(|(_, f)| (f.service == service || f.service == instance) && f.budget != Some(0))
            .filter(|(_, f)| f.ttl_until_ms.is_none_or(|t| now < t) && f.fault.validate().is_ok())
            .map(|(i, f)| Rule::new(format!("ctx:{i}"), f.fault.clone(), f.scope.clone()))
            .collect()
    }

    /// The context to pass on after the entries with the given indices were injected here:
    /// their budgets go down by one; spent and expired entries are dropped.
    pub(crate) fn after_injecting(mut self, injected: &[usize]) -> Self {
        let now = now_ms();
        for &i in injected {
            if let Some(b) = self.0.get_mut(i).and_then(|f| f.budget.as_mut()) {
                *b = b.saturating_sub(1);
            }
        }
        self.0.retain(|f| f.budget != Some(0) && f.ttl_until_ms.is_none_or(|t| now < t));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_picked_by_service_and_spent_budgets_are_dropped() {
        let ctx: FaultContext = serde_json::from_str(
            r#"[{"service":"license","fault":{"error":{"status":503}},"budget":1},
                {"service":"cdn","fault":"reset"},
                {"service":"license","fault":"reset","ttl_until_ms":1}]"#,
        )
        .unwrap();
        let rules = ctx.rules_for("license", "license-0");
        assert_eq!(rules.len(), 1, "the expired entry is out: {rules:?}");
        assert_eq!(&*rules[0].id, "ctx:0");
        assert!(ctx.rules_for("playback", "playback-1").is_empty());
        let next = ctx.after_injecting(&[0]);
        assert_eq!(next.0.len(), 1);
        assert_eq!(next.0[0].service, "cdn");
        assert_eq!(FaultContext::parse(&next.to_header().unwrap()).unwrap(), next);
    }
}
