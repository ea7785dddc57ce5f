//! HTTP/1 message framing (RFC 9112 §6) for the relay that passes messages on as they are read:
//! where a head ends, how the body after it is delimited, and where a chunked body ends — so
//! that bytes are copied, never decoded and encoded again.
//!
//! Heads are parsed with `httparse` (hyper's own parser); what is written here is only the
//! framing decision, which hyper keeps private to its connection state machine.

use std::io::Write;

/// How a message's body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body.
    Empty,
    /// `content-length` bytes.
    Length(u64),
    /// `transfer-encoding: chunked`, passed on as chunks.
    Chunked,
    /// Until the server closes the connection (answers only).
    UntilClose,
}

/// A parsed head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// Its length in bytes, the final CRLF included.
    pub len: usize,
    /// The body after it.
    pub body: BodyFraming,
    /// The connection ends after this exchange (`connection: close`, HTTP/1.0 without
    /// keep-alive, an answer delimited by the close).
    pub close: bool,
    /// A request the relay leaves to the full proxy path: one that asks to leave HTTP/1
    /// (`upgrade`, `CONNECT`), an HTTP/1.0 one, or one whose target is not a path.
    pub hand_over: bool,
    /// A `HEAD` request (its answer has no body whatever it says).
    pub head_method: bool,
    /// The answer's status (0 for a request).
    pub status: u16,
}

/// Why a message cannot be relayed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// `httparse` refused the head.
    #[error("malformed head: {0}")]
    Malformed(httparse::Error),
    /// More headers than the relay reads.
    #[error("more than {MAX_HEADERS} header fields")]
    TooManyHeaders,
    /// `content-length` is not one number.
    #[error("invalid content-length")]
    Length,
    /// `transfer-encoding` and `content-length` together, or a request's transfer coding that
    /// does not end in chunked: refused, as a proxy must, against request smuggling.
    #[error("ambiguous message length (transfer-encoding with content-length, or not chunked)")]
    Ambiguous,
    /// A chunk size line that is not hexadecimal.
    #[error("invalid chunk size")]
    ChunkSize,
}

/// Header fields read per head.
pub const MAX_HEADERS: usize = 100;

/// What the headers say of framing, the same for requests and answers.
#[derive(Default)]
struct Fields {
    length: Option<u64>,
    chunked: Option<bool>,
    close: bool,
    keep_alive: bool,
    upgrade: bool,
}

fn fields(headers: &[httparse::Header<'_>]) -> Result<Fields, FramingError> {
    let mut f = Fields::default();
    for h in headers {
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value).ok().and_then(|v| v.trim().parse::<u64>().ok());
            match (f.length, n) {
                (_, None) => return Err(FramingError::Length),
                (Some(a), Some(b)) if a != b => return Err(FramingError::Length),
                (_, n) => f.length = n,
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let last = h.value.rsplit(|b| *b == b',').next().unwrap_or_default();
            f.chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
                f.close |= token.eq_ignore_ascii_case(b"close");
                f.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if h.name.eq_ignore_ascii_case("upgrade") {
            f.upgrade = true;
        }
    }
    Ok(f)
}

/// A head's length once `httparse` has all of it.
fn complete(parsed: httparse::Result<usize>) -> Result<Option<usize>, FramingError> {
    match parsed {
        Ok(httparse::Status::Complete(len)) => Ok(Some(len)),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(FramingError::TooManyHeaders),
        Err(e) => Err(FramingError::Malformed(e)),
    }
}

/// Appends the header fields that go on to the next hop: all but the hop-by-hop ones (the
/// proxy's list, as its full path strips them) and, for requests, `host`.
fn forward_fields(headers: &[httparse::Header<'_>], request: bool, out: &mut Vec<u8>) {
    for h in headers {
        let hop = super::HOP_BY_HOP.iter().any(|n| h.name.eq_ignore_ascii_case(n.as_str()));
        if hop || (request && h.name.eq_ignore_ascii_case("host")) {
            continue;
        }
        out.extend_from_slice(h.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value);
        out.extend_from_slice(b"\r\n");
    }
}

/// The request head at the start of `buf`, if it is all there. Unless it is handed over, the
/// head as it goes upstream is appended to `out`: HTTP/1.1, `host` set to `host`, hop-by-hop
/// fields removed — what the full path sends.
pub fn request(buf: &[u8], host: &[u8], out: &mut Vec<u8>) -> Result<Option<Head>, FramingError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let Some(len) = complete(req.parse(buf))? else { return Ok(None) };
    let f = fields(req.headers)?;
    let body = match (f.chunked, f.length) {
        (Some(_), Some(_)) | (Some(false), None) => return Err(FramingError::Ambiguous),
        (Some(true), None) => BodyFraming::Chunked,
        (None, Some(0) | None) => BodyFraming::Empty,
        (None, Some(n)) => BodyFraming::Length(n),
    };
    let (method, path) = (req.method.unwrap_or_default(), req.path.unwrap_or_default());
    let hand_over = f.upgrade || method == "CONNECT" || req.version != Some(1) || !path.starts_with('/');
    if !hand_over {
        for part in [method.as_bytes(), b" ", path.as_bytes(), b" HTTP/1.1\r\n"] {
            out.extend_from_slice(part);
        }
        forward_fields(req.headers, true, out);
        for part in [&b"host: "[..], host, b"\r\n\r\n"] {
            out.extend_from_slice(part);
        }
    }
    Ok(Some(Head { len, body, close: f.close, hand_over, head_method: method == "HEAD", status: 0 }))
}

/// The answer's head at the start of `buf`, if it is all there, to a request that was a `HEAD`
/// when `to_head`. The head as it goes downstream is appended to `out`: HTTP/1.1, hop-by-hop
/// fields removed, and `connection: close` when the connection ends after it.
pub fn response(buf: &[u8], to_head: bool, out: &mut Vec<u8>) -> Result<Option<Head>, FramingError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut res = httparse::Response::new(&mut headers);
    let Some(len) = complete(res.parse(buf))? else { return Ok(None) };
    let f = fields(res.headers)?;
    let status = res.code.unwrap_or_default();
    let bodiless = to_head || (100..200).contains(&status) || status == 204 || status == 304;
    let body = match (bodiless, f.chunked, f.length) {
        (true, ..) => BodyFraming::Empty,
        (false, Some(_), Some(_)) => return Err(FramingError::Ambiguous),
        (false, Some(true), None) => BodyFraming::Chunked,
        (false, Some(false), None) | (false, None, None) => BodyFraming::UntilClose,
        (false, None, Some(0)) => BodyFraming::Empty,
        (false, None, Some(n)) => BodyFraming::Length(n),
    };
    let interim = (100..200).contains(&status);
    let until_close = body == BodyFraming::UntilClose;
    let close = !interim && (f.close || until_close || (res.version == Some(0) && !f.keep_alive));
    // Writing into a Vec cannot fail.
    let _ = write!(out, "HTTP/1.1 {status} {}\r\n", res.reason.unwrap_or_default());
    forward_fields(res.headers, false, out);
    out.extend_from_slice(if close { &b"connection: close\r\n\r\n"[..] } else { b"\r\n" });
    Ok(Some(Head { len, body, close, hand_over: status == 101, head_method: false, status }))
}

