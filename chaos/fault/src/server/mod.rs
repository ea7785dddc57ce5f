//! A killable HTTP/1 server for one service instance (feature `server`; HTTP/2 beside it with
//! feature `http2`).
//!
//! [`Instance`] serves a tower service on a TCP port the way a process would, and dies the way a
//! process does: [`Instance::kill`] closes the listener (new connections are refused) and drops
//! every open connection (requests in flight see the connection close). [`Instance::restart`]
//! binds the same port again, so callers that remember the address find it back.

use crate::BoxError;
use http::{Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

mod direct;
mod net;
pub use direct::{Closed, DirectBody, DirectResponseBody, Exchange};
use direct::{Endpoint, Handler};
use net::Listener;
pub use net::{DirectTo, MemListener, MemNet, Net, Stream};

/// A tower service an [`Instance`] can serve: cloned per connection, taking requests with
/// `ReqBody` (hyper's `Incoming` off a connection, [`DirectBody`] for direct calls), answering
/// with a [`ResponseBody`]. Blanket-implemented; it only names the bounds once.
pub trait Serve<B, ReqBody = Incoming>:
    tower::Service<Request<ReqBody>, Response = Response<B>, Future: Send + 'static, Error: Into<BoxError>>
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<S, B, ReqBody> Serve<B, ReqBody> for S where
    S: tower::Service<Request<ReqBody>, Response = Response<B>, Future: Send + 'static, Error: Into<BoxError>>
        + Clone
        + Send
        + Sync
        + 'static
{
}

/// A response body an [`Instance`] can send. Blanket-implemented.
pub trait ResponseBody: Body<Data: Send, Error: Into<BoxError>> + Send + 'static {}

impl<B: Body<Data: Send, Error: Into<BoxError>> + Send + 'static> ResponseBody for B {}

pub(crate) type ServeConn = Arc<dyn Fn(Stream) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Where and how an instance takes requests.
#[derive(Clone)]
enum Serving {
    /// Connections from a listener on `net`, HTTP/1 on each.
    Streams { net: Net, serve: ServeConn },
    /// Direct calls on an in-memory network.
    Direct { net: MemNet, handler: Handler },
}

/// One running (or killed) instance of a service on a fixed address.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use chaos_fault::server::Instance;
/// let svc = tower::service_fn(|_req: http::Request<hyper::body::Incoming>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hi")))
/// });
/// let instance = Instance::bind("hello-0", "127.0.0.1:0".parse().unwrap(), svc).await?;
/// instance.kill(Some(std::time::Duration::from_secs(2))).await; // back on the same port in 2 s
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Instance {
    shared: Arc<Shared>,
}

struct Shared {
    name: String,
    addr: SocketAddr,
    serve: Serving,
    up: AtomicBool,
    kills: AtomicU64,
    life: Mutex<Life>,
}

#[derive(Default)]
struct Life {
    /// Dropping it kills the instance.
    stop: Option<Stop>,
    accept: Option<JoinHandle<()>>,
    restart: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance").field("name", &self.shared.name).field("addr", &self.shared.addr).finish()
    }
}

impl Instance {
    /// Binds `addr` (port 0 picks a free port, kept across restarts) and starts serving `svc`.
    pub async fn bind<S: Serve<B>, B: ResponseBody>(
        name: impl Into<String>,
        addr: SocketAddr,
        svc: S,
    ) -> io::Result<Self> {
        Self::bind_on(&Net::Tcp, name, addr, svc).await
    }

    /// [`Instance::bind`] on `net`: TCP, or an in-memory [`MemNet`] (dial it with
    /// [`MemNet::connect`]).
    pub async fn bind_on<S: Serve<B>, B: ResponseBody>(
        net: &Net,
        name: impl Into<String>,
        addr: SocketAddr,
        svc: S,
    ) -> io::Result<Self> {
        let serve = serve_conn(svc, Protocol::Http1);
        Self::launch(name.into(), addr, Serving::Streams { net: net.clone(), serve }).await
    }

