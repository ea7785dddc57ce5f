//! Real streams: a viewer who opens an HLS or DASH manifest on the user's own origins and
//! watches it with the platform's player — the same ABR rule, buffer and guards, in real media
//! time.
//!
//! Each session reads the manifest (and an HLS master's media playlists) again, as a player
//! does, from the first origin that serves it within the start budget; segments then come from
//! the locations below, failing over in that order.
//!
//! Locations: each origin (`origins`, default the manifest's own) in turn, and within each the
//! copies the manifest lists (HLS redundant variants, DASH `BaseURL`s). A URL on the manifest's
//! origin is fetched from the location's origin instead (same path); a URL on another host (an
//! absolute `BaseURL` to a CDN) is fetched as it is.

use super::cdn::HttpBody;
use super::manifest::{Format, ManifestError, Presentation, hls};
use super::stream::{SegmentSource, StreamOutcome};
use super::{Media, PlayFailure, PlayOutcome, Segmentation};
use crate::client::{AnswerBody, HttpClient};
use crate::topology::PlayerSpec;
use bytes::Bytes;
use chaos_fault::server::Net;
use http::{Request, Response};
use http_body_util::{BodyExt, Empty};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::{Instant, timeout_at};
use url::Url;

/// The largest manifest or media playlist read (a two-hour title's playlist of 2 s segments is
/// about 300 KB): an origin that answers more is refused rather than read into memory.
const MAX_MANIFEST_BYTES: usize = 16 << 20;

/// Where a real stream is and how long a viewer watches it.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamSpec {
    /// The HLS master playlist or DASH MPD.
    pub manifest: Url,
    /// Origins serving the same paths, in failover order (default: the manifest's).
    pub origins: Vec<Url>,
    /// Media time a viewer watches (at most the whole title).
    pub watch: Duration,
}

/// A viewer of a real stream. Cheap to clone (one connection pool).
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use targets::{StreamPlayer, StreamSpec, Topology};
/// let stream = StreamSpec {
///     manifest: "http://127.0.0.1:8080/video/master.m3u8".parse()?,
///     origins: vec!["http://127.0.0.1:8080/".parse()?, "http://127.0.0.1:8081/".parse()?],
///     watch: std::time::Duration::from_secs(60),
/// };
/// let outcome = StreamPlayer::new(stream, Topology::default_platform().player).play().await;
/// println!("{:?} rebuffers {:?}", outcome.ttff, outcome.qoe.map(|q| q.rebuffers));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct StreamPlayer {
    http: HttpClient,
    stream: Arc<StreamSpec>,
    spec: PlayerSpec,
}

/// Why a manifest could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// No origin answered it with a 2xx in time.
    #[error("{url}: {reason}")]
    Fetch {
        /// What was asked.
        url: Url,
        /// What happened.
        reason: String,
    },
    /// It was read but cannot be played.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

impl StreamPlayer {
    /// A viewer of `stream` with the player `spec` (its start budget, timeouts, ABR and guards).
    pub fn new(stream: StreamSpec, spec: PlayerSpec) -> Self {
        Self { http: crate::client::pool(&Net::Tcp, 256), stream: Arc::new(stream), spec }
    }

    /// Reads the presentation from the first origin that serves it, each request bounded by the
    /// player's CDN timeout.
    pub async fn load(&self) -> Result<Presentation, LoadError> {
        self.load_any().await.map(|(p, _)| p)
    }

    /// The presentation and the origin it came from (its URLs are on that origin).
    async fn load_any(&self) -> Result<(Presentation, Url), LoadError> {
        // The failover guard covers the manifest too: without it only the first origin is asked.
        let origins = self.origins();
        let tried = if self.spec.failover { origins.len() } else { 1 };
        let mut last = None;
        for origin in &origins[..tried] {
            match self.load_from(&on_origin(&self.stream.manifest, &self.home(), origin)).await {
                Ok(p) => return Ok((p, origin.clone())),
                Err(e @ LoadError::Manifest(_)) => return Err(e),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| LoadError::Fetch { url: self.stream.manifest.clone(), reason: "no origin".into() }))
    }

    async fn load_from(&self, url: &Url) -> Result<Presentation, LoadError> {
        let body = self.fetch(url).await?;
        match Format::sniff(&body) {
            Some(Format::Dash) => Ok(super::manifest::dash::presentation(url, &body)?),
            Some(Format::Hls) => {
                let variants = hls::master(url, &body)?;
                let mut tracks = Vec::with_capacity(variants.len());
                for v in &variants {
                    let mut copies = Vec::with_capacity(v.playlists.len());
                    for playlist in &v.playlists {
                        copies.push(hls::media(playlist, &self.fetch(playlist).await?)?);
                    }
                    tracks.push(copies);
                }
                Ok(hls::presentation(url, &variants, tracks)?)
            }
            None => Err(ManifestError::UnknownFormat { url: url.clone() }.into()),
        }
    }

