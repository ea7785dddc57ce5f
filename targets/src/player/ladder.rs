//! One path for every stream a player plays — the platform's manifests and a user's HLS or DASH
//! alike: the [`Ladder`] a manifest lists, where each rendition's segments are ([`Locations`]),
//! and a session's [`Viewing`], which fetches media playlists as the session first needs them
//! (as HLS players do: the starting rendition's before the first segment, another's on the
//! first switch to it) and segments from the location the session is at.

use super::cdn::HttpBody;
use super::cmcd::{Cmcd, CmcdSession, Object, StreamingFormat};
use super::fetch::Fetcher;
use super::manifest::hls::Listing;
use super::manifest::{Format, ManifestError, Track, Unsupported, dash, hls};
use super::stream::{SegmentSource, Status, StreamOutcome};
use super::{Media, PlayFailure, PlayOutcome, Segmentation};
use crate::topology::PlayerSpec;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::time::{Instant, timeout_at};
use url::Url;

/// A manifest's renditions, ascending by bitrate, and where each one's segments are listed.
#[derive(Debug)]
pub(super) struct Ladder {
    /// Bitrates, kbit/s, ascending.
    pub kbps: Vec<u32>,
    /// HLS or DASH.
    format: StreamingFormat,
    /// Each rendition's copies: the first, then the alternates (HLS redundant variants, DASH
    /// `BaseURL`s).
    copies: Vec<Vec<Copy>>,
    /// Every segment's media time, when the manifest itself gives it (DASH).
    durations: Option<Arc<[Duration]>>,
}

/// Where one copy of a rendition lists its segments.
#[derive(Debug)]
enum Copy {
    /// In the manifest (DASH).
    Listed(Arc<Track>),
    /// In a media playlist, fetched when first needed (HLS).
    Playlist(Url),
}

impl Ladder {
    /// The ladder of the manifest `body` read from `url`, HLS or DASH (told by its first bytes).
    pub fn parse(url: &Url, body: &[u8]) -> Result<Self, ManifestError> {
        match Format::sniff(body) {
            Some(Format::Dash) => {
                let p = dash::presentation(url, body)?;
                Ok(Self {
                    kbps: p.renditions.iter().map(|r| r.kbps).collect(),
                    copies: p
                        .renditions
                        .into_iter()
                        .map(|r| r.copies.into_iter().map(Copy::listed).collect())
                        .collect(),
                    durations: Some(p.durations.into()),
                    format: StreamingFormat::Dash,
                })
            }
            Some(Format::Hls) => {
                let variants = hls::master(url, body)?;
                Ok(Self {
                    kbps: variants.iter().map(|v| v.kbps).collect(),
                    copies: variants
                        .into_iter()
                        .map(|v| v.playlists.into_iter().map(Copy::Playlist).collect())
                        .collect(),
                    durations: None,
                    format: StreamingFormat::Hls,
                })
            }
            None => Err(ManifestError::UnknownFormat { url: url.clone() }),
        }
    }

    /// The most copies any rendition has.
    fn copies(&self) -> usize {
        self.copies.iter().map(Vec::len).max().unwrap_or(1).max(1)
    }
}

impl Copy {
    fn listed(track: Track) -> Self {
        Self::Listed(Arc::new(track))
    }
}

/// Origins × copies, origin-major: location `l` is origin `l / copies`, copy `l % copies`.
pub(super) struct Locations {
    origins: Vec<Url>,
    copies: usize,
    /// The origin the manifest came from: its URLs are moved to each location's origin.
    home: Url,
}

impl Locations {
    /// Each of `origins` in turn, and within each every copy `ladder` lists; `home` is where
    /// the manifest was read.
    pub fn new(ladder: &Ladder, origins: Vec<Url>, home: Url) -> Self {
        Self { origins, copies: ladder.copies(), home }
    }

    pub fn len(&self) -> usize {
        self.origins.len() * self.copies
    }

    /// Which of a rendition's `copies` location `l` uses.
    fn copy<'c>(&self, l: usize, copies: &'c [Copy]) -> Option<&'c Copy> {
        copies.get((l % self.copies) % copies.len().max(1))
    }

    /// `url` as fetched from location `l`'s origin.
    fn moved(&self, l: usize, url: &Url) -> Option<Url> {
        Some(on_origin(url, &self.home, self.origins.get(l / self.copies)?))
    }
}

