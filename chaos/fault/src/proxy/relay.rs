//! The proxy's HTTP/1 relay: while the fault table holds no rule, requests and answers are
//! passed on as bytes, heads parsed (`httparse`) and rewritten as the full path would send them,
//! bodies copied as they come (never decoded, never buffered whole).
//!
//! Written by hand because no crate relays HTTP/1 without building each message: the full path
//! (hyper's server, the fault layer, hyper's client) parses every message into `http` types,
//! encodes it again, and hands it between two connection tasks. With no rule there is nothing
//! to decide per request but that, and this path serves at ×1.05 of nginx's throughput (median of
//! eight runs) where the full one is at ×0.82–0.96 (docs/BENCHMARKS.md, "the proxy's HTTP/1
//! relay").
//!
//! Each downstream connection is served by one task; each exchange takes an upstream connection
//! from the idle ones (the proxy's pool code, `pool::Idle`) or opens one, and gives it back when
//! the answer has ended. A connection goes to the full
//! path, with the bytes read so far replayed first ([`Rewind`]), at the first request that the
//! table might fault (it holds a rule) or that the relay does not take (h2c, upgrades, `CONNECT`,
//! HTTP/1.0, malformed heads): from there on, faults apply as they do on any connection. A rule
//! added while an answer is being relayed does not touch that answer, as the layer decides each
//! request's faults when it starts.

use super::framing::{self, BodyFraming, ChunkedEnd, FramingError};
use super::pool::{Idle, Pool};
use crate::FaultTable;
use bytes::{Buf, Bytes, BytesMut};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// Bytes a head may take; a longer request head goes to the full path (which answers 431).
const MAX_HEAD: usize = 64 * 1024;
/// Room made in a read buffer before each read.
const READ: usize = 16 * 1024;

/// What the relay needs of the proxy: the rules to watch and where to send requests.
pub(super) struct Relay {
    pub table: FaultTable,
    /// Dials the upstream (`host:port`) as the full path's pool does.
    pub pool: Arc<Pool>,
    /// The `host` field requests go upstream with.
    pub host: Bytes,
    /// Upstream connections between two exchanges, shared by all downstream connections.
    pub idle: Idle<TcpStream>,
}

/// One downstream connection and what the relay keeps for it.
struct Conn<'r> {
    relay: &'r Relay,
    down: TcpStream,
    /// Read from downstream and not relayed yet.
    down_buf: BytesMut,
    /// Read from upstream and not relayed yet.
    up_buf: BytesMut,
    /// The request head (and the body bytes read with it) as it goes upstream.
    out: Vec<u8>,
    /// An answer head as it goes downstream.
    head: Vec<u8>,
}

/// How a relayed exchange ended.
enum Exchanged {
    /// Both connections can carry the next request.
    KeepAlive,
    /// The downstream connection ends here.
    Close,
}

/// Why an answer could not be relayed.
enum Broken {
    /// The upstream connection ended before a byte of the answer: on a connection kept from an
    /// earlier request, the upstream had closed it meanwhile.
    Stale,
    /// The upstream failed (closed, reset, or sent what is not HTTP/1); `started`: part of the
    /// answer had gone downstream already, so no 502 can be sent instead.
    Upstream { started: bool, why: String },
    /// Downstream went away.
    Downstream,
}

impl Relay {
    /// Relays `down`'s requests until it closes, or hands the rest of it back for the full path.
    pub async fn serve(&self, down: TcpStream) -> Option<Rewind> {
        let mut conn = Conn {
            relay: self,
            down,
            down_buf: BytesMut::with_capacity(READ),
            up_buf: BytesMut::new(),
            out: Vec::new(),
            head: Vec::new(),
        };
        loop {
            conn.out.clear();
            match conn.next_request().await {
                Next::Closed => return None,
                Next::HandOver => return Some(Rewind { prefix: conn.down_buf.freeze(), io: conn.down }),
                Next::Relay(head) => match conn.exchange(head).await {
                    Exchanged::KeepAlive => {}
                    Exchanged::Close => {
                        let _ = conn.down.shutdown().await;
                        return None;
                    }
                },
            }
        }
    }
}

/// What comes next on a downstream connection.
enum Next {
    Relay(framing::Head),
    HandOver,
    Closed,
}

