//! [`PlaybackClient`]: a device that opens the home page, presses Play and watches — an
//! adaptive-bitrate player with a playback buffer over the CDN replicas.
//!
//! - [`abr`]: the rule that picks each segment's rendition and abandons hopeless downloads;
//! - [`buffer`]: the buffer model (first frame, stalls, rebuffers) in media time;
//! - [`stream`]: the session loop that ties them to segment downloads and CDN failover;
//! - `ladder`: what a session plays — the manifest's renditions, media playlists read as they
//!   are needed, segments over HTTP — for the platform's HLS manifests and real streams alike;
//! - `fetch`: the requests, and the parsed manifests a fleet of devices shares.

pub mod abr;
pub mod buffer;
mod cdn;
pub mod cmcd;
mod fetch;
mod ladder;
pub mod manifest;
mod remote;
#[cfg(test)]
mod scripted;
pub mod stream;

use crate::client::{AnswerBody, HttpClient, Origin};
use crate::services::PLAY_FAILURE_HEADER;
use crate::topology::PlayerSpec;
use chaos_fault::server::Net;
use http::HeaderValue;
use http_body_util::BodyExt;
pub use remote::{LoadError, StreamPlayer, StreamSpec};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use stream::Qoe;
use tokio::time::{Instant, timeout_at};

/// A device. Cheap to clone (one connection pool).
#[derive(Clone, Debug)]
pub struct PlaybackClient {
    /// The platform's kind of pool ([`Connector`](crate::Connector)), so the device can reach
    /// an in-memory platform too (reqwest takes no custom transport).
    http: HttpClient,
    edge: Origin,
    spec: PlayerSpec,
    /// The edge's base URL, when it is one: the master playlist's URL is on it.
    edge_url: Option<url::Url>,
    context: Option<http::HeaderValue>,
    memos: Arc<fetch::Memos>,
    /// Play sessions begun, for CMCD's session ids.
    sessions: Arc<std::sync::atomic::AtomicU64>,
}

/// What one session saw.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionOutcome {
    /// The home page; `None` for a viewer of a real stream, who opens none.
    pub home: Option<HomeOutcome>,
    /// The Play press; `None` for a home-only (browsing) session.
    pub play: Option<PlayOutcome>,
}

/// The home page as the device saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct HomeOutcome {
    /// The page loaded (possibly degraded).
    pub ok: bool,
    /// Some rows were fallbacks.
    pub degraded: bool,
    /// From the session's intended start (so that a late start counts) to the page.
    pub latency: Duration,
}

/// The Play press as the device saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct PlayOutcome {
    /// The first frame arrived within the start budget.
    pub ok: bool,
    /// Time to first frame, from the Play press; set when `ok`.
    pub ttff: Option<Duration>,
    /// Why the start failed.
    pub failure: Option<PlayFailure>,
    /// Moves to the next CDN after one failed.
    pub failovers: u32,
    /// What the viewer saw once the video started; `None` when it never started.
    pub qoe: Option<Qoe>,
}

impl PlayOutcome {
    pub(crate) fn failed(failure: PlayFailure) -> Self {
        Self { ok: false, ttff: None, failure: Some(failure), failovers: 0, qoe: None }
    }
}

/// Why a start failed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlayFailure {
    /// The edge answered an error naming the failed step (`auth`, `license`, ...).
    Edge(String),
    /// The edge could not be reached or answered nonsense.
    EdgeUnreachable,
    /// No CDN served the first segments.
    Cdn,
    /// The first frame did not arrive within the start budget: the viewer left (an exit before
    /// video start).
    Budget,
    /// A real stream's manifest could not be read from any origin, or cannot be played.
    Manifest,
}

impl std::fmt::Display for PlayFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Edge(step) => write!(f, "edge:{step}"),
            Self::EdgeUnreachable => f.write_str("edge_unreachable"),
            Self::Cdn => f.write_str("cdn"),
            Self::Budget => f.write_str("budget"),
            Self::Manifest => f.write_str("manifest"),
        }
    }
}

