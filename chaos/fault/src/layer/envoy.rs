//! Envoy's header-controlled faults (its fault filter's `header_abort`, `header_delay` and
//! `header_limit`), for a layer that opts in with [`FaultLayer::envoy_headers`]: a test written
//! for Envoy sends the same headers to a service behind this layer or `chaos proxy`.
//!
//! | header | fault |
//! |---|---|
//! | `x-envoy-fault-abort-request: 503` | answer with that HTTP status, `[200, 600)` |
//! | `x-envoy-fault-abort-grpc-request: 14` | answer a gRPC status (HTTP 200; ignored beside the one above) |
//! | `x-envoy-fault-delay-request: 200` | delay the request that many milliseconds |
//! | `x-envoy-fault-throughput-response: 64` | stream the response body at that many KiB/s |
//! | `…-percentage: 30` after each of the three | the share of requests, as a numerator of 100 (default 100) |
//!
//! As in Envoy, a value that is not a number in range makes its header ignored, the delay comes
//! before the abort, and an abort's body is `fault filter abort`. gRPC codes above 16 (which
//! Envoy passes on) are ignored here.
//!
//! [`FaultLayer::envoy_headers`]: super::FaultLayer::envoy_headers

use crate::table::ActiveRule;
use crate::{ErrorFault, Fault, GrpcCode, GrpcFault, Rule, Scope};
use http::HeaderMap;
use std::sync::Arc;
use std::time::Duration;

const ABORT: &str = "x-envoy-fault-abort-request";
const ABORT_GRPC: &str = "x-envoy-fault-abort-grpc-request";
const DELAY: &str = "x-envoy-fault-delay-request";
const THROUGHPUT: &str = "x-envoy-fault-throughput-response";

/// The body of an abort, as Envoy writes it.
const ABORT_BODY: &str = "fault filter abort";

/// The rules the request's headers ask for, in the order they act (delay, throughput, abort).
pub(crate) fn header_rules(headers: &HeaderMap) -> Vec<Arc<ActiveRule>> {
    let mut rules = Vec::new();
    let mut add = |id: &str, fault: Fault, header: &str| {
        let probability = number(headers, &format!("{header}-percentage")).map_or(1.0, |n| n.min(100) as f64 / 100.0);
        let scope = Scope { probability, ..Scope::default() };
        rules.push(ActiveRule::ephemeral(Rule::new(id, fault, scope)));
    };
    if let Some(ms) = number(headers, DELAY) {
        add("envoy-delay", Fault::fixed_latency(Duration::from_millis(ms)), DELAY);
    }
    if let Some(kib) = number(headers, THROUGHPUT).filter(|k| *k > 0) {
        let bytes_per_s = kib.saturating_mul(1024);
        add("envoy-throughput", Fault::Throttle { bytes_per_s }, THROUGHPUT);
    }
    let http = number(headers, ABORT).filter(|s| (200..600).contains(s));
    let grpc = number(headers, ABORT_GRPC).and_then(|c| GrpcCode::new(u8::try_from(c).ok()?));
    let abort = match (http, grpc) {
        (Some(status), _) => Some(Fault::Error(ErrorFault {
            status: status as u16,
            body: ABORT_BODY.into(),
            headers: Default::default(),
        })),
        (None, Some(code)) => Some(Fault::Grpc(GrpcFault { code, message: ABORT_BODY.into() })),
        (None, None) => None,
    };
    if let Some(abort) = abort {
        // Envoy reads one percentage header for both kinds of abort.
        add("envoy-abort", abort, ABORT);
    }
    rules
}

/// Whether any header asks for a fault (a cheap first look).
pub(crate) fn asked(headers: &HeaderMap) -> bool {
    [ABORT, ABORT_GRPC, DELAY, THROUGHPUT].iter().any(|h| headers.contains_key(*h))
}

fn number(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(pairs: &[(&'static str, &str)]) -> Vec<Rule> {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, value.parse().unwrap());
        }
        header_rules(&headers).into_iter().map(|r| r.rule.clone()).collect()
    }

    #[test]
    fn headers_become_rules_as_envoy_reads_them() {
        let r = rules(&[("x-envoy-fault-abort-request", "503"), ("x-envoy-fault-abort-request-percentage", "30")]);
        assert_eq!(r.len(), 1);
        assert_eq!(
            r[0].fault,
            Fault::Error(ErrorFault { status: 503, body: ABORT_BODY.into(), headers: Default::default() })
        );
        assert_eq!(r[0].scope.probability, 0.3);
        let r = rules(&[("x-envoy-fault-abort-request", "503"), ("x-envoy-fault-abort-grpc-request", "14")]);
        assert_eq!(r[0].fault.kind(), "error", "the HTTP abort wins, as in Envoy");
        let r = rules(&[("x-envoy-fault-abort-grpc-request", "14"), ("x-envoy-fault-delay-request", "200")]);
        let kinds: Vec<_> = r.iter().map(|r| r.fault.kind()).collect();
        assert_eq!(kinds, ["latency", "grpc"], "the delay first");
        let r = rules(&[
            ("x-envoy-fault-throughput-response", "64"),
            ("x-envoy-fault-throughput-response-percentage", "250"),
        ]);
        assert_eq!((&r[0].fault, r[0].scope.probability), (&Fault::Throttle { bytes_per_s: 65536 }, 1.0));
    }

    #[test]
    fn values_out_of_range_or_not_numbers_are_ignored() {
        for (name, value) in [
            ("x-envoy-fault-abort-request", "600"),
            ("x-envoy-fault-abort-request", "199"),
            ("x-envoy-fault-abort-request", "five"),
            ("x-envoy-fault-abort-grpc-request", "17"),
            ("x-envoy-fault-delay-request", "-1"),
            ("x-envoy-fault-throughput-response", "0"),
        ] {
            assert!(rules(&[(name, value)]).is_empty(), "{name}: {value}");
        }
    }
}