    /// The whole body of a GET of `url`, within the CDN timeout.
    async fn fetch(&self, url: &Url) -> Result<Bytes, LoadError> {
        let failed = |reason: String| LoadError::Fetch { url: url.clone(), reason };
        let deadline = Instant::now() + self.spec.cdn_timeout;
        let res = timeout_at(deadline, self.get(url)).await.map_err(|_| failed("timed out".into()))??;
        if !res.status().is_success() {
            return Err(failed(format!("answered {}", res.status())));
        }
        let body = timeout_at(deadline, read_capped(res.into_body())).await.map_err(|_| failed("timed out".into()))?;
        body.map_err(failed)
    }

    async fn get(&self, url: &Url) -> Result<Response<AnswerBody>, LoadError> {
        let failed = |reason: String| LoadError::Fetch { url: url.clone(), reason };
        let req = Request::get(url.as_str()).body(Empty::new()).map_err(|e| failed(e.to_string()))?;
        self.http.request(req).await.map_err(|e| failed(e.to_string()))
    }

    /// One session: the manifest within the start budget, then `watch` of the title.
    pub async fn play(&self) -> PlayOutcome {
        let pressed = Instant::now();
        let (presentation, from) = match timeout_at(pressed + self.spec.start_budget, self.load_any()).await {
            Ok(Ok(loaded)) => loaded,
            Ok(Err(_)) => return PlayOutcome::failed(PlayFailure::Manifest),
            Err(_) => return PlayOutcome::failed(PlayFailure::Budget),
        };
        let locations = Locations::new(&presentation, self.origins(), from);
        let media = media(&presentation, locations.len());
        let mut spec = self.spec.clone();
        spec.watch_segments = segments_for(&presentation.durations, self.stream.watch);
        let source = RemoteSource { player: self, presentation: &presentation, locations, inits: Mutex::default() };
        let StreamOutcome { ttff, failure, failovers, qoe } =
            super::stream::play(&source, &media, &spec, pressed).await;
        PlayOutcome { ok: ttff.is_some(), ttff, failure, failovers, qoe: ttff.map(|_| qoe) }
    }

    /// One viewer's session: no home page, Play on the stream.
    pub async fn session(&self) -> super::SessionOutcome {
        super::SessionOutcome { home: None, play: Some(self.play().await) }
    }

    fn origins(&self) -> Vec<Url> {
        match self.stream.origins.is_empty() {
            true => vec![self.home()],
            false => self.stream.origins.clone(),
        }
    }

    /// The manifest's own origin.
    fn home(&self) -> Url {
        let mut home = self.stream.manifest.clone();
        home.set_path("/");
        home.set_query(None);
        home
    }
}

/// The whole body, refused past [`MAX_MANIFEST_BYTES`]. By hand rather than with
/// http-body-util's `Limited`: its boxed error type makes the session future fail the `Send`
/// check the load's spawned tasks need (a rustc higher-ranked lifetime limitation).
async fn read_capped(mut body: AnswerBody) -> Result<Bytes, String> {
    let mut out = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|e| e.to_string())?.into_data() else { continue };
        if out.len() + data.len() > MAX_MANIFEST_BYTES {
            return Err(format!("longer than the {} MiB a manifest may be", MAX_MANIFEST_BYTES >> 20));
        }
        out.extend_from_slice(&data);
    }
    Ok(out.freeze())
}

/// The player's view of a presentation: bitrates, estimated sizes and the segments' lengths.
fn media(p: &Presentation, locations: usize) -> Media {
    let segment = p.durations.first().copied().unwrap_or(Duration::from_secs(2));
    let ladder: Vec<u32> = p.renditions.iter().map(|r| r.kbps).collect();
    Media {
        bytes: ladder.iter().map(|&kbps| (f64::from(kbps) * 125.0 * segment.as_secs_f64()) as usize).collect(),
        ladder,
        exact_sizes: false,
        segment,
        segmentation: Segmentation::Listed(p.durations.clone().into()),
        scale: 1.0,
        cdns: locations,
    }
}

/// Segments covering `watch` of media (at least one).
fn segments_for(durations: &[Duration], watch: Duration) -> u32 {
    let mut total = Duration::ZERO;
    let n = durations.iter().take_while(|d| {
        let before = total;
        total += **d;
        before < watch
    });
    u32::try_from(n.count().max(1)).unwrap_or(u32::MAX)
}

