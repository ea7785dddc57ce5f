//! The retry policy: a bounded number of retries, each paid for from a shared budget.

use super::DepRequest;
use crate::guards::GuardCounters;
use chaos_fault::BoxError;
use std::future::{Ready, ready};
use std::sync::Arc;
use tower::retry::Policy;
use tower::retry::budget::{Budget, TpsBudget};

/// Retries a failed try (error or timeout) up to `remaining` times while the budget allows.
/// tower's `Retry` clones the policy per request, so `remaining` is per request.
#[derive(Clone)]
pub(crate) struct BudgetedRetry {
    remaining: u32,
    budget: Arc<TpsBudget>,
    counters: Arc<GuardCounters>,
}

impl BudgetedRetry {
    pub fn new(retries: u32, budget: Arc<TpsBudget>, counters: Arc<GuardCounters>) -> Self {
        Self { remaining: retries, budget, counters }
    }
}

impl<Res> Policy<DepRequest, Res, BoxError> for BudgetedRetry {
    type Future = Ready<()>;

    fn retry(&mut self, req: &mut DepRequest, result: &mut Result<Res, BoxError>) -> Option<Self::Future> {
        let Err(e) = result else { return None };
        // Every try that ran out of time is a timeout event, retried or not.
        if e.is::<tower::timeout::error::Elapsed>() {
            self.counters.timeout();
        }
        if self.remaining == 0 {
            return None;
        }
        if !self.budget.withdraw() {
            self.counters.budget_exhausted();
            return None;
        }
        self.remaining -= 1;
        req.attempt += 1;
        self.counters.retry();
        Some(ready(()))
    }

    fn clone_request(&mut self, req: &DepRequest) -> Option<DepRequest> {
        Some(req.clone())
    }
}
