//! A simulated streaming platform: edge, auth, catalog, recommendations, artwork, history,
//! playback, license and CDN replicas, each a real HTTP server on 127.0.0.1 behind the chaos
//! fault layer, calling each other through guarded tower clients; and the [`PlaybackClient`], a
//! device that presses Play and measures time to first frame.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use targets::{Platform, PlaybackClient, Topology};
//! let topology = Topology::default_platform();
//! let platform = Platform::start(&topology, 42).await?;
//! let player = PlaybackClient::new(platform.edge_url(), topology.player.clone());
//! let outcome = player.session("u1", "t7", tokio::time::Instant::now()).await;
//! assert!(outcome.play.is_some_and(|p| p.ok));
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod assemble;
mod client;
mod guards;
pub mod metrics;
mod platform;
mod player;
pub mod process;
mod services;
mod stats;
mod topology;

pub use client::{Connector, DepClient, DepRequest, DepResponse, Ejection, Endpoints, HttpClient, Io, http_client};
pub use guards::{GuardCounters, GuardStats};
pub use platform::{InstanceHandle, Platform, PlatformError};
pub use player::cmcd::CmcdMode;
pub use player::manifest;
pub use player::stream::Qoe;
pub use player::{
    HomeOutcome, LoadError, Media, PlayFailure, PlayOutcome, PlaybackClient, Segmentation, SessionOutcome,
    StreamPlayer, StreamSpec,
};
pub use process::ProcessPlatform;
pub use services::{PLAY_FAILURE_HEADER, numbered};
pub use stats::{InstanceStats, Metered, MeteredFuture, StatsSnapshot, latency_histogram};
pub use topology::{
    AbrSpec, CallPolicy, DEFAULT_TOPOLOGY, InstanceInfo, MediaSpec, PlayerSpec, RetryBudget, Role, ServiceSpec,
    SyntheticSpec, Topology, TopologyError,
};

/// The header that carries the subscriber's id between device, edge and services.
pub const USER_HEADER: &str = "x-user-id";

/// [`USER_HEADER`] as a header name, made once (a name given as a string is parsed again on every
/// lookup and insert).
pub(crate) const USER: http::HeaderName = http::HeaderName::from_static(USER_HEADER);
