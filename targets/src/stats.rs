//! Per-instance request metrics, measured outside the fault layer (so injected faults count):
//! totals and an HdrHistogram for the report, series per route and fault for Prometheus.

use crate::metrics::RequestMetrics;
use chaos_fault::{Applied, BoxError, INJECTED_HEADER_NAME, InjectedFault, ResponseFuture, RuleId};
use hdrhistogram::Histogram;
use http::{Request, Response};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::time::Instant;
use tower::Service;

/// Requests, errors (5xx or dropped), injected faults and latency (µs, to the response head).
#[derive(Debug)]
pub struct InstanceStats {
    /// The counts and the latency under one lock: one atomic operation to take it per request
    /// rather than one per count, and snapshots whose counts agree with each other.
    now: Mutex<StatsSnapshot>,
    prom: RequestMetrics,
}

impl Default for InstanceStats {
    fn default() -> Self {
        Self { now: Mutex::new(StatsSnapshot::empty()), prom: RequestMetrics::default() }
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
        self.now.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The Prometheus series.
    pub(crate) fn prom(&self) -> &RequestMetrics {
        &self.prom
    }

    fn record(&self, route: &'static str, started: Instant, seen: Seen) {
        let elapsed = started.elapsed();
        let error = seen.is_error();
        let us = elapsed.as_micros().clamp(1, 3_600_000_000) as u64;
        {
            let mut now = self.now.lock().unwrap_or_else(|p| p.into_inner());
            now.requests += 1;
            now.errors += u64::from(error);
            now.injected += u64::from(seen.injected);
            let _ = now.latency_us.record(us);
        }
        self.prom.record(route, seen.code, error, seen.fault, elapsed);
    }
}

/// What a caller saw of one request.
struct Seen {
    /// The status, 0 when no answer was sent.
    code: u16,
    /// Whether the failure itself was injected (an `error`, `reset`, `hang`... rule).
    injected: bool,
    /// The rules that acted on it, joined by `+`; empty when none did.
    fault: String,
}

impl Seen {
    /// A 5xx answer or none at all.
    fn is_error(&self) -> bool {
        self.code == 0 || self.code >= 500
    }

    /// A request whose caller gave up (its future dropped unfinished) while `rules` acted on it.
    fn abandoned(rules: String) -> Self {
        Self { code: 0, injected: !rules.is_empty(), fault: rules }
    }

    fn of<RB>(res: &Result<Response<RB>, BoxError>) -> Self {
        match res {
            Ok(r) => Self {
                code: r.status().as_u16(),
                injected: r.headers().contains_key(&INJECTED_HEADER_NAME),
                fault: r.extensions().get::<Applied>().map(|a| a.0.join("+")).unwrap_or_default(),
            },
            Err(e) => {
                let fault = e.downcast_ref::<InjectedFault>().map(|f| f.rule().to_string());
                Self { code: 0, injected: fault.is_some(), fault: fault.unwrap_or_default() }
            }
        }
    }
}

/// A response future that knows, when the service is called, which fault rules act on its request.
pub trait AppliedRules {
    /// The rules (empty when none does).
    fn applied(&self) -> &[RuleId];
}

impl<F, B> AppliedRules for ResponseFuture<F, B> {
    fn applied(&self) -> &[RuleId] {
        ResponseFuture::applied(self)
    }
}

/// Middleware recording [`InstanceStats`] for every request, those whose caller gave up
/// included: a request dropped unfinished counts as an error with the time it was waited for,
/// injected when a rule was delaying it (a caller's timeout under a latency fault).
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
    S::Future: AppliedRules,
{
    type Response = Response<RB>;
    type Error = BoxError;
    type Future = MeteredFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let started = Instant::now();
        let route = crate::services::route_of(req.uri().path());
        let inner = self.inner.call(req);
        let rules = inner.applied().join("+");
        MeteredFuture { inner, stats: self.stats.clone(), route, started, rules, done: false }
    }
}

pin_project_lite::pin_project! {
    /// [`Metered`]'s answer: the inner service's, counted when it comes (a named future rather
    /// than a boxed one: no allocation per request).
    pub struct MeteredFuture<F> {
        #[pin]
        inner: F,
        stats: Arc<InstanceStats>,
        route: &'static str,
        started: Instant,
        // The rules acting on the request, joined by `+`, for when it is dropped unfinished.
        rules: String,
        done: bool,
    }

    impl<F> PinnedDrop for MeteredFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if !*this.done {
                this.stats.record(this.route, *this.started, Seen::abandoned(std::mem::take(this.rules)));
            }
        }
    }
}

impl<F, RB> Future for MeteredFuture<F>
where
    F: Future<Output = Result<Response<RB>, BoxError>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let res = std::task::ready!(this.inner.poll(cx));
        *this.done = true;
        this.stats.record(this.route, *this.started, Seen::of(&res));
        Poll::Ready(res)
    }
}
