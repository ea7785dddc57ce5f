//! The proxy's HTTP/1 connections to its upstream, kept alive and reused.
//!
//! Hand-written rather than hyper-util's pooled client, which the proxy used before: for each
//! request that client takes a pool lock shared by every worker thread and spawns a task to give
//! the connection back once the answer's body is read. Here each worker thread has its own stack
//! of idle connections, behind a lock no other thread takes but when it runs out of slots, and a
//! connection goes back from the answer's body as it ends: no task, no shared lock
//! (docs/BENCHMARKS.md measures both). HTTP/2 answers, rarer and multiplexed, keep hyper-util's.

use crate::BoxError;
use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::net::TcpStream;

/// Stacks of idle connections; threads beyond this many share them.
const SHARDS: usize = 16;
/// Idle connections kept per stack at most; more are closed when given back.
const MAX_IDLE: usize = 256;

/// Idle keep-alive connections to one `host:port`.
pub(super) struct Pool {
    addr: String,
    idle: Idle<SendRequest<Incoming>>,
}

/// Idle connections (hyper's, or the relay's sockets), one stack per worker thread.
pub(super) struct Idle<T> {
    shards: [Mutex<Vec<T>>; SHARDS],
}

impl<T> Default for Idle<T> {
    fn default() -> Self {
        Self { shards: std::array::from_fn(|_| Mutex::new(Vec::new())) }
    }
}

impl<T> Idle<T> {
    /// An idle connection: this thread's, else another's (a task may move between threads; a
    /// connection is made only when none is idle anywhere).
    pub fn pop(&self) -> Option<T> {
        let own = shard_index();
        let order = std::iter::once(own).chain((0..SHARDS).filter(|i| *i != own));
        order.map(|i| &self.shards[i]).find_map(|shard| shard.lock().unwrap_or_else(|p| p.into_inner()).pop())
    }

    /// Keeps `conn` on this thread's stack, unless it is full.
    pub fn push(&self, conn: T) {
        let mut idle = self.shards[shard_index()].lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }
}

impl Pool {
    pub fn new(addr: String) -> Arc<Self> {
        Arc::new(Self { addr, idle: Idle::default() })
    }

    /// A new TCP connection to the upstream, ready for small writes (no Nagle delay).
    pub async fn dial(&self) -> std::io::Result<TcpStream> {
        let stream = TcpStream::connect(&self.addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    /// Sends `req` (its URI in origin form) on an idle connection, or a new one: on a kept
    /// connection the upstream had closed meanwhile, before the request went out, it is sent
    /// again on a new connection, as hyper-util's client does.
    pub async fn send(self: &Arc<Self>, req: Request<Incoming>) -> Result<Response<Kept>, BoxError> {
        let mut sender = self.idle().await;
        let fresh = sender.is_none();
        let mut sender = match sender.take() {
            Some(s) => s,
            None => self.connect().await?,
        };
        let res = match sender.try_send_request(req).await {
            Ok(res) => res,
            Err(mut e) => match e.take_message() {
                Some(req) if !fresh => {
                    sender = self.connect().await?;
                    sender.send_request(req).await?
                }
                _ => return Err(e.into_error().into()),
            },
        };
        Ok(res.map(|body| Kept { body, back: Some((sender, self.clone())) }))
    }

    /// An idle connection ready for a request, if one is kept.
    async fn idle(&self) -> Option<SendRequest<Incoming>> {
        loop {
            let mut sender = self.idle.pop()?;
            // Given back as its last body ended; ready once hyper has read that end too, or
            // closed if the upstream said so.
            if sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    async fn connect(&self) -> Result<SendRequest<Incoming>, BoxError> {
        let (sender, conn) = http1::handshake(TokioIo::new(self.dial().await?)).await?;
        tokio::spawn(async move {
            // Its errors reach the request it was carrying; none is left to tell.
            let _ = conn.await;
        });
        Ok(sender)
    }

    fn give_back(&self, sender: SendRequest<Incoming>) {
        if !sender.is_closed() {
            self.idle.push(sender);
        }
    }
}

/// The stack of idle connections of the calling thread.
fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|s| *s)
}

/// An upstream answer's body that gives its connection back to the pool once read to its end.
pub struct Kept {
    body: Incoming,
    back: Option<(SendRequest<Incoming>, Arc<Pool>)>,
}

impl Kept {
    fn release(&mut self) {
        if let Some((sender, pool)) = self.back.take() {
            pool.give_back(sender);
        }
    }
}

impl Body for Kept {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.release(),
            Poll::Ready(Some(Err(_))) => self.back = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        // An empty body may never be polled; one dropped before its end leaves the connection
        // mid-answer, and it is closed with its sender.
        if self.body.is_end_stream() {
            self.release();
        }
    }
}