/// What the device reads of the home page: which rows were fallbacks.
#[derive(Deserialize)]
struct HomeAnswer {
    #[serde(default)]
    degraded: Vec<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct PlayAnswer {
    manifest: Manifest,
}

/// The playback service's manifest: an HLS master playlist (each rendition once per CDN, in
/// the order this user should try them: redundant variant streams) and the media time scale.
#[derive(Deserialize)]
struct Manifest {
    hls: String,
    time_scale: f64,
}

/// What the manifest says is streamed, as the player uses it.
#[derive(Clone, Debug, PartialEq)]
pub struct Media {
    /// Rendition bitrates, kbit/s, ascending.
    pub ladder: Vec<u32>,
    /// Bytes of one `segment`-long segment of each rendition.
    pub bytes: Vec<usize>,
    /// Whether `bytes` is exact (a scripted test's) or an estimate from the bitrate (an HLS or
    /// DASH stream's: segments vary; a body's `content-length`, or its end, gives its length).
    pub exact_sizes: bool,
    /// Media time of a typical segment: the unit of the start-up and resume thresholds.
    pub segment: Duration,
    /// Media time of each segment.
    pub segmentation: Segmentation,
    /// Media seconds per wall-clock second.
    pub scale: f64,
    /// CDNs (or origins and their copies) segments can come from.
    pub cdns: usize,
}

/// How a title is cut into segments.
#[derive(Clone, Debug, PartialEq)]
pub enum Segmentation {
    /// This many segments of [`Media::segment`] each (a scripted test's).
    Uniform(u32),
    /// Each segment's own length (`EXTINF`s, a DASH timeline or template).
    Listed(std::sync::Arc<[Duration]>),
}

impl Media {
    /// Segments in the title.
    pub fn segments(&self) -> u32 {
        match &self.segmentation {
            Segmentation::Uniform(n) => *n,
            Segmentation::Listed(d) => u32::try_from(d.len()).unwrap_or(u32::MAX),
        }
    }

    /// Media time of segment `n`.
    pub fn duration(&self, n: u32) -> Duration {
        match &self.segmentation {
            Segmentation::Uniform(_) => self.segment,
            Segmentation::Listed(d) => d.get(n as usize).copied().unwrap_or(self.segment),
        }
    }

    /// Bytes expected of segment `n` of `rendition`: `bytes` scaled by its length.
    pub fn expected_bytes(&self, rendition: usize, n: u32) -> usize {
        let nominal = self.bytes[rendition];
        let length = self.duration(n);
        if length == self.segment {
            return nominal;
        }
        (nominal as f64 * length.as_secs_f64() / self.segment.as_secs_f64().max(1e-9)).round() as usize
    }

    /// Wall-clock time of a media duration.
    pub fn to_wall(&self, media: Duration) -> Duration {
        media.div_f64(self.scale)
    }

    /// Media time of a wall-clock duration.
    pub fn to_media(&self, wall: Duration) -> Duration {
        wall.mul_f64(self.scale)
    }
}

impl PlaybackClient {
    /// A device talking to the edge at `edge` (`http://127.0.0.1:PORT`).
    pub fn new(edge: impl Into<String>, spec: PlayerSpec) -> Self {
        Self::on(&Net::Tcp, edge, spec)
    }

    /// A device on `net`: TCP, or the in-memory network a platform was started on.
    pub fn on(net: &Net, edge: impl Into<String>, spec: PlayerSpec) -> Self {
        let edge = edge.into();
        let (edge_url, memos, sessions) = (url::Url::parse(&edge).ok(), Arc::default(), Arc::default());
        let http = crate::client::pool(net, 256);
        Self { http, edge: Origin::new(&edge), edge_url, spec, context: None, memos, sessions }
    }

    /// The same device, sending request-scoped faults (`x-chaos-context`) with every request:
    /// a test user whose own requests fail where the context says.
    pub fn with_context(mut self, context: http::HeaderValue) -> Self {
        self.context = Some(context);
        self
    }

    /// A GET for `user`; the answer's head within `timeout`, and the deadline its body must
    /// also meet (as a whole-request timeout does).
    async fn get(&self, path: String, user: User<'_>, timeout: Duration) -> Result<Answer, ()> {
        let deadline = Instant::now() + timeout;
        let res = timeout_at(deadline, self.send(&self.edge, path, user)).await.map_err(drop)??;
        Ok(Answer { res, deadline })
    }

    /// A GET of `path` from `origin` for `user`, unbounded: the caller bounds it.
    async fn send(&self, origin: &Origin, path: String, user: User<'_>) -> Result<http::Response<AnswerBody>, ()> {
        let user = user.ok_or(())?;
        let context = self.context.clone().map(|ctx| (chaos_fault::context::CONTEXT_HEADER_NAME, ctx));
        origin.send(&self.http, path, user, context).await.map_err(drop)
    }

    /// A browsing session: the home page only.
    pub async fn browse(&self, user: &str, intended: Instant) -> SessionOutcome {
        let user = HeaderValue::from_str(user).ok();
        SessionOutcome { home: Some(self.home(user.as_ref(), intended).await), play: None }
    }