impl Conn<'_> {
    /// Reads the next request head; relays it when the table is clear and the relay takes it.
    async fn next_request(&mut self) -> Next {
        loop {
            match framing::request(&self.down_buf, &self.relay.host, &mut self.out) {
                Ok(Some(head)) if !head.hand_over && self.relay.table.count_if_clear() => return Next::Relay(head),
                Ok(None) if self.down_buf.len() < MAX_HEAD => {}
                _ => return Next::HandOver,
            }
            match fill(&mut self.down, &mut self.down_buf).await {
                Ok(0) | Err(_) if self.down_buf.is_empty() => return Next::Closed,
                // A request cut short: the full path says what it says to that.
                Ok(0) | Err(_) => return Next::HandOver,
                Ok(_) => {}
            }
        }
    }

    /// Relays one request, whose head is in `out`, and its answer.
    async fn exchange(&mut self, head: framing::Head) -> Exchanged {
        self.down_buf.advance(head.len);
        let mut body = BodyLeft::new(head.body);
        let Ok(taken) = body.take(&self.down_buf) else { return Exchanged::Close };
        self.out.extend_from_slice(&self.down_buf[..taken]);
        self.down_buf.advance(taken);
        // A whole request in `out` can be sent again on a new connection.
        let whole = body.done();
        let mut fresh = false;
        let answered = loop {
            match self.attempt(&mut body, head.head_method, fresh).await {
                Err(Broken::Stale) if whole && !fresh => fresh = true,
                answered => break answered,
            }
        };
        match answered {
            Ok(Exchanged::KeepAlive) if !head.close => Exchanged::KeepAlive,
            Ok(_) | Err(Broken::Downstream) => Exchanged::Close,
            Err(Broken::Stale) => self.bad_gateway("connection closed before an answer").await,
            Err(Broken::Upstream { started: false, why }) => self.bad_gateway(&why).await,
            Err(Broken::Upstream { started: true, .. }) => Exchanged::Close,
        }
    }

    /// Sends `out` upstream, on an idle connection unless `fresh`, then the rest of the
    /// request body while the answer comes back.
    async fn attempt(&mut self, body: &mut BodyLeft, to_head: bool, fresh: bool) -> Result<Exchanged, Broken> {
        // A request that cannot be sent again (its body streams) goes only on a connection
        // that the upstream has not closed yet, as far as can be known.
        let usable = |up: &TcpStream| body.done() || open(up);
        let idle = if fresh { None } else { std::iter::from_fn(|| self.relay.idle.pop()).find(usable) };
        let up = match idle {
            Some(up) => up,
            None => {
                let up = self.relay.pool.dial().await;
                up.map_err(|e| Broken::Upstream { started: false, why: e.to_string() })?
            }
        };
        self.up_buf.clear();
        let mut up = up;
        up.write_all(&self.out).await.map_err(|_| Broken::Stale)?;
        let answered = {
            let (mut down_r, mut down_w) = self.down.split();
            let (mut up_r, mut up_w) = up.split();
            let pump = pump(&mut down_r, &mut up_w, &mut self.down_buf, body);
            let answer = answer(&mut up_r, &mut down_w, &mut self.up_buf, &mut self.head, to_head);
            tokio::pin!(pump, answer);
            let mut pumped = false;
            loop {
                tokio::select! {
                    biased;
                    answered = &mut answer => break answered,
                    sent = &mut pump, if !pumped => match sent {
                        Ok(()) => pumped = true,
                        Err(_) => return Err(Broken::Downstream),
                    },
                }
            }
        };
        // An answer that came before the request's end (an early 413, a refused `Expect`)
        // leaves both connections mid-message.
        match answered? {
            Exchanged::KeepAlive if body.done() => {
                self.relay.idle.push(up);
                Ok(Exchanged::KeepAlive)
            }
            _ => Ok(Exchanged::Close),
        }
    }

    /// Answers 502 as the full path does, and ends the connection (the request's body may not
    /// have been read).
    async fn bad_gateway(&mut self, why: &str) -> Exchanged {
        let text = format!("upstream unreachable: {why}\n");
        let head = format!("HTTP/1.1 502 Bad Gateway\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", text.len());
        let _ = self.down.write_all_buf(&mut Buf::chain(head.as_bytes(), text.as_bytes())).await;
        Exchanged::Close
    }
}

/// Copies the rest of a request body from downstream to upstream.
async fn pump<R, W>(down: &mut R, up: &mut W, buf: &mut BytesMut, body: &mut BodyLeft) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    while !body.done() {
        if fill(down, buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let n = body.take(buf).map_err(io::Error::other)?;
        up.write_all(&buf[..n]).await?;
        buf.advance(n);
    }
    Ok(())
}

