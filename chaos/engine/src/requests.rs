//! What the HTTP workload's requests did, accumulated per phase (or per second): counts, why
//! each failed request failed, and latency from each arrival's intended start — for all
//! requests and for each named request, flow and flow step.

use chaos_fault::GrpcCode;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Why a request failed, as its client saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RequestFailure {
    /// An answer whose status the request does not accept.
    Status(u16),
    /// No whole answer within the request's timeout.
    Timeout,
    /// The connection was refused (nothing listening).
    Refused,
    /// The connection was reset or closed before the answer ended.
    Reset,
    /// The status was accepted, the body did not contain what was expected.
    Expectation,
    /// The answer was not HTTP/1.1 (or its head did not fit 16 KiB).
    Protocol,
    /// A gRPC call ended with a status it does not accept.
    Grpc(GrpcCode),
    /// The arrival was never sent: too many requests were in flight (k6's dropped iterations).
    Dropped,
}

impl fmt::Display for RequestFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestFailure::Status(s) => write!(f, "status {s}"),
            RequestFailure::Timeout => f.write_str("timeout"),
            RequestFailure::Refused => f.write_str("refused"),
            RequestFailure::Reset => f.write_str("reset"),
            RequestFailure::Expectation => f.write_str("expectation not met"),
            RequestFailure::Protocol => f.write_str("bad answer"),
            RequestFailure::Dropped => f.write_str("dropped"),
            RequestFailure::Grpc(code) => write!(f, "grpc {code}"),
        }
    }
}

impl Serialize for RequestFailure {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RequestFailure {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        let s = String::deserialize(de)?;
        Ok(match s.as_str() {
            "timeout" => RequestFailure::Timeout,
            "refused" => RequestFailure::Refused,
            "reset" => RequestFailure::Reset,
            "expectation not met" => RequestFailure::Expectation,
            "bad answer" => RequestFailure::Protocol,
            "dropped" => RequestFailure::Dropped,
            other => (other.strip_prefix("status ").and_then(|n| n.parse().ok()).map(RequestFailure::Status))
                .or_else(|| other.strip_prefix("grpc ").and_then(GrpcCode::from_name).map(RequestFailure::Grpc))
                .ok_or_else(|| serde::de::Error::custom(format!("unknown request failure `{other}`")))?,
        })
    }
}

/// One request's result: its latency from the intended start and how it ended.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestOutcome {
    /// The name it is counted under (`checkout`, `buy/pay`), shared with every request of that
    /// name.
    pub name: Arc<str>,
    /// From its intended start (a flow's first step: the arrival's) to the end of the answer or
    /// the failure.
    pub latency: Duration,
    /// `Ok(status)` or why it failed.
    pub result: Result<u16, RequestFailure>,
}

/// One arrival's result: a request, or the steps of a flow that were sent.
#[derive(Clone, Debug, PartialEq)]
pub struct ArrivalOutcome {
    /// The entry's name.
    pub entry: Arc<str>,
    /// Whether the entry is a flow (its own figures are kept beside its steps').
    pub flow: bool,
    /// The requests sent, in order; a flow stops at its first failure.
    pub requests: Vec<RequestOutcome>,
    /// The whole arrival's time, from its intended start.
    pub latency: Duration,
}

impl ArrivalOutcome {
    /// Why the arrival failed, if it did: its first failed request's reason.
    pub fn failure(&self) -> Option<RequestFailure> {
        self.requests.iter().find_map(|r| r.result.err())
    }
}

/// Counts and latencies of one name (or of all requests).
#[derive(Clone, Debug)]
pub struct RequestStats {
    /// Requests sent (flows: arrivals that started).
    pub requests: u64,
    /// Of those, successes.
    pub ok: u64,
    /// Arrivals not sent (in-flight limit).
    pub dropped: u64,
    /// Failed requests (and dropped arrivals) by reason.
    pub failures: BTreeMap<RequestFailure, u64>,
    /// Latency of every sent request, failures included, from the intended start, µs.
    pub latency_us: Histogram<u64>,
}

impl RequestStats {
    fn new(histogram: fn() -> Histogram<u64>) -> Self {
        Self { requests: 0, ok: 0, dropped: 0, failures: BTreeMap::new(), latency_us: histogram() }
    }

    fn record(&mut self, latency: Duration, failure: Option<RequestFailure>) {
        self.requests += 1;
        match failure {
            None => self.ok += 1,
            Some(f) => *self.failures.entry(f).or_default() += 1,
        }
        self.latency_us.saturating_record(latency.as_micros().clamp(1, 3_600_000_000) as u64);
    }

    fn record_dropped(&mut self) {
        self.dropped += 1;
        *self.failures.entry(RequestFailure::Dropped).or_default() += 1;
    }

    fn merge(&mut self, o: &RequestStats) {
        self.requests += o.requests;
        self.ok += o.ok;
        self.dropped += o.dropped;
        for (f, n) in &o.failures {
            *self.failures.entry(*f).or_default() += n;
        }
        // Values above a compact histogram's bound were clamped when recorded: adding cannot fail.
        let _ = self.latency_us.add(&o.latency_us);
    }

