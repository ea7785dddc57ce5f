//! A segment's body over HTTP, read chunk by chunk so the session loop can see a stall or
//! abandon the download.

use super::stream::SegmentBody;
use crate::client::AnswerBody;
use http_body_util::BodyExt;

/// A response whose body is being read. Dropping it mid-body closes its connection.
///
/// Neither the head nor a chunk is bounded here: the session bounds every wait of an attempt
/// itself (the stall guard, the CDN timeout), and a second timer on the same wait would only
/// cost time.
pub(super) struct HttpBody(pub(super) http::Response<AnswerBody>);

impl SegmentBody for HttpBody {
    /// The body's own size, or its `content-length` (a direct call's body has no size hint).
    fn len(&self) -> Option<usize> {
        let hint = http_body::Body::size_hint(self.0.body()).exact().and_then(|n| usize::try_from(n).ok());
        hint.or_else(|| self.0.headers().get(http::header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok())
    }

    async fn next(&mut self) -> Result<Option<usize>, ()> {
        loop {
            match self.0.body_mut().frame().await {
                None => return Ok(None),
                Some(Err(_)) => return Err(()),
                Some(Ok(f)) => match f.into_data() {
                    Ok(data) => return Ok(Some(data.len())),
                    Err(_trailers) => continue,
                },
            }
        }
    }
}
