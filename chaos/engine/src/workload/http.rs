//! The HTTP workload: each arrival of the open-loop schedule (or each viewer's turn in a closed
//! loop) sends one entry of `load.http`, drawn by weight from the seed — one request, or a flow's
//! steps in order — and records how each request ended, its latency counted from when the
//! arrival was due.

use super::client::{Expectation, Pool};
use super::grpc::{Call, Channels};
use crate::cohorts::{Cohorts, Side};
use crate::experiment::http::HttpEntry;
use crate::load::Sessions;
use crate::record::Recorder;
use crate::requests::{ArrivalOutcome, RequestOutcome};
use chaos_fault::derive_seed;
use http::{HeaderName, HeaderValue};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use tokio::time::Instant;

/// A piece of a templated string: text, or a per-arrival value.
#[derive(Clone, Debug, PartialEq)]
enum Piece {
    Text(String),
    User,
    Index,
}

/// A string with `{{user}}` and `{{index}}` in it, split once.
#[derive(Clone, Debug, PartialEq)]
struct Template(Vec<Piece>);

impl Template {
    fn parse(s: &str) -> Self {
        let mut pieces = Vec::new();
        let mut rest = s;
        while let Some(at) = rest.find("{{") {
            let (piece, len) = if rest[at..].starts_with("{{user}}") {
                (Piece::User, 8)
            } else if rest[at..].starts_with("{{index}}") {
                (Piece::Index, 9)
            } else {
                pieces.push(Piece::Text(rest[..at + 2].to_string()));
                rest = &rest[at + 2..];
                continue;
            };
            pieces.push(Piece::Text(rest[..at].to_string()));
            pieces.push(piece);
            rest = &rest[at + len..];
        }
        pieces.push(Piece::Text(rest.to_string()));
        pieces.retain(|p| *p != Piece::Text(String::new()));
        Self(pieces)
    }

    fn is_fixed(&self) -> bool {
        self.0.iter().all(|p| matches!(p, Piece::Text(_)))
    }

    fn render(&self, user: &str, index: u64, out: &mut Vec<u8>) {
        for p in &self.0 {
            match p {
                Piece::Text(t) => out.extend_from_slice(t.as_bytes()),
                Piece::User => out.extend_from_slice(user.as_bytes()),
                Piece::Index => out.extend_from_slice(itoa::Buffer::new().format(index).as_bytes()),
            }
        }
    }