    /// [`Instance::bind`] speaking HTTP/1 and HTTP/2 without TLS (h2c with prior knowledge, as
    /// gRPC clients speak it) on the same port, told apart by each connection's first bytes.
    #[cfg(feature = "http2")]
    pub async fn bind_h2c<S: Serve<B>, B: ResponseBody>(
        name: impl Into<String>,
        addr: SocketAddr,
        svc: S,
    ) -> io::Result<Self> {
        let serve = serve_conn(svc, Protocol::Auto);
        Self::launch(name.into(), addr, Serving::Streams { net: Net::Tcp, serve }).await
    }

    /// [`Instance::bind`] where `serve` takes each accepted TCP connection as it likes (the
    /// proxy's HTTP/1 relay).
    #[cfg(feature = "proxy")]
    pub(crate) async fn bind_serving(name: impl Into<String>, addr: SocketAddr, serve: ServeConn) -> io::Result<Self> {
        Self::launch(name.into(), addr, Serving::Streams { net: Net::Tcp, serve }).await
    }

    /// Serves `svc` on the in-memory network `net` by direct calls ([`MemNet::direct`]): each
    /// request handed to `svc` as it is, each response frame handed back as it is, with the kill
    /// and restart of [`Instance::bind`]. The cheap transport of a virtual-time run.
    pub async fn bind_direct<S: Serve<B, DirectBody>, B: DirectResponseBody>(
        net: &MemNet,
        name: impl Into<String>,
        addr: SocketAddr,
        svc: S,
    ) -> io::Result<Self> {
        Self::launch(name.into(), addr, Serving::Direct { net: net.clone(), handler: Handler::new(svc) }).await
    }

    async fn launch(name: String, addr: SocketAddr, serve: Serving) -> io::Result<Self> {
        let (stop, listener, addr) = listen(&serve, addr).await?;
        let shared = Arc::new(Shared {
            name,
            addr,
            serve,
            up: AtomicBool::new(false),
            kills: AtomicU64::new(0),
            life: Mutex::new(Life::default()),
        });
        let instance = Self { shared };
        instance.start(&mut *instance.shared.life.lock().await, stop, listener);
        Ok(instance)
    }

    /// The instance's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The bound address (the same after a restart).
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    /// Whether the instance is accepting connections.
    pub fn is_up(&self) -> bool {
        self.shared.up.load(Ordering::Acquire)
    }

    /// How many times the instance was killed.
    pub fn kills(&self) -> u64 {
        self.shared.kills.load(Ordering::Relaxed)
    }

    /// Kills the instance: when this returns, the listener is closed and open connections are
    /// being dropped. With `restart_after`, it comes back on the same port after that long.
    pub async fn kill(&self, restart_after: Option<Duration>) {
        let mut life = self.shared.life.lock().await;
        Self::stop(&mut life).await;
        if life.stop.is_none() {
            self.shared.up.store(false, Ordering::Release);
        }
        self.shared.kills.fetch_add(1, Ordering::Relaxed);
        if let Some(after) = restart_after {
            let me = self.clone();
            life.restart = Some(tokio::spawn(async move {
                tokio::time::sleep(after).await;
                // A failed rebind leaves the instance down; the next restart may succeed.
                let _ = me.restart().await;
            }));
        }
    }

