//! Workloads: who calls the system under test. Each turns the schedule's arrivals
//! ([`crate::load::Sessions`]) into calls and records their outcomes; the engine's phases,
//! windows, abort conditions, cohorts and sequential test work on what they record alike.
//!
//! - [`play`]: devices pressing Play on the platform's edge (the embedded platform, or an edge
//!   API elsewhere);
//! - [`http`]: the user's own requests and flows (`load.http`), over HTTP/1.1 or as unary gRPC
//!   calls;
//! - [`stream`]: viewers of the user's own HLS or DASH stream (`load.player`).

mod client;
mod grpc;
pub(crate) mod http;
pub(crate) mod play;
pub(crate) mod stream;
