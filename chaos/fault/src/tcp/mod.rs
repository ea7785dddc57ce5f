//! TCP faults (feature `tcp`), drop-in for Toxiproxy: a [`TcpProxy`] between a client and any
//! TCP service — a database, a cache, a queue — whose [`Toxic`]s delay, pace, slice, stall, cut
//! or reset the bytes of each direction, with Toxiproxy's names, attributes and semantics.
//!
//! | toxic | attributes | what the client sees |
//! |---|---|---|
//! | `latency` | `latency`, `jitter` (ms) | each chunk later by latency ± jitter, from when it was read |
//! | `bandwidth` | `rate` (KB/s) | data at that rate at most |
//! | `slow_close` | `delay` (ms) | the close that much later |
//! | `timeout` | `timeout` (ms) | no data; the connection closed after `timeout` (0: never, data dropped until the toxic goes) |
//! | `reset_peer` | `timeout` (ms) | at the first data, a reset (RST) after `timeout` |
//! | `slicer` | `average_size`, `size_variation` (bytes), `delay` (µs) | data in small pieces, spaced |
//! | `limit_data` | `bytes` | the connection closed once that much went through |
//!
//! Each toxic acts on one `stream` (`upstream`: client to server; `downstream`: server to
//! client) and on the share `toxicity` of the connections, drawn per connection from the proxy's
//! seed. Toxics act in the order they were added and change on open connections at once.

#[cfg(feature = "toxiproxy")]
pub mod api;
mod link;
mod proxy;

pub use crate::toxic::{
    BandwidthToxic, LatencyToxic, LimitDataToxic, ResetPeerToxic, SlicerToxic, SlowCloseToxic, Stream, TimeoutToxic,
    Toxic, ToxicError, ToxicKind,
};
pub use proxy::{TcpMetrics, TcpProxy};

/// Whether `addr` is `HOST:PORT`, as a TCP proxy's upstream must be (no scheme, no path).
pub fn is_host_port(addr: &str) -> bool {
    addr.rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && !host.contains('/') && port.parse::<u16>().is_ok())
}
