//! [`AnswerLayer`]: wraps services in an [`AnswerService`].

use super::AnswerService;
use crate::FaultLayer;
use tower::Layer;

/// A [`FaultLayer`] whose services answer every request (see [the module](super)); made by
/// [`FaultLayer::answering`].
///
/// ```
/// use axum::{Router, routing::get};
/// use chaos_fault::{Fault, FaultLayer, FaultTable, Rule, Scope};
///
/// let table = FaultTable::new();
/// table.insert(Rule::new("slow-checkout", Fault::fixed_latency(std::time::Duration::from_millis(300)), Scope::default().route("/checkout")));
/// let app: Router = Router::new()
///     .route("/checkout", get(|| async { "ok" }))
///     .layer(FaultLayer::new(table.clone()).seed(42).answering());
/// # let _ = app;
/// ```
#[derive(Clone, Debug)]
pub struct AnswerLayer {
    faults: FaultLayer,
}

impl FaultLayer {
    /// This layer in the form that answers its own failures (`reset`, `hang`) as responses
    /// whose body fails, for stacks that take no service error (axum's `Router::layer`).
    pub fn answering(self) -> AnswerLayer {
        AnswerLayer { faults: self }
    }
}

impl<S> Layer<S> for AnswerLayer {
    type Service = AnswerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AnswerService::new(self.faults.layer(inner))
    }
}
