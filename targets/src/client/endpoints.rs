//! [`Endpoints`]: the transport under the guards — one try per call, each try of a request on
//! the next instance, instances that keep failing ejected for a while.
//!
//! The ejection is Envoy's outlier detection in miniature: after `eject_after` consecutive failed
//! tries (connection refused, reset, 5xx) an instance is skipped for `eject_for`, unless every
//! instance is ejected. tower has no such layer (its `balance` needs a load metric and discovery
//! for each endpoint), and these few lines fit the round-robin here.

use super::transport::{HttpClient, Origin};
use super::{DepRequest, DepResponse};
use crate::guards::GuardCounters;
use chaos_fault::BoxError;
use futures_util::future::BoxFuture;
use http_body_util::BodyExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;
use tower::Service;

/// Outlier ejection settings; `eject_after: 0` switches it off.
#[derive(Clone, Copy, Debug)]
pub struct Ejection {
    /// Consecutive failed tries that eject an instance.
    pub eject_after: u32,
    /// How long it stays ejected.
    pub eject_for: Duration,
}

struct Endpoint {
    origin: Origin,
    failures: AtomicU32,
    /// Milliseconds since `epoch` until which the instance is skipped.
    ejected_until: AtomicU64,
}

struct Shared {
    endpoints: Vec<Endpoint>,
    ejection: Ejection,
    epoch: Instant,
    counters: Arc<GuardCounters>,
    /// Shared with the rest rather than cloned per try: a client is a handful of `Arc`s.
    http: HttpClient,
}

/// The instances of one dependency.
#[derive(Clone)]
pub struct Endpoints {
    shared: Arc<Shared>,
}

/// A dependency answered with a non-success status.
#[derive(Debug, thiserror::Error)]
#[error("dependency answered {status}")]
pub struct StatusError {
    /// The status seen.
    pub status: http::StatusCode,
}

impl Endpoints {
    /// Instances at `urls` (`http://127.0.0.1:PORT`), reached through `http`.
    pub fn new(urls: Vec<String>, http: HttpClient, ejection: Ejection, counters: Arc<GuardCounters>) -> Self {
        let endpoints = urls
            .into_iter()
            .map(|url| Endpoint {
                origin: Origin::new(&url),
                failures: AtomicU32::new(0),
                ejected_until: AtomicU64::new(0),
            })
            .collect();
        Self { shared: Arc::new(Shared { endpoints, ejection, epoch: Instant::now(), counters, http }) }
    }

    /// Number of instances.
    pub fn len(&self) -> usize {
        self.shared.endpoints.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.shared.endpoints.is_empty()
    }
}

impl Shared {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Try `attempt` of a request starting at `base` goes to the next instance in turn that is not
    /// ejected (or, when all are, to the next in turn anyway).
    fn pick(&self, base: usize, attempt: u32) -> usize {
        let n = self.endpoints.len();
        let first = (base + attempt as usize) % n;
        let now = self.now_ms();
        (0..n).map(|k| (first + k) % n).find(|&i| self.endpoints[i].ejected_until.load(Relaxed) <= now).unwrap_or(first)
    }

    fn outcome(&self, i: usize, ok: bool) {
        let e = &self.endpoints[i];
        if ok {
            e.failures.store(0, Relaxed);
            return;
        }
        let failures = e.failures.fetch_add(1, Relaxed) + 1;
        if self.ejection.eject_after > 0 && failures >= self.ejection.eject_after {
            e.failures.store(0, Relaxed);
            e.ejected_until.store(self.now_ms() + self.ejection.eject_for.as_millis() as u64, Relaxed);
            self.counters.ejection();
        }
    }
}

impl Service<DepRequest> for Endpoints {
    type Response = DepResponse;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<DepResponse, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: DepRequest) -> Self::Future {
        let shared = self.shared.clone();
        let i = shared.pick(req.base, req.attempt);
        // Request-scoped faults travel on with every call made while answering a request.
        let context = chaos_fault::context::current();
        Box::pin(async move {
            let result = async {
                let context = context.map(|ctx| (chaos_fault::context::CONTEXT_HEADER_NAME, ctx));
                let res = shared.endpoints[i].origin.send(&shared.http, req.path, &req.user, context).await?;
                let status = res.status();
                let body = res.into_body().collect().await?.to_bytes();
                if status.is_server_error() || !status.is_success() {
                    return Err(StatusError { status }.into());
                }
                Ok(DepResponse { status, body })
            }
            .await;
            shared.outcome(i, result.is_ok());
            result
        })
    }
}
