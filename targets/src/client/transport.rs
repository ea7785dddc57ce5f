//! [`HttpClient`]: how the platform's clients and the device send a request — HTTP/1 over a
//! pooled connection (TCP, or a pipe of the in-memory network), or a direct call to an instance
//! that takes them (`chaos_fault::server::Instance::bind_direct`, the virtual-time transport).

use super::connector::{Connector, instance_addr};
use bytes::Bytes;
use chaos_fault::BoxError;
use chaos_fault::server::{DirectBody, MemNet, Net};
use http::{Request, Response};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// The body of an answer, whichever way it came: frames as they arrived.
pub type AnswerBody = DirectBody;

/// Sends requests over the network the platform's instances are on. Cheap to clone (one pool).
#[derive(Clone, Debug)]
pub struct HttpClient {
    pool: Client<Connector, Empty<Bytes>>,
    /// Where instances may take direct calls.
    mem: Option<MemNet>,
}

/// The client shared by all clients of a platform, on `net` (the network the instances are on).
pub fn http_client(net: &Net) -> HttpClient {
    pool(net, 64)
}

/// A client on `net` keeping up to `max_idle` idle connections per instance. Idle connections
/// expire on tokio's clock (without a timer hyper-util reads the wall clock, which a run on the
/// virtual clock must not depend on).
pub(crate) fn pool(net: &Net, max_idle: usize) -> HttpClient {
    let pool = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(max_idle)
        .pool_timer(TokioTimer::new())
        .build(Connector::new(net));
    HttpClient { pool, mem: net.mem().cloned() }
}

impl HttpClient {
    /// Sends `req` (an absolute `http://ADDR/...` URI): the answer's head; its body is read as
    /// it arrives.
    pub async fn request(&self, req: Request<Empty<Bytes>>) -> Result<Response<AnswerBody>, BoxError> {
        if let Some(mem) = &self.mem
            && let Some(to) = mem.direct(instance_addr(req.uri())?)
        {
            return to?.call(req.map(|_| AnswerBody::default())).await;
        }
        let res = self.pool.request(req).await?;
        Ok(res.map(|body| body.map_err(Into::into).boxed_unsync()))
    }
}