/// Where a chunked body ends, read as it arrives in pieces.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChunkedEnd {
    state: Chunk,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum Chunk {
    /// Reading a size line.
    #[default]
    Size,
    /// `n` data bytes are left.
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// The trailer section after the last chunk: done at an empty line.
    Trailers,
    /// The body has ended.
    Done,
}

impl ChunkedEnd {
    /// How many bytes of `buf` (the body's next bytes) belong to the body: all of them while it
    /// goes on, fewer once it has ended. `line` holds a line split between reads (the caller
    /// keeps it beside the scanner).
    pub fn scan(&mut self, buf: &[u8], line: &mut Vec<u8>) -> Result<usize, FramingError> {
        let mut at = 0;
        while at < buf.len() {
            match self.state {
                Chunk::Done => return Ok(at),
                Chunk::Data(left) => {
                    let take = left.min((buf.len() - at) as u64);
                    at += take as usize;
                    self.state = if left == take { Chunk::DataEnd } else { Chunk::Data(left - take) };
                }
                Chunk::Size | Chunk::DataEnd | Chunk::Trailers => {
                    let Some(nl) = buf[at..].iter().position(|b| *b == b'\n') else {
                        line.extend_from_slice(&buf[at..]);
                        return Ok(buf.len());
                    };
                    line.extend_from_slice(&buf[at..at + nl]);
                    at += nl + 1;
                    self.line(line.strip_suffix(b"\r").unwrap_or(line))?;
                    line.clear();
                }
            }
        }
        Ok(at)
    }

    /// Whether the body has ended.
    pub fn done(&self) -> bool {
        self.state == Chunk::Done
    }

