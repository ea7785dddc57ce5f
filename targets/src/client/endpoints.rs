//! [`Endpoints`]: the transport under the guards — one try per call, each try of a request on
//! the next instance, instances that keep failing ejected for a while.
//!
//! The ejection is Envoy's outlier detection in miniature: after `eject_after` consecutive failed
//! tries (connection refused, reset, 5xx) an instance is skipped for `eject_for`, unless every
//! instance is ejected. tower has no such layer (its `balance` needs a load metric and discovery
//! for each endpoint), and these few lines fit the round-robin here.

use super::transport::{AnswerBody, HttpClient, Origin, Sending};
use super::{DepRequest, DepResponse};
use crate::guards::GuardCounters;
use chaos_fault::BoxError;
use http::StatusCode;
use http_body_util::BodyExt;
use http_body_util::combinators::Collect;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll, ready};
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
    pub status: StatusCode,
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
    type Future = Try;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: DepRequest) -> Try {
        let shared = self.shared.clone();
        let i = shared.pick(req.base, req.attempt);
        // Request-scoped faults travel on with every call made while answering a request.
        let context = chaos_fault::context::current().map(|ctx| (chaos_fault::context::CONTEXT_HEADER_NAME, ctx));
        let head = shared.endpoints[i].origin.send(&shared.http, req.path, &req.user, context);
        Try { shared, i, state: State::Head(head) }
    }
}

/// One try of a request on one instance: its head, then its whole body; how it ended counts
/// toward the instance's ejection. A named future rather than a boxed `async` block: the block
/// was ~1 KB, made on the stack and copied into a new allocation for each of a virtual-time
/// run's millions of tries.
pub struct Try {
    shared: Arc<Shared>,
    i: usize,
    state: State,
}

enum State {
    Head(Sending),
    Body(StatusCode, Collect<AnswerBody>),
    Done,
}

impl Future for Try {
    type Output = Result<DepResponse, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let result = loop {
            match &mut this.state {
                State::Head(head) => match ready!(Pin::new(head).poll(cx)) {
                    Ok(res) => this.state = State::Body(res.status(), res.into_body().collect()),
                    Err(e) => break Err(e),
                },
                // The body is read whatever the status, as a connection would be.
                State::Body(status, body) => {
                    let status = *status;
                    break match ready!(Pin::new(body).poll(cx)) {
                        Ok(body) if status.is_success() => Ok(DepResponse { status, body: body.to_bytes() }),
                        Ok(_) => Err(StatusError { status }.into()),
                        Err(e) => Err(e),
                    };
                }
                State::Done => return Poll::Ready(Err("a try polled after it ended".into())),
            }
        };
        this.state = State::Done;
        this.shared.outcome(this.i, result.is_ok());
        Poll::Ready(result)
    }
}