/// `url` fetched from `origin` when it is on `home` (the manifest's origin); as it is otherwise.
pub(super) fn on_origin(url: &Url, home: &Url, origin: &Url) -> Url {
    // Compared part by part: `Url::origin` makes a copy of the host for each side.
    let same = |a: &Url, b: &Url| {
        a.scheme() == b.scheme()
            && a.host_str() == b.host_str()
            && a.port_or_known_default() == b.port_or_known_default()
    };
    if !same(url, home) || same(home, origin) {
        return url.clone();
    }
    let mut moved = url.clone();
    // Both are http(s) URLs with a host, so these cannot fail.
    let _ = moved.set_scheme(origin.scheme());
    let _ = moved.set_host(origin.host_str());
    let _ = moved.set_port(origin.port());
    moved
}

/// A rendition's segments at one location, as a session has them. Cheap to clone.
#[derive(Clone)]
enum Placed {
    /// Listed by the manifest (their URLs are the manifest's, moved to the location).
    Listed(Arc<Track>),
    /// Read from a media playlist fetched at the location.
    Read(Arc<Read>),
}

/// A media playlist as read from one place: relative references resolve against it.
struct Read {
    playlist: Url,
    /// The playlist's scheme, authority and directory (its path up to the last `/`), parsed
    /// once: a plain relative reference's request is made from them without parsing a URL.
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    dir: String,
    listing: Arc<Listing>,
}

/// Where a request goes: a URL, or a request URI already made.
pub(super) enum Target {
    Url(Url),
    Uri(http::Uri),
}

impl Read {
    fn new(playlist: Url, listing: Arc<Listing>) -> Option<Self> {
        let scheme = playlist.scheme().parse().ok()?;
        let authority = playlist[url::Position::BeforeHost..url::Position::AfterPort].parse().ok()?;
        let path = playlist.path();
        let dir = path[..path.rfind('/').map_or(0, |i| i + 1)].to_string();
        Some(Self { playlist, scheme, authority, dir, listing })
    }

    /// `uri` (a reference in the playlist) as a request target: a plain relative reference
    /// (`seg7.ts`, `v/seg7.ts?x=1`) is appended to the directory; anything else is resolved.
    fn target(&self, uri: &str) -> Option<Target> {
        let plain = !uri.is_empty()
            && !uri.starts_with(['/', '.', '?'])
            && !uri.contains([':', '#', '\\'])
            && !uri.contains("/.");
        if plain {
            let path = http::uri::PathAndQuery::try_from([self.dir.as_str(), uri].concat()).ok()?;
            let mut parts = http::uri::Parts::default();
            (parts.scheme, parts.authority, parts.path_and_query) =
                (Some(self.scheme.clone()), Some(self.authority.clone()), Some(path));
            return http::Uri::from_parts(parts).ok().map(Target::Uri);
        }
        self.playlist.join(uri).ok().map(Target::Url)
    }
}

impl Placed {
    /// Segment `n`'s request target from location `l`.
    fn segment(&self, locations: &Locations, l: usize, n: u32) -> Option<Target> {
        match self {
            Self::Listed(t) => locations.moved(l, t.segments.get(n as usize)?).map(Target::Url),
            Self::Read(r) => r.target(r.listing.segments.get(n as usize)?),
        }
    }

    /// The initialisation segment's request target from location `l`, when there is one.
    fn init(&self, locations: &Locations, l: usize) -> Option<Target> {
        match self {
            Self::Listed(t) => locations.moved(l, t.init.as_ref()?).map(Target::Url),
            Self::Read(r) => r.target(r.listing.init.as_deref()?),
        }
    }
}

/// Why a rendition's segments could not be listed at a location.
enum Unlisted {
    /// The playlist could not be fetched there (or the location has no such copy).
    Fetch,
    /// It was fetched but cannot be played.
    Manifest,
}

/// One session's view of a ladder: the media playlists it has read, per location and rendition,
/// and the initialisation segments it has.
pub(super) struct Viewing<'a> {
    fetch: Fetcher<'a>,
    ladder: &'a Ladder,
    locations: Locations,
    /// Set by the manifest, or by the first media playlist read; every other must agree.
    durations: OnceLock<Arc<[Duration]>>,
    /// `[l * renditions + r]`: rendition `r`'s segments at location `l`, once read.
    tracks: Mutex<Vec<Option<Placed>>>,
    /// (location, rendition) whose initialisation segment this session has.
    inits: Mutex<Vec<(usize, usize)>>,
    /// What CMCD sends, when it is on.
    cmcd: Option<CmcdSession>,
}

impl<'a> Viewing<'a> {
    /// A session of `ladder` at `locations`, sending `cmcd` (its format set here) when given.
    pub fn new(fetch: Fetcher<'a>, ladder: &'a Ladder, locations: Locations, cmcd: Option<CmcdSession>) -> Self {
        let cmcd = cmcd.map(|c| CmcdSession { format: Some(ladder.format), ..c });
        let durations = OnceLock::new();
        if let Some(d) = &ladder.durations {
            let _ = durations.set(d.clone());
        }
        let tracks = Mutex::new(vec![None; locations.len() * ladder.kbps.len()]);
        Self { fetch, ladder, locations, durations, tracks, inits: Mutex::default(), cmcd }
    }

