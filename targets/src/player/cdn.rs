//! Segments over HTTP: `GET {cdn}/segments/{title}/{kbps}/{n}`, the body read chunk by chunk so
//! the session loop can see a stall or abandon the download.

use super::stream::{SegmentBody, SegmentSource};
use super::{PlaybackClient, User};
use crate::client::{AnswerBody, Origin};
use http_body_util::BodyExt;

/// The CDNs of one manifest, for one user and title.
pub(super) struct HttpSource<'a> {
    client: &'a PlaybackClient,
    cdns: Vec<Origin>,
    ladder: &'a [u32],
    user: User<'a>,
    /// `/segments/{title}/`, to which each request adds `{kbps}/{n}`.
    prefix: String,
}

impl<'a> HttpSource<'a> {
    pub fn new(client: &'a PlaybackClient, cdns: &[String], ladder: &'a [u32], user: User<'a>, title: &str) -> Self {
        let cdns = cdns.iter().map(|base| Origin::new(base)).collect();
        Self { client, cdns, ladder, user, prefix: format!("/segments/{title}/") }
    }
}

/// A response whose body is being read. Dropping it mid-body closes its connection.
///
/// Neither the head nor a chunk is bounded here: the session bounds every wait of an attempt
/// itself (the stall guard, the CDN timeout), and a second timer on the same wait would only
/// cost time.
pub(super) struct HttpBody(pub(super) http::Response<AnswerBody>);

impl SegmentSource for HttpSource<'_> {
    type Body = HttpBody;

    async fn open(&self, cdn: usize, rendition: usize, n: u32) -> Result<HttpBody, ()> {
        let origin = self.cdns.get(cdn).ok_or(())?;
        let kbps = *self.ladder.get(rendition).ok_or(())?;
        let (mut kbps_digits, mut n_digits) = (itoa::Buffer::new(), itoa::Buffer::new());
        let path = [self.prefix.as_str(), kbps_digits.format(kbps), "/", n_digits.format(n)].concat();
        match self.client.send(origin, path, self.user).await {
            Ok(res) if res.status().is_success() => Ok(HttpBody(res)),
            _ => Err(()),
        }
    }
}

impl SegmentBody for HttpBody {
    fn len(&self) -> Option<usize> {
        http_body::Body::size_hint(self.0.body()).exact().and_then(|n| usize::try_from(n).ok())
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
