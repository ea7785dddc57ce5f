//! Istio: each HTTP fault step as a `VirtualService` (networking.istio.io/v1) on its target's
//! host, with `fault.delay` / `fault.abort` (`httpStatus` or `grpcStatus`) at the scope's
//! probability, on a route matching its path, methods and headers; every other request keeps
//! the plain route. Istio has no timeline: each resource carries its window in annotations
//! (`chaos.testbed/start`, `chaos.testbed/for`, from the end of warm-up), and `chaos run` on a
//! cluster applies and deletes it then.
//!
//! A VirtualService faults every pod behind a host, before the request is forwarded: what
//! acts on one pod, on the network or on a response body has no equivalent here (export those
//! to Chaos Mesh).

use super::chaos_mesh::Metadata;
use super::place::{Placement, place};
use super::{Context, Gaps, PathScope, fixed_delay, go_duration, k8s_name, path_scope, to_yaml};
use crate::experiment::FaultStep;
use chaos_fault::{Fault, When};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

const API_VERSION: &str = "networking.istio.io/v1";

/// The VirtualServices' YAML, one document per fault step.
pub(crate) fn render(ctx: &Context, gaps: &mut Gaps) -> Vec<String> {
    for j in 0..ctx.exp.abort.len() {
        gaps.approximated(
            format!("abort[{j}]"),
            "Istio has no abort conditions: nothing in a VirtualService watches it",
        );
    }
    steps(ctx, gaps).into_iter().map(|(_, _, doc)| doc).collect()
}

/// Each step's VirtualService: (step, where it acts, YAML).
pub(crate) fn steps(ctx: &Context, gaps: &mut Gaps) -> Vec<(usize, Placement, String)> {
    let mut docs = Vec::new();
    let mut placed: Vec<(usize, String)> = Vec::new();
    for (i, step) in ctx.exp.faults.iter().enumerate() {
        let at = format!("faults[{i}]");
        let placement = placement(ctx, step, &at, gaps);
        let fault = fault(step, &at, gaps);
        let (Some(placement), Some(fault)) = (placement, fault) else { continue };
        let host = placement.host();
        if let Some((j, _)) = placed.iter().find(|(j, h)| *h == host && overlap(&ctx.exp.faults[*j], step)) {
            gaps.inexpressible(
                &at,
                format!(
                    "overlaps `{}` on host {host}: a host takes one VirtualService at a time",
                    ctx.exp.step_name(*j)
                ),
            );
            continue;
        }
        placed.push((i, host));
        let doc = to_yaml(&virtual_service(ctx, i, &placement, fault, gaps));
        docs.push((i, placement, doc));
    }
    docs
}

/// The step's target, if it is a whole service.
fn placement(ctx: &Context, step: &FaultStep, at: &str, gaps: &mut Gaps) -> Option<Placement> {
    match place(ctx, &step.target) {
        Ok(p) if p.is_part_of_service() => {
            gaps.inexpressible(
                format!("{at}.target"),
                "a VirtualService faults every pod behind a host: one instance, a zone or a share of pods has no \
                 Istio equivalent (export to chaos-mesh)",
            );
            None
        }
        Ok(p) => Some(p),
        Err(why) => {
            gaps.inexpressible(format!("{at}.target"), why);
            None
        }
    }
}

fn overlap(a: &FaultStep, b: &FaultStep) -> bool {
    a.start() < b.end() && b.start() < a.end()
}

fn virtual_service(ctx: &Context, i: usize, p: &Placement, fault: HttpFault, gaps: &mut Gaps) -> VirtualService {
    let step = &ctx.exp.faults[i];
    let mut metadata = Metadata::new(&k8s_name(&[&ctx.exp.name, &ctx.exp.step_name(i)]), &p.namespace);
    metadata.annotations.insert("chaos.testbed/start", go_duration(step.start()));
    metadata.annotations.insert("chaos.testbed/for", go_duration(step.duration));
    let host = p.host();
    let route = vec![Route { destination: Destination { host: host.clone() } }];
    let matches = matches(p, step, &format!("faults[{i}]"), gaps);
    let mut http = vec![HttpRoute { name: Some("chaos".into()), matches, fault: Some(fault), route: route.clone() }];
    if !http[0].matches.is_empty() {
        http.push(HttpRoute { name: None, matches: Vec::new(), fault: None, route });
    }
    VirtualService {
        api_version: API_VERSION,
        kind: "VirtualService",
        metadata,
        spec: Spec { hosts: vec![host], http },
    }
}

/// The step's fault as Istio's delay or abort, at the scope's probability.
fn fault(step: &FaultStep, at: &str, gaps: &mut Gaps) -> Option<HttpFault> {
    let percentage = Percentage { value: percent(step, at, gaps) };
    let fault_at = format!("{at}.fault");
    let abort = |http_status, grpc_status| HttpFault {
        delay: None,
        abort: Some(Abort { http_status, grpc_status, percentage }),
    };
    match &step.fault {
        Fault::Latency(l) => {
            if l.when == When::After {
                gaps.approximated(
                    format!("{fault_at}.latency.when"),
                    "Istio delays a request before forwarding it: the service then works late",
                );
            }
            let delay = fixed_delay(l, &format!("{fault_at}.latency"), gaps);
            if delay < Duration::from_millis(1) {
                gaps.inexpressible(format!("{fault_at}.latency"), "Istio's fixedDelay is at least 1ms");
            }
            Some(HttpFault { delay: Some(Delay { fixed_delay: go_duration(delay), percentage }), abort: None })
        }
        Fault::Error(e) => {
            if !e.body.is_empty() || !e.headers.is_empty() {
                gaps.approximated(&fault_at, "Istio's abort answers a status alone: the body and headers are left out");
            }
            Some(abort(Some(e.status), None))
        }
        Fault::Grpc(g) => {
            if !g.message.is_empty() {
                gaps.approximated(format!("{fault_at}.grpc.message"), "Istio's abort sends no grpc-message");
            }
            Some(abort(None, Some(g.code.name().to_ascii_uppercase())))
        }
        _ => {
            gaps.inexpressible(
                &fault_at,
                "Istio only delays or aborts requests: this fault has no VirtualService equivalent (export to chaos-mesh)",
            );
            None
        }
    }
}