    /// One session for `user`: the home page, then Play on `title` and watching it.
    /// `intended` is when the session was meant to start; lateness counts against the home page
    /// latency.
    pub async fn session(&self, user: &str, title: &str, intended: Instant) -> SessionOutcome {
        let user = HeaderValue::from_str(user).ok();
        let home = self.home(user.as_ref(), intended).await;
        SessionOutcome { home: Some(home), play: Some(self.play(user.as_ref(), title).await) }
    }

    async fn home(&self, user: User<'_>, intended: Instant) -> HomeOutcome {
        let res = self.get("/home".into(), user, self.spec.edge_timeout).await;
        let (ok, degraded) = match res {
            Ok(r) if r.res.status().is_success() => match r.json::<HomeAnswer>().await {
                Ok(page) => (true, !page.degraded.is_empty()),
                Err(()) => (false, false),
            },
            _ => (false, false),
        };
        HomeOutcome { ok, degraded, latency: intended.elapsed() }
    }

    /// Gets the manifest and license through the edge within the start budget, then streams.
    async fn play(&self, user: User<'_>, title: &str) -> PlayOutcome {
        let pressed = Instant::now();
        let (ladder, scale, edge) = match timeout_at(pressed + self.spec.start_budget, self.manifest(user, title)).await
        {
            Ok(Ok(got)) => got,
            Ok(Err(failure)) => return PlayOutcome::failed(failure),
            Err(_) => return PlayOutcome::failed(PlayFailure::Budget),
        };
        let Some(user) = user else { return PlayOutcome::failed(PlayFailure::Cdn) };
        let mut headers = vec![(crate::USER, user.clone())];
        headers.extend(self.context.clone().map(|ctx| (chaos_fault::context::CONTEXT_HEADER_NAME, ctx)));
        let fetch = fetch::Fetcher { http: &self.http, headers: &headers, memos: &self.memos };
        // The CDNs' URLs are on hosts of their own: the edge is the one origin, and no URL moves.
        let locations = ladder::Locations::new(&ladder, vec![edge.clone()], edge);
        let n = self.sessions.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let cmcd = cmcd::CmcdSession::new(self.spec.cmcd, n, title);
        let viewing = ladder::Viewing::new(fetch, &ladder, locations, cmcd);
        ladder::watch(&viewing, scale, &self.spec, ladder::Watch::Segments, pressed).await
    }

    /// The manifest through the edge (which also gets the license and the resume position), as
    /// a ladder; its time scale; the edge's URL.
    async fn manifest(&self, user: User<'_>, title: &str) -> Result<(Arc<ladder::Ladder>, f64, url::Url), PlayFailure> {
        let path = ["/play/", title].concat();
        let res = self.get(path.clone(), user, self.spec.edge_timeout).await;
        let res = res.map_err(|_| PlayFailure::EdgeUnreachable)?;
        if !res.res.status().is_success() {
            let step = res.res.headers().get(PLAY_FAILURE_HEADER).and_then(|v| v.to_str().ok());
            return Err(step.map_or(PlayFailure::EdgeUnreachable, |step| PlayFailure::Edge(step.to_string())));
        }
        let answer: PlayAnswer = res.json().await.map_err(|_| PlayFailure::EdgeUnreachable)?;
        let Manifest { hls, time_scale } = answer.manifest;
        let edge = self.edge_url.clone().ok_or(PlayFailure::EdgeUnreachable)?;
        let url = edge.join(&path).map_err(|_| PlayFailure::EdgeUnreachable)?;
        let ladder = self.memos.manifests.get(&url, hls.into(), ladder::Ladder::parse);
        match ladder {
            Ok(ladder) if time_scale >= 1.0 && time_scale.is_finite() => Ok((ladder, time_scale, edge)),
            _ => Err(PlayFailure::EdgeUnreachable),
        }
    }
}

/// A session's user as the header its requests carry, made once a session and cloned into each
/// request (a clone counts a reference; making it for each request validated and copied the name
/// into a new allocation); `None` for a name that is no header value, whose requests all fail.
type User<'a> = Option<&'a HeaderValue>;

/// An answer whose body is still to be read, by `deadline`.
struct Answer {
    res: http::Response<AnswerBody>,
    deadline: Instant,
}

impl Answer {
    /// The body as JSON.
    async fn json<T: DeserializeOwned>(self) -> Result<T, ()> {
        let body = timeout_at(self.deadline, self.res.into_body().collect()).await.map_err(drop)?.map_err(drop)?;
        serde_json::from_slice(&body.to_bytes()).map_err(drop)
    }
}
