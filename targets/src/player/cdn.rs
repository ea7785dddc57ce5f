//! Segments over HTTP: `GET {cdn}/segments/{title}/{kbps}/{n}`, the body read chunk by chunk so
//! the session loop can see a stall or abandon the download.

use super::stream::{SegmentBody, SegmentSource};
use super::{Answer, PlaybackClient};
use http_body_util::BodyExt;
use tokio::time::timeout_at;

/// The CDNs of one manifest, for one user and title.
pub(super) struct HttpSource<'a> {
    pub client: &'a PlaybackClient,
    pub cdns: Vec<String>,
    pub user: &'a str,
    pub title: &'a str,
}

/// A response whose body is being read, by the attempt's deadline. Dropping it mid-body
/// closes its connection.
pub(super) struct HttpBody(Answer);

impl SegmentSource for HttpSource<'_> {
    type Body = HttpBody;

    async fn open(&self, cdn: usize, kbps: u32, n: u32) -> Result<HttpBody, ()> {
        let base = self.cdns.get(cdn).ok_or(())?;
        let url = format!("{base}/segments/{}/{kbps}/{n}", self.title);
        match self.client.get(&url, self.user, self.client.spec.cdn_timeout).await {
            Ok(answer) if answer.res.status().is_success() => Ok(HttpBody(answer)),
            _ => Err(()),
        }
    }
}

impl SegmentBody for HttpBody {
    async fn next(&mut self) -> Result<Option<usize>, ()> {
        let Answer { res, deadline } = &mut self.0;
        loop {
            let frame = timeout_at(*deadline, res.body_mut().frame()).await.map_err(drop)?;
            match frame {
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