/// The scope's probability in percent; a ramp is approximated by its highest.
fn percent(step: &FaultStep, at: &str, gaps: &mut Gaps) -> f64 {
    let Some(ramp) = &step.ramp else { return step.scope.probability * 100.0 };
    let top = ramp.from.max(ramp.to);
    gaps.approximated(format!("{at}.ramp"), format!("Istio has no ramp: {}% for the whole window", top * 100.0));
    top * 100.0
}

/// The scope as route matches (any of them: one per method).
fn matches(p: &Placement, step: &FaultStep, at: &str, gaps: &mut Gaps) -> Vec<Match> {
    let scope = &step.scope;
    if scope.cohort.is_some() {
        gaps.approximated(format!("{at}.scope.cohort"), "Istio has no user cohorts: every user is faulted");
    }
    if scope.max_active.is_some() {
        gaps.approximated(format!("{at}.scope.max_active"), "Istio has no limit on requests at once");
    }
    let mut headers: BTreeMap<String, StringMatch> =
        scope.headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), StringMatch::exact(v))).collect();
    // Istio: a header named with an empty match is checked for presence only.
    headers.extend(scope.present.iter().map(|k| (k.to_ascii_lowercase(), StringMatch::default())));
    let base = Match { uri: uri(p, step, at, gaps), method: None, headers };
    let methods = &scope.methods;
    if methods.is_empty() {
        return if base.uri.is_none() && base.headers.is_empty() { Vec::new() } else { vec![base] };
    }
    methods
        .iter()
        .map(|m| Match { method: Some(StringMatch::exact(&m.to_ascii_uppercase())), ..base.clone() })
        .collect()
}

/// Route prefix and path pattern as Istio's URI match.
fn uri(p: &Placement, step: &FaultStep, at: &str, gaps: &mut Gaps) -> Option<StringMatch> {
    match path_scope(p, &step.scope, at, gaps) {
        PathScope::Any => None,
        PathScope::Prefix(prefix) => Some(StringMatch::prefix(&prefix)),
        PathScope::Pattern { prefix, pattern } => Some(StringMatch::regex(&path_regex(&prefix, &pattern))),
    }
}

/// A path pattern (`*` one segment, a final `**` the rest) as an RE2 regex of the whole path.
fn path_regex(prefix: &str, pattern: &str) -> String {
    let segments: Vec<&str> = pattern.trim_start_matches('/').split('/').collect();
    let mut re = regex::escape(prefix);
    for (k, seg) in segments.iter().enumerate() {
        match *seg {
            "**" if k + 1 == segments.len() => {
                re.push_str("(/.*)?");
                return re;
            }
            "*" => re.push_str("/[^/]*"),
            literal => {
                re.push('/');
                re.push_str(&regex::escape(literal));
            }
        }
    }
    re
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VirtualService {
    api_version: &'static str,
    kind: &'static str,
    metadata: Metadata,
    spec: Spec,
}

#[derive(Serialize)]
struct Spec {
    hosts: Vec<String>,
    http: Vec<HttpRoute>,
}

#[derive(Serialize)]
struct HttpRoute {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(rename = "match", skip_serializing_if = "Vec::is_empty")]
    matches: Vec<Match>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fault: Option<HttpFault>,
    route: Vec<Route>,
}

#[derive(Clone, Serialize)]
struct Match {
    #[serde(skip_serializing_if = "Option::is_none")]
    uri: Option<StringMatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    method: Option<StringMatch>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    headers: BTreeMap<String, StringMatch>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
struct StringMatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    exact: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    regex: Option<String>,
}

impl StringMatch {
    fn exact(s: &str) -> Self {
        Self { exact: Some(s.into()), ..Self::default() }
    }

    fn prefix(s: &str) -> Self {
        Self { prefix: Some(s.into()), ..Self::default() }
    }

    fn regex(s: &str) -> Self {
        Self { regex: Some(s.into()), ..Self::default() }
    }
}

#[derive(Serialize)]
struct HttpFault {
    #[serde(skip_serializing_if = "Option::is_none")]
    delay: Option<Delay>,
    #[serde(skip_serializing_if = "Option::is_none")]
    abort: Option<Abort>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Delay {
    fixed_delay: String,
    percentage: Percentage,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Abort {
    #[serde(skip_serializing_if = "Option::is_none")]
    http_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    grpc_status: Option<String>,
    percentage: Percentage,
}

#[derive(Clone, Copy, Serialize)]
struct Percentage {
    value: f64,
}

#[derive(Clone, Serialize)]
struct Route {
    destination: Destination,
}

#[derive(Clone, Serialize)]
struct Destination {
    host: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_patterns_become_whole_path_regexes() {
        let re = |p: &str| regex::Regex::new(&format!("^{}$", path_regex("", p))).unwrap();
        let one = re("/segments/*/0");
        assert!(one.is_match("/segments/a/0") && !one.is_match("/segments/a/b/0"));
        let rest = re("/api/**");
        assert!(rest.is_match("/api") && rest.is_match("/api/v1/x") && !rest.is_match("/apis"));
        assert_eq!(path_regex("/shop", "/a.b"), r"/shop/a\.b");
    }
}