    fn render_string(&self, user: &str, index: u64) -> String {
        let mut out = Vec::new();
        self.render(user, index, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// One request of an entry, ready to send.
struct Prepared {
    name: Arc<str>,
    transport: Transport,
    method: String,
    path: Template,
    host: String,
    headers: Vec<(String, Template)>,
    body: Option<Template>,
    timeout: std::time::Duration,
    status: Vec<u16>,
    body_contains: Option<Vec<u8>>,
}

/// How a request goes: HTTP/1.1 on a kept connection, or a gRPC call over HTTP/2.
enum Transport {
    Http1 {
        pool: Arc<Pool>,
        /// The request's bytes when nothing in it varies by arrival.
        fixed: Option<Box<[u8]>>,
    },
    Grpc(Box<Call>),
}

/// What a workload's requests share: HTTP/1.1 pools by `host:port`, and one HTTP/2 client.
#[derive(Default)]
struct Connections {
    pools: BTreeMap<String, Arc<Pool>>,
    channels: Option<Channels>,
}

impl Prepared {
    fn new(name: Arc<str>, spec: &HttpEntry, connections: &mut Connections) -> Self {
        let url = spec.url.as_deref().unwrap_or_default();
        // The validator has checked the URL; a template cannot touch the authority.
        let (authority, path) = split_url(url);
        let addr = if authority.contains(':') { authority.to_string() } else { format!("{authority}:80") };
        let transport = match &spec.grpc {
            Some(call) => {
                let channels = connections.channels.get_or_insert_with(Channels::new).clone();
                let message = call.message_bytes().unwrap_or_default();
                let accepted = spec.expect.as_ref().map(|e| e.grpc_status.as_slice()).unwrap_or_default();
                Transport::Grpc(Box::new(Call::new(channels, &addr, &call.method, &message, spec.timeout(), accepted)))
            }
            None => {
                let pool = connections.pools.entry(addr.clone()).or_insert_with(|| Arc::new(Pool::new(addr))).clone();
                Transport::Http1 { pool, fixed: None }
            }
        };
        let mut prepared = Self {
            name,
            transport,
            method: spec.method.clone().unwrap_or_else(|| "GET".into()).to_ascii_uppercase(),
            path: Template::parse(&if path.starts_with('?') { format!("/{path}") } else { path.to_string() }),
            host: authority.to_string(),
            headers: spec.headers.iter().map(|(k, v)| (k.clone(), Template::parse(v))).collect(),
            body: spec.body.as_deref().map(Template::parse),
            timeout: spec.timeout(),
            status: spec.expect.as_ref().map(|e| e.status.clone()).unwrap_or_default(),
            body_contains: spec.expect.as_ref().and_then(|e| e.body_contains.as_ref()).map(|b| b.as_bytes().to_vec()),
        };
        if prepared.templated() {
            return prepared;
        }
        let bytes = prepared.encode("", 0, None).into_boxed_slice();
        if let Transport::Http1 { fixed, .. } = &mut prepared.transport {
            *fixed = Some(bytes);
        }
        prepared
    }

    /// Whether something in it varies by arrival (`{{user}}` or `{{index}}`).
    fn templated(&self) -> bool {
        !(self.path.is_fixed()
            && self.headers.iter().all(|(_, v)| v.is_fixed())
            && self.body.as_ref().is_none_or(Template::is_fixed))
    }

    /// The request's bytes for one arrival (`user_header`: the user id sent for cohorts).
    fn encode(&self, user: &str, index: u64, user_header: Option<&str>) -> Vec<u8> {
        let path = self.path.render_string(user, index);
        let values: Vec<String> = self.headers.iter().map(|(_, v)| v.render_string(user, index)).collect();
        let mut headers: Vec<(&str, &str)> =
            self.headers.iter().zip(&values).map(|((k, _), v)| (k.as_str(), v.as_str())).collect();
        if let Some(u) = user_header {
            headers.push((targets::USER_HEADER, u));
        }
        let body = self.body.as_ref().map(|b| {
            let mut out = Vec::new();
            b.render(user, index, &mut out);
            out
        });
        crate::http_load::wire::encode(&self.method, &path, &self.host, &headers, body.as_deref())
    }

    /// A gRPC call's metadata for one arrival: the headers, and the user id sent for cohorts.
    fn metadata(&self, user: &str, index: u64, user_header: Option<&str>) -> Vec<(HeaderName, HeaderValue)> {
        let rendered = self.headers.iter().map(|(k, v)| (k.as_str(), v.render_string(user, index)));
        let cohort = user_header.map(|u| (targets::USER_HEADER, u.to_string()));
        // The validator has checked the headers; a user id or a number keeps a value valid.
        rendered
            .chain(cohort)
            .filter_map(|(k, v)| Some((HeaderName::from_bytes(k.as_bytes()).ok()?, HeaderValue::from_str(&v).ok()?)))
            .collect()
    }

    /// Sends it for one arrival, its time counted from `start`.
    async fn send(&self, user: &str, index: u64, user_header: Option<&str>, start: Instant) -> RequestOutcome {
        let deadline = start + self.timeout;
        let result = match &self.transport {
            Transport::Grpc(call) => call.send(&self.metadata(user, index, user_header), deadline).await,
            Transport::Http1 { pool, fixed } => {
                let expect = Expectation { status: &self.status, body_contains: self.body_contains.as_deref() };
                match (fixed, user_header) {
                    (Some(bytes), None) => pool.send(bytes, &expect, deadline).await,
                    _ => pool.send(&self.encode(user, index, user_header), &expect, deadline).await,
                }
            }
        };
        RequestOutcome { name: self.name.clone(), latency: start.elapsed(), result }
    }
}

/// `http://AUTHORITY/PATH` → (authority, path with query; `/` when empty).
fn split_url(url: &str) -> (&str, &str) {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => match rest.find('?') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        },
    }
}

/// One entry, ready to send.
struct Entry {
    name: Arc<str>,
    flow: bool,
    requests: Vec<Prepared>,
    /// Whether a request of it has `{{user}}` or `{{index}}` in it (its bytes made per arrival).
    templated: bool,
}

/// The HTTP workload's arrivals.
#[derive(Clone)]
pub(crate) struct HttpSessions {
    entries: Arc<Vec<Entry>>,
    /// Cumulative weights, normalised to end at 1.
    cumulative: Vec<f64>,
    recorder: Arc<Recorder>,
    seed: u64,
    users: u64,
    cohorts: Option<Cohorts>,
}

impl HttpSessions {
    /// The workload of `entries`, recording into `recorder`.
    pub fn new(
        entries: &[HttpEntry],
        recorder: Arc<Recorder>,
        seed: u64,
        users: u64,
        cohorts: Option<Cohorts>,
    ) -> Self {
        let mut connections = Connections::default();
        let prepared = entries
            .iter()
            .map(|e| {
                let requests: Vec<Prepared> = e
                    .requests()
                    .into_iter()
                    .map(|(name, spec)| Prepared::new(name.into(), spec, &mut connections))
                    .collect();
                let templated = requests.iter().any(Prepared::templated);
                Entry { name: e.name.as_str().into(), flow: e.is_flow(), requests, templated }
            })
            .collect();
        let total: f64 = entries.iter().map(HttpEntry::weight).sum();
        let mut sum = 0.0;
        let cumulative = entries
            .iter()
            .map(|e| {
                sum += e.weight();
                sum / total
            })
            .collect();
        Self { entries: Arc::new(prepared), cumulative, recorder, seed, users, cohorts }
    }

