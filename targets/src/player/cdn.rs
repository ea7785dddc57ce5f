//! Segments over HTTP: `GET {cdn}/segments/{title}/{kbps}/{n}`, the body read chunk by chunk so
//! the session loop can see a stall or abandon the download.

use super::PlaybackClient;
use super::stream::{SegmentBody, SegmentSource};

/// The CDNs of one manifest, for one user and title.
pub(super) struct HttpSource<'a> {
    pub client: &'a PlaybackClient,
    pub cdns: Vec<String>,
    pub user: &'a str,
    pub title: &'a str,
}

/// A response whose body is being read. Dropping it mid-body closes its connection.
pub(super) struct HttpBody(reqwest::Response);

impl SegmentSource for HttpSource<'_> {
    type Body = HttpBody;

    async fn open(&self, cdn: usize, kbps: u32, n: u32) -> Result<HttpBody, ()> {
        let base = self.cdns.get(cdn).ok_or(())?;
        let url = format!("{base}/segments/{}/{kbps}/{n}", self.title);
        let req = self.client.get(url, self.client.spec.cdn_timeout).header(crate::USER_HEADER, self.user);
        match req.send().await {
            Ok(res) if res.status().is_success() => Ok(HttpBody(res)),
            _ => Err(()),
        }
    }
}

impl SegmentBody for HttpBody {
    async fn next(&mut self) -> Result<Option<usize>, ()> {
        self.0.chunk().await.map(|chunk| chunk.map(|c| c.len())).map_err(drop)
    }
}
