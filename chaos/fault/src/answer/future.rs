//! [`AnswerFuture`]: the fault service's answer, or its failure as a failing body.

use super::service::{AnswerBody, Failing};
use crate::{BoxError, FaultBody};
use http::Response;
use http_body_util::Either;
use pin_project_lite::pin_project;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

pin_project! {
    /// The future of [`AnswerService`](super::AnswerService).
    pub struct AnswerFuture<F> {
        #[pin]
        inner: F,
    }
}

impl<F> AnswerFuture<F> {
    pub(super) fn new(inner: F) -> Self {
        Self { inner }
    }
}

impl<F, B> Future for AnswerFuture<F>
where
    F: Future<Output = Result<Response<FaultBody<B>>, BoxError>>,
{
    type Output = Result<Response<AnswerBody<B>>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(Ok(match std::task::ready!(self.project().inner.poll(cx)) {
            Ok(res) => res.map(Either::Left),
            Err(e) => Response::new(Either::Right(Failing::new(e))),
        }))
    }
}
