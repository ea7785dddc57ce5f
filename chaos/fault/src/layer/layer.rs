//! [`FaultLayer`]: wraps services in a [`FaultService`].

use super::FaultService;
use super::Timer;
use crate::FaultTable;
use std::sync::Arc;
use tower::Layer;

/// Applies the rules of a [`FaultTable`] to every request of the wrapped service.
///
/// ```
/// use chaos_fault::{FaultLayer, FaultTable};
/// let table = FaultTable::new();
/// // One layer per instance; the seed makes the instance's draws repeatable.
/// let layer = FaultLayer::new(table.clone()).seed(7);
/// # let _ = layer;
/// ```
#[derive(Clone, Debug)]
pub struct FaultLayer {
    table: FaultTable,
    seed: u64,
    context: Option<ContextNames>,
    timer: Timer,
    envoy: bool,
}

/// The names under which a layer honours request-scoped faults.
#[derive(Clone, Debug)]
pub(crate) struct ContextNames {
    pub service: Arc<str>,
    pub instance: Arc<str>,
}

impl FaultLayer {
    /// A layer reading `table`, seeded with 0.
    pub fn new(table: FaultTable) -> Self {
        Self { table, seed: 0, context: None, timer: Timer::Tokio, envoy: false }
    }

    /// Honours request-scoped faults (see [`context`](crate::context)) that name `service` or
    /// `instance`, and passes the context on to the clients called while answering. Off by
    /// default: a header from outside cannot fault an instance that did not opt in.
    pub fn honour_context(mut self, service: &str, instance: &str) -> Self {
        self.context = Some(ContextNames { service: service.into(), instance: instance.into() });
        self
    }

    /// Honours Envoy's header-controlled faults (`x-envoy-fault-abort-request`,
    /// `-abort-grpc-request`, `-delay-request`, `-throughput-response` and their `-percentage`),
    /// so that tests written against Envoy's fault filter run unchanged. Off by default, as in
    /// Envoy: a header from outside cannot fault a layer that did not opt in.
    ///
    /// ```
    /// use chaos_fault::{FaultLayer, FaultTable};
    /// let layer = FaultLayer::new(FaultTable::new()).envoy_headers(true);
    /// # let _ = layer;
    /// ```
    pub fn envoy_headers(mut self, on: bool) -> Self {
        self.envoy = on;
        self
    }

    /// Sets the clock injected delays run on: [`Timer::Tokio`] (the default, follows a paused
    /// clock) or [`Timer::Precise`] (sub-millisecond, real time).
    pub fn timer(mut self, timer: Timer) -> Self {
        self.timer = timer;
        self
    }

    /// Whether a request's own headers can fault it (Envoy's, request-scoped faults): then
    /// every request must go through the layer, even while the table is empty.
    #[cfg(feature = "proxy")]
    pub(crate) fn reads_request_headers(&self) -> bool {
        self.envoy || self.context.is_some()
    }

    /// The table it reads.
    pub fn table(&self) -> &FaultTable {
        &self.table
    }

    /// Sets the seed of the layer's random draws.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
}

impl<S> Layer<S> for FaultLayer {
    type Service = FaultService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        let mut svc = FaultService::new(inner, self.table.clone(), self.seed);
        svc.context = self.context.clone();
        svc.timer = self.timer;
        svc.envoy = self.envoy;
        svc
    }
}
