//! [`PlaybackClient`]: a device that opens the home page and presses Play.

use crate::services::PLAY_FAILURE_HEADER;
use crate::topology::PlayerSpec;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::time::Instant;

/// A device. Cheap to clone (one connection pool).
#[derive(Clone, Debug)]
pub struct PlaybackClient {
    http: reqwest::Client,
    edge: String,
    spec: PlayerSpec,
    context: Option<http::HeaderValue>,
}

/// What one session saw.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionOutcome {
    /// The home page.
    pub home: HomeOutcome,
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
    /// The first frame did not arrive within the start budget.
    Budget,
}

impl std::fmt::Display for PlayFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Edge(step) => write!(f, "edge:{step}"),
            Self::EdgeUnreachable => f.write_str("edge_unreachable"),
            Self::Cdn => f.write_str("cdn"),
            Self::Budget => f.write_str("budget"),
        }
    }
}

#[derive(Deserialize)]
struct PlayAnswer {
    manifest: Manifest,
}

#[derive(Deserialize)]
struct Manifest {
    cdns: Vec<String>,
    segment_bytes: usize,
}

impl PlaybackClient {
    /// A device talking to the edge at `edge` (`http://127.0.0.1:PORT`).
    pub fn new(edge: impl Into<String>, spec: PlayerSpec) -> Self {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .tcp_nodelay(true)
            .build()
            .expect("a plain HTTP client builds");
        Self { http, edge: edge.into(), spec, context: None }
    }

    /// The same device, sending request-scoped faults (`x-chaos-context`) with every request:
    /// a test user whose own requests fail where the context says.
    pub fn with_context(mut self, context: http::HeaderValue) -> Self {
        self.context = Some(context);
        self
    }

    fn get(&self, url: String, timeout: Duration) -> reqwest::RequestBuilder {
        let req = self.http.get(url).timeout(timeout);
        match &self.context {
            Some(ctx) => req.header(chaos_fault::context::CONTEXT_HEADER, ctx.clone()),
            None => req,
        }
    }

    /// A browsing session: the home page only.
    pub async fn browse(&self, user: &str, intended: Instant) -> SessionOutcome {
        SessionOutcome { home: self.home(user, intended).await, play: None }
    }

    /// One session for `user`: the home page, then Play on `title`. `intended` is when the
    /// session was meant to start; lateness counts against the home page latency.
    pub async fn session(&self, user: &str, title: &str, intended: Instant) -> SessionOutcome {
        let home = self.home(user, intended).await;
        let pressed = Instant::now();
        let play = match tokio::time::timeout(self.spec.start_budget, self.play(user, title)).await {
            Ok(Ok(failovers)) => PlayOutcome { ok: true, ttff: Some(pressed.elapsed()), failure: None, failovers },
            Ok(Err((failure, failovers))) => PlayOutcome { ok: false, ttff: None, failure: Some(failure), failovers },
            Err(_) => PlayOutcome { ok: false, ttff: None, failure: Some(PlayFailure::Budget), failovers: 0 },
        };
        SessionOutcome { home, play: Some(play) }
    }

    async fn home(&self, user: &str, intended: Instant) -> HomeOutcome {
        let res = self.edge_get(&format!("{}/home", self.edge), user).await;
        let (ok, degraded) = match res {
            Ok(r) if r.status().is_success() => {
                let page: serde_json::Value = r.json().await.unwrap_or_default();
                let degraded = page["degraded"].as_array().is_some_and(|d| !d.is_empty());
                (page.is_object(), degraded)
            }
            _ => (false, false),
        };
        HomeOutcome { ok, degraded, latency: intended.elapsed() }
    }

    /// Gets the manifest and license through the edge, then the first segments from the first
    /// CDN that serves them. Returns the number of failovers.
    async fn play(&self, user: &str, title: &str) -> Result<u32, (PlayFailure, u32)> {
        let res = self.edge_get(&format!("{}/play/{title}", self.edge), user).await;
        let res = res.map_err(|_| (PlayFailure::EdgeUnreachable, 0))?;
        if !res.status().is_success() {
            let step = res.headers().get(PLAY_FAILURE_HEADER).and_then(|v| v.to_str().ok());
            let failure = match step {
                Some(step) => PlayFailure::Edge(step.to_string()),
                None => PlayFailure::EdgeUnreachable,
            };
            return Err((failure, 0));
        }
        let answer: PlayAnswer = res.json().await.map_err(|_| (PlayFailure::EdgeUnreachable, 0))?;
        let Manifest { mut cdns, segment_bytes } = answer.manifest;
        if !self.spec.failover {
            cdns.truncate(1);
        }
        let mut failovers = 0;
        let mut cdn = 0;
        for segment in 0..self.spec.first_frame_segments {
            loop {
                let Some(base) = cdns.get(cdn) else { return Err((PlayFailure::Cdn, failovers)) };
                if self.fetch_segment(base, user, title, segment, segment_bytes).await {
                    break;
                }
                cdn += 1;
                // A failover is a move to another CDN, not a failed attempt.
                failovers += u32::from(cdn < cdns.len());
            }
        }
        Ok(failovers)
    }

    /// Whether the whole segment arrived from `base` within the CDN timeout.
    async fn fetch_segment(&self, base: &str, user: &str, title: &str, segment: u32, expected: usize) -> bool {
        let url = format!("{base}/segments/{title}/{segment}");
        let req = self.get(url, self.spec.cdn_timeout).header(crate::USER_HEADER, user);
        match req.send().await {
            Ok(r) if r.status().is_success() => r.bytes().await.is_ok_and(|b| b.len() == expected),
            _ => false,
        }
    }

    async fn edge_get(&self, url: &str, user: &str) -> reqwest::Result<reqwest::Response> {
        self.get(url.to_string(), self.spec.edge_timeout).header(crate::USER_HEADER, user).send().await
    }
}
