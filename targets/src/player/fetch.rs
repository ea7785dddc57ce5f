//! How a player GETs what it plays — manifests and playlists whole (bounded in size), segments
//! as they arrive — and the parsed manifests a fleet of players shares.

use super::cmcd::{Cmcd, CmcdMode};
use super::ladder::Target;
use super::manifest::ManifestError;
use crate::client::{AnswerBody, HttpClient};
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response};
use http_body_util::{BodyExt, Empty};
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};
use url::Url;

/// The largest manifest or media playlist read (a two-hour title's playlist of 2 s segments is
/// about 300 KB): an origin that answers more is refused rather than read into memory.
pub(super) const MAX_MANIFEST_BYTES: usize = 16 << 20;

/// One session's way of fetching: the device's pool and the headers each of its requests
/// carries (a platform viewer's user and fault context; none for a real stream's viewer).
#[derive(Clone, Copy)]
pub(super) struct Fetcher<'a> {
    pub http: &'a HttpClient,
    pub headers: &'a [(HeaderName, HeaderValue)],
    pub memos: &'a Memos,
}

impl Fetcher<'_> {
    /// The answer's head to a GET of `target`, with `cmcd`'s data when the session sends it;
    /// its body is read as it arrives. Unbounded: the caller bounds it.
    pub async fn get(&self, target: Target, cmcd: Option<&Cmcd<'_>>) -> Result<Response<AnswerBody>, String> {
        let mut uri = match target {
            Target::Uri(uri) => uri,
            Target::Url(mut url) => {
                url.set_fragment(None); // the client's business, never sent
                http::Uri::try_from(String::from(url)).map_err(|e| e.to_string())?
            }
        };
        let mut cmcd_headers = Vec::new();
        match cmcd.map(|c| (c, c.session.mode)) {
            Some((c, CmcdMode::Query)) => uri = with_argument(uri, &c.query())?,
            Some((c, CmcdMode::Headers)) => cmcd_headers = c.headers(),
            Some((_, CmcdMode::Off)) | None => {}
        }
        let mut req = Request::get(uri).body(Empty::new()).map_err(|e| e.to_string())?;
        for (name, value) in self.headers.iter().cloned().chain(cmcd_headers) {
            req.headers_mut().insert(name, value);
        }
        self.http.request(req).await.map_err(|e| e.to_string())
    }

    /// The whole body of a 2xx answer to a GET of `target`, refused past
    /// [`MAX_MANIFEST_BYTES`]. Unbounded in time: the caller bounds it.
    pub async fn whole(&self, target: Target, cmcd: Option<&Cmcd<'_>>) -> Result<Bytes, String> {
        let res = self.get(target, cmcd).await?;
        if !res.status().is_success() {
            return Err(format!("answered {}", res.status()));
        }
        read_capped(res.into_body()).await
    }
}

/// `uri` with `argument` (`key=value`, encoded) added to its query.
fn with_argument(uri: http::Uri, argument: &str) -> Result<http::Uri, String> {
    let mut parts = uri.into_parts();
    let (path, query) = parts.path_and_query.as_ref().map_or(("/", None), |pq| (pq.path(), pq.query()));
    let joined = match query {
        Some(q) if !q.is_empty() => format!("{path}?{q}&{argument}"),
        _ => format!("{path}?{argument}"),
    };
    parts.path_and_query = Some(joined.try_into().map_err(|e: http::uri::InvalidUri| e.to_string())?);
    http::Uri::from_parts(parts).map_err(|e| e.to_string())
}

/// The whole body, refused past [`MAX_MANIFEST_BYTES`]. By hand rather than with
/// http-body-util's `Limited`: its boxed error type makes the session future fail the `Send`
/// check the load's spawned tasks need (a rustc higher-ranked lifetime limitation).
async fn read_capped(mut body: AnswerBody) -> Result<Bytes, String> {
    // A body of one frame is taken as it is; only a second frame makes a copy.
    let mut first: Option<Bytes> = None;
    let mut out = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|e| e.to_string())?.into_data() else { continue };
        let had = first.as_ref().map_or(0, Bytes::len) + out.len();
        if had + data.len() > MAX_MANIFEST_BYTES {
            return Err(format!("longer than the {} MiB a manifest may be", MAX_MANIFEST_BYTES >> 20));
        }
        match first.take() {
            None if out.is_empty() => first = Some(data),
            earlier => {
                out.extend_from_slice(&earlier.unwrap_or_default());
                out.extend_from_slice(&data);
            }
        }
    }
    Ok(first.unwrap_or_else(|| out.freeze()))
}

