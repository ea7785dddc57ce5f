//! The HTTP workload's gRPC client: unary calls over HTTP/2 without TLS (h2c), one connection
//! per `host:port` carrying every call as its own stream, as a gRPC channel does.
//!
//! Made with hyper's HTTP/2 client rather than by hand like the HTTP/1.1 connection
//! ([`crate::http_load::wire`]): HTTP/2's framing, flow control and header compression are what
//! a hand-written client would get wrong, and gRPC's cost per call is in them, not in hyper's
//! bookkeeping. A call is judged as its client would: `grpc-status` from the trailers (or from
//! the headers of a trailers-only answer), a reset stream as a reset.

use crate::requests::RequestFailure;
use bytes::{BufMut, Bytes, BytesMut};
use chaos_fault::GrpcCode;
use http::{HeaderName, HeaderValue, Request, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;
use tokio::time::Instant;

/// HTTP/2 connections to every `host:port` the workload calls, shared by its gRPC requests.
#[derive(Clone)]
pub(crate) struct Channels(Client<HttpConnector, Full<Bytes>>);

impl Channels {
    pub fn new() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Self(Client::builder(TokioExecutor::new()).http2_only(true).build(connector))
    }
}

/// One unary call, ready to send but for its metadata.
pub(crate) struct Call {
    channels: Channels,
    /// `http://HOST:PORT/package.Service/Method`.
    uri: Uri,
    /// The length-prefixed message: a byte saying it is not compressed, its length, its bytes.
    frame: Bytes,
    /// `grpc-timeout`, so that the server gives up when the caller does.
    timeout: HeaderValue,
    accepted: Vec<GrpcCode>,
}

impl Call {
    /// A call of `method` on the server at `authority` with the message's bytes; `accepted` its
    /// successful statuses (empty: `ok`).
    pub fn new(
        channels: Channels,
        authority: &str,
        method: &str,
        message: &[u8],
        timeout: Duration,
        accepted: &[GrpcCode],
    ) -> Self {
        // The validator has checked the authority and the method.
        let uri = format!("http://{authority}{method}").parse().expect("a validated URL");
        let mut frame = BytesMut::with_capacity(5 + message.len());
        frame.put_u8(0);
        frame.put_u32(u32::try_from(message.len()).unwrap_or(u32::MAX));
        frame.put_slice(message);
        // gRPC's timeout is at most 8 digits and a unit; a day in milliseconds fits.
        let timeout =
            HeaderValue::from_str(&format!("{}m", timeout.as_millis().min(99_999_999))).expect("digits and a unit");
        let accepted = if accepted.is_empty() { vec![GrpcCode::OK] } else { accepted.to_vec() };
        Self { channels, uri, frame: frame.freeze(), timeout, accepted }
    }

    /// Sends the call with `metadata`, giving up at `deadline`: `Ok(200)` when its status is
    /// accepted.
    pub async fn send(&self, metadata: &[(HeaderName, HeaderValue)], deadline: Instant) -> Result<u16, RequestFailure> {
        tokio::time::timeout_at(deadline, self.exchange(metadata)).await.unwrap_or(Err(RequestFailure::Timeout))
    }

    async fn exchange(&self, metadata: &[(HeaderName, HeaderValue)]) -> Result<u16, RequestFailure> {
        let mut request = Request::post(self.uri.clone())
            .header(header::CONTENT_TYPE, "application/grpc")
            .header(header::TE, "trailers")
            .header("grpc-timeout", self.timeout.clone())
            .body(Full::new(self.frame.clone()))
            .expect("a valid request");
        request.headers_mut().extend(metadata.iter().cloned());
        let response = self.channels.0.request(request).await.map_err(|e| connection_failure(&e))?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(RequestFailure::Status(status));
        }
        let code = match grpc_status(response.headers()) {
            Some(code) => code,
            None => {
                let body = response.into_body().collect().await.map_err(|_| RequestFailure::Reset)?;
                grpc_status(body.trailers().ok_or(RequestFailure::Protocol)?).ok_or(RequestFailure::Protocol)?
            }
        }?;
        if self.accepted.contains(&code) { Ok(status) } else { Err(RequestFailure::Grpc(code)) }
    }
}

/// The `grpc-status` of a header block: `None` when it has none, `Some(Err)` when it is not a code.
fn grpc_status(headers: &http::HeaderMap) -> Option<Result<GrpcCode, RequestFailure>> {
    let value = headers.get("grpc-status")?;
    let code = value.to_str().ok().and_then(|v| v.parse::<u8>().ok()).and_then(GrpcCode::new);
    Some(code.ok_or(RequestFailure::Protocol))
}

/// A call that got no answer: refused when nothing listened, otherwise reset (a connection
/// closed or a stream reset under it).
fn connection_failure(e: &hyper_util::client::legacy::Error) -> RequestFailure {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return RequestFailure::Refused;
        }
        source = err.source();
    }
    RequestFailure::Reset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_frames_its_message_and_carries_its_timeout() {
        let call = Call::new(Channels::new(), "127.0.0.1:1", "/a.S/M", b"\x0a\x00", Duration::from_secs(2), &[]);
        assert_eq!(call.uri.to_string(), "http://127.0.0.1:1/a.S/M");
        assert_eq!(&call.frame[..], b"\x00\x00\x00\x00\x02\x0a\x00");
        assert_eq!(call.timeout, "2000m");
        assert_eq!(call.accepted, [GrpcCode::OK]);
    }

    #[test]
    fn the_status_is_read_as_a_code_and_anything_else_is_a_bad_answer() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(grpc_status(&headers), None);
        headers.insert("grpc-status", HeaderValue::from_static("14"));
        assert_eq!(grpc_status(&headers), Some(Ok(GrpcCode::UNAVAILABLE)));
        headers.insert("grpc-status", HeaderValue::from_static("99"));
        assert_eq!(grpc_status(&headers), Some(Err(RequestFailure::Protocol)));
    }
}
