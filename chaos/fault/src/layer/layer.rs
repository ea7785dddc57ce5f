//! [`FaultLayer`]: wraps services in a [`FaultService`].

use super::FaultService;
use crate::FaultTable;
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
}

impl FaultLayer {
    /// A layer reading `table`, seeded with 0.
    pub fn new(table: FaultTable) -> Self {
        Self { table, seed: 0 }
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
        FaultService::new(inner, self.table.clone(), self.seed)
    }
}
