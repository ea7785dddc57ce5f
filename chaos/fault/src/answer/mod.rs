//! [`AnswerLayer`]: the fault layer for stacks whose services must answer every request, such as
//! axum's `Router::layer` (its services' error is `Infallible`).
//!
//! [`FaultLayer`](crate::FaultLayer)'s service fails a request with an [`InjectedFault`](crate::InjectedFault)
//! for `reset` and `hang`, which a bare hyper server turns into a dropped connection. Here that
//! failure is an answer instead: a response whose body fails at once, which makes hyper end the
//! connection without a complete answer — what the client sees is the same dropped connection.
//! `error` faults and every other fault are answers already and pass as they are. An error of
//! the wrapped service becomes a dropped connection the same way (under axum it has none).

mod future;
mod layer;
mod service;

pub use future::AnswerFuture;
pub use layer::AnswerLayer;
pub use service::{AnswerBody, AnswerService, Failing};