    /// The CMCD data of a request for `object` of rendition `r` (segment `n`), when sent.
    fn cmcd(&self, object: Object, r: usize, n: Option<u32>, status: Status) -> Option<Cmcd<'_>> {
        let session = self.cmcd.as_ref()?;
        let kbps = self.ladder.kbps.get(r).copied().zip(self.ladder.kbps.last().copied());
        let duration = n.and_then(|n| self.durations.get()?.get(n as usize).copied());
        Some(Cmcd { session, object, kbps, duration, status })
    }

    /// Rendition `r`'s segments at location `l`: listed, read this session, or read now.
    async fn track(&self, l: usize, r: usize, status: Status) -> Result<Placed, Unlisted> {
        let slot = l * self.ladder.kbps.len() + r;
        if let Some(Some(t)) = self.tracks.lock().unwrap_or_else(|p| p.into_inner()).get(slot) {
            return Ok(t.clone());
        }
        let copy = self.ladder.copies.get(r).and_then(|c| self.locations.copy(l, c)).ok_or(Unlisted::Fetch)?;
        let placed = match copy {
            Copy::Listed(t) => Placed::Listed(t.clone()),
            Copy::Playlist(url) => {
                let cmcd = self.cmcd(Object::Manifest, r, None, status);
                self.read_playlist(self.locations.moved(l, url).ok_or(Unlisted::Fetch)?, cmcd).await?
            }
        };
        if let Some(s) = self.tracks.lock().unwrap_or_else(|p| p.into_inner()).get_mut(slot) {
            *s = Some(placed.clone());
        }
        Ok(placed)
    }

    /// Fetches and reads a media playlist; its segments must match the session's durations.
    async fn read_playlist(&self, playlist: Url, cmcd: Option<Cmcd<'_>>) -> Result<Placed, Unlisted> {
        let body = self.fetch.whole(Target::Url(playlist.clone()), cmcd.as_ref()).await.map_err(|_| Unlisted::Fetch)?;
        let listing = self.fetch.memos.playlists.get(&playlist, body, hls::listing).map_err(|_| Unlisted::Manifest)?;
        let durations = self.durations.get_or_init(|| listing.durations.clone());
        if durations.len() != listing.segments.len() {
            tracing::debug!("{playlist}: {}", Unsupported::UnalignedSegments);
            return Err(Unlisted::Manifest);
        }
        Ok(Placed::Read(Arc::new(Read::new(playlist, listing).ok_or(Unlisted::Manifest)?)))
    }

    /// Fetches rendition `r`'s initialisation segment at location `l` once a session.
    async fn init(&self, l: usize, r: usize, placed: &Placed, status: Status) -> Result<(), ()> {
        let Some(target) = placed.init(&self.locations, l) else { return Ok(()) };
        if self.inits.lock().unwrap_or_else(|p| p.into_inner()).contains(&(l, r)) {
            return Ok(());
        }
        self.fetch.whole(target, self.cmcd(Object::Init, r, None, status).as_ref()).await.map_err(drop)?;
        self.inits.lock().unwrap_or_else(|p| p.into_inner()).push((l, r));
        Ok(())
    }

    /// Reads the first rendition's segments before the first segment — what the session learns
    /// the title's segments from — within the start budget, failing over as a segment does: at
    /// most twice round the locations, with the failover guard. The location it was read at,
    /// or why none; and the failovers taken.
    async fn open_ladder(
        &self,
        first: usize,
        spec: &PlayerSpec,
        deadline: Instant,
    ) -> (Result<usize, PlayFailure>, u32) {
        let tries = if spec.failover { 2 * self.locations.len() } else { 1 };
        for t in 0..tries {
            let l = t % self.locations.len().max(1);
            let failovers = t as u32;
            let status = Status { starting: true, ..Status::default() };
            match timeout_at(deadline, self.track(l, first, status)).await {
                Ok(Ok(_)) => return (Ok(l), failovers),
                Ok(Err(Unlisted::Manifest)) => return (Err(PlayFailure::Manifest), failovers),
                Ok(Err(Unlisted::Fetch)) if t + 1 < tries => continue,
                Ok(Err(Unlisted::Fetch)) => return (Err(PlayFailure::Cdn), failovers),
                Err(_) => return (Err(PlayFailure::Budget), failovers),
            }
        }
        (Err(PlayFailure::Cdn), 0)
    }
}

