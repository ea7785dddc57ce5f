//! A reverse proxy (feature `proxy`) that puts the fault layer in front of any HTTP service: no
//! code change in the service, bodies streamed both ways (never buffered), faults managed through
//! the same [`FaultTable`] — and so through the control API.
//!
//! It speaks HTTP/1 and h2c (HTTP/2 with prior knowledge) on one port, and forwards each request
//! in the version it came in: a gRPC call goes upstream as HTTP/2, with its `te: trailers` and
//! its response trailers (`grpc-status`) passed through.
//!
//! While the table is empty, HTTP/1 connections skip hyper and the layer: `relay` passes their
//! requests on as bytes, and hands a connection to the full path at its first request that a
//! rule could fault.

mod framing;
mod pool;
mod relay;

use crate::server::{Instance, Protocol, ServeConn, Stream, serve_io};
use crate::{BoxError, FaultLayer, FaultTable, Timer};
use bytes::Bytes;
use http::header::{self, HeaderName};
use http::{HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::Layer;

pub use pool::Kept;

/// The body of a proxied answer: the upstream's, streamed (over HTTP/1 or HTTP/2), or a 502
/// made here.
pub type ProxyBody = Either<Either<Kept, Incoming>, Full<Bytes>>;

/// Forwards every request to one upstream (`http://host:port`), keeping path and query.
#[derive(Clone)]
pub struct Forward {
    upstream: Arc<Upstream>,
    /// For requests that came in as HTTP/1.
    http1: Arc<pool::Pool>,
    /// For requests that came in as HTTP/2.
    h2: Arc<Client<HttpConnector, Incoming>>,
}

struct Upstream {
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    host: HeaderValue,
}

/// Why a proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The upstream is not an `http://host:port` URL.
    #[error("upstream `{0}` must be an http:// URL with a host")]
    Upstream(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The socket error.
        source: std::io::Error,
    },
}

/// Headers that belong to one hop and are not forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::UPGRADE,
];

impl Forward {
    /// A forwarder to `upstream`.
    pub fn new(upstream: &str) -> Result<Self, ProxyError> {
        let bad = || ProxyError::Upstream(upstream.to_string());
        let uri: Uri = upstream.parse().map_err(|_| bad())?;
        let (Some(scheme), Some(authority)) = (uri.scheme().cloned(), uri.authority().cloned()) else {
            return Err(bad());
        };
        if scheme != http::uri::Scheme::HTTP {
            return Err(bad());
        }
        let host = HeaderValue::from_str(authority.as_str()).map_err(|_| bad())?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let h2 = Arc::new(Client::builder(TokioExecutor::new()).http2_only(true).build(connector));
        let port = authority.port_u16().unwrap_or(80);
        let http1 = pool::Pool::new(format!("{}:{port}", authority.host()));
        Ok(Self { upstream: Arc::new(Upstream { scheme, authority, host }), http1, h2 })
    }
}

impl tower::Service<Request<Incoming>> for Forward {
    type Response = Response<ProxyBody>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ProxyBody>, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<Incoming>) -> Self::Future {
        let up = &self.upstream;
        let path = req.uri().path_and_query().cloned().unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
        let h2 = req.version() == http::Version::HTTP_2;
        // HTTP/1 goes to the upstream in origin form with a `host`; HTTP/2 carries the
        // authority in the URI.
        let uri = if h2 {
            Uri::builder().scheme(up.scheme.clone()).authority(up.authority.clone()).path_and_query(path).build()
        } else {
            Uri::builder().path_and_query(path).build()
        };
        let client = if h2 { Via::Http2(self.h2.clone()) } else { Via::Http1(self.http1.clone(), up.host.clone()) };
        Box::pin(async move {
            *req.uri_mut() = uri?;
            let headers = req.headers_mut();
            // HTTP/2 allows `te: trailers` end to end, and gRPC servers want it.
            let trailers = h2 && headers.get(header::TE).is_some_and(|v| v == "trailers");
            strip_hop_by_hop(headers);
            if trailers {
                headers.insert(header::TE, HeaderValue::from_static("trailers"));
            }
            let answer = match client {
                Via::Http2(h2) => {
                    headers.remove(header::HOST);
                    h2.request(req).await.map(|res| res.map(|b| Either::Left(Either::Right(b)))).map_err(BoxError::from)
                }
                Via::Http1(pool, host) => {
                    headers.insert(header::HOST, host);
                    pool.send(req).await.map(|res| res.map(|b| Either::Left(Either::Left(b))))
                }
            };
            match answer {
                Ok(mut res) => {
                    strip_hop_by_hop(res.headers_mut());
                    Ok(res)
                }
                Err(e) => {
                    let mut res =
                        Response::new(Either::Right(Full::new(Bytes::from(format!("upstream unreachable: {e}\n")))));
                    *res.status_mut() = StatusCode::BAD_GATEWAY;
                    Ok(res)
                }
            }
        })
    }
}

/// The client a request goes upstream with, by the version it came in.
enum Via {
    Http1(Arc<pool::Pool>, HeaderValue),
    Http2(Arc<Client<HttpConnector, Incoming>>),
}

/// Removes the hop-by-hop headers; one look at the names first, as most messages have none
/// or only `connection` (each removal hashes its name).
fn strip_hop_by_hop(headers: &mut http::HeaderMap) {
    if !headers.keys().any(|k| HOP_BY_HOP.contains(k)) {
        return;
    }
    for h in &HOP_BY_HOP {
        headers.remove(h);
    }
}

/// Listens on `listen` and forwards to `upstream` through a fault layer reading `table`.
pub async fn start(listen: SocketAddr, upstream: &str, table: FaultTable, seed: u64) -> Result<Instance, ProxyError> {
    start_layered(listen, upstream, FaultLayer::new(table).seed(seed)).await
}

/// [`start`] with a layer set up by the caller (its seed, [`FaultLayer::envoy_headers`]).
///
/// HTTP/1 requests go through the relay (`relay`) while the table is empty and the layer does
/// not read request headers; every other request goes through hyper and the layer.
pub async fn start_layered(listen: SocketAddr, upstream: &str, layer: FaultLayer) -> Result<Instance, ProxyError> {
    let forward = Forward::new(upstream)?;
    let relay = (!layer.reads_request_headers()).then(|| {
        Arc::new(relay::Relay {
            table: layer.table().clone(),
            pool: forward.http1.clone(),
            host: Bytes::copy_from_slice(forward.upstream.host.as_bytes()),
            idle: pool::Idle::default(),
        })
    });
    // Real traffic, real time: delays on the sub-millisecond timer.
    let svc = layer.timer(Timer::Precise).layer(forward);
    let serve: ServeConn = Arc::new(move |stream| {
        let (svc, relay) = (svc.clone(), relay.clone());
        Box::pin(async move {
            match (stream, relay) {
                (Stream::Tcp(tcp), Some(relay)) => {
                    if let Some(rest) = relay.serve(tcp).await {
                        serve_io(svc, Protocol::Auto, rest).await;
                    }
                }
                (stream, _) => serve_io(svc, Protocol::Auto, stream).await,
            }
        })
    });
    Instance::bind_serving("proxy", listen, serve).await.map_err(|source| ProxyError::Bind { addr: listen, source })
}