/// Relays one answer (after any interim 1xx ones) from upstream to downstream.
async fn answer<R, W>(
    up: &mut R,
    down: &mut W,
    buf: &mut BytesMut,
    head_out: &mut Vec<u8>,
    to_head: bool,
) -> Result<Exchanged, Broken>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut started = false;
    let broken = |started, why: &dyn std::fmt::Display| Broken::Upstream { started, why: why.to_string() };
    loop {
        head_out.clear();
        let head = loop {
            match framing::response(buf, to_head, head_out) {
                Ok(Some(head)) => break head,
                Ok(None) if buf.len() < MAX_HEAD => {}
                Ok(None) => return Err(broken(started, &"answer head too long")),
                Err(e) => return Err(broken(started, &e)),
            }
            match fill(up, buf).await {
                Ok(0) | Err(_) if buf.is_empty() && !started => return Err(Broken::Stale),
                Ok(0) => return Err(broken(started, &"connection closed mid-answer")),
                Err(e) => return Err(broken(started, &e)),
                Ok(_) => {}
            }
        };
        buf.advance(head.len);
        if head.hand_over {
            return Err(broken(started, &"101 to a request that asked for no upgrade"));
        }
        if (100..200).contains(&head.status) {
            down.write_all(head_out).await.map_err(|_| Broken::Downstream)?;
            started = true;
            continue;
        }
        let mut body = BodyLeft::new(head.body);
        let n = body.take(buf).map_err(|e| broken(started, &e))?;
        // One `writev` for both when the socket takes them (tokio's `write_all_buf`).
        down.write_all_buf(&mut Buf::chain(head_out.as_slice(), &buf[..n])).await.map_err(|_| Broken::Downstream)?;
        buf.advance(n);
        while !body.done() {
            match fill(up, buf).await {
                Ok(0) if matches!(body, BodyLeft::UntilClose) => return Ok(Exchanged::Close),
                Ok(0) => return Err(broken(true, &"connection closed mid-body")),
                Err(e) => return Err(broken(true, &e)),
                Ok(_) => {}
            }
            let n = body.take(buf).map_err(|e| broken(true, &e))?;
            down.write_all(&buf[..n]).await.map_err(|_| Broken::Downstream)?;
            buf.advance(n);
        }
        // Bytes past the answer's end: the upstream connection is out of step.
        return Ok(if head.close || !buf.is_empty() { Exchanged::Close } else { Exchanged::KeepAlive });
    }
}

/// What is left of a body being relayed.
enum BodyLeft {
    Done,
    Length(u64),
    Chunked(ChunkedEnd, Vec<u8>),
    UntilClose,
}

impl BodyLeft {
    fn new(framing: BodyFraming) -> Self {
        match framing {
            BodyFraming::Empty => Self::Done,
            BodyFraming::Length(n) => Self::Length(n),
            BodyFraming::Chunked => Self::Chunked(ChunkedEnd::default(), Vec::new()),
            BodyFraming::UntilClose => Self::UntilClose,
        }
    }

    /// How many bytes at the start of `buf` belong to the body; counts them as relayed.
    fn take(&mut self, buf: &[u8]) -> Result<usize, FramingError> {
        let (n, done) = match self {
            Self::Done => (0, true),
            Self::Length(left) => {
                let n = (*left).min(buf.len() as u64);
                *left -= n;
                (n as usize, *left == 0)
            }
            Self::Chunked(end, line) => (end.scan(buf, line)?, end.done()),
            Self::UntilClose => (buf.len(), false),
        };
        if done {
            *self = Self::Done;
        }
        Ok(n)
    }

    fn done(&self) -> bool {
        matches!(self, Self::Done)
    }
}

/// Whether an idle connection is still open: nothing to read, not even its end.
fn open(up: &TcpStream) -> bool {
    matches!(up.try_read(&mut [0u8; 1]), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

/// Reads into `buf`, making room first; 0 at the end of the stream.
async fn fill<R: AsyncRead + Unpin>(io: &mut R, buf: &mut BytesMut) -> io::Result<usize> {
    // Reclaims the consumed front of the buffer when its bytes have all been relayed.
    buf.reserve(READ);
    io.read_buf(buf).await
}

/// A connection whose first bytes the relay has read: they are read again first, so that the
/// full path sees the connection from its start.
///
/// Hand-written: hyper-util has one (`common::rewind`) but keeps it private.
pub(super) struct Rewind {
    prefix: Bytes,
    io: TcpStream,
}

impl AsyncRead for Rewind {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.prefix.is_empty() {
            return Pin::new(&mut self.io).poll_read(cx, buf);
        }
        let n = self.prefix.len().min(buf.remaining());
        buf.put_slice(&self.prefix[..n]);
        self.prefix.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
