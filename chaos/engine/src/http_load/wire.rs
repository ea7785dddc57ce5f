//! One keep-alive HTTP/1.1 connection of the load generator, written by hand as wrk's is.
//!
//! Why not hyper's client connection, which the generator used before: under wrk's closed loop
//! it spent ~3 µs of user CPU per request (header map, body channel, its dispatcher) against
//! wrk's 0.8 µs, and issue 8 holds `chaos load` to 0.9× wrk's rate on the same two cores
//! (docs/BENCHMARKS.md, item 2). Here the request is encoded once and written as bytes, and each
//! answer is parsed in place by httparse (hyper's own parser) in one reused buffer: no
//! allocation per request. Bodies are framed by `Content-Length`, chunked encoding or the
//! connection's close, and skipped, never kept.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Read buffer size; a response head must fit in it.
const BUF: usize = 16 * 1024;

/// The most of a body kept for an expectation to search.
pub(crate) const BODY_KEPT: usize = 1 << 20;

/// Why an exchange failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The connection was closed before any byte of the answer came (a keep-alive connection
    /// the server had dropped): the request may be sent again on a new one.
    Stale,
    /// It failed mid-answer, or the answer was not HTTP.
    Broken,
    /// The peer reset the connection.
    Reset,
    /// The answer was not HTTP/1.x, or its head did not fit the buffer.
    Malformed,
}

/// How the body of an answer ends.
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// One connection: a stream and the bytes read but not used yet (`buf[start..end]`).
pub(crate) struct Conn {
    stream: TcpStream,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// The server said it closes the connection after this answer.
    closing: bool,
    /// A read ended on an error (a reset) rather than the end of the stream.
    reset: bool,
    /// Exchanges this connection has carried.
    used: u64,
}

/// Opens a connection to `addr` (`host:port`).
pub(crate) async fn connect(addr: &str) -> std::io::Result<Conn> {
    let stream = TcpStream::connect(addr).await?;
    let _ = stream.set_nodelay(true);
    Ok(Conn { stream, buf: vec![0; BUF].into_boxed_slice(), start: 0, end: 0, closing: false, reset: false, used: 0 })
}

/// The request's bytes, encoded once: `GET path HTTP/1.1` with `Host`.
pub(super) fn encode_get(path: &str, host: &str) -> Box<[u8]> {
    encode("GET", path, host, &[], None).into_boxed_slice()
}

/// A request's bytes: `METHOD path HTTP/1.1`, `Host`, the headers, and the body with its
/// `Content-Length`. Names and values are the caller's to have checked (no CR or LF).
pub(crate) fn encode(method: &str, path: &str, host: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + path.len() + body.map_or(0, <[u8]>::len));
    for part in [method, " ", path, " HTTP/1.1\r\nHost: ", host, "\r\n"] {
        out.extend_from_slice(part.as_bytes());
    }
    for (name, value) in headers {
        for part in [name, ": ", value, "\r\n"] {
            out.extend_from_slice(part.as_bytes());
        }
    }
    if let Some(body) = body {
        out.extend_from_slice(b"Content-Length: ");
        out.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(body);
    } else {
        out.extend_from_slice(b"\r\n");
    }
    out
}

impl Conn {
    /// Whether the server keeps the connection for another request.
    pub fn usable(&self) -> bool {
        !self.closing
    }

    /// Whether it has carried an exchange before (a kept-alive connection the server may have
    /// dropped since).
    pub fn reused(&self) -> bool {
        self.used > 0
    }

    /// Sends `request` and reads its answer to the end: `Ok(status < 400)`.
    pub async fn exchange(&mut self, request: &[u8]) -> Result<bool, Failure> {
        self.exchange_keeping(request, None).await.map(|status| status < 400)
    }

    /// Sends `request` and reads its answer to the end, its body's first [`BODY_KEPT`] bytes
    /// into `body` when given: `Ok(status)`.
    pub async fn exchange_keeping(&mut self, request: &[u8], mut body: Option<&mut Vec<u8>>) -> Result<u16, Failure> {
        self.used += 1;
        self.stream.write_all(request).await.map_err(|_| Failure::Stale)?;
        let mut first = true;
        let (status, framing) = loop {
            match self.parse_head() {
                Ok(Some((status, _))) if (100..200).contains(&status) => {}
                Ok(Some(head)) => break head,
                Ok(None) => {
                    let got = self.fill().await;
                    if got.is_none() && first && self.start == self.end {
                        return Err(Failure::Stale);
                    }
                    got.ok_or(Failure::Broken)?;
                }
                Err(()) => return Err(Failure::Malformed),
            }
            first = false;
        };
        match framing {
            Framing::Length(n) => self.skip(n, &mut body).await,
            Framing::Chunked => self.skip_chunked(&mut body).await,
            Framing::UntilClose => {
                self.closing = true;
                while self.fill().await.is_some() {
                    keep(&mut body, &self.buf[self.start..self.end]);
                    self.start = self.end;
                }
                Some(())
            }
        }
        .ok_or(if self.reset { Failure::Reset } else { Failure::Broken })?;
        Ok(status)
    }

