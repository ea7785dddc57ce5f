//! [`Connector`]: how the platform's clients dial an instance — TCP, or the in-memory network
//! the instances listen on in a virtual-time run (see `chaos_fault::server::MemNet`).

use chaos_fault::BoxError;
use chaos_fault::server::{MemNet, Net, Stream};
use futures_util::future::BoxFuture;
use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use tower::Service;

/// Dials `http://ADDR` over the network the platform's instances listen on.
#[derive(Clone, Debug)]
pub struct Connector {
    tcp: HttpConnector,
    mem: Option<MemNet>,
}

impl Connector {
    /// A connector for `net`.
    pub fn new(net: &Net) -> Self {
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        Self { tcp, mem: net.mem().cloned() }
    }
}

impl Service<Uri> for Connector {
    type Response = Io;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Io, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.tcp.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let Some(mem) = &self.mem else {
            let dial = self.tcp.call(uri);
            return Box::pin(async move { Ok(Io(TokioIo::new(Stream::Tcp(dial.await?.into_inner())))) });
        };
        let dialed = instance_addr(&uri).and_then(|addr| mem.connect(addr));
        Box::pin(std::future::ready(dialed.map(|s| Io(TokioIo::new(Stream::Mem(s)))).map_err(Into::into)))
    }
}

/// The address of the instance `uri` names (`http://IP:PORT/...`): on the in-memory network an
/// address is all there is, no name to resolve.
pub(crate) fn instance_addr(uri: &Uri) -> io::Result<SocketAddr> {
    uri.authority()
        .and_then(|a| a.as_str().parse::<SocketAddr>().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("not an instance address: {uri}")))
}

/// A connection of either network, with the IO traits hyper's pool needs.
#[derive(Debug)]
pub struct Io(TokioIo<Stream>);

impl Connection for Io {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Io {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write_vectored(cx, bufs)
    }
}
