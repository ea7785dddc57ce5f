//! Direct exchanges on a [`MemNet`](super::MemNet): a request handed to the instance's tower
//! service as an `http::Request`, its response and body frames handed back as they are — no
//! HTTP/1 bytes, no pipe, no copy of a body.
//!
//! This is what makes a virtual-time run cheap (issue 9): an in-memory HTTP/1 exchange spends most
//! of its time encoding, copying and parsing bytes that carry nothing the experiment observes. What
//! the experiment does observe is kept as a socket would show it:
//! - a caller that gives up does not cancel the work it started (hyper's HTTP/1 server does not
//!   either): the work is then handed to a task of its own (see [`Exchange`]);
//! - killing the instance refuses new calls, drops the work in flight (the caller sees the
//!   exchange fail, as a closed connection) and ends every response body still being read;
//! - an error of the service (an injected reset) or of a body (a truncation) reaches the caller
//!   as an error, as the connection reset it stands for.
//!
//! No crate offers this: tower services can be called directly, but not with a server's kill
//! semantics and a network's address book, which the platform's clients need unchanged.

use super::Serve;
use crate::BoxError;
use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame};
use http_body_util::combinators::UnsyncBoxBody;
use pin_project_lite::pin_project;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use tokio::sync::Notify;
use tokio::sync::futures::OwnedNotified;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The body of a direct exchange, both ways: frames as the service made them.
pub type DirectBody = UnsyncBoxBody<Bytes, BoxError>;

/// A response body an instance can send by direct calls: frames of [`Bytes`]. Blanket-implemented.
pub trait DirectResponseBody: Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static {}

impl<B: Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static> DirectResponseBody for B {}

/// A service made callable without knowing its type: the exchange of one request, watched by
/// the instance's life.
trait Call: Send + Sync {
    fn call(&self, req: Request<DirectBody>, life: Life) -> BoxFuture<Result<Response<DirectBody>, BoxError>>;
}

/// The [`Call`] of a tower service answering with `B`, called in place when it is ready at once.
///
/// A server connection clones its service for each request and drives the clone to readiness;
/// for a stack of layers that is an `Arc` count up and down per layer — a dozen atomic operations
/// per exchange, each a pipeline stall, on the millions of exchanges of a virtual-time run. Here
/// the service sits behind a lock: one that is ready at once (every layer of an instance's stack
/// always is) is called where it is, one that is not is cloned and driven to readiness as before.
struct Svc<S, B>(Mutex<S>, PhantomData<fn() -> B>);

impl<S: Serve<B, DirectBody>, B: DirectResponseBody> Call for Svc<S, B> {
    fn call(&self, req: Request<DirectBody>, life: Life) -> BoxFuture<Result<Response<DirectBody>, BoxError>> {
        use tower::ServiceExt;
        let life = Some(life);
        let mut svc = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match svc.poll_ready(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Ok(())) => Box::pin(Watched { work: svc.call(req), life, body: PhantomData }),
            // Polled again, on a clone, with the exchange's waker.
            _ => Box::pin(Watched { work: svc.clone().oneshot(req), life, body: PhantomData }),
        }
    }
}

/// The type-erased service of an instance.
#[derive(Clone)]
pub(crate) struct Handler(Arc<dyn Call>);

impl Handler {
    pub(crate) fn new<S: Serve<B, DirectBody>, B: DirectResponseBody>(svc: S) -> Self {
        Self(Arc::new(Svc(Mutex::new(svc), PhantomData)))
    }
}

/// An instance's service while it is up: dropping its [`Kill`] closes it.
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub handler: Handler,
    pub alive: Arc<Alive>,
}

impl Endpoint {
    /// Whether the instance still serves.
    pub fn is_open(&self) -> bool {
        !self.alive.is_killed()
    }
}

/// Whether an instance is up, as its exchanges see it: a flag read on every poll, and a
/// [`Notify`] that wakes the exchanges waiting when the instance is killed.
///
/// Written by hand rather than with a `watch` channel (as a server's connections use): every
/// exchange that waits registers for the kill, and a `watch` receiver's `changed()` (a cloned
/// receiver, a boxed future, a waiter list picked at random) cost twice as much on each of the
/// millions of exchanges of a virtual-time run.
#[derive(Default)]
pub(crate) struct Alive {
    killed: AtomicBool,
    notify: Arc<Notify>,
}

impl Alive {
    fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }

    /// A waiter for the kill, complete if the kill comes after it was made (even before it is
    /// first polled).
    fn waiter(&self) -> Pin<Box<OwnedNotified>> {
        Box::pin(self.notify.clone().notified_owned())
    }
}

/// The instance's side of [`Alive`]: dropping it kills the instance.
pub(crate) struct Kill(Arc<Alive>);

