//! Prometheus metrics of the platform's instances: requests, errors and latency per route, status
//! and injected fault (measured outside the fault layer, so what a caller saw), and each
//! instance's fault-layer counters. Encoded as OpenMetrics, and answered in the Prometheus text
//! format to a scraper that does not ask for OpenMetrics (see [`exposition`]).
//!
//! Every instance serves its own on `GET /metrics` (see [`Exposed`]); `chaos targets up` also
//! serves the whole platform on one address, for a single scrape job. Series carry `service`,
//! `replica` (the instance, `SERVICE-N`) and `zone` labels.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `chaos_target_requests_total` | counter | route, code (0: no answer: reset, dropped), fault |
//! | `chaos_target_errors_total` | counter | route, fault (5xx or no answer) |
//! | `chaos_target_request_duration_seconds` | histogram | route, fault |
//! | `chaos_fault_requests_seen_total` | counter | — (requests that reached the fault layer) |
//! | `chaos_fault_injected_total` | counter | kind |
//! | `chaos_fault_rule_hits_total` | counter | rule (rules still in the table) |
//! | `chaos_fault_rules` | gauge | — (live rules) |
//!
//! `fault` is the id of the rule that acted on the request (several joined by `+`), empty when
//! none did.

use crate::stats::InstanceStats;
use bytes::Bytes;
use chaos_fault::FaultTable;
use futures_util::TryFutureExt;
use futures_util::future::{Either as FutureEither, MapOk};
use http::{Request, Response, StatusCode, header};
use http_body_util::{Either, Full};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::collections::{BTreeMap, HashMap};
use std::future::{Ready, ready};
use std::hash::Hash;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tower::Service;

/// The content type of the OpenMetrics text format.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A request's labels.
// `eq` below compares the same fields as the derived `Hash` hashes, only faster.
#[allow(clippy::derived_hash_with_manual_eq)]
#[derive(Clone, Debug, Hash, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    route: &'static str,
    code: u16,
    fault: String,
}

/// A latency series' labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RouteLabels {
    route: &'static str,
    fault: String,
}

impl PartialEq for RequestLabels {
    /// Compared on every request: the route (one of the routes' static names) by address before
    /// its bytes, and no call to compare an empty fault with another (the common case).
    fn eq(&self, other: &Self) -> bool {
        let route = std::ptr::eq(self.route, other.route) || self.route == other.route;
        let fault = (self.fault.is_empty() && other.fault.is_empty()) || self.fault == other.fault;
        route && self.code == other.code && fault
    }
}

/// An instance's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InstanceLabels {
    /// Its service.
    pub service: String,
    /// The instance, `SERVICE-N` (not `instance`, which Prometheus sets to the scrape address).
    pub replica: String,
    /// Its zone.
    pub zone: String,
}

/// The series of one metric, by label set.
///
/// Written by hand rather than with `prometheus_client`'s `Family`: a `Family` can be neither
/// iterated nor nested in another, and the platform-wide scrape must put every instance's series
/// under one metric family with the instance's labels added.
///
/// Keyed with foldhash, not std's SipHash, as is the lookup every request makes
/// ([`RequestMetrics`]): hash-flooding is no concern for labels the platform makes itself.
#[derive(Debug)]
pub(crate) struct Series<L, M> {
    map: RwLock<HashMap<L, M, foldhash::fast::RandomState>>,
    new: fn() -> M,
}

impl<L: Clone + Eq + Hash, M: Clone> Series<L, M> {
    fn new(new: fn() -> M) -> Self {
        Self { map: RwLock::default(), new }
    }

    /// The metric of `labels` (metrics are `Arc`s inside: the clone shares it), made on first use.
    fn metric(&self, labels: &L) -> M {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        map.entry(labels.clone()).or_insert_with(self.new).clone()
    }
}

/// One instance's request series.
///
/// Each request needs its counter, its route's error counter and its route's histogram: three
/// series of three families. `by_request` keeps the three together under the request's labels,
/// so a request costs one lookup; the families are filled on a request's first sight of a label
/// set, and only they are encoded.
#[derive(Debug)]
pub(crate) struct RequestMetrics {
    requests: Series<RequestLabels, Counter>,
    errors: Series<RouteLabels, Counter>,
    latency: Series<RouteLabels, Histogram>,
    by_request: RwLock<HashMap<RequestLabels, RequestSeries, foldhash::fast::RandomState>>,
}

