//! [`ResponseFuture`] of the fault layer.

use super::{BoxError, FaultBody};
use http::Response;
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

type Faulted<B> = Pin<Box<dyn Future<Output = Result<Response<FaultBody<B>>, BoxError>> + Send>>;

pin_project! {
    /// The response future of [`FaultService`](super::FaultService): the inner future untouched
    /// when no fault applies (no allocation), a boxed one when a fault does.
    #[project = Proj]
    pub struct ResponseFuture<F, B> {
        #[pin]
        kind: Kind<F, B>,
        applied: Vec<crate::RuleId>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B> {
        Passthrough { #[pin] fut: F },
        Faulted { fut: Faulted<B> },
    }
}

impl<F, B> ResponseFuture<F, B> {
    pub(crate) fn passthrough(fut: F) -> Self {
        Self { kind: Kind::Passthrough { fut }, applied: Vec::new() }
    }

    pub(crate) fn faulted(fut: Faulted<B>, applied: Vec<crate::RuleId>) -> Self {
        Self { kind: Kind::Faulted { fut }, applied }
    }

    /// The rules that act on this request (empty when none does), known as soon as the service
    /// is called: a server's own metrics can count a request whose caller gave up while a rule
    /// delayed it (the future dropped unfinished) as a faulted one, not lose it.
    pub fn applied(&self) -> &[crate::RuleId] {
        &self.applied
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response<FaultBody<B>>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Passthrough { fut } => {
                let res = ready!(fut.poll(cx)).map_err(Into::into)?;
                Poll::Ready(Ok(res.map(FaultBody::inner)))
            }
            KindProj::Faulted { fut } => fut.as_mut().poll(cx),
        }
    }
}