    /// One whole line, without its line end.
    fn line(&mut self, text: &[u8]) -> Result<(), FramingError> {
        self.state = match self.state {
            Chunk::Size => {
                let size = text.split(|b| *b == b';').next().unwrap_or_default().trim_ascii();
                let size = std::str::from_utf8(size).ok().and_then(|s| u64::from_str_radix(s, 16).ok());
                match size.ok_or(FramingError::ChunkSize)? {
                    0 => Chunk::Trailers,
                    n => Chunk::Data(n),
                }
            }
            Chunk::DataEnd if text.is_empty() => Chunk::Size,
            Chunk::DataEnd => return Err(FramingError::ChunkSize),
            Chunk::Trailers if text.is_empty() => Chunk::Done,
            Chunk::Trailers => Chunk::Trailers,
            Chunk::Data(_) | Chunk::Done => unreachable!("only lines are read here"),
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(buf: &[u8]) -> Result<Option<Head>, FramingError> {
        request(buf, b"up:80", &mut Vec::new())
    }

    fn res(buf: &[u8], to_head: bool) -> Head {
        response(buf, to_head, &mut Vec::new()).unwrap().unwrap()
    }

    #[test]
    fn a_request_head_says_its_framing() {
        let get = req(b"GET / HTTP/1.1\r\nhost: a\r\n\r\nGET").unwrap().unwrap();
        assert_eq!((get.len, get.body, get.close, get.hand_over), (27, BodyFraming::Empty, false, false));
        assert_eq!(req(b"GET / HTTP/1.1\r\nhost: a\r\n").unwrap(), None);
        let post = req(b"POST / HTTP/1.1\r\ncontent-length: 5\r\n\r\n").unwrap().unwrap();
        assert_eq!(post.body, BodyFraming::Length(5));
        let chunked = req(b"POST / HTTP/1.1\r\ntransfer-encoding: gzip, chunked\r\n\r\n").unwrap().unwrap();
        assert_eq!(chunked.body, BodyFraming::Chunked);
        let close = req(b"GET / HTTP/1.1\r\nconnection: close\r\n\r\n").unwrap().unwrap();
        assert!(close.close);
        for other in [
            &b"GET / HTTP/1.1\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n"[..],
            b"GET / HTTP/1.0\r\n\r\n",
            b"CONNECT a:443 HTTP/1.1\r\n\r\n",
            b"GET http://a/ HTTP/1.1\r\n\r\n",
            b"OPTIONS * HTTP/1.1\r\n\r\n",
        ] {
            assert!(req(other).unwrap().unwrap().hand_over, "{}", String::from_utf8_lossy(other));
        }
    }

    #[test]
    fn a_request_goes_upstream_with_its_host_and_without_hop_by_hop_fields() {
        let mut out = Vec::new();
        let head = b"GET /a?b HTTP/1.1\r\nHost: proxy:1\r\nConnection: keep-alive\r\nx-id: 7\r\nTE: gzip\r\n\r\n";
        request(head, b"up:80", &mut out).unwrap().unwrap();
        assert_eq!(out, b"GET /a?b HTTP/1.1\r\nx-id: 7\r\nhost: up:80\r\n\r\n");
    }

    #[test]
    fn ambiguous_lengths_are_refused() {
        let both = b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n";
        assert_eq!(req(both), Err(FramingError::Ambiguous));
        assert_eq!(req(b"POST / HTTP/1.1\r\ntransfer-encoding: gzip\r\n\r\n"), Err(FramingError::Ambiguous));
        assert_eq!(
            req(b"POST / HTTP/1.1\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\n"),
            Err(FramingError::Length)
        );
        assert!(matches!(req(b"G\x01T / HTTP/1.1\r\n\r\n"), Err(FramingError::Malformed(_))));
    }

    #[test]
    fn an_answer_head_says_its_framing() {
        let ok = res(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", false);
        assert_eq!((ok.body, ok.status, ok.close), (BodyFraming::Length(2), 200, false));
        let to_head = res(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n", true);
        assert_eq!(to_head.body, BodyFraming::Empty);
        for status in ["204 No Content", "304 Not Modified", "100 Continue"] {
            let head = format!("HTTP/1.1 {status}\r\ncontent-length: 9\r\n\r\n");
            assert_eq!(res(head.as_bytes(), false).body, BodyFraming::Empty, "{status}");
        }
        let open = res(b"HTTP/1.1 200 OK\r\n\r\n", false);
        assert_eq!((open.body, open.close), (BodyFraming::UntilClose, true));
        let chunked = res(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n", false);
        assert_eq!(chunked.body, BodyFraming::Chunked);
        let old = res(b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\n", false);
        assert!(old.close, "HTTP/1.0 without keep-alive");
    }

    #[test]
    fn an_answer_goes_downstream_without_hop_by_hop_fields_and_says_when_it_closes() {
        let mut out = Vec::new();
        let head = b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\nkeep-alive: timeout=5\r\nserver: x\r\n\r\n";
        response(head, false, &mut out).unwrap().unwrap();
        assert_eq!(out, b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nserver: x\r\nconnection: close\r\n\r\n");
    }

    /// Scans `body` in pieces of `step` bytes; how many bytes belonged to the body.
    fn scan_in_pieces(body: &[u8], step: usize) -> (usize, bool) {
        let (mut end, mut line, mut taken) = (ChunkedEnd::default(), Vec::new(), 0);
        for piece in body.chunks(step) {
            let n = end.scan(piece, &mut line).unwrap();
            taken += n;
            if n < piece.len() || end.done() {
                break;
            }
        }
        (taken, end.done())
    }

    #[test]
    fn a_chunked_body_ends_after_its_trailers_however_it_is_split() {
        let body = b"5;ext=1\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nx-trailer: 1\r\n\r\n";
        let next = b"GET / HTTP/1.1\r\n\r\n";
        let whole = [&body[..], &next[..]].concat();
        for step in 1..=whole.len() {
            assert_eq!(scan_in_pieces(&whole, step), (body.len(), true), "in pieces of {step}");
        }
        let unfinished = &body[..body.len() - 2];
        assert_eq!(scan_in_pieces(unfinished, 7), (unfinished.len(), false));
        let mut line = Vec::new();
        assert_eq!(ChunkedEnd::default().scan(b"zz\r\n", &mut line), Err(FramingError::ChunkSize));
    }
}
