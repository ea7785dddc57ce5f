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

/// Why an exchange failed.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Failure {
    /// The connection was closed before any byte of the answer came (a keep-alive connection
    /// the server had dropped): the request may be sent again on a new one.
    Stale,
    /// It failed mid-answer, or the answer was not HTTP.
    Broken,
}

/// How the body of an answer ends.
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// One connection: a stream and the bytes read but not used yet (`buf[start..end]`).
pub(super) struct Conn {
    stream: TcpStream,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// The server said it closes the connection after this answer.
    closing: bool,
}

/// Opens a connection to `addr` (`host:port`).
pub(super) async fn connect(addr: &str) -> Option<Conn> {
    let stream = TcpStream::connect(addr).await.ok()?;
    let _ = stream.set_nodelay(true);
    Some(Conn { stream, buf: vec![0; BUF].into_boxed_slice(), start: 0, end: 0, closing: false })
}

/// The request's bytes, encoded once: `GET path HTTP/1.1` with `Host`.
pub(super) fn encode_get(path: &str, host: &str) -> Box<[u8]> {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes().into_boxed_slice()
}

impl Conn {
    /// Whether the server keeps the connection for another request.
    pub fn usable(&self) -> bool {
        !self.closing
    }

    /// Sends `request` and reads its answer to the end: `Ok(status < 400)`.
    pub async fn exchange(&mut self, request: &[u8]) -> Result<bool, Failure> {
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
                Err(()) => return Err(Failure::Broken),
            }
            first = false;
        };
        match framing {
            Framing::Length(n) => self.skip(n).await,
            Framing::Chunked => self.skip_chunked().await,
            Framing::UntilClose => {
                self.closing = true;
                while self.fill().await.is_some() {
                    self.start = self.end;
                }
                Some(())
            }
        }
        .ok_or(Failure::Broken)?;
        Ok(status < 400)
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
            Ok(0) | Err(_) => None,
            Ok(n) => {
                self.end += n;
                Some(())
            }
        }
    }

    /// Consumes `n` bytes, reading as needed.
    async fn skip(&mut self, mut n: usize) -> Option<()> {
        loop {
            let take = n.min(self.end - self.start);
            self.start += take;
            n -= take;
            if n == 0 {
                return Some(());
            }
            self.fill().await?;
        }
    }

    /// Consumes a chunked body and its trailers.
    async fn skip_chunked(&mut self) -> Option<()> {
        loop {
            match httparse::parse_chunk_size(&self.buf[self.start..self.end]).ok()? {
                httparse::Status::Complete((used, 0)) => {
                    self.start += used;
                    return self.skip_trailers().await;
                }
                httparse::Status::Complete((used, size)) => {
                    self.start += used;
                    self.skip(usize::try_from(size).ok()?.checked_add(2)?).await?; // data, CRLF
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
        assert_eq!(conn.exchange(&request).await, Ok(true));
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
