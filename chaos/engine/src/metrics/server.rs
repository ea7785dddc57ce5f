//! The `--metrics` endpoint: `GET /metrics` answers the [`MetricsBoard`]'s exposition, in
//! OpenMetrics to a scraper that asks for it (Prometheus does), else in the Prometheus text format.

use super::MetricsBoard;
use bytes::Bytes;
use chaos_fault::server::Instance;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use targets::metrics::exposition;

/// Serves `board` on `addr` (TCP) until the returned instance is shut down or dropped.
pub async fn serve(addr: SocketAddr, board: Arc<MetricsBoard>) -> std::io::Result<Instance> {
    let svc = tower::service_fn(move |req: Request<hyper::body::Incoming>| {
        std::future::ready(Ok::<_, Infallible>(answer(&board, &req)))
    });
    Instance::bind("metrics", addr, svc).await
}

/// The exposition (OpenMetrics or the Prometheus text format, as the scraper asks), or why not.
fn answer<B>(board: &MetricsBoard, req: &Request<B>) -> Response<Full<Bytes>> {
    let (status, body) = match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => return exposition(board.render(), req.headers().get(header::ACCEPT)),
        (_, "/metrics") => (StatusCode::METHOD_NOT_ALLOWED, "use GET\n"),
        _ => (StatusCode::NOT_FOUND, "see /metrics\n"),
    };
    let mut res = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *res.status_mut() = status;
    res.headers_mut().insert(header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain"));
    res
}