/// The series a request with one label set counts in (each shared with its family).
#[derive(Debug)]
struct RequestSeries {
    request: Counter,
    errors: Counter,
    latency: Histogram,
}

impl RequestSeries {
    fn count(&self, error: bool, latency: Duration) {
        if error {
            self.errors.inc();
        }
        self.latency.observe(latency.as_secs_f64());
        self.request.inc();
    }
}

impl Default for RequestMetrics {
    fn default() -> Self {
        // 0.5 ms to 16 s, doubling: service times, injected delays and hangs all land in a bucket.
        let latency = Series::new(|| Histogram::new(exponential_buckets(5e-4, 2.0, 16)));
        let (requests, errors) = (Series::new(Counter::default), Series::new(Counter::default));
        Self { requests, errors, latency, by_request: RwLock::default() }
    }
}

impl RequestMetrics {
    /// Counts one request; `code` 0 when no answer was sent.
    pub(crate) fn record(&self, route: &'static str, code: u16, error: bool, fault: String, latency: Duration) {
        let labels = RequestLabels { route, code, fault };
        let by_request = self.by_request.read().unwrap_or_else(|p| p.into_inner());
        if let Some(series) = by_request.get(&labels) {
            return series.count(error, latency);
        }
        drop(by_request);
        // A label set's first request: its series in the three families (two first requests
        // racing here make the same series twice, which share the families' metrics).
        let by_route = RouteLabels { route, fault: labels.fault.clone() };
        let series = RequestSeries {
            request: self.requests.metric(&labels),
            errors: self.errors.metric(&by_route),
            latency: self.latency.metric(&by_route),
        };
        series.count(error, latency);
        self.by_request.write().unwrap_or_else(|p| p.into_inner()).insert(labels, series);
    }
}

/// An instance as a metrics source.
#[derive(Clone, Debug)]
pub struct Source {
    /// Its labels.
    pub labels: InstanceLabels,
    /// Its request metrics.
    pub stats: Arc<InstanceStats>,
    /// Its fault table.
    pub table: FaultTable,
}

/// Encodes every metric of a set of instances, one family per metric name (a Prometheus
/// collector: the fault tables are read at scrape time).
#[derive(Clone, Debug)]
pub struct PlatformMetrics(pub Vec<Source>);

impl PlatformMetrics {
    /// The OpenMetrics text of every instance.
    pub fn render(&self) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self.clone()));
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

/// Encodes one metric family: every series of every source, with the source's labels added.
fn family<L: EncodeLabelSet, M: EncodeMetric>(
    enc: &mut DescriptorEncoder,
    (name, help, kind): (&str, &str, MetricType),
    sources: &[Source],
    series: impl Fn(usize) -> Vec<(L, M)>,
) -> std::fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, kind)?;
    for (i, s) in sources.iter().enumerate() {
        for (labels, metric) in series(i) {
            metric.encode(m.encode_family(&(s.labels.clone(), labels))?)?;
        }
    }
    Ok(())
}

/// The series of a [`Series`], for encoding (metrics are `Arc`s inside: clones are cheap).
fn read<L: Clone, M: Clone>(s: &Series<L, M>) -> Vec<(L, M)> {
    s.map.read().unwrap_or_else(|p| p.into_inner()).iter().map(|(l, m)| (l.clone(), m.clone())).collect()
}

/// One series with only the source's labels.
fn unlabelled<M>(m: M) -> Vec<([(&'static str, &'static str); 0], M)> {
    vec![([], m)]
}

impl Collector for PlatformMetrics {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        use MetricType::{Counter as C, Gauge as G, Histogram as H};
        let src = &self.0;
        let faults: Vec<_> = src.iter().map(|s| s.table.metrics()).collect();
        let by = |key: &'static str, map: &BTreeMap<String, u64>| -> Vec<([(&str, String); 1], ConstCounter)> {
            map.iter().map(|(k, n)| ([(key, k.clone())], ConstCounter::new(*n))).collect()
        };
        let requests = ("chaos_target_requests", "Requests answered or dropped, by route, code and fault.", C);
        family(&mut enc, requests, src, |i| read(&src[i].stats.prom().requests))?;
        let errors = ("chaos_target_errors", "5xx answers and dropped requests, by route and fault.", C);
        family(&mut enc, errors, src, |i| read(&src[i].stats.prom().errors))?;
        let latency = ("chaos_target_request_duration_seconds", "Time to the response head.", H);
        family(&mut enc, latency, src, |i| read(&src[i].stats.prom().latency))?;
        let seen = ("chaos_fault_requests_seen", "Requests that reached the fault layer.", C);
        family(&mut enc, seen, src, |i| unlabelled(ConstCounter::new(faults[i].requests_seen)))?;
        let injected = ("chaos_fault_injected", "Faults injected, by kind.", C);
        family(&mut enc, injected, src, |i| by("kind", &faults[i].injected))?;
        let hits = ("chaos_fault_rule_hits", "Faults injected, by rule (rules in the table).", C);
        family(&mut enc, hits, src, |i| by("rule", &faults[i].by_rule))?;
        let rules = ("chaos_fault_rules", "Live rules in the instance's fault table.", G);
        family(&mut enc, rules, src, |i| unlabelled(ConstGauge::new(faults[i].rules as i64)))
    }
}

