//! [`HttpClient`]: how the platform's clients and the device send a request — HTTP/1 over a
//! pooled connection (TCP, or a pipe of the in-memory network), or a direct call to an instance
//! that takes them (`chaos_fault::server::Instance::bind_direct`, the virtual-time transport).

use super::connector::{Connector, instance_addr};
use bytes::Bytes;
use chaos_fault::BoxError;
use chaos_fault::server::{DirectBody, Exchange, MemNet, Net};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderName, HeaderValue, Request, Response, Uri};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::{Client, ResponseFuture};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

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
        let addr = match &self.mem {
            Some(_) => Some(instance_addr(req.uri())?),
            None => None,
        };
        self.send(addr, req.map(|_| AnswerBody::default())).await
    }

    /// Sends `req` to the instance at `addr` (its URI's address, parsed by the caller; needed
    /// only on the in-memory network). The request is made with the direct call's body type and
    /// moved once into the exchange: a request is ~220 bytes, and each `async fn` it passed
    /// through copied it again (ten copies a request, 2 % of a virtual-clock session).
    fn send(&self, addr: Option<SocketAddr>, req: Request<AnswerBody>) -> Sending {
        if let (Some(mem), Some(addr)) = (&self.mem, addr)
            && let Some(to) = mem.direct(addr)
        {
            return match to {
                Ok(to) => Sending::Direct(to.call(req)),
                Err(e) => Sending::Failed(Some(e.into())),
            };
        }
        Sending::Pool(self.pool.request(req.map(|_| Empty::new())))
    }
}

/// A request on its way ([`HttpClient::send`]): a direct exchange, one over a pooled connection,
/// or a request that could not be made.
pub(crate) enum Sending {
    Direct(Exchange),
    Pool(ResponseFuture),
    Failed(Option<BoxError>),
}

impl Future for Sending {
    type Output = Result<Response<AnswerBody>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Sending::Direct(exchange) => Pin::new(exchange).poll(cx),
            Sending::Pool(pooled) => Pin::new(pooled)
                .poll(cx)
                .map_ok(|res| res.map(|body| body.map_err(Into::into).boxed_unsync()))
                .map_err(Into::into),
            Sending::Failed(e) => Poll::Ready(Err(e.take().unwrap_or_else(|| "polled after it failed".into()))),
        }
    }
}

/// An instance's base URL (`http://ADDR`), parsed once: its requests are made from parts, not by
/// formatting and parsing the whole URL again for each (on the virtual clock that was a tenth of
/// a request's cost).
#[derive(Clone, Debug)]
pub(crate) struct Origin(Result<(Authority, SocketAddr), Arc<str>>);

impl Origin {
    /// The origin of `base`; one that is not `http://ADDR` fails each of its requests, naming it.
    pub(crate) fn new(base: &str) -> Self {
        let parts = match base.parse::<Uri>() {
            Ok(uri) if uri.scheme() == Some(&Scheme::HTTP) && uri.path() == "/" && uri.query().is_none() => {
                uri.authority().cloned().zip(instance_addr(&uri).ok())
            }
            _ => None,
        };
        Self(parts.ok_or_else(|| base.into()))
    }

    /// Sends a GET of `path` for `user` (and `header`, when given) with `http`.
    pub(crate) fn send(
        &self,
        http: &HttpClient,
        path: String,
        user: &HeaderValue,
        header: Option<(HeaderName, HeaderValue)>,
    ) -> Sending {
        match self.get(path, user, header) {
            Ok((req, addr)) => http.send(Some(addr), req),
            Err(e) => Sending::Failed(Some(e)),
        }
    }

    /// A GET of `path` (with its query) for `user` (and `header`), with an empty body, and the
    /// instance's address to send it to.
    fn get(
        &self,
        path: String,
        user: &HeaderValue,
        header: Option<(HeaderName, HeaderValue)>,
    ) -> Result<(Request<AnswerBody>, SocketAddr), BoxError> {
        let (authority, addr) = self.0.as_ref().map_err(|base| format!("not an http://ADDR base URL: {base}"))?;
        let mut uri = http::uri::Parts::default();
        uri.scheme = Some(Scheme::HTTP);
        uri.authority = Some(authority.clone());
        uri.path_and_query = Some(PathAndQuery::try_from(path)?);
        let mut req = Request::new(AnswerBody::default());
        *req.uri_mut() = Uri::from_parts(uri)?;
        let headers = req.headers_mut();
        headers.insert(crate::USER, user.clone());
        if let Some((name, value)) = header {
            headers.insert(name, value);
        }
        Ok((req, *addr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_makes_the_get_its_url_would() {
        let (req, addr) = Origin::new("http://127.0.0.1:8080")
            .get("/art?titles=t1,t2".into(), &HeaderValue::from_static("u7"), None)
            .expect("request");
        assert_eq!(addr, "127.0.0.1:8080".parse::<SocketAddr>().unwrap());
        assert_eq!(req.method(), http::Method::GET);
        assert_eq!(req.uri(), "http://127.0.0.1:8080/art?titles=t1,t2");
        assert_eq!(req.headers()[crate::USER_HEADER], "u7");
    }

    #[test]
    fn a_base_that_is_not_http_addr_fails_its_requests_naming_it() {
        for base in ["127.0.0.1:8080", "https://127.0.0.1:8080", "http://127.0.0.1:8080/x", "not a url"] {
            let err = Origin::new(base).get("/home".into(), &HeaderValue::from_static("u1"), None).expect_err(base);
            assert!(err.to_string().contains(base), "{base}: {err}");
        }
        let bad_path = Origin::new("http://127.0.0.1:8080").get("/a b".into(), &HeaderValue::from_static("u1"), None);
        assert!(bad_path.is_err(), "a path with a space is no request");
    }
}