    /// Parses a complete head in the buffer (consuming it): `Ok(None)` when more bytes are needed.
    fn parse_head(&mut self) -> Result<Option<(u16, Framing)>, ()> {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut res = httparse::Response::new(&mut headers);
        let len = match res.parse(&self.buf[self.start..self.end]).map_err(|_| ())? {
            httparse::Status::Complete(len) => len,
            httparse::Status::Partial => return Ok(None),
        };
        let status = res.code.ok_or(())?;
        let (mut length, mut chunked, mut close) = (None, false, res.version == Some(0));
        for h in res.headers.iter() {
            let value = std::str::from_utf8(h.value).map_err(|_| ())?;
            if h.name.eq_ignore_ascii_case("content-length") {
                let n: usize = value.trim().parse().map_err(|_| ())?;
                if length.is_some_and(|l| l != n) {
                    return Err(());
                }
                length = Some(n);
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.rsplit(',').next().is_some_and(|v| v.trim().eq_ignore_ascii_case("chunked"));
            } else if h.name.eq_ignore_ascii_case("connection") {
                let has = |token: &str| value.split(',').any(|v| v.trim().eq_ignore_ascii_case(token));
                close = has("close") || (close && !has("keep-alive"));
            }
        }
        self.start += len;
        self.closing = close;
        let framing = match (status, chunked, length) {
            (100..=199 | 204 | 304, _, _) => Framing::Length(0),
            (_, true, _) => Framing::Chunked,
            (_, false, Some(n)) => Framing::Length(n),
            (_, false, None) => Framing::UntilClose,
        };
        Ok(Some((status, framing)))
    }

    /// Reads more bytes into the buffer; `None` at the end of the stream or on an error.
    async fn fill(&mut self) -> Option<()> {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
            if self.end == self.buf.len() {
                return None; // a head larger than the buffer
            }
        }
        match self.stream.read(&mut self.buf[self.end..]).await {
            Ok(0) => None,
            Err(_) => {
                self.reset = true;
                None
            }
            Ok(n) => {
                self.end += n;
                Some(())
            }
        }
    }

    /// Consumes `n` bytes, reading as needed (kept in `body` when given).
    async fn skip(&mut self, mut n: usize, body: &mut Option<&mut Vec<u8>>) -> Option<()> {
        loop {
            let take = n.min(self.end - self.start);
            keep(body, &self.buf[self.start..self.start + take]);
            self.start += take;
            n -= take;
            if n == 0 {
                return Some(());
            }
            self.fill().await?;
        }
    }

    /// Consumes a chunked body and its trailers (the data kept in `body` when given).
    async fn skip_chunked(&mut self, body: &mut Option<&mut Vec<u8>>) -> Option<()> {
        loop {
            match httparse::parse_chunk_size(&self.buf[self.start..self.end]).ok()? {
                httparse::Status::Complete((used, 0)) => {
                    self.start += used;
                    return self.skip_trailers().await;
                }
                httparse::Status::Complete((used, size)) => {
                    self.start += used;
                    self.skip(usize::try_from(size).ok()?, body).await?;
                    self.skip(2, &mut None).await?; // CRLF
                }
                httparse::Status::Partial => self.fill().await?,
            }
        }
    }

    /// Consumes the trailer section after the last chunk: an empty line, or fields then one.
    async fn skip_trailers(&mut self) -> Option<()> {
        loop {
            let pending = &self.buf[self.start..self.end];
            if pending.starts_with(b"\r\n") {
                self.start += 2;
                return Some(());
            }
            if let Some(i) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                self.start += i + 4;
                return Some(());
            }
            self.fill().await?;
        }
    }
}

/// Appends `bytes` to `body`, if given, up to [`BODY_KEPT`].
fn keep(body: &mut Option<&mut Vec<u8>>, bytes: &[u8]) {
    if let Some(b) = body {
        let room = BODY_KEPT.saturating_sub(b.len());
        b.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A server that answers each request on one connection with the next of `answers`,
    /// written a few bytes at a time, then closes.
    async fn scripted(answers: Vec<&'static [u8]>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut req = [0u8; 1024];
            for answer in answers {
                let mut seen = Vec::new();
                while !seen.ends_with(b"\r\n\r\n") {
                    let n = s.read(&mut req).await.unwrap();
                    seen.extend_from_slice(&req[..n]);
                }
                for piece in answer.chunks(3) {
                    s.write_all(piece).await.unwrap();
                    s.flush().await.unwrap();
                    tokio::task::yield_now().await;
                }
            }
        });
        addr
    }

    #[tokio::test]
    async fn chunked_and_sized_bodies_arriving_in_pieces_are_framed_and_a_dropped_connection_is_stale() {
        let addr = scripted(vec![
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\n wo\r\n0\r\nX-Trailer: 1\r\n\r\n",
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 3\r\n\r\nbad",
            b"HTTP/1.1 204 No Content\r\n\r\n",
        ])
        .await;
        let request = encode_get("/x", &addr);
        let mut conn = connect(&addr).await.unwrap();
        let mut body = Vec::new();
        assert_eq!(conn.exchange_keeping(&request, Some(&mut body)).await, Ok(200));
        assert_eq!(body, b"hello wo", "the chunks' data, without sizes or trailers");
        assert_eq!(conn.exchange(&request).await, Ok(false));
        assert_eq!(conn.exchange(&request).await, Ok(true));
        assert!(conn.usable());
        assert_eq!(conn.exchange(&request).await, Err(Failure::Stale), "closed before answering");
    }

    #[tokio::test]
    async fn connection_close_and_a_close_delimited_body_end_the_connection() {
        let addr = scripted(vec![b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"]).await;
        let mut conn = connect(&addr).await.unwrap();
        assert_eq!(conn.exchange(&encode_get("/", &addr)).await, Ok(true));
        assert!(!conn.usable());
        let addr = scripted(vec![b"HTTP/1.0 200 OK\r\n\r\nall of it until the close"]).await;
        let mut conn = connect(&addr).await.unwrap();
        assert_eq!(conn.exchange(&encode_get("/", &addr)).await, Ok(true));
        assert!(!conn.usable());
        let addr = scripted(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"]).await;
        let mut conn = connect(&addr).await.unwrap();
        assert_eq!(conn.exchange(&encode_get("/", &addr)).await, Err(Failure::Broken), "body cut short");
    }
}