impl Kill {
    pub fn new() -> (Self, Arc<Alive>) {
        let alive = Arc::new(Alive::default());
        (Self(alive.clone()), alive)
    }
}

impl Drop for Kill {
    fn drop(&mut self) {
        self.0.killed.store(true, Ordering::Release);
        self.0.notify.notify_waiters();
    }
}

/// The exchange ended because the instance went away (as a connection closed by the peer).
#[derive(Debug, thiserror::Error)]
#[error("connection closed: the instance was killed")]
pub struct Closed;

/// One exchange with an up instance: the head, then a body that fails if the instance is killed
/// while it is read.
pub(crate) fn call(endpoint: Endpoint, req: Request<DirectBody>) -> Exchange {
    let Endpoint { handler, alive } = endpoint;
    Exchange(Some(handler.0.call(req, Life { alive, killed: None })))
}

/// Watches an instance's life for one exchange: a cheap check on every poll, and a future that
/// wakes the exchange on a kill, made only when the exchange has to wait.
struct Life {
    alive: Arc<Alive>,
    killed: Option<Pin<Box<OwnedNotified>>>,
}

impl Life {
    /// Whether the instance is gone.
    fn is_killed(&self) -> bool {
        self.alive.is_killed()
    }

    /// Whether the instance is gone; if not, a kill will wake `cx`.
    fn poll_killed(&mut self, cx: &mut Context<'_>) -> bool {
        let Life { alive, killed } = self;
        // The waiter is made before the flag is read: a kill in between still completes it.
        let killed = killed.get_or_insert_with(|| alive.waiter());
        alive.is_killed() || killed.as_mut().poll(cx).is_ready()
    }
}

pin_project! {
    /// The work of one exchange: the service's future until the head, ended by a kill. The body
    /// is handed back wrapped in [`Killable`], boxed once.
    struct Watched<F, B> {
        #[pin]
        work: F,
        // `None` once the exchange is over.
        life: Option<Life>,
        body: PhantomData<fn() -> B>,
    }
}

impl<F, E, B> Future for Watched<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
    B: DirectResponseBody,
{
    type Output = Result<Response<DirectBody>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(life) = this.life.as_mut() else { return Poll::Ready(Err(Closed.into())) };
        if life.is_killed() {
            *this.life = None;
            return Poll::Ready(Err(Closed.into()));
        }
        match this.work.poll(cx) {
            Poll::Ready(res) => {
                let life = this.life.take();
                Poll::Ready(match res {
                    Ok(res) => Ok(res.map(|body| UnsyncBoxBody::new(Killable { body: Some(body), life }))),
                    Err(e) => Err(e.into()),
                })
            }
            Poll::Pending if life.poll_killed(cx) => {
                *this.life = None;
                Poll::Ready(Err(Closed.into()))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The answer of a direct call ([`DirectTo::call`](super::DirectTo::call)).
///
/// The instance's work is polled by the caller's task while the caller waits (no task and no
/// channel per exchange). If the caller gives up first, the work is handed to a task of its own
/// and goes on until it ends or the instance is killed, as it does on a server connection whose
/// client left.
pub struct Exchange(Option<BoxFuture<Result<Response<DirectBody>, BoxError>>>);

impl Future for Exchange {
    type Output = Result<Response<DirectBody>, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(work) = self.0.as_mut() else { return Poll::Ready(Err(Closed.into())) };
        let out = std::task::ready!(work.as_mut().poll(cx));
        self.0 = None;
        Poll::Ready(out)
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        let Some(work) = self.0.take() else { return };
        // Outside a runtime (a process ending) there is nothing left to run the work on.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            // A kill ends it too (`Watched`); what it answers nobody reads.
            drop(runtime.spawn(work));
        }
    }
}

pin_project! {
    /// A response body that ends in [`Closed`] when its instance is killed mid-body; its errors
    /// made [`BoxError`]s. The body is dropped as soon as it ends, fails or is cut off.
    struct Killable<B> {
        #[pin]
        body: Option<B>,
        life: Option<Life>,
    }
}

impl<B: DirectResponseBody> Body for Killable<B> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        let (Some(body), Some(life)) = (this.body.as_mut().as_pin_mut(), this.life.as_mut()) else {
            return Poll::Ready(None);
        };
        if life.is_killed() {
            this.body.set(None);
            return Poll::Ready(Some(Err(Closed.into())));
        }
        let polled = body.poll_frame(cx);
        if polled.is_pending() && life.poll_killed(cx) {
            this.body.set(None);
            return Poll::Ready(Some(Err(Closed.into())));
        }
        if matches!(polled, Poll::Ready(None)) {
            this.body.set(None);
        }
        polled.map(|frame| frame.map(|frame| frame.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.body.as_ref().is_none_or(|b| b.is_end_stream())
    }
}