    /// The entry and user number of arrival `index`, drawn from the seed.
    fn draw(&self, index: u64) -> (usize, u64) {
        let user = derive_seed(self.seed, itoa::Buffer::new().format(index)) % self.users;
        let pick =
            (derive_seed(self.seed ^ 0x4717, itoa::Buffer::new().format(index)) >> 11) as f64 / (1u64 << 53) as f64;
        let entry = self.cumulative.iter().position(|c| pick < *c).unwrap_or(self.cumulative.len() - 1);
        (entry, user)
    }

    /// The user's id (`u17`), when the entry's requests or the cohorts need it: a fixed request
    /// without cohorts is sent as it is, with no string made per arrival.
    fn user(&self, entry: usize, user: u64) -> Option<String> {
        let needed = self.cohorts.is_some() || self.entries[entry].templated;
        needed.then(|| targets::numbered("u", user))
    }

    /// The cohort of `user`, when the experiment has cohorts.
    fn side(&self, user: Option<&str>) -> Option<Side> {
        self.cohorts.as_ref().zip(user).map(|(c, u)| c.side_of(u))
    }
}

impl Sessions for HttpSessions {
    fn start(&self, index: u64, intended: Instant) -> impl Future<Output = ()> + Send + 'static {
        let (entry, user) = self.draw(index);
        let user = self.user(entry, user);
        let side = self.side(user.as_deref());
        let user_header = self.cohorts.is_some();
        let (entries, recorder) = (self.entries.clone(), self.recorder.clone());
        async move {
            let entry = &entries[entry];
            let outcome = send_arrival(entry, user.as_deref().unwrap_or_default(), index, user_header, intended).await;
            recorder.record_arrival(intended, side, &outcome);
        }
    }

    fn dropped(&self, index: u64, intended: Instant) {
        let (entry, user) = self.draw(index);
        let side = self.side(self.user(entry, user).as_deref());
        self.recorder.record_dropped_arrival(intended, side, &self.entries[entry].name);
    }
}

/// Sends an arrival's requests in order, stopping at the first failure.
async fn send_arrival(entry: &Entry, user: &str, index: u64, user_header: bool, intended: Instant) -> ArrivalOutcome {
    let mut requests = Vec::with_capacity(entry.requests.len());
    for (i, r) in entry.requests.iter().enumerate() {
        // The first request counts from when the arrival was due; the next ones from their send.
        let start = if i == 0 { intended } else { Instant::now() };
        let outcome = r.send(user, index, user_header.then_some(user), start).await;
        let failed = outcome.result.is_err();
        requests.push(outcome);
        if failed {
            break;
        }
    }
    ArrivalOutcome { entry: entry.name.clone(), flow: entry.flow, requests, latency: intended.elapsed() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_put_the_arrival_s_user_and_index_in_place() {
        let t = Template::parse(r#"{"user": "{{user}}", "n": {{index}}, "x": "{{other}}"}"#);
        assert!(!t.is_fixed());
        assert_eq!(t.render_string("u7", 42), r#"{"user": "u7", "n": 42, "x": "{{other}}"}"#);
        assert!(Template::parse("/plain?q=1").is_fixed());
    }

    #[test]
    fn urls_split_into_authority_and_path() {
        assert_eq!(split_url("http://127.0.0.1:8080/a/b?c=1"), ("127.0.0.1:8080", "/a/b?c=1"));
        assert_eq!(split_url("http://localhost:9"), ("localhost:9", "/"));
        assert_eq!(split_url("http://h:1?x"), ("h:1", "?x"));
    }
}
