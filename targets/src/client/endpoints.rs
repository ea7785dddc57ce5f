//! [`Endpoints`]: the transport under the guards, one try per call, instances in turn.

use super::{DepRequest, DepResponse};
use bytes::Bytes;
use chaos_fault::BoxError;
use futures_util::future::BoxFuture;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use tower::Service;

/// The HTTP/1 connection pool shared by all clients of a platform.
pub type HttpClient = Client<HttpConnector, Empty<Bytes>>;

/// Builds the shared pool.
pub fn http_client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new()).pool_max_idle_per_host(64).build(connector)
}

/// Sends each request to the next instance of a service (round-robin); a non-2xx answer is an
/// error, so that the retry above moves on to another instance.
#[derive(Clone)]
pub struct Endpoints {
    urls: Arc<[String]>,
    next: Arc<AtomicUsize>,
    http: HttpClient,
}

/// A dependency answered with a non-success status.
#[derive(Debug, thiserror::Error)]
#[error("dependency answered {status}")]
pub struct StatusError {
    /// The status seen.
    pub status: http::StatusCode,
}

impl Endpoints {
    /// Instances at `urls` (`http://127.0.0.1:PORT`), reached through `http`.
    pub fn new(urls: Vec<String>, http: HttpClient) -> Self {
        Self { urls: urls.into(), next: Arc::new(AtomicUsize::new(0)), http }
    }
}

impl Service<DepRequest> for Endpoints {
    type Response = DepResponse;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<DepResponse, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: DepRequest) -> Self::Future {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.urls.len();
        let uri = format!("{}{}", self.urls[i], req.path);
        let http = self.http.clone();
        Box::pin(async move {
            let request = http::Request::get(uri).header(crate::USER_HEADER, &*req.user).body(Empty::new())?;
            let res = http.request(request).await?;
            let status = res.status();
            let body = res.into_body().collect().await?.to_bytes();
            if !status.is_success() {
                return Err(StatusError { status }.into());
            }
            Ok(DepResponse { status, body })
        })
    }
}
