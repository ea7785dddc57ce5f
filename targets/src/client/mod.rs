//! Resilient clients for calls between services.
//!
//! A [`DepClient`] is one caller's view of one dependency: tower's `Retry` (limited by a shared
//! `TpsBudget`) around tower's `Timeout` (per try) around [`Endpoints`], which sends each try to
//! the next instance in turn, so that a retry is also a failover. Fallbacks are the caller's
//! business (the handlers), switched on or off by the [`CallPolicy`](crate::CallPolicy); the
//! client only says whether its fallback is enabled and counts what fired in [`GuardCounters`].

mod breaker;
mod connector;
mod endpoints;
mod policy;
mod transport;

pub use connector::{Connector, Io};
pub use endpoints::{Ejection, Endpoints};
pub(crate) use transport::Origin;
pub(crate) use transport::pool;
pub use transport::{AnswerBody, HttpClient, http_client};

use crate::guards::GuardCounters;
use crate::topology::CallPolicy;
use bytes::Bytes;
use chaos_fault::BoxError;
use http::{HeaderValue, StatusCode};
use policy::BudgetedRetry;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tower::retry::Retry;
use tower::retry::budget::{Budget, TpsBudget};
use tower::timeout::Timeout;
use tower::{ServiceBuilder, ServiceExt};

/// A dependency's guards below the breaker: retries paid from the budget, each try bounded.
/// Named rather than boxed (`BoxCloneSyncService`): a boxed stack is cloned into a new box for
/// every call and boxes every call's future, two allocations on each of a virtual-time run's
/// millions of calls.
type Guarded = Retry<BudgetedRetry, Timeout<Endpoints>>;

/// A GET to a dependency: path (with query) and the user it is for.
#[derive(Clone, Debug)]
pub struct DepRequest {
    /// Path and query, e.g. `/titles/t7`.
    pub path: String,
    /// The subscriber, sent as `x-user-id`.
    /// The user the call is made for, as its header (cloning it counts a reference).
    pub user: HeaderValue,
    /// Where the round-robin starts for this request.
    pub base: usize,
    /// Tries made so far (the retry policy counts them), so each try goes to another instance.
    pub attempt: u32,
}

/// A successful (2xx) answer of a dependency.
#[derive(Clone, Debug)]
pub struct DepResponse {
    /// Status.
    pub status: StatusCode,
    /// Whole body.
    pub body: Bytes,
}

/// One caller's guarded client for one dependency.
#[derive(Clone)]
pub struct DepClient {
    callee: Arc<str>,
    fallback: bool,
    budget: Arc<TpsBudget>,
    counters: Arc<GuardCounters>,
    next: Arc<AtomicUsize>,
    breaker: Option<Arc<breaker::Breaker>>,
    svc: Guarded,
}

impl DepClient {
    /// Builds the guarded stack for `callee` at `endpoints`.
    pub fn new(callee: &str, endpoints: Endpoints, policy: &CallPolicy, counters: Arc<GuardCounters>) -> Self {
        let b = &policy.budget;
        let budget = Arc::new(TpsBudget::new(b.ttl, b.min_per_s, b.retry_ratio));
        let retry = BudgetedRetry::new(policy.retries, budget.clone(), counters.clone());
        let svc = ServiceBuilder::new().retry(retry).timeout(policy.timeout).service(endpoints);
        let next = Arc::new(AtomicUsize::new(0));
        let breaker = policy.breaker.clone().map(|spec| Arc::new(breaker::Breaker::new(spec, counters.clone())));
        Self { callee: callee.into(), fallback: policy.fallback, budget, counters, next, breaker, svc }
    }

    /// The dependency's service name.
    pub fn callee(&self) -> &str {
        &self.callee
    }

    /// Whether the caller may serve its fallback when this dependency fails.
    pub fn fallback_enabled(&self) -> bool {
        self.fallback
    }

    /// Calls the dependency through its guards; counts the call and its final failure.
    pub async fn get(&self, path: String, user: &HeaderValue) -> Result<DepResponse, BoxError> {
        self.counters.call();
        if self.breaker.as_ref().is_some_and(|b| !b.allow()) {
            self.counters.failure();
            return Err(breaker::BreakerOpen.into());
        }
        self.budget.deposit();
        let base = self.next.fetch_add(1, Ordering::Relaxed);
        let res = self.svc.clone().oneshot(DepRequest { path, user: user.clone(), base, attempt: 0 }).await;
        if let Some(b) = &self.breaker {
            b.record(res.is_ok());
        }
        if res.is_err() {
            self.counters.failure();
        }
        res
    }

    /// Records that the caller served its fallback in place of this dependency.
    pub fn fallback_served(&self) {
        self.counters.fallback();
    }
}
