//! [`FaultBody`]: the one body type of the layer's responses.

use super::BoxError;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use pin_project_lite::pin_project;
use std::pin::Pin;
use std::task::{Context, Poll};

pin_project! {
    /// Either the inner service's body, passed through, or a body synthesised by a fault.
    #[project = Proj]
    pub struct FaultBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Inner { #[pin] body: B },
        Synthetic { body: Full<Bytes> },
    }
}

impl<B> FaultBody<B> {
    /// Passes `body` through.
    pub fn inner(body: B) -> Self {
        Self { kind: Kind::Inner { body } }
    }

    /// A complete body made by a fault.
    pub fn synthetic(body: impl Into<Bytes>) -> Self {
        Self { kind: Kind::Synthetic { body: Full::new(body.into()) } }
    }
}

impl<B> Body for FaultBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project().kind.project() {
            KindProj::Inner { body } => body.poll_frame(cx).map(|f| f.map(|r| r.map_err(Into::into))),
            KindProj::Synthetic { body } => Pin::new(body).poll_frame(cx).map(|f| f.map(|r| r.map_err(|e| match e {}))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Synthetic { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Synthetic { body } => body.size_hint(),
        }
    }
}
