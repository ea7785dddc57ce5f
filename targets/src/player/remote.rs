//! Real streams: a viewer who opens an HLS or DASH manifest on the user's own origins and
//! watches it with the platform's player — the same ABR rule, buffer and guards, in real media
//! time.
//!
//! Each session reads the manifest again, as a player does, from the first origin that serves it
//! within the start budget; an HLS master's media playlists are read as the session first needs
//! each, and segments come from the locations below, failing over in that order (the path the
//! platform's own viewers take too: `ladder`).
//!
//! Locations: each origin (`origins`, default the manifest's own) in turn, and within each the
//! copies the manifest lists (HLS redundant variants, DASH `BaseURL`s). A URL on the manifest's
//! origin is fetched from the location's origin instead (same path); a URL on another host (an
//! absolute `BaseURL` to a CDN) is fetched as it is.

use super::cmcd::CmcdSession;
use super::fetch::{Fetcher, Memos};
use super::ladder::{Ladder, Locations, Target, Viewing, Watch, on_origin};
use super::manifest::{Format, ManifestError, Presentation, hls};
use super::{PlayFailure, PlayOutcome};
use crate::client::HttpClient;
use crate::topology::PlayerSpec;
use bytes::Bytes;
use chaos_fault::server::Net;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::{Instant, timeout_at};
use url::Url;

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
    memos: Arc<Memos>,
    /// Sessions begun, for CMCD's session ids.
    sessions: Arc<AtomicU64>,
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
        let (stream, memos, sessions) = (Arc::new(stream), Arc::default(), Arc::default());
        Self { http: crate::client::pool(&Net::Tcp, 256), stream, spec, memos, sessions }
    }

    fn fetcher(&self) -> Fetcher<'_> {
        Fetcher { http: &self.http, headers: &[], memos: &self.memos }
    }

    /// Reads the whole presentation — the manifest and every media playlist it lists — from the
    /// first origin that serves the manifest, each request bounded by the player's CDN timeout:
    /// the check before a run, which a session (reading playlists as it needs them) does not
    /// repeat.
    pub async fn load(&self) -> Result<Presentation, LoadError> {
        let (url, body) = self.manifest(None).await?;
        match Format::sniff(&body) {
            Some(Format::Dash) => Ok(super::manifest::dash::presentation(&url, &body)?),
            Some(Format::Hls) => {
                let variants = hls::master(&url, &body)?;
                let mut tracks = Vec::with_capacity(variants.len());
                for v in &variants {
                    let mut copies = Vec::with_capacity(v.playlists.len());
                    for playlist in &v.playlists {
                        copies.push(hls::media(playlist, &self.fetch(playlist, None).await?)?);
                    }
                    tracks.push(copies);
                }
                Ok(hls::presentation(&url, &variants, tracks)?)
            }
            None => Err(ManifestError::UnknownFormat { url }.into()),
        }
    }

    /// The manifest's URL on the first origin that serves it, and its body. The failover guard
    /// covers the manifest too: without it only the first origin is asked.
    async fn manifest(&self, cmcd: Option<&CmcdSession>) -> Result<(Url, Bytes), LoadError> {
        let origins = self.origins();
        let tried = if self.spec.failover { origins.len() } else { 1 };
        let mut last = None;
        for origin in &origins[..tried] {
            let url = on_origin(&self.stream.manifest, &self.home(), origin);
            match self.fetch(&url, cmcd).await {
                Ok(body) => return Ok((url, body)),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| LoadError::Fetch { url: self.stream.manifest.clone(), reason: "no origin".into() }))
    }

    /// The whole body of a GET of `url` (a manifest or playlist, with the session's CMCD when
    /// sent), within the CDN timeout.
    async fn fetch(&self, url: &Url, cmcd: Option<&CmcdSession>) -> Result<Bytes, LoadError> {
        let failed = |reason: String| LoadError::Fetch { url: url.clone(), reason };
        let cmcd = cmcd.map(CmcdSession::manifest);
        let fetcher = self.fetcher();
        let whole = fetcher.whole(Target::Url(url.clone()), cmcd.as_ref());
        let got = timeout_at(Instant::now() + self.spec.cdn_timeout, whole).await;
        got.map_err(|_| failed("timed out".into()))?.map_err(failed)
    }

    /// One session: the manifest within the start budget, then `watch` of the title.
    pub async fn play(&self) -> PlayOutcome {
        let pressed = Instant::now();
        let n = self.sessions.fetch_add(1, Ordering::Relaxed);
        let cmcd = CmcdSession::new(self.spec.cmcd, n, self.stream.manifest.path());
        let ladder = async {
            let (url, body) = self.manifest(cmcd.as_ref()).await?;
            let ladder = self.memos.manifests.get(&url, body, Ladder::parse)?;
            Ok::<_, LoadError>((ladder, root(&url)))
        };
        let (ladder, from) = match timeout_at(pressed + self.spec.start_budget, ladder).await {
            Ok(Ok(loaded)) => loaded,
            Ok(Err(_)) => return PlayOutcome::failed(PlayFailure::Manifest),
            Err(_) => return PlayOutcome::failed(PlayFailure::Budget),
        };
        let locations = Locations::new(&ladder, self.origins(), from);
        let viewing = Viewing::new(self.fetcher(), &ladder, locations, cmcd);
        super::ladder::watch(&viewing, 1.0, &self.spec, Watch::Media(self.stream.watch), pressed).await
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
        root(&self.stream.manifest)
    }
}

