//! The services' HTTP handlers, one module per kind, sharing one instance context.

mod downstream;
mod edge;
pub use edge::PLAY_FAILURE_HEADER;
mod leaves;
mod media;
mod routes;
pub(crate) use routes::Routes;

use crate::client::DepClient;
use crate::topology::Role;
use chaos_fault::Distribution;
use rand::{SeedableRng, rngs::SmallRng};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// An instance's guarded dependencies: one per role the handlers call by name, and the
/// `internal` ones of a synthetic graph, which [`downstream`] calls before any handler.
#[derive(Clone, Default)]
pub(crate) struct Deps {
    /// Dependencies the handlers call by role.
    pub by_role: BTreeMap<Role, DepClient>,
    /// Internal (mid-tier) dependencies.
    pub internal: Vec<DepClient>,
    /// How many of `internal` one request calls (at least 1 when there are any).
    pub per_request: usize,
    /// Mixed with the user's id to pick where a request's share of `internal` starts.
    pub salt: u64,
}

/// What one instance knows: its service-time model, its guarded dependencies and, for playback,
/// the instances it steers players to.
pub(crate) struct Ctx {
    service_time: Distribution,
    rng: Mutex<SmallRng>,
    deps: Deps,
    /// Base URLs of the steered (CDN) instances.
    pub steered: Vec<String>,
    /// What is streamed (CDN segment sizes, playback's manifest).
    pub media: Arc<crate::topology::MediaSpec>,
    /// The media playlist a CDN answers, made on its first request.
    media_playlist: std::sync::OnceLock<bytes::Bytes>,
    /// The manifests playback has answered, by title and first CDN.
    manifests: Mutex<HashMap<(String, usize), bytes::Bytes>>,
}

impl Ctx {
    pub fn new(
        service_time: Distribution,
        seed: u64,
        deps: Deps,
        steered: Vec<String>,
        media: Arc<crate::topology::MediaSpec>,
    ) -> Self {
        let rng = Mutex::new(SmallRng::seed_from_u64(seed));
        let (media_playlist, manifests) = (std::sync::OnceLock::new(), Mutex::default());
        Self { service_time, rng, deps, steered, media, media_playlist, manifests }
    }

    /// Most manifests kept (any title can be asked for); past it playback starts again.
    const MANIFESTS: usize = 4096;

    /// Playback's answer for `title` with the CDNs ranked from `first`: made by `make` once, as a
    /// service caches a rendered manifest (on the virtual clock, rendering and serialising a
    /// master playlist for every session was a visible share of a session's CPU).
    pub fn manifest(&self, title: &str, first: usize, make: impl FnOnce() -> bytes::Bytes) -> bytes::Bytes {
        let key = (title.to_string(), first);
        if let Some(answer) = self.manifests.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return answer.clone();
        }
        let answer = make();
        let mut manifests = self.manifests.lock().unwrap_or_else(|p| p.into_inner());
        if manifests.len() >= Self::MANIFESTS {
            manifests.clear();
        }
        manifests.insert(key, answer.clone());
        answer
    }

    /// The media playlist every rendition shares (a CDN's).
    pub fn media_playlist(&self) -> bytes::Bytes {
        self.media_playlist.get_or_init(|| media::media_playlist(&self.media)).clone()
    }

    /// Spends the instance's service time for one request.
    pub async fn work(&self) {
        let delay = {
            let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
            self.service_time.sample(&mut *rng)
        };
        tokio::time::sleep(delay).await;
    }

    /// The guarded client for a dependency, if this service has one.
    pub fn dep(&self, role: Role) -> Option<&DepClient> {
        self.deps.by_role.get(&role)
    }
}

/// The routes of a service of `role`.
pub(crate) fn router(role: Role, ctx: Arc<Ctx>) -> Routes {
    let table = match role {
        Role::Edge => edge::routes(&ctx),
        Role::Playback | Role::Cdn => media::routes(role, &ctx),
        Role::Internal => downstream::work_routes(&ctx),
        _ => leaves::routes(role, &ctx),
    };
    let table = table.get("/health", &ctx, |_, _| async { "ok" });
    if ctx.deps.internal.is_empty() { table.into() } else { downstream::wrap(table, ctx).into() }
}

/// Every route of every service as (path prefix, label), for metrics: a label per route
/// pattern keeps the series bounded whatever paths clients send. No path matches two entries, so
/// their order is only the lookup's cost: the most requested first (a session's 15 segments, then
/// the edge's calls), which took the label's comparisons from four a request to under two.
const ROUTES: [(&str, &str); 13] = [
    ("/segments/", "/segments/{title}/{kbps}/{n}"),
    ("/titles/", "/titles/{id}"),
    ("/manifest/", "/manifest/{title}"),
    ("/license/", "/license/{title}"),
    ("/position/", "/position/{title}"),
    ("/rows", "/rows"),
    ("/history", "/history"),
    ("/art", "/art"),
    ("/validate", "/validate"),
    ("/home", "/home"),
    ("/play/", "/play/{title}"),
    ("/work", "/work"),
    ("/health", "/health"),
];

/// The route pattern of `path`, or `other`.
pub(crate) fn route_of(path: &str) -> &'static str {
    let hit =
        |(prefix, _): &&(&str, &str)| if prefix.ends_with('/') { path.starts_with(prefix) } else { path == *prefix };
    ROUTES.iter().find(hit).map_or("other", |(_, label)| label)
}

/// The user of a request (`x-user-id`), or `anonymous`.
pub(crate) fn user_of(headers: &http::HeaderMap) -> &str {
    headers.get(&crate::USER).and_then(|v| v.to_str().ok()).unwrap_or("anonymous")
}

/// `prefix` followed by `n` in decimal: the ids of users and titles (`u42`, `t7`). Made with
/// `itoa` rather than `format!`: the formatting machinery costs ~400 instructions a string, and a
/// virtual-time hour makes millions of them.
pub fn numbered(prefix: &str, n: u64) -> String {
    let mut digits = itoa::Buffer::new();
    [prefix, digits.format(n)].concat()
}

/// The user header a request's own calls send on: the request's value (a clone counts a
/// reference; a new value validated and copied the name on every call), or `anonymous` where
/// [`user_of`] reads that.
pub(crate) fn user_header(headers: &http::HeaderMap) -> http::HeaderValue {
    match headers.get(&crate::USER) {
        Some(user) if user.to_str().is_ok() => user.clone(),
        _ => http::HeaderValue::from_static("anonymous"),
    }
}

/// A small stable hash, for per-user choices that must repeat (rows, CDN ranking).
pub(crate) fn stable_hash(s: &str) -> u64 {
    chaos_fault::derive_seed(0, s)
}