impl SegmentSource for Viewing<'_> {
    type Body = HttpBody;

    async fn prepare(&self, l: usize, rendition: usize, status: Status) -> Result<(), ()> {
        let track = self.track(l, rendition, status).await.map_err(|_| ())?;
        self.init(l, rendition, &track, status).await
    }

    async fn open(&self, l: usize, rendition: usize, n: u32, status: Status) -> Result<HttpBody, ()> {
        let placed = self.track(l, rendition, status).await.map_err(|_| ())?;
        let target = placed.segment(&self.locations, l, n).ok_or(())?;
        match self.fetch.get(target, self.cmcd(Object::Video, rendition, Some(n), status).as_ref()).await {
            Ok(res) if res.status().is_success() => Ok(HttpBody(res)),
            _ => Err(()),
        }
    }
}

/// How long a viewer watches.
#[derive(Clone, Copy, Debug)]
pub(super) enum Watch {
    /// The player's `watch_segments` (the platform's sessions).
    Segments,
    /// This much media time (a real stream's `watch`).
    Media(Duration),
}

/// Plays `viewing` with the player `spec` in media time `scale` × the wall clock; `pressed` is
/// the Play press (the start budget counts from it).
pub(super) async fn watch(
    viewing: &Viewing<'_>,
    scale: f64,
    spec: &PlayerSpec,
    watch: Watch,
    pressed: Instant,
) -> PlayOutcome {
    let abr = super::abr::AbrRule { spec: spec.abr.clone(), adaptive: spec.adaptive };
    let first = abr.start(&viewing.ladder.kbps);
    let (at, skipped) = match viewing.open_ladder(first, spec, pressed + spec.start_budget).await {
        (Ok(at), skipped) => (at, skipped),
        (Err(failure), failovers) => return PlayOutcome { failovers, ..PlayOutcome::failed(failure) },
    };
    let Some(durations) = viewing.durations.get().cloned() else { return PlayOutcome::failed(PlayFailure::Manifest) };
    let mut spec = spec.clone();
    if let Watch::Media(watch) = watch {
        spec.watch_segments = segments_for(&durations, watch);
    }
    let media = media(&viewing.ladder.kbps, durations, scale, viewing.locations.len());
    let StreamOutcome { ttff, failure, failovers, qoe } =
        super::stream::play(viewing, &media, &spec, at, pressed).await;
    PlayOutcome { ok: ttff.is_some(), ttff, failure, failovers: failovers + skipped, qoe: ttff.map(|_| qoe) }
}

/// The player's view of a ladder: bitrates, segment lengths, and sizes estimated from the
/// bitrates (a segment's own `content-length` replaces its estimate).
fn media(ladder: &[u32], durations: Arc<[Duration]>, scale: f64, locations: usize) -> Media {
    let segment = durations.first().copied().unwrap_or(Duration::from_secs(2));
    Media {
        bytes: ladder.iter().map(|&kbps| (f64::from(kbps) * 125.0 * segment.as_secs_f64() / scale) as usize).collect(),
        ladder: ladder.to_vec(),
        exact_sizes: false,
        segment,
        segmentation: Segmentation::Listed(durations),
        scale,
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

    #[test]
    fn watch_covers_whole_segments() {
        let d = [2, 2, 2, 1].map(Duration::from_secs);
        assert_eq!(segments_for(&d, Duration::from_secs(4)), 2);
        assert_eq!(segments_for(&d, Duration::from_secs(5)), 3);
        assert_eq!(segments_for(&d, Duration::from_secs(60)), 4);
        assert_eq!(segments_for(&d, Duration::ZERO), 1);
    }

    #[test]
    fn a_plain_relative_reference_is_appended_and_any_other_resolved() {
        let playlist = Url::parse("http://127.0.0.1:9000/v/lo/index.m3u8").unwrap();
        let listing = Arc::new(Listing { init: None, segments: vec![], durations: Arc::new([]) });
        let read = Read::new(playlist, listing).unwrap();
        let target = |uri: &str| match read.target(uri) {
            Some(Target::Uri(u)) => format!("uri {u}"),
            Some(Target::Url(u)) => format!("url {u}"),
            None => "none".into(),
        };
        assert_eq!(target("s1.ts?x=1"), "uri http://127.0.0.1:9000/v/lo/s1.ts?x=1");
        assert_eq!(target("hd/s1.ts"), "uri http://127.0.0.1:9000/v/lo/hd/s1.ts");
        assert_eq!(target("../hi/s1.ts"), "url http://127.0.0.1:9000/v/hi/s1.ts");
        assert_eq!(target("/s1.ts"), "url http://127.0.0.1:9000/s1.ts");
        assert_eq!(target("s1.ts#t=2"), "url http://127.0.0.1:9000/v/lo/s1.ts#t=2");
        assert_eq!(target("http://127.0.0.1:9001/s1.ts"), "url http://127.0.0.1:9001/s1.ts");
    }
}
