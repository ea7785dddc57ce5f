//! A reverse proxy (feature `proxy`) that puts the fault layer in front of any HTTP service: no
//! code change in the service, bodies streamed both ways (never buffered), faults managed through
//! the same [`FaultTable`] — and so through the control API.
//!
//! Each downstream connection gets its own upstream keep-alive connection, opened at its first
//! request and driven in the downstream connection's task: an HTTP/1 connection carries one
//! exchange at a time, so one upstream connection per downstream one is all it can use, and
//! keeping both in one task saves the pooled client's shared pool and its hand-off to a separate
//! connection task on every request (measured in docs/BENCHMARKS.md, item 3). Written by hand
//! because hyper-util's pooled client has no connection-affine mode.

use crate::server::Instance;
use crate::{BoxError, FaultLayer, FaultService, FaultTable, Timer};
use bytes::Bytes;
use http::header::{self, HeaderName};
use http::{HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, Connection, SendRequest};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tower::Layer;

/// The body of a proxied answer: the upstream's, streamed, or a 502 made here.
pub type ProxyBody = Either<Incoming, Full<Bytes>>;

/// Where requests go.
#[derive(Debug)]
struct Upstream {
    /// `host:port` to connect to.
    connect: String,
    /// The `Host` header sent.
    host: HeaderValue,
}

type Driver = Pin<Box<Connection<TokioIo<TcpStream>, Incoming>>>;

/// Forwards the requests of one downstream connection to the upstream (`http://host:port`),
/// keeping path and query, over one upstream connection that it opens (again) as needed.
#[derive(Clone)]
pub struct Forward {
    upstream: Arc<Upstream>,
    /// The upstream connection's sender, out of the slot while a request is being sent.
    sender: Arc<Mutex<Option<SendRequest<Incoming>>>>,
    /// New upstream connections, for the downstream connection's task to drive.
    drivers: mpsc::UnboundedSender<Driver>,
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

impl Upstream {
    fn parse(upstream: &str) -> Result<Self, ProxyError> {
        let bad = || ProxyError::Upstream(upstream.to_string());
        let uri: Uri = upstream.parse().map_err(|_| bad())?;
        let (Some(scheme), Some(authority)) = (uri.scheme().cloned(), uri.authority().cloned()) else {
            return Err(bad());
        };
        if scheme != http::uri::Scheme::HTTP {
            return Err(bad());
        }
        let host = HeaderValue::from_str(authority.as_str()).map_err(|_| bad())?;
        let connect = format!("{}:{}", authority.host(), authority.port_u16().unwrap_or(80));
        Ok(Self { connect, host })
    }
}

impl Forward {
    /// A sender ready for one request: the current connection's, or a new connection's.
    async fn ready_sender(&self) -> Result<SendRequest<Incoming>, BoxError> {
        let current = self.sender.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(mut sender) = current {
            // Fails when the upstream closed the connection (`Connection: close`, idle timeout).
            if sender.ready().await.is_ok() {
                return Ok(sender);
            }
        }
        let stream = TcpStream::connect(&self.upstream.connect).await?;
        stream.set_nodelay(true)?;
        let (sender, driver) = http1::handshake(TokioIo::new(stream)).await?;
        self.drivers.send(Box::pin(driver)).map_err(|_| "the downstream connection is gone")?;
        Ok(sender)
    }

    async fn forward(self, mut req: Request<Incoming>) -> Result<Response<Incoming>, BoxError> {
        // Origin-form on the wire (`GET /path?query`), the upstream named by `Host`.
        let path = req.uri().path_and_query().cloned();
        *req.uri_mut() = path.map_or_else(|| Uri::from_static("/"), Uri::from);
        let headers = req.headers_mut();
        for h in &HOP_BY_HOP {
            headers.remove(h);
        }
        headers.insert(header::HOST, self.upstream.host.clone());
        let mut sender = self.ready_sender().await?;
        let answer = sender.send_request(req);
        *self.sender.lock().unwrap_or_else(|p| p.into_inner()) = Some(sender);
        Ok(answer.await?)
    }
}

impl tower::Service<Request<Incoming>> for Forward {
    type Response = Response<ProxyBody>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ProxyBody>, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        let me = self.clone();
        Box::pin(async move {
            match me.forward(req).await {
                Ok(res) => {
                    let mut res = res.map(Either::Left);
                    for h in &HOP_BY_HOP {
                        res.headers_mut().remove(h);
                    }
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

/// Serves one downstream connection through `layer` and drives its upstream connections in the
/// same task, until the downstream side closes.
async fn serve_connection(stream: TcpStream, upstream: Arc<Upstream>, faults: FaultService<()>) {
    let (drivers, mut new_drivers) = mpsc::unbounded_channel();
    let forward = Forward { upstream, sender: Arc::default(), drivers };
    let svc = TowerToHyperService::new(faults.with_inner(forward));
    let server = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(server);
    let mut driver: Option<Driver> = None;
    loop {
        tokio::select! {
            // A connection error (including an injected reset) just ends this connection.
            _ = &mut server => return,
            Some(next) = new_drivers.recv() => driver = Some(next),
            // An upstream connection that ended; the next request opens another.
            _ = async { driver.as_mut().expect("guarded").await }, if driver.is_some() => driver = None,
        }
    }
}

/// Listens on `listen` and forwards to `upstream` through a fault layer reading `table`.
pub async fn start(listen: SocketAddr, upstream: &str, table: FaultTable, seed: u64) -> Result<Instance, ProxyError> {
    let upstream = Arc::new(Upstream::parse(upstream)?);
    // Real traffic, real time: delays on the sub-millisecond timer.
    // One fault service for every connection (one draw sequence), its inner set per connection.
    let faults = FaultLayer::new(table).seed(seed).timer(Timer::Precise).layer(());
    let serve = move |stream| serve_connection(stream, upstream.clone(), faults.clone());
    Instance::bind_conn("proxy", listen, serve).await.map_err(|source| ProxyError::Bind { addr: listen, source })
}
