//! Per-instance request metrics, measured outside the fault layer (so injected faults count).

use chaos_fault::{BoxError, INJECTED_HEADER, InjectedFault};
use futures_util::future::BoxFuture;
use hdrhistogram::Histogram;
use http::{Request, Response};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::time::Instant;
use tower::Service;

/// Requests, errors (5xx or dropped), injected faults and latency (µs, to the response head).
#[derive(Debug)]
pub struct InstanceStats {
    requests: AtomicU64,
    errors: AtomicU64,
    injected: AtomicU64,
    latency_us: Mutex<Histogram<u64>>,
}

impl Default for InstanceStats {
    fn default() -> Self {
        Self {
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            injected: AtomicU64::new(0),
            latency_us: Mutex::new(latency_histogram()),
        }
    }
}

/// A histogram of microseconds from 1 µs to 1 hour, 3 significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static bounds are valid")
}

/// Counts and latency of a service (one instance, or several merged).
#[derive(Clone, Debug)]
pub struct StatsSnapshot {
    /// Requests answered or dropped.
    pub requests: u64,
    /// 5xx answers and dropped connections.
    pub errors: u64,
    /// Of the errors, those the fault layer injected.
    pub injected: u64,
    /// Latency in microseconds.
    pub latency_us: Histogram<u64>,
}

impl StatsSnapshot {
    /// An empty snapshot.
    pub fn empty() -> Self {
        Self { requests: 0, errors: 0, injected: 0, latency_us: latency_histogram() }
    }

    /// Adds another snapshot into this one.
    pub fn merge(&mut self, other: &StatsSnapshot) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.injected += other.injected;
        // Same bounds on both sides: cannot fail.
        let _ = self.latency_us.add(&other.latency_us);
    }
}

impl InstanceStats {
    /// The counts now.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            requests: self.requests.load(Relaxed),
            errors: self.errors.load(Relaxed),
            injected: self.injected.load(Relaxed),
            latency_us: self.latency_us.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }

    fn record(&self, started: Instant, error: bool, injected: bool) {
        self.requests.fetch_add(1, Relaxed);
        self.errors.fetch_add(u64::from(error), Relaxed);
        self.injected.fetch_add(u64::from(injected), Relaxed);
        let us = started.elapsed().as_micros().clamp(1, 3_600_000_000) as u64;
        let _ = self.latency_us.lock().unwrap_or_else(|p| p.into_inner()).record(us);
    }
}

/// Middleware recording [`InstanceStats`] for every request.
#[derive(Clone)]
pub struct Metered<S> {
    inner: S,
    stats: Arc<InstanceStats>,
}

impl<S> Metered<S> {
    /// Wraps `inner`, recording into `stats`.
    pub fn new(inner: S, stats: Arc<InstanceStats>) -> Self {
        Self { inner, stats }
    }
}

impl<S, B, RB> Service<Request<B>> for Metered<S>
where
    S: Service<Request<B>, Response = Response<RB>, Error = BoxError>,
    S::Future: Send + 'static,
{
    type Response = Response<RB>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Response<RB>, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let started = Instant::now();
        let stats = self.stats.clone();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let res = fut.await;
            let (error, injected) = match &res {
                Ok(r) => (r.status().is_server_error(), r.headers().contains_key(INJECTED_HEADER)),
                Err(e) => (true, e.downcast_ref::<InjectedFault>().is_some()),
            };
            stats.record(started, error, injected);
            res
        })
    }
}