    /// Brings a killed instance back on its port; a no-op when it is up.
    pub async fn restart(&self) -> io::Result<()> {
        let mut life = self.shared.life.lock().await;
        if life.stop.is_some() {
            return Ok(());
        }
        let mut tries = 0;
        let (stop, listener) = loop {
            match listen(&self.shared.serve, self.shared.addr).await {
                Ok((stop, listener, _)) => break (stop, listener),
                // The port may linger for a moment after close; bounded retries.
                Err(e) if tries >= 50 => return Err(e),
                Err(_) => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        };
        self.start(&mut life, stop, listener);
        Ok(())
    }

    /// Stops the instance for good (no pending restart survives).
    pub async fn shutdown(&self) {
        let mut life = self.shared.life.lock().await;
        Self::stop(&mut life).await;
        self.shared.up.store(false, Ordering::Release);
    }

    /// Marks the instance up; `stop` is its life (dropping it kills), `listener` its accept loop
    /// (none for direct calls, whose endpoint watches `stop` itself).
    fn start(&self, life: &mut Life, stop: Stop, listener: Option<Listener>) {
        if let (Some(listener), Serving::Streams { serve, .. }, Stop::Streams(tx)) =
            (listener, &self.shared.serve, &stop)
        {
            life.accept = Some(tokio::spawn(accept_loop(listener, serve.clone(), tx.subscribe())));
        }
        life.stop = Some(stop);
        self.shared.up.store(true, Ordering::Release);
    }

    async fn stop(life: &mut Life) {
        if let Some(pending) = life.restart.take() {
            pending.abort();
        }
        drop(life.stop.take());
        if let Some(accept) = life.accept.take() {
            let _ = accept.await;
        }
    }
}

/// What an instance speaks on each connection.
#[derive(Clone, Copy)]
pub(crate) enum Protocol {
    Http1,
    /// HTTP/1 or h2c, by the connection's first bytes.
    #[cfg(feature = "http2")]
    Auto,
}

/// Serves `svc` on each connection in `protocol`.
fn serve_conn<S: Serve<B>, B: ResponseBody>(svc: S, protocol: Protocol) -> ServeConn {
    Arc::new(move |stream| Box::pin(serve_io(svc.clone(), protocol, stream)))
}

/// Serves `svc` on one connection `io` in `protocol`, until it ends.
pub(crate) async fn serve_io<S, B, I>(svc: S, protocol: Protocol, io: I)
where
    S: Serve<B>,
    B: ResponseBody,
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = TowerToHyperService::new(svc);
    let io = TokioIo::new(io);
    // A connection error (including an injected reset) just ends this connection; on HTTP/2
    // an injected reset ends its stream (RST_STREAM) and the connection lives.
    match protocol {
        Protocol::Http1 => {
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, svc).await;
        }
        #[cfg(feature = "http2")]
        Protocol::Auto => {
            let executor = hyper_util::rt::TokioExecutor::new();
            let _ = hyper_util::server::conn::auto::Builder::new(executor).serve_connection(io, svc).await;
        }
    }
}

/// An instance's life while it is up: dropping it kills the instance.
enum Stop {
    /// Stops the accept loop and every connection.
    Streams(watch::Sender<()>),
    /// Fails the direct calls in flight and refuses new ones (held for its `Drop`).
    Direct { _kill: direct::Kill },
}

/// Claims `addr` for `serve`: the instance's life, its listener of connections (none for direct
/// calls) and the address bound.
async fn listen(serve: &Serving, addr: SocketAddr) -> io::Result<(Stop, Option<Listener>, SocketAddr)> {
    match serve {
        Serving::Direct { net, handler } => {
            let (kill, alive) = direct::Kill::new();
            let addr = net.bind_direct(addr, Endpoint { handler: handler.clone(), alive })?;
            Ok((Stop::Direct { _kill: kill }, None, addr))
        }
        Serving::Streams { net, .. } => {
            let listener = Listener::bind(net, addr).await?;
            let addr = listener.local_addr()?;
            Ok((Stop::Streams(watch::channel(()).0), Some(listener), addr))
        }
    }
}

async fn accept_loop(mut listener: Listener, serve: ServeConn, mut stopped: watch::Receiver<()>) {
    loop {
        tokio::select! {
            biased;
            _ = stopped.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok(stream) => {
                    let conn = serve(stream);
                    let mut stopped = stopped.clone();
                    tokio::spawn(async move {
                        tokio::select! {
                            biased;
                            _ = conn => {}
                            _ = stopped.changed() => {}
                        }
                    });
                }
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            },
        }
    }
}
