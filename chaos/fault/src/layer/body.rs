//! [`FaultBody`]: the one body type of the layer's responses — passed through, shaped by body
//! faults (throttle, truncate), or synthesised by an error fault.

use super::BoxError;
use super::InjectedFault;
use super::plan::Shape;
use crate::table::Slot;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use pin_project_lite::pin_project;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

pin_project! {
    /// Either the inner service's body (passed through or shaped) or a body made by a fault.
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
        Shaped { #[pin] body: B, shaper: Box<Shaper> },
        Synthetic { body: Full<Bytes> },
    }
}

/// State of the body faults on one response.
struct Shaper {
    shape: Shape,
    /// Data taken from the inner body, not yet released.
    pending: Option<Bytes>,
    /// Bytes released so far (for the throttle's schedule).
    sent: u64,
    started: Option<Instant>,
    sleep: Option<Pin<Box<Sleep>>>,
    /// The body was cut: the next poll ends the connection.
    cut: bool,
    /// What was let through before the cut had a chance to be written.
    flushed: bool,
    /// `max_active` slots, held until the body is done.
    _slots: Vec<Slot>,
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

    pub(crate) fn shaped(body: B, shape: Shape, slots: Vec<Slot>) -> Self {
        let shaper = Shaper {
            shape,
            pending: None,
            sent: 0,
            started: None,
            sleep: None,
            cut: false,
            flushed: false,
            _slots: slots,
        };
        Self { kind: Kind::Shaped { body, shaper: Box::new(shaper) } }
    }
}

impl Shaper {
    /// Releases (part of) the pending data when the throttle allows.
    fn release(&mut self, cx: &mut Context<'_>) -> Poll<Bytes> {
        let data = self.pending.as_mut().expect("called with pending data");
        let n = match self.shape.throttle {
            None => data.len(),
            Some(rate) => {
                // Release at most 20 ms worth at a time, so the rate is smooth, not bursty.
                let n = data.len().min((rate / 50).max(1) as usize);
                let start = *self.started.get_or_insert_with(Instant::now);
                let due = start + Duration::from_secs_f64((self.sent + n as u64) as f64 / rate as f64);
                if Instant::now() < due {
                    let sleep = self.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
                    ready!(sleep.as_mut().poll(cx));
                }
                self.sleep = None;
                n
            }
        };
        self.sent += n as u64;
        let out = data.split_to(n);
        if data.is_empty() {
            self.pending = None;
        }
        Poll::Ready(out)
    }

    /// Applies the cut (truncate or stall) to a new data frame.
    fn take(&mut self, mut data: Bytes) -> Bytes {
        if let Some(cut) = &mut self.shape.cut {
            if cut.left == 0 {
                self.cut = true;
                return Bytes::new();
            }
            if data.len() as u64 > cut.left {
                data.truncate(cut.left as usize);
                self.cut = true;
            }
            cut.left -= data.len() as u64;
        }
        data
    }

    /// After a cut: let the server flush what was let through (hyper writes buffered bytes when
    /// the body is pending), hold still for the stall, then fail so the connection drops.
    fn end(&mut self, cx: &mut Context<'_>) -> Poll<BoxError> {
        let Some(cut) = self.shape.cut.clone() else { return Poll::Ready("body cut".into()) };
        if !self.flushed {
            let hold = Duration::from_millis(2).max(cut.stall);
            let sleep = self.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep(hold)));
            ready!(sleep.as_mut().poll(cx));
            self.sleep = None;
            self.flushed = true;
        }
        let (rule, after_bytes) = (cut.rule, self.sent);
        Poll::Ready(match cut.stall {
            Duration::ZERO => InjectedFault::Truncated { rule, after_bytes }.into(),
            held => InjectedFault::Stalled { rule, after_bytes, held }.into(),
        })
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
            KindProj::Shaped { mut body, shaper } => loop {
                if shaper.pending.is_some() {
                    return shaper.release(cx).map(|data| Some(Ok(Frame::data(data))));
                }
                if shaper.cut {
                    return shaper.end(cx).map(|e| Some(Err(e)));
                }
                let frame = match ready!(body.as_mut().poll_frame(cx)) {
                    None => return Poll::Ready(None),
                    Some(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
                    Some(Ok(frame)) => frame,
                };
                match frame.into_data() {
                    Ok(data) => {
                        let data = shaper.take(data);
                        if !data.is_empty() {
                            shaper.pending = Some(data);
                        }
                    }
                    Err(trailers) => return Poll::Ready(Some(Ok(trailers))),
                }
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Shaped { body, shaper } => shaper.pending.is_none() && !shaper.cut && body.is_end_stream(),
            Kind::Synthetic { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } | Kind::Shaped { body, .. } => body.size_hint(),
            Kind::Synthetic { body } => body.size_hint(),
        }
    }
}
