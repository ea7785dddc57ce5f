//! Fault injection as tower middleware.
//!
//! `chaos-fault` is the part of the chaos testbed that users embed: a [`FaultLayer`] that reads
//! the active [`Rule`]s of one service instance from a lock-free [`FaultTable`] and applies the
//! matching [`Fault`] — latency, an HTTP error, a connection reset or a hang — to each request.
//! With the `server` feature, `server::Instance` serves any tower service on a TCP port and can
//! be killed (listener closed, open connections dropped) and restarted on the same port. With
//! the `tcp` feature, `tcp::TcpProxy` puts Toxiproxy's toxics in front of any TCP service.
//!
//! In an axum app, whose `Router::layer` takes no service error, use [`FaultLayer::answering`];
//! with the `control` feature, `control::serve_tables` serves the JSON control API for the
//! app's own tables in one call (`examples/shop` in the repository does both).
//!
//! The crate stays small on purpose (tower, http, tokio's timer, rand, serde): adding the layer to
//! an axum or hyper stack does not pull in the experiment runner.
//!
//! ```
//! use chaos_fault::{Fault, FaultLayer, FaultTable, Rule, Scope};
//! use std::time::Duration;
//! use tower::{Layer, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let table = FaultTable::new();
//! table.insert(Rule::new("license-503", Fault::error(503), Scope::default()));
//!
//! let svc = FaultLayer::new(table.clone()).seed(42).layer(service_fn(|_req: http::Request<String>| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(bytes::Bytes::from("ok"))))
//! }));
//! let res = svc.oneshot(http::Request::new(String::new())).await.unwrap();
//! assert_eq!(res.status(), 503);
//! # }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod answer;
pub mod context;
#[cfg(feature = "control")]
pub mod control;
mod distribution;
mod fault;
mod grpc;
mod layer;
mod one_key;
#[cfg(feature = "proxy")]
pub mod proxy;
mod rule;
#[cfg(feature = "schema")]
mod schema;
mod scope;
mod seed;
#[cfg(feature = "server")]
pub mod server;
pub(crate) mod table;
#[cfg(feature = "tcp")]
pub mod tcp;
pub mod toxic;

pub use answer::{AnswerBody, AnswerFuture, AnswerLayer, AnswerService, Failing};
pub use distribution::{Distribution, DistributionError, LognormalParams, NormalParams, ParetoParams, UniformParams};
pub use fault::{ErrorFault, Fault, Latency, MAX_DELAY, When, check_delays};
pub use grpc::{GrpcCode, GrpcFault};
pub use layer::{
    Applied, BoxError, FaultBody, FaultLayer, FaultService, INJECTED_HEADER, INJECTED_HEADER_NAME, InjectedFault,
    ResponseFuture, Timer,
};
pub use rule::{Rule, RuleId};
pub use scope::{Cohort, Scope, cohort_position};
pub use seed::derive_seed;
pub use table::{FaultMetrics, FaultTable};
pub use toxic::Toxic;
