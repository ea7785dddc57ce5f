//! Where an instance listens: a TCP socket, or an in-memory network.
//!
//! [`MemNet`] is a network inside the process: a listener is a channel of `tokio::io::duplex`
//! streams registered under an address, and dialing that address hands it one end. Every byte
//! stays inside the runtime, so on a paused tokio clock "nothing can happen" really means the
//! next timer, and the clock can jump there (virtual time, issue 9). Killing an instance drops
//! its listener (dialing is refused) and its streams (the peers see the connection end), as
//! closing a socket does.
//!
//! An address holds either a listener of connections (HTTP/1 bytes over a pipe, as a socket
//! carries them) or an instance that takes direct calls (`super::direct`: requests and response
//! frames handed over as they are), which is what a virtual-time run uses.

use super::direct::{DirectBody, Endpoint, Exchange};
use http::Request;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Bytes buffered in each direction of an in-memory connection.
const PIPE: usize = 64 * 1024;

/// The network instances listen on.
#[derive(Clone, Debug, Default)]
pub enum Net {
    /// Real TCP sockets.
    #[default]
    Tcp,
    /// An in-memory network.
    Mem(MemNet),
}

impl Net {
    /// The clock injected delays should run on here: the sub-millisecond timerfd for real
    /// sockets in real time; tokio's timer in memory, where the clock may be paused (a timerfd
    /// would wait real time on a virtual clock).
    pub fn timer(&self) -> crate::Timer {
        match self {
            Net::Tcp => crate::Timer::Precise,
            Net::Mem(_) => crate::Timer::Tokio,
        }
    }

    /// The in-memory network, when this is one.
    pub fn mem(&self) -> Option<&MemNet> {
        match self {
            Net::Tcp => None,
            Net::Mem(mem) => Some(mem),
        }
    }
}

/// An in-memory network: addresses → listeners. Clones share the network.
#[derive(Clone, Debug, Default)]
pub struct MemNet {
    inner: Arc<Mutex<MemInner>>,
}

/// The first port handed out for port 0.
const FIRST_PORT: u16 = 10_001;

#[derive(Default)]
struct MemInner {
    /// What listens at each address; a closed entry stays until the address is bound again.
    /// Looked up on every exchange, so hashed with foldhash rather than SipHash (which keys
    /// against hash flooding, and no address here comes from outside).
    listeners: HashMap<SocketAddr, Entry, foldhash::fast::RandomState>,
    /// Where the search for a free port starts.
    next_port: u16,
}

/// What listens at an address.
enum Entry {
    /// A listener of connections (HTTP/1 over a pipe).
    Streams(mpsc::UnboundedSender<DuplexStream>),
    /// An instance's service, called directly.
    Direct(Endpoint),
}

impl std::fmt::Debug for MemInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemInner").field("addresses", &self.listeners.len()).finish()
    }
}

impl MemInner {
    /// Whether a live listener holds `addr`.
    fn taken(&self, addr: SocketAddr) -> bool {
        match self.listeners.get(&addr) {
            Some(Entry::Streams(tx)) => !tx.is_closed(),
            Some(Entry::Direct(endpoint)) => endpoint.is_open(),
            None => false,
        }
    }

    /// `addr` if free, or with port 0 a free port; `AddrInUse` when the address is taken.
    fn claim(&mut self, mut addr: SocketAddr) -> io::Result<SocketAddr> {
        if addr.port() == 0 {
            addr.set_port(self.next_port.max(FIRST_PORT));
            while self.taken(addr) {
                addr.set_port(addr.port().checked_add(1).unwrap_or(FIRST_PORT));
            }
            self.next_port = addr.port().wrapping_add(1);
        } else if self.taken(addr) {
            return Err(io::ErrorKind::AddrInUse.into());
        }
        Ok(addr)
    }
}

impl MemNet {
    /// An empty network.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Listens on `addr`; port 0 picks a free one. `AddrInUse` when the address is taken.
    pub fn bind(&self, addr: SocketAddr) -> io::Result<MemListener> {
        let mut inner = self.lock();
        let addr = inner.claim(addr)?;
        let (tx, rx) = mpsc::unbounded_channel();
        inner.listeners.insert(addr, Entry::Streams(tx));
        Ok(MemListener { addr, rx })
    }