    /// Successes over requests sent and dropped: a dropped arrival is a failed one to its user.
    pub fn success_ratio(&self) -> Option<f64> {
        let all = self.requests + self.dropped;
        (all > 0).then(|| self.ok as f64 / all as f64)
    }

    /// A latency percentile in ms, `None` with no request sent.
    pub fn latency_ms(&self, q: f64) -> Option<f64> {
        (!self.latency_us.is_empty()).then(|| self.latency_us.value_at_quantile(q) as f64 / 1000.0)
    }
}

/// Every request of a phase: all of them, and each name's.
#[derive(Clone, Debug)]
pub struct HttpStats {
    histogram: fn() -> Histogram<u64>,
    /// All requests sent (a flow's steps each count; the flow itself does not).
    pub all: RequestStats,
    /// Per entry, flow and flow step.
    pub by_name: BTreeMap<String, RequestStats>,
}

impl HttpStats {
    /// Empty figures whose histograms `histogram` makes.
    pub fn new(histogram: fn() -> Histogram<u64>) -> Self {
        Self { histogram, all: RequestStats::new(histogram), by_name: BTreeMap::new() }
    }

    fn named(&mut self, name: &str) -> &mut RequestStats {
        if !self.by_name.contains_key(name) {
            self.by_name.insert(name.to_string(), RequestStats::new(self.histogram));
        }
        self.by_name.get_mut(name).expect("inserted above")
    }

    /// Adds one arrival's requests (and a flow's own result).
    pub fn record(&mut self, arrival: &ArrivalOutcome) {
        for r in &arrival.requests {
            self.all.record(r.latency, r.result.err());
            self.named(&r.name).record(r.latency, r.result.err());
        }
        if arrival.flow {
            self.named(&arrival.entry).record(arrival.latency, arrival.failure());
        }
    }

    /// Adds an arrival that was never sent.
    pub fn record_dropped(&mut self, entry: &str) {
        self.all.record_dropped();
        self.named(entry).record_dropped();
    }

    /// Adds other figures into these.
    pub fn merge(&mut self, o: &HttpStats) {
        self.all.merge(&o.all);
        for (name, s) in &o.by_name {
            self.named(name).merge(s);
        }
    }

    /// The figures of `name`, or of all requests.
    pub fn get(&self, name: Option<&str>) -> Option<&RequestStats> {
        match name {
            None => Some(&self.all),
            Some(n) => self.by_name.get(n),
        }
    }

    /// Every histogram, in a fixed order (all, then by name): to seal and unseal them.
    pub(crate) fn histograms_mut(&mut self) -> impl Iterator<Item = &mut RequestStats> {
        std::iter::once(&mut self.all).chain(self.by_name.values_mut())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(name: &str, ms: u64, result: Result<u16, RequestFailure>) -> RequestOutcome {
        RequestOutcome { name: name.into(), latency: Duration::from_millis(ms), result }
    }

    #[test]
    fn failures_are_written_as_reasons_and_read_back() {
        let all = [
            RequestFailure::Status(503),
            RequestFailure::Grpc(GrpcCode::UNAVAILABLE),
            RequestFailure::Timeout,
            RequestFailure::Refused,
            RequestFailure::Reset,
            RequestFailure::Expectation,
            RequestFailure::Protocol,
            RequestFailure::Dropped,
        ];
        let json = serde_json::to_string(&all).unwrap();
        assert!(json.contains(r#""status 503","grpc unavailable","timeout""#), "{json}");
        assert_eq!(serde_json::from_str::<Vec<RequestFailure>>(&json).unwrap(), all);
        assert!(serde_json::from_str::<RequestFailure>(r#""grpc down""#).is_err());
    }

    #[test]
    fn a_flow_counts_its_steps_in_all_and_itself_under_its_name() {
        let mut s = HttpStats::new(crate::kpi::compact_histogram);
        s.record(&ArrivalOutcome {
            entry: "buy".into(),
            flow: true,
            requests: vec![request("buy/home", 10, Ok(200)), request("buy/pay", 30, Err(RequestFailure::Status(503)))],
            latency: Duration::from_millis(40),
        });
        s.record(&ArrivalOutcome {
            entry: "home".into(),
            flow: false,
            requests: vec![request("home", 5, Ok(200))],
            latency: Duration::from_millis(5),
        });
        s.record_dropped("home");
        assert_eq!((s.all.requests, s.all.ok, s.all.dropped), (3, 2, 1));
        assert_eq!(s.all.success_ratio(), Some(0.5));
        assert_eq!(s.get(Some("buy")).map(|b| (b.requests, b.ok)), Some((1, 0)));
        assert_eq!(s.get(Some("buy")).unwrap().failures[&RequestFailure::Status(503)], 1);
        assert_eq!(s.get(Some("home")).and_then(RequestStats::success_ratio), Some(0.5));
        assert_eq!(s.get(Some("nope")).map(|r| r.requests), None);
    }

    #[test]
    fn failures_read_back_from_their_names() {
        for f in [RequestFailure::Status(503), RequestFailure::Timeout, RequestFailure::Expectation] {
            let json = serde_json::to_string(&f).unwrap();
            assert_eq!(serde_json::from_str::<RequestFailure>(&json).unwrap(), f);
        }
    }
}