/// The origin of `url`, as a URL (`http://HOST:PORT/`).
fn root(url: &Url) -> Url {
    let mut root = url.clone();
    root.set_path("/");
    root.set_query(None);
    root
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_oversized_manifest_is_refused_not_read_into_memory() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let huge = format!("#EXTM3U\n{}", "#\n".repeat(super::super::fetch::MAX_MANIFEST_BYTES / 2 + 1));
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

    /// A request as the test origin saw it: path, query, and its CMCD headers.
    type Seen = (String, Option<String>, Vec<(String, String)>);

    /// An origin whose master lists one rendition twice: the first copy's media playlist is
    /// gone (404), the second's lists three 1 s segments. Every request is logged.
    async fn redundant_origin() -> (Url, Arc<std::sync::Mutex<Vec<Seen>>>, tokio::task::JoinHandle<()>) {
        use axum::extract::{Request, State};
        type Log = Arc<std::sync::Mutex<Vec<Seen>>>;
        async fn serve(State(log): State<Log>, req: Request) -> axum::response::Response {
            use axum::response::IntoResponse;
            let path = req.uri().path().to_string();
            let cmcd = req.headers().iter().filter(|(k, _)| k.as_str().starts_with("cmcd-"));
            let cmcd = cmcd.map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string())).collect();
            log.lock().unwrap().push((path.clone(), req.uri().query().map(str::to_string), cmcd));
            match path.as_str() {
                "/m.m3u8" => "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=200000\ndead/index.m3u8\n\
                    #EXT-X-STREAM-INF:BANDWIDTH=200000\nlive/index.m3u8\n"
                    .into_response(),
                "/live/index.m3u8" => "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\ns0.ts\n#EXTINF:1,\ns1.ts\n\
                    #EXTINF:1,\ns2.ts\n#EXT-X-ENDLIST\n"
                    .into_response(),
                p if p.starts_with("/live/s") => vec![0u8; 1000].into_response(),
                _ => http::StatusCode::NOT_FOUND.into_response(),
            }
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Log::default();
        let app = axum::Router::new().fallback(serve).with_state(log.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (Url::parse(&format!("http://{addr}/m.m3u8")).unwrap(), log, server)
    }

    #[tokio::test]
    async fn a_dead_redundant_copy_costs_a_session_a_failover_and_the_check_names_it() {
        let (manifest, log, server) = redundant_origin().await;
        let stream = StreamSpec { manifest, origins: vec![], watch: Duration::from_secs(3) };
        let player = StreamPlayer::new(stream, crate::Topology::default_platform().player);
        let out = player.play().await;
        let seen: Vec<String> = log.lock().unwrap().iter().map(|(path, ..)| path.clone()).collect();
        let checked = player.load().await;
        server.abort();
        assert!(out.ok, "{out:?} {seen:?}");
        assert_eq!(out.failovers, 1, "{seen:?}");
        let want = ["/m.m3u8", "/dead/index.m3u8", "/live/index.m3u8", "/live/s0.ts", "/live/s1.ts", "/live/s2.ts"];
        assert_eq!(seen, want, "the live copy's playlist once, after the dead one's");
        match checked {
            Err(LoadError::Fetch { url, reason }) => {
                assert!(url.path() == "/dead/index.m3u8" && reason.contains("404"), "{url}: {reason}")
            }
            other => panic!("the check before a run reads every playlist: {other:?}"),
        }
    }

    #[tokio::test]
    async fn viewers_send_cmcd_as_the_query_argument_or_as_headers() {
        let (manifest, log, server) = redundant_origin().await;
        let mut spec = crate::Topology::default_platform().player;
        (spec.cmcd, spec.first_frame_segments) = (crate::CmcdMode::Query, 1);
        let stream = StreamSpec { manifest, origins: vec![], watch: Duration::from_secs(3) };
        let by_query = StreamPlayer::new(stream.clone(), spec.clone()).play().await;
        let queried = std::mem::take(&mut *log.lock().unwrap());
        spec.cmcd = crate::CmcdMode::Headers;
        let by_headers = StreamPlayer::new(stream, spec).play().await;
        let headed = log.lock().unwrap().clone();
        server.abort();
        assert!(by_query.ok && by_headers.ok, "{by_query:?} {by_headers:?}");

        let payload = |path: &str| {
            let (_, query, _) = queried.iter().find(|(p, ..)| p == path).expect(path);
            let arg = query.as_deref().and_then(|q| q.strip_prefix("CMCD=")).expect("a CMCD argument");
            percent_encoding::percent_decode_str(arg).decode_utf8().unwrap().into_owned()
        };
        let sid = "sid=\"00000000-0000-4000-8000-000000000000\"";
        assert_eq!(payload("/m.m3u8"), format!("cid=\"/m.m3u8\",ot=m,{sid},st=v,su"));
        assert_eq!(payload("/dead/index.m3u8"), format!("cid=\"/m.m3u8\",ot=m,sf=h,{sid},st=v,su"));
        assert_eq!(
            payload("/live/s0.ts"),
            format!("bl=0,br=200,cid=\"/m.m3u8\",d=1000,ot=v,sf=h,{sid},st=v,su,tb=200")
        );
        let later = payload("/live/s2.ts");
        assert!(later.contains(",mtp=") && later.contains("bl=") && !later.ends_with(",su,tb=200"), "{later}");

        let (_, query, headers) = headed.iter().find(|(p, ..)| p == "/live/s1.ts").expect("s1");
        assert_eq!(query, &None, "headers mode adds no argument");
        let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        assert_eq!(header("cmcd-object"), Some("br=200,d=1000,ot=v,tb=200"));
        let session = "cid=\"/m.m3u8\",sf=h,sid=\"00000000-0000-4000-8000-000000000000\",st=v";
        assert_eq!(header("cmcd-session"), Some(session), "each player counts its own sessions");
        assert!(header("cmcd-request").is_some_and(|r| r.contains("mtp=")), "{headers:?}");
    }
}