    /// Serves `endpoint` directly at `addr` (port 0 picks a free one) until its `alive` sender
    /// is dropped.
    pub(crate) fn bind_direct(&self, addr: SocketAddr, endpoint: Endpoint) -> io::Result<SocketAddr> {
        let mut inner = self.lock();
        let addr = inner.claim(addr)?;
        inner.listeners.insert(addr, Entry::Direct(endpoint));
        Ok(addr)
    }

    /// Opens a connection to `addr`; `ConnectionRefused` when nothing listens there, `Unsupported`
    /// when an instance there takes direct calls only ([`MemNet::direct`]).
    pub fn connect(&self, addr: SocketAddr) -> io::Result<DuplexStream> {
        let inner = self.lock();
        match inner.listeners.get(&addr) {
            Some(Entry::Streams(listener)) => {
                let (ours, theirs) = tokio::io::duplex(PIPE);
                listener.send(theirs).map_err(|_| io::Error::from(io::ErrorKind::ConnectionRefused))?;
                Ok(ours)
            }
            Some(Entry::Direct(_)) => {
                Err(io::Error::new(io::ErrorKind::Unsupported, "the instance takes direct calls"))
            }
            None => Err(io::ErrorKind::ConnectionRefused.into()),
        }
    }

    /// How to reach an instance that takes direct calls at `addr`: `None` when a listener of
    /// connections holds the address (dial it with [`MemNet::connect`]), `ConnectionRefused`
    /// when nothing serves there.
    pub fn direct(&self, addr: SocketAddr) -> Option<io::Result<DirectTo>> {
        match self.lock().listeners.get(&addr) {
            Some(Entry::Streams(_)) => None,
            Some(Entry::Direct(endpoint)) if endpoint.is_open() => Some(Ok(DirectTo(endpoint.clone()))),
            _ => Some(Err(io::ErrorKind::ConnectionRefused.into())),
        }
    }
}

/// An instance reached by direct calls ([`MemNet::direct`]).
pub struct DirectTo(Endpoint);

impl DirectTo {
    /// Sends `req`: the instance's answer, whose body fails if the instance is killed while it
    /// is read; an error where a socket would show a reset or a closed connection.
    pub fn call(self, req: Request<DirectBody>) -> Exchange {
        super::direct::call(self.0, req)
    }
}

/// A listener on a [`MemNet`]; dropping it closes the address.
#[derive(Debug)]
pub struct MemListener {
    addr: SocketAddr,
    rx: mpsc::UnboundedReceiver<DuplexStream>,
}

/// A listener of either network.
pub(crate) enum Listener {
    Tcp(TcpListener),
    Mem(MemListener),
}

impl Listener {
    pub async fn bind(net: &Net, addr: SocketAddr) -> io::Result<Self> {
        match net {
            Net::Tcp => TcpListener::bind(addr).await.map(Listener::Tcp),
            Net::Mem(mem) => mem.bind(addr).map(Listener::Mem),
        }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Listener::Tcp(l) => l.local_addr(),
            Listener::Mem(l) => Ok(l.addr),
        }
    }

    pub async fn accept(&mut self) -> io::Result<Stream> {
        match self {
            Listener::Tcp(l) => {
                let (stream, _) = l.accept().await?;
                let _ = stream.set_nodelay(true);
                Ok(Stream::Tcp(stream))
            }
            Listener::Mem(l) => l.rx.recv().await.map(Stream::Mem).ok_or_else(|| io::ErrorKind::NotConnected.into()),
        }
    }
}

/// A connection of either network.
#[derive(Debug)]
pub enum Stream {
    /// A TCP connection.
    Tcp(TcpStream),
    /// An in-memory connection.
    Mem(DuplexStream),
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Mem(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Mem(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    /// Vectored on both: TCP's `writev`, and for a pipe each slice in turn, so that hyper hands
    /// over a head and its body frames as they are instead of copying them into one buffer first.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Mem(s) => {
                let mut written = 0;
                for buf in bufs.iter().filter(|b| !b.is_empty()) {
                    match Pin::new(&mut *s).poll_write(cx, buf) {
                        Poll::Ready(Ok(n)) => {
                            written += n;
                            if n < buf.len() {
                                break;
                            }
                        }
                        Poll::Ready(Err(e)) if written == 0 => return Poll::Ready(Err(e)),
                        Poll::Pending if written == 0 => return Poll::Pending,
                        Poll::Ready(Err(_)) | Poll::Pending => break,
                    }
                }
                Poll::Ready(Ok(written))
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Mem(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Mem(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
