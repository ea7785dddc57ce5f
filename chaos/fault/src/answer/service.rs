//! [`AnswerService`]: a [`FaultService`] whose failures are answers.

use super::AnswerFuture;
use crate::{BoxError, FaultBody, FaultService};
use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame};
use http_body_util::Either;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use tower::Service;

/// The body of an answer: the fault layer's, or one that fails at its first poll (hyper then
/// ends the connection without a complete answer).
pub type AnswerBody<B> = Either<FaultBody<B>, Failing>;

/// A body whose first frame is an error.
#[derive(Debug)]
pub struct Failing(Option<BoxError>);

impl Failing {
    pub(super) fn new(error: BoxError) -> Self {
        Self(Some(error))
    }
}

impl Body for Failing {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Poll::Ready(self.0.take().map(Err))
    }
}

/// Applies a fault table's rules and answers every request (see [the module](super)).
#[derive(Clone)]
pub struct AnswerService<S> {
    inner: FaultService<S>,
}

impl<S> AnswerService<S> {
    /// Wraps a fault service.
    pub fn new(inner: FaultService<S>) -> Self {
        Self { inner }
    }

    /// The fault service inside.
    pub fn get_ref(&self) -> &FaultService<S> {
        &self.inner
    }

    /// The fault service inside, mutably.
    pub fn get_mut(&mut self) -> &mut FaultService<S> {
        &mut self.inner
    }

    /// The fault service.
    pub fn into_inner(self) -> FaultService<S> {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for AnswerService<S>
where
    FaultService<S>: Service<Request<ReqBody>, Response = Response<FaultBody<ResBody>>, Error = BoxError>,
{
    type Response = Response<AnswerBody<ResBody>>;
    type Error = Infallible;
    type Future = AnswerFuture<<FaultService<S> as Service<Request<ReqBody>>>::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // An inner service that is not ready is answered at call time, when its error shows.
        match self.inner.poll_ready(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(_) => Poll::Ready(Ok(())),
        }
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        AnswerFuture::new(self.inner.call(req))
    }
}
