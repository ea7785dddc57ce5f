//! [`HttpClient`]: how the platform's clients and the device send a request — HTTP/1 over a
//! pooled connection (TCP, or a pipe of the in-memory network), or a direct call to an instance
//! that takes them (`chaos_fault::server::Instance::bind_direct`, the virtual-time transport).

use super::connector::{Connector, instance_addr};
use bytes::Bytes;
use chaos_fault::BoxError;
use chaos_fault::server::{DirectBody, MemNet, Net};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderName, HeaderValue, Request, Response, Uri};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::net::SocketAddr;
use std::sync::Arc;

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
        self.request_at(addr, req).await
    }

    /// Sends `req` to the instance at `addr` (its URI's address, parsed by the caller; needed
    /// only on the in-memory network).
    pub(crate) async fn request_at(
        &self,
        addr: Option<SocketAddr>,
        req: Request<Empty<Bytes>>,
    ) -> Result<Response<AnswerBody>, BoxError> {
        if let (Some(mem), Some(addr)) = (&self.mem, addr)
            && let Some(to) = mem.direct(addr)
        {
            return to?.call(req.map(|_| AnswerBody::default())).await;
        }
        let res = self.pool.request(req).await?;
        Ok(res.map(|body| body.map_err(Into::into).boxed_unsync()))
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
    pub(crate) async fn send(
        &self,
        http: &HttpClient,
        path: String,
        user: &str,
        header: Option<(HeaderName, HeaderValue)>,
    ) -> Result<Response<AnswerBody>, BoxError> {
        let (mut req, addr) = self.get(path, user)?;
        if let Some((name, value)) = header {
            req.headers_mut().insert(name, value);
        }
        http.request_at(Some(addr), req).await
    }

    /// A GET of `path` (with its query) for `user`, with an empty body, and the instance's
    /// address to send it to.
    fn get(&self, path: String, user: &str) -> Result<(Request<Empty<Bytes>>, SocketAddr), BoxError> {
        let (authority, addr) = self.0.as_ref().map_err(|base| format!("not an http://ADDR base URL: {base}"))?;
        let mut uri = http::uri::Parts::default();
        uri.scheme = Some(Scheme::HTTP);
        uri.authority = Some(authority.clone());
        uri.path_and_query = Some(PathAndQuery::try_from(path)?);
        let mut req = Request::new(Empty::new());
        *req.uri_mut() = Uri::from_parts(uri)?;
        req.headers_mut().insert(crate::USER, HeaderValue::from_str(user)?);
        Ok((req, *addr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_makes_the_get_its_url_would() {
        let (req, addr) = Origin::new("http://127.0.0.1:8080").get("/art?titles=t1,t2".into(), "u7").expect("request");
        assert_eq!(addr, "127.0.0.1:8080".parse::<SocketAddr>().unwrap());
        assert_eq!(req.method(), http::Method::GET);
        assert_eq!(req.uri(), "http://127.0.0.1:8080/art?titles=t1,t2");
        assert_eq!(req.headers()[crate::USER_HEADER], "u7");
    }

    #[test]
    fn a_base_that_is_not_http_addr_fails_its_requests_naming_it() {
        for base in ["127.0.0.1:8080", "https://127.0.0.1:8080", "http://127.0.0.1:8080/x", "not a url"] {
            let err = Origin::new(base).get("/home".into(), "u1").expect_err(base);
            assert!(err.to_string().contains(base), "{base}: {err}");
        }
        let bad_path = Origin::new("http://127.0.0.1:8080").get("/a b".into(), "u1");
        assert!(bad_path.is_err(), "a path with a space is no request");
    }
}
