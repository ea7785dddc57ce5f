//! The fault layer: tower middleware that applies a [`FaultTable`](crate::FaultTable)'s rules.
//!
//! For each request the layer takes a lock-free snapshot of the table. With no rules it calls the
//! inner service directly (a load and a branch, no allocation). Otherwise the rules are read in
//! table order: a rule applies when the path is in its scope and its probability draw succeeds;
//! every applying `latency` adds its delay, and the first applying `error`, `reset` or `hang` ends
//! the walk and decides the answer (after the accumulated delay). `kill` rules belong to the
//! instance's server and are skipped here. A layer may also take faults from the request's own
//! headers: request-scoped ones ([`crate::context`]) and Envoy's `x-envoy-fault-*` (see
//! [`FaultLayer::envoy_headers`]), both off unless the layer opts in.
//!
//! Draws come from a per-request `SmallRng` seeded from the layer's seed and a request counter,
//! so the same seed and the same request order give the same faults, without a lock.

mod body;
mod envoy;
mod error;
mod future;
#[allow(clippy::module_inception)]
mod layer;
mod plan;
mod service;
mod timer;

pub use body::FaultBody;
pub use error::{BoxError, InjectedFault};
pub use future::ResponseFuture;
pub(crate) use layer::ContextNames;
pub use layer::FaultLayer;
pub(crate) use plan::RouteKey;
pub use service::FaultService;
pub use timer::Timer;

/// Header set on responses synthesised by an `error` fault; its value is the rule id, so that a
/// report can tell an injected failure from its knock-on effects.
pub const INJECTED_HEADER: &str = "x-chaos-fault";

/// [`INJECTED_HEADER`] as a header name, made once: a name given as a string is parsed again on
/// every lookup and insert.
pub const INJECTED_HEADER_NAME: http::HeaderName = http::HeaderName::from_static(INJECTED_HEADER);

/// Response extension naming every rule that acted on a response (latency, body shaping or the
/// answer itself), in table order. Set only when a rule fired, so an unfaulted response costs
/// nothing; middleware outside the layer reads it to label metrics by fault. Failures that end
/// the request without a response carry their rule in [`InjectedFault::rule`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied(pub Vec<crate::RuleId>);