/// Serves `GET /metrics` from `metrics`, everything else from `inner`: the scrape stays outside
/// the fault layer and the request metrics, so faults never hide the numbers that show them.
#[derive(Clone, Debug)]
pub struct Exposed<S> {
    inner: S,
    metrics: Arc<PlatformMetrics>,
}

impl<S> Exposed<S> {
    /// `inner`, with `metrics` on `/metrics`.
    pub fn new(inner: S, metrics: PlatformMetrics) -> Self {
        Self { inner, metrics: Arc::new(metrics) }
    }
}

/// The content type of the Prometheus text format (0.0.4), for scrapers that do not ask for
/// OpenMetrics (curl, `promtool check metrics`, older Prometheus).
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The scrape answer to a request whose `Accept` header is `accept`.
pub fn scrape(metrics: &PlatformMetrics, accept: Option<&http::HeaderValue>) -> Response<Full<Bytes>> {
    exposition(metrics.render(), accept)
}

/// An OpenMetrics exposition as the answer to a scrape: as it is when the scraper accepts
/// OpenMetrics (Prometheus asks for it first), else in the Prometheus text format, as
/// Prometheus' own client libraries negotiate.
pub fn exposition(openmetrics: String, accept: Option<&http::HeaderValue>) -> Response<Full<Bytes>> {
    let wants_openmetrics =
        accept.and_then(|a| a.to_str().ok()).is_some_and(|a| a.contains("application/openmetrics-text"));
    let (body, content_type) = if wants_openmetrics {
        (openmetrics, CONTENT_TYPE)
    } else {
        (to_prometheus_text(&openmetrics), TEXT_CONTENT_TYPE)
    };
    let mut res = Response::new(Full::new(Bytes::from(body)));
    res.headers_mut().insert(header::CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    res
}

/// `prometheus_client`'s OpenMetrics text in the Prometheus text format 0.0.4.
///
/// Written by hand: `prometheus_client` encodes OpenMetrics only, and the `prometheus` crate
/// that has a 0.0.4 encoder is a second metrics library. The two formats differ, for what
/// `prometheus_client` writes, in three places: a counter's family is named with its `_total`
/// suffix in 0.0.4 (its samples already carry it), there are no `# UNIT` lines, and no `# EOF`.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let mut counters = std::collections::HashSet::new();
    for line in openmetrics.lines() {
        if let Some(family) = line.strip_prefix("# TYPE ").and_then(|t| t.strip_suffix(" counter")) {
            counters.insert(family);
        }
    }
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "].into_iter().find_map(|p| Some((p, line.strip_prefix(p)?)));
        match meta {
            Some((prefix, rest)) => {
                let (family, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                let total = if counters.contains(family) { "_total" } else { "" };
                out.push_str(&format!("{prefix}{family}{total} {tail}"));
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

impl<S, B, RB> Service<Request<B>> for Exposed<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
{
    type Response = Response<Either<RB, Full<Bytes>>>;
    type Error = S::Error;
    type Future =
        FutureEither<MapOk<S::Future, fn(Response<RB>) -> Self::Response>, Ready<Result<Self::Response, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if req.uri().path() != "/metrics" {
            // Combinators, not a boxed async block: no allocation per request.
            return FutureEither::Left(self.inner.call(req).map_ok(|res| res.map(Either::Left)));
        }
        let res = if req.method() == http::Method::GET {
            scrape(&self.metrics, req.headers().get(header::ACCEPT))
        } else {
            let mut res = Response::new(Full::new(Bytes::from_static(b"use GET\n")));
            *res.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            res
        };
        FutureEither::Right(ready(Ok(res.map(Either::Right))))
    }
}