/// Manifests and media playlists already parsed. Every viewer still fetches each one it plays
/// (the origin sees the request and any fault on it); a body the fleet has already read is only
/// not parsed again. On the virtual clock thousands of viewers read the same playlists, and
/// parsing them was most of a session's CPU.
#[derive(Debug)]
pub(super) struct Memos {
    /// By URL and body: a ladder's playlist URLs are resolved against the manifest's.
    pub manifests: Memo<super::ladder::Ladder>,
    /// By body alone: a listing keeps its references unresolved, so the same playlist served
    /// by every CDN, for every title, is read once.
    pub playlists: Memo<super::manifest::hls::Listing>,
}

impl Default for Memos {
    fn default() -> Self {
        Self { manifests: Memo::new(true), playlists: Memo::new(false) }
    }
}

/// One kind of parse result, remembered by a hash of its key (the body, and the URL when
/// `by_url`) and checked against it. Hand-written: caching crates key by an owned key, and
/// making one (a URL and a body) for each lookup would cost what the memo saves.
#[derive(Debug)]
pub(super) struct Memo<T> {
    entries: Mutex<foldhash::HashMap<u64, Entry<T>>>,
    hasher: foldhash::fast::RandomState,
    by_url: bool,
}

/// What was read (the URL when it is part of the key, and the body) and what it parsed to.
type Entry<T> = (Option<Url>, Bytes, Arc<T>);

impl<T> Memo<T> {
    /// Entries kept; past it the memo starts again (a platform has a few hundred manifests).
    const CAPACITY: usize = 4096;

    fn new(by_url: bool) -> Self {
        Self { entries: Mutex::default(), hasher: foldhash::fast::RandomState::default(), by_url }
    }

    /// What `parse` makes of `body` read from `url`, parsed once. Errors are not remembered.
    pub fn get(
        &self,
        url: &Url,
        body: Bytes,
        parse: impl FnOnce(&Url, &[u8]) -> Result<T, ManifestError>,
    ) -> Result<Arc<T>, ManifestError> {
        let url_key = self.by_url.then_some(url);
        let key = self.hasher.hash_one((url_key, &body));
        let lock = || self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((u, b, parsed)) = lock().get(&key)
            && u.as_ref() == url_key
            && *b == body
        {
            return Ok(parsed.clone());
        }
        let parsed = Arc::new(parse(url, &body)?);
        let mut entries = lock();
        if entries.len() >= Self::CAPACITY {
            entries.clear();
        }
        entries.insert(key, (url_key.cloned(), body, parsed.clone()));
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memo_parses_a_body_once_and_a_changed_body_again() {
        let memo = Memo::<usize>::new(true);
        let url = Url::parse("http://127.0.0.1:1/m.m3u8").unwrap();
        let calls = std::cell::Cell::new(0);
        let parse = |_: &Url, b: &[u8]| {
            calls.set(calls.get() + 1);
            Ok(b.len())
        };
        assert_eq!(*memo.get(&url, Bytes::from_static(b"abc"), parse).unwrap(), 3);
        assert_eq!(*memo.get(&url, Bytes::from_static(b"abc"), parse).unwrap(), 3);
        assert_eq!(calls.get(), 1, "the same URL and body are parsed once");
        assert_eq!(*memo.get(&url, Bytes::from_static(b"abcd"), parse).unwrap(), 4);
        let other = Url::parse("http://127.0.0.1:2/m.m3u8").unwrap();
        assert_eq!(*memo.get(&other, Bytes::from_static(b"abc"), parse).unwrap(), 3);
        assert_eq!(calls.get(), 3, "another body or URL is parsed again");
        let by_body = Memo::<usize>::new(false);
        by_body.get(&url, Bytes::from_static(b"abc"), parse).unwrap();
        by_body.get(&other, Bytes::from_static(b"abc"), parse).unwrap();
        assert_eq!(calls.get(), 4, "a memo by body reads the same body from another URL once");
    }
}