/// `url` fetched from `origin` when it is on `home` (the manifest's origin); as it is otherwise.
fn on_origin(url: &Url, home: &Url, origin: &Url) -> Url {
    if url.origin() != home.origin() {
        return url.clone();
    }
    let mut moved = url.clone();
    // Both are http(s) URLs with a host, so these cannot fail.
    let _ = moved.set_scheme(origin.scheme());
    let _ = moved.set_host(origin.host_str());
    let _ = moved.set_port(origin.port());
    moved
}

/// Origins × copies, origin-major: location `l` is origin `l / copies`, copy `l % copies`.
struct Locations {
    origins: Vec<Url>,
    copies: usize,
    /// The origin the manifest came from: its URLs are moved to each location's origin.
    home: Url,
}

impl Locations {
    fn new(p: &Presentation, origins: Vec<Url>, home: Url) -> Self {
        let copies = p.renditions.iter().map(|r| r.copies.len()).max().unwrap_or(1).max(1);
        Self { origins, copies, home }
    }

    fn len(&self) -> usize {
        self.origins.len() * self.copies
    }

    /// Where `pick` (segment or init of a rendition's copy) is fetched from location `l`.
    fn url(
        &self,
        l: usize,
        copies: &[super::manifest::Track],
        pick: impl Fn(&super::manifest::Track) -> Option<&Url>,
    ) -> Option<Url> {
        let origin = self.origins.get(l / self.copies)?;
        let track = copies.get((l % self.copies) % copies.len().max(1))?;
        Some(on_origin(pick(track)?, &self.home, origin))
    }
}

struct RemoteSource<'a> {
    player: &'a StreamPlayer,
    presentation: &'a Presentation,
    locations: Locations,
    /// (location, rendition) whose initialisation segment this session has.
    inits: Mutex<Vec<(usize, usize)>>,
}

impl RemoteSource<'_> {
    /// Fetches the rendition's initialisation segment from location `l` once a session.
    async fn init(&self, l: usize, rendition: usize) -> Result<(), ()> {
        let copies = &self.presentation.renditions[rendition].copies;
        let Some(url) = self.locations.url(l, copies, |t| t.init.as_ref()) else { return Ok(()) };
        if self.inits.lock().unwrap_or_else(|p| p.into_inner()).contains(&(l, rendition)) {
            return Ok(());
        }
        let res = self.player.get(&url).await.map_err(drop)?;
        if !res.status().is_success() {
            return Err(());
        }
        res.into_body().collect().await.map_err(drop)?;
        self.inits.lock().unwrap_or_else(|p| p.into_inner()).push((l, rendition));
        Ok(())
    }
}

impl SegmentSource for RemoteSource<'_> {
    type Body = HttpBody;

    async fn open(&self, cdn: usize, rendition: usize, n: u32) -> Result<HttpBody, ()> {
        let copies = &self.presentation.renditions.get(rendition).ok_or(())?.copies;
        let url = self.locations.url(cdn, copies, |t| t.segments.get(n as usize)).ok_or(())?;
        self.init(cdn, rendition).await?;
        match self.player.get(&url).await {
            Ok(res) if res.status().is_success() => Ok(HttpBody(res)),
            _ => Err(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_moves_to_the_origin_only_from_the_manifests() {
        let home = Url::parse("http://127.0.0.1:8001/").unwrap();
        let b = Url::parse("http://127.0.0.1:8002/").unwrap();
        let seg = Url::parse("http://127.0.0.1:8001/v/s1.ts?x=1").unwrap();
        assert_eq!(on_origin(&seg, &home, &b).as_str(), "http://127.0.0.1:8002/v/s1.ts?x=1");
        let cdn = Url::parse("http://127.0.0.1:9000/v/s1.ts").unwrap();
        assert_eq!(on_origin(&cdn, &home, &b), cdn);
    }

    #[tokio::test]
    async fn an_oversized_manifest_is_refused_not_read_into_memory() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let huge = format!("#EXTM3U\n{}", "#\n".repeat(MAX_MANIFEST_BYTES / 2 + 1));
        let app = axum::Router::new().route("/m.m3u8", axum::routing::get(move || async move { huge }));
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let stream = StreamSpec {
            manifest: Url::parse(&format!("http://{addr}/m.m3u8")).unwrap(),
            origins: vec![],
            watch: Duration::from_secs(1),
        };
        let got = StreamPlayer::new(stream, crate::Topology::default_platform().player).load().await;
        server.abort();
        match got {
            Err(LoadError::Fetch { reason, .. }) => assert!(reason.contains("longer than the 16 MiB"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn watch_covers_whole_segments() {
        let d = [2, 2, 2, 1].map(Duration::from_secs);
        assert_eq!(segments_for(&d, Duration::from_secs(4)), 2);
        assert_eq!(segments_for(&d, Duration::from_secs(5)), 3);
        assert_eq!(segments_for(&d, Duration::from_secs(60)), 4);
        assert_eq!(segments_for(&d, Duration::ZERO), 1);
    }
}
