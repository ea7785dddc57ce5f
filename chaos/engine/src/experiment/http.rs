//! The HTTP workload's format: requests and flows of requests that arrivals send to the user's
//! own system (`load.http`), each with what it expects of the answer.
//!
//! ```yaml
//! load:
//!   rate: 200/s
//!   duration: 30s
//!   http:
//!     - name: checkout
//!       weight: 3
//!       method: POST
//!       url: http://127.0.0.1:8080/checkout
//!       headers: { content-type: application/json }
//!       body: '{"user": "{{user}}"}'
//!       timeout: 2s
//!       expect: { status: [200, 201], body_contains: '"ok"' }
//!     - name: health                       # a unary gRPC call over h2c
//!       url: http://127.0.0.1:50051
//!       grpc: { method: /grpc.health.v1.Health/Check, message: CgA= }
//!       expect: { grpc_status: [ok] }
//!     - name: browse-then-buy
//!       steps:
//!         - { name: home, url: http://127.0.0.1:8080/ }
//!         - { name: buy, method: POST, url: http://127.0.0.1:8080/checkout }
//! ```
//!
//! One struct serves an entry and a step (serde's `flatten` would lose the file:line:column of
//! errors inside it and cannot deny unknown keys); the validator refuses `weight` and `steps`
//! on a step.

use chaos_fault::GrpcCode;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// One kind of arrival of the HTTP workload: a single request (`url`) or a flow (`steps`), sent
/// on a share of the arrivals given by its `weight`. A step of a flow has the same fields but
/// `weight` and `steps`. `{{user}}` (the arrival's user, `u0`…, drawn from the seed) and
/// `{{index}}` (the arrival's number) are replaced in `url`, header values and `body`.
#[derive(schemars::JsonSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpEntry {
    /// The name KPIs are kept under (`request: NAME` in checks); a flow's steps are `FLOW/STEP`.
    pub name: String,
    /// Share of arrivals, relative to the other entries (default 1; not on a step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
    /// `GET` (default), `POST`, `PUT`, `DELETE`, ... .
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// `http://HOST:PORT/PATH?QUERY` (a request needs it; a flow has it on its steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Request headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// The request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Time from the arrival's intended start (a later step: from its send) to the whole
    /// answer; past it the request is a timeout (default 10 s, at most a day).
    #[schemars(with = "Option<String>")]
    #[serde(default, with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// A unary gRPC call instead of an HTTP/1.1 request: sent over HTTP/2 without TLS (h2c) to
    /// `url`'s host and port, its path the method's. `method`, `body` and `expect.status` /
    /// `body_contains` do not go with it; `headers` are sent as its metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc: Option<GrpcCall>,
    /// What makes an answer a success (default: a status in 200..=399; a gRPC call: `ok`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Expect>,
    /// A flow: requests sent in order, each after the last one's answer; the flow succeeds when
    /// every step does and stops at the first that fails.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<HttpEntry>,
}

/// What a successful answer looks like.
#[derive(schemars::JsonSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Accepted status codes (default: 200..=399).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status: Vec<u16>,
    /// The body must contain this text (the first MiB of it is searched).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    /// A gRPC call's accepted statuses, by name (`ok`, `not_found`) or number (default: `ok`).
    #[schemars(with = "Vec<String>")]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grpc_status: Vec<GrpcCode>,
}

/// A unary gRPC call: the method and its request message.
#[derive(schemars::JsonSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcCall {
    /// `/package.Service/Method`, as the call's HTTP/2 path.
    pub method: String,
    /// The request message as protobuf bytes in base64, e.g. from `protoc --encode=TYPE
    /// FILE.proto < message.txt | base64` (default: empty, every field at its default).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl GrpcCall {
    /// The request message's bytes, or why `message` is not base64.
    pub fn message_bytes(&self) -> Result<Vec<u8>, String> {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(self.message.trim())
            .map_err(|e| format!("`message` must be the protobuf bytes in base64: {e}"))
    }

    /// Why it cannot be sent, field by field: (`method` or `message`, why).
    pub(crate) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        let parts: Vec<&str> = self.method.split('/').collect();
        let named = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"._".contains(&b));
        if !(parts.len() == 3 && parts[0].is_empty() && named(parts[1]) && named(parts[2])) {
            problems.push(("method", format!("`{}` must be /package.Service/Method", self.method)));
        }
        if let Err(why) = self.message_bytes() {
            problems.push(("message", why));
        }
        problems
    }
}

/// A request's default timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

impl HttpEntry {
    /// The requests an arrival of this entry sends, with the names their KPIs are kept under:
    /// the entry's own for a single request, `NAME/STEP` for a flow's steps.
    pub fn requests(&self) -> Vec<(String, &HttpEntry)> {
        if self.steps.is_empty() {
            vec![(self.name.clone(), self)]
        } else {
            self.steps.iter().map(|s| (format!("{}/{}", self.name, s.name), s)).collect()
        }
    }

    /// Its share of arrivals before normalisation.
    pub fn weight(&self) -> f64 {
        self.weight.unwrap_or(1.0)
    }

    /// Its timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout.unwrap_or(DEFAULT_TIMEOUT)
    }

    /// Whether it is a flow of steps.
    pub fn is_flow(&self) -> bool {
        !self.steps.is_empty()
    }
}

/// Every name a check may give as `request:` — each entry's, and each flow step's.
pub fn request_names(entries: &[HttpEntry]) -> Vec<String> {
    let mut names = Vec::new();
    for e in entries {
        if e.is_flow() {
            names.push(e.name.clone());
        }
        names.extend(e.requests().into_iter().map(|(n, _)| n));
    }
    names
}

/// Why an HTTP entry cannot be sent (the validator reports these at their place).
pub(crate) fn url_problem(url: &str) -> Option<String> {
    let uri: ::http::Uri = match url.replace("{{user}}", "u0").replace("{{index}}", "0").parse() {
        Ok(u) => u,
        Err(e) => return Some(format!("`{url}` is not a URL: {e}")),
    };
    if uri.scheme_str() != Some("http") || uri.host().is_none() {
        return Some(format!("`{url}` must be an http://HOST:PORT/PATH URL (https is not supported yet)"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::url_problem;

    #[test]
    fn a_grpc_call_needs_a_full_method_name_and_base64_bytes() {
        let call = |method: &str, message: &str| super::GrpcCall { method: method.into(), message: message.into() };
        assert!(call("/grpc.health.v1.Health/Check", "CgA=").problems().is_empty());
        assert_eq!(call("/grpc.health.v1.Health/Check", "CgA=").message_bytes(), Ok(vec![10, 0]));
        assert_eq!(call("/x.S/M", "").message_bytes(), Ok(vec![]));
        for bad in ["Health/Check", "/Health", "/a/b/c", "/a b/c", "//Check"] {
            assert_eq!(call(bad, "").problems()[0].0, "method", "{bad}");
        }
        assert_eq!(call("/x.S/M", "not base64!").problems()[0].0, "message");
    }

    #[test]
    fn only_plain_http_urls_with_a_host_can_be_sent() {
        assert!(url_problem("https://x:1/").is_some());
        assert!(url_problem("http:///nohost").is_some());
        assert!(url_problem("http://127.0.0.1:1/{{user}}").is_none());
    }
}
