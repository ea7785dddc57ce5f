//! Chaos Mesh: the timeline as one `Workflow` (chaos-mesh.org/v1alpha1). Each fault step is a
//! chaos template whose `deadline` is its window, preceded by a `Suspend` for its `at`; a step
//! with `after: X` follows X in a `Serial`; independent steps run in a `Parallel`. HTTP faults
//! become HTTPChaos, `kill` and `pause` PodChaos, `throttle` and TCP toxics NetworkChaos; abort
//! conditions that are HTTP probes become StatusChecks that abort the workflow.
//!
//! The resources' shapes are typed here (no Chaos Mesh crate exists for Rust); the tests check
//! the output against Chaos Mesh's published CRD schemas.

use super::place::{Mode, Placement, place};
use super::plan::{Node, forest};
use super::{Context, Gaps, PathScope, fixed_delay, go_duration, k8s_name, path_scope, to_yaml};
use crate::experiment::kubernetes::KillAs;
use crate::experiment::probe::{HttpProbe, Probe};
use crate::experiment::{AbortCondition, FaultStep};
use base64::Engine as _;
use chaos_fault::toxic::{Stream, Toxic, ToxicKind};
use chaos_fault::{Fault, Scope, When};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

const API_VERSION: &str = "chaos-mesh.org/v1alpha1";

/// The Workflow's YAML (one document).
pub(crate) fn render(ctx: &Context, gaps: &mut Gaps) -> Vec<String> {
    let names = template_names(ctx);
    let mut templates = Vec::new();
    let mut entry = Vec::new();
    for root in forest(ctx.exp) {
        entry.push(chain(ctx, &names, &root, &mut templates, gaps));
    }
    let end = ctx.exp.fault_window().map_or(Duration::ZERO, |(_, end)| end);
    for (j, abort) in ctx.exp.abort.iter().enumerate() {
        if let Some(check) = status_check(j, abort, end, gaps) {
            entry.push(check.name.clone());
            templates.push(check);
        }
    }
    let name = k8s_name(&[&ctx.exp.name]);
    templates.insert(0, Template::group(&name, TemplateType::Parallel, entry).deadline(end));
    let workflow = Workflow {
        api_version: API_VERSION,
        kind: "Workflow",
        metadata: Metadata::new(&name, &ctx.cluster.namespace),
        spec: WorkflowSpec { entry: name, templates },
    };
    vec![to_yaml(&workflow)]
}

/// Each step as a chaos resource of its own (HTTPChaos, PodChaos or NetworkChaos), for a run
/// that applies and deletes it on its own timeline: (step, where it acts, YAML).
pub(crate) fn steps(ctx: &Context, gaps: &mut Gaps) -> Vec<(usize, Placement, String)> {
    let names = template_names(ctx);
    let mut out = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let placement = placed(ctx, i, gaps);
        let (template, lasts) = chaos(ctx, i, &placement, gaps);
        let metadata = Metadata::new(&k8s_name(&[&ctx.exp.name, name]), &ctx.cluster.namespace);
        out.push((i, placement, to_yaml(&template.into_resource(metadata, lasts))));
    }
    out
}

/// A template name per step, unique once made Kubernetes-safe.
fn template_names(ctx: &Context) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for i in 0..ctx.exp.faults.len() {
        let step = ctx.exp.step_name(i);
        let mut name = k8s_name(&[&step]);
        if names.contains(&name) || name == k8s_name(&[&ctx.exp.name]) {
            name = k8s_name(&[&step, &i.to_string()]);
        }
        names.push(name);
    }
    names
}

/// Adds the templates of `node` and its dependants; returns the name of their `Serial`.
fn chain(ctx: &Context, names: &[String], node: &Node, out: &mut Vec<Template>, gaps: &mut Gaps) -> String {
    let step = &ctx.exp.faults[node.step];
    let name = &names[node.step];
    let mut serial = Vec::new();
    if !step.at.is_zero() {
        out.push(Template::suspend(&format!("{name}-wait"), step.at));
        serial.push(format!("{name}-wait"));
    }
    let (chaos, lasts) = chaos(ctx, node.step, &placed(ctx, node.step, gaps), gaps);
    out.push(chaos.named(name).deadline(lasts));
    serial.push(name.clone());
    if lasts < step.duration {
        // The fault ended early (a kill's restart): the dependants still start at the step's end.
        out.push(Template::suspend(&format!("{name}-rest"), step.duration - lasts));
        serial.push(format!("{name}-rest"));
    }
    let children: Vec<String> = node.children.iter().map(|c| chain(ctx, names, c, out, gaps)).collect();
    match children.len() {
        0 => {}
        1 => serial.extend(children),
        _ => {
            out.push(Template::group(&format!("{name}-then"), TemplateType::Parallel, children));
            serial.push(format!("{name}-then"));
        }
    }
    out.push(Template::group(&format!("{name}-chain"), TemplateType::Serial, serial));
    format!("{name}-chain")
}

/// Where step `i` acts (a stand-in, and a gap, where it cannot be placed).
fn placed(ctx: &Context, i: usize, gaps: &mut Gaps) -> Placement {
    place(ctx, &ctx.exp.faults[i].target).unwrap_or_else(|why| {
        gaps.inexpressible(format!("faults[{i}].target"), why);
        Placement::unplaced(ctx)
    })
}

/// Step `i` as a chaos template (unnamed), and how long the fault lasts in its window.
fn chaos(ctx: &Context, i: usize, placement: &Placement, gaps: &mut Gaps) -> (Template, Duration) {
    let step = &ctx.exp.faults[i];
    let at = format!("faults[{i}]");
    let (mode, value) = mode(placement, &at, gaps);
    let pods = Pods { mode, value, selector: Selector::of(placement) };
    match &step.fault {
        Fault::Kill { restart_after } => {
            let lasts = restart_after.map_or(step.duration, |r| r.min(step.duration));
            (Template::pod(kill(ctx, placement, &pods, lasts, &at, gaps)), lasts)
        }
        Fault::Pause => {
            gaps.approximated(
                format!("{at}.fault"),
                "Chaos Mesh cannot freeze a process: pod-failure for the window (its containers stop and refuse \
                 connections instead of hanging)",
            );
            (Template::pod(pods.pod_chaos(PodAction::PodFailure, Some(step.duration), vec![])), step.duration)
        }
        Fault::Throttle { bytes_per_s } => {
            unscoped(step, &at, gaps);
            let bandwidth = Some(Bandwidth::bytes_per_s(*bytes_per_s));
            (Template::network(pods.network_chaos(NetAction::Bandwidth, None, bandwidth)), step.duration)
        }
        Fault::Toxic(t) => (Template::network(toxic(t, &pods, &format!("{at}.fault.toxic"), gaps)), step.duration),
        http => {
            let spec = http_chaos(placement, step, http, &at, gaps);
            (
                Template::http(HttpChaos { mode: pods.mode, value: pods.value, selector: pods.selector, ..spec }),
                step.duration,
            )
        }
    }
}

/// How many of which pods a step's chaos hits.
struct Pods {
    mode: ModeName,
    value: Option<String>,
    selector: Selector,
}

impl Pods {
    fn pod_chaos(&self, action: PodAction, duration: Option<Duration>, containers: Vec<String>) -> PodChaos {
        PodChaos {
            action,
            mode: self.mode,
            value: self.value.clone(),
            selector: self.selector.clone(),
            duration: duration.map(go_duration),
            grace_period: (action == PodAction::PodKill).then_some(0),
            container_names: containers,
        }
    }

    fn network_chaos(&self, action: NetAction, delay: Option<NetDelay>, bandwidth: Option<Bandwidth>) -> NetworkChaos {
        NetworkChaos {
            action,
            mode: self.mode,
            value: self.value.clone(),
            selector: self.selector.clone(),
            direction: "to",
            delay,
            bandwidth,
        }
    }
}

/// A `kill` lasting `lasts`, as `kubernetes.kill` says.
fn kill(ctx: &Context, placement: &Placement, pods: &Pods, lasts: Duration, at: &str, gaps: &mut Gaps) -> PodChaos {
    match ctx.cluster.kill {
        KillAs::PodFailure => pods.pod_chaos(PodAction::PodFailure, Some(lasts), vec![]),
        KillAs::PodKill => pods.pod_chaos(PodAction::PodKill, None, vec![]),
        KillAs::ContainerKill => {
            let container = placement.mapping.container.clone();
            if container.is_none() {
                gaps.inexpressible(at, "`kubernetes.kill: container-kill` needs the target's `container`");
            }
            pods.pod_chaos(PodAction::ContainerKill, None, container.into_iter().collect())
        }
    }
}

/// A Toxiproxy toxic as NetworkChaos (latency and bandwidth have one).
fn toxic(t: &Toxic, pods: &Pods, at: &str, gaps: &mut Gaps) -> NetworkChaos {
    if t.toxicity < 1.0 {
        gaps.approximated(format!("{at}.toxicity"), "NetworkChaos hits every connection of the pods");
    }
    if t.stream == Stream::Upstream {
        gaps.approximated(
            format!("{at}.stream"),
            "NetworkChaos acts on the pods' outgoing traffic: the toxic applies downstream",
        );
    }
    match t.kind {
        ToxicKind::Latency(l) => pods.network_chaos(NetAction::Delay, Some(NetDelay::of(l.latency, l.jitter)), None),
        ToxicKind::Bandwidth(b) => {
            pods.network_chaos(NetAction::Bandwidth, None, Some(Bandwidth::bytes_per_s(b.rate * 1000)))
        }
        _ => {
            gaps.inexpressible(
                format!("{at}.type"),
                "only Toxiproxy's latency and bandwidth toxics have a NetworkChaos equivalent",
            );
            pods.network_chaos(NetAction::Delay, None, None)
        }
    }
}

/// A network-level fault ignores the request scope: say so if one was given.
fn unscoped(step: &FaultStep, at: &str, gaps: &mut Gaps) {
    if step.scope != Scope::default() || step.ramp.is_some() {
        gaps.approximated(format!("{at}.scope"), "NetworkChaos shapes all the pods' traffic: the scope is left out");
    }
}

/// Chaos Mesh's mode and value for how many pods.
fn mode(p: &Placement, at: &str, gaps: &mut Gaps) -> (ModeName, Option<String>) {
    match p.mode {
        Mode::All => (ModeName::All, None),
        Mode::Fixed(n) => (ModeName::Fixed, Some(n.to_string())),
        Mode::FixedPercent(pct) => {
            if pct.fract() != 0.0 {
                gaps.approximated(
                    format!("{at}.target.percent"),
                    format!("Chaos Mesh takes whole percents: {}", pct.ceil()),
                );
            }
            (ModeName::FixedPercent, Some(format!("{}", pct.ceil())))
        }
    }
}

/// An HTTP fault as HTTPChaos (mode, value and selector left to the caller).
fn http_chaos(p: &Placement, step: &FaultStep, fault: &Fault, at: &str, gaps: &mut Gaps) -> HttpChaos {
    let fault_at = format!("{at}.fault");
    let mut chaos = HttpChaos { port: i32::from(p.mapping.port.unwrap_or(80)), ..HttpChaos::default() };
    http_scope(&mut chaos, p, step, at, gaps);
    match fault {
        Fault::Latency(l) => {
            chaos.target = if l.when == When::After { Target::Response } else { Target::Request };
            chaos.delay = Some(go_duration(fixed_delay(l, &format!("{fault_at}.latency"), gaps)));
        }
        Fault::Error(e) => {
            chaos.target = Target::Response;
            let body = (!e.body.is_empty()).then(|| base64::engine::general_purpose::STANDARD.encode(&e.body));
            chaos.replace = Some(Replace { code: Some(e.status), body });
            if !e.headers.is_empty() {
                chaos.patch = Some(Patch { headers: e.headers.iter().map(|(k, v)| [k.clone(), v.clone()]).collect() });
            }
        }
        Fault::Reset => chaos.abort = Some(true),
        Fault::Hang { max } => {
            gaps.approximated(&fault_at, format!("HTTPChaos cannot hang a request: a delay of {}", go_duration(*max)));
            chaos.delay = Some(go_duration(*max));
        }
        Fault::Grpc(_) => gaps.inexpressible(&fault_at, "HTTPChaos cannot answer a gRPC status: export to istio"),
        _ => gaps.inexpressible(&fault_at, "HTTPChaos cannot cut or stall a response body"),
    }
    chaos
}

/// The scope as HTTPChaos's request match; what it cannot match is reported.
fn http_scope(chaos: &mut HttpChaos, p: &Placement, step: &FaultStep, at: &str, gaps: &mut Gaps) {
    let scope = &step.scope;
    let every = "HTTPChaos has no share of requests: every matching request is faulted";
    if scope.probability < 1.0 {
        gaps.approximated(format!("{at}.scope.probability"), every);
    }
    if step.ramp.is_some() {
        gaps.approximated(format!("{at}.ramp"), every);
    }
    if scope.cohort.is_some() {
        gaps.approximated(format!("{at}.scope.cohort"), "HTTPChaos has no user cohorts: every user is faulted");
    }
    if scope.max_active.is_some() {
        gaps.approximated(format!("{at}.scope.max_active"), "HTTPChaos has no limit on requests at once");
    }
    if !scope.present.is_empty() {
        gaps.approximated(format!("{at}.scope.present"), "HTTPChaos matches header values only: left out");
    }
    match scope.methods.as_slice() {
        [] => {}
        [one] => chaos.method = Some(one.to_ascii_uppercase()),
        _ => gaps.approximated(format!("{at}.scope.methods"), "HTTPChaos matches one method: every method is faulted"),
    }
    chaos.request_headers = scope.headers.clone();
    chaos.path = path_glob(p, scope, at, gaps);
}

/// Route prefix and path pattern as HTTPChaos's `path` glob (`*` spans any characters).
fn path_glob(p: &Placement, scope: &Scope, at: &str, gaps: &mut Gaps) -> Option<String> {
    match path_scope(p, scope, at, gaps) {
        PathScope::Any => None,
        PathScope::Prefix(prefix) => Some(format!("{prefix}*")),
        PathScope::Pattern { prefix, pattern } => {
            if pattern.contains('*') {
                gaps.approximated(
                    format!("{at}.scope.path"),
                    "HTTPChaos's `*` spans any characters, `/` included: the pattern matches more paths",
                );
            }
            Some(format!("{prefix}{}", pattern.replace("**", "*")))
        }
    }
}

/// An HTTP-probe abort condition as a StatusCheck that aborts the workflow; others are reported.
fn status_check(j: usize, abort: &AbortCondition, end: Duration, gaps: &mut Gaps) -> Option<Template> {
    let at = format!("abort[{j}]");
    let Some(Probe::Http(probe)) = &abort.probe else {
        gaps.approximated(
            at,
            "a StatusCheck can only ask an HTTP URL: this condition is left out (nothing in the Workflow watches it)",
        );
        return None;
    };
    let check = StatusCheck {
        mode: "Continuous",
        kind: "HTTP",
        duration: go_duration(end),
        interval_seconds: whole_seconds(abort.every.unwrap_or(Duration::from_secs(2))),
        timeout_seconds: whole_seconds(probe.timeout),
        failure_threshold: abort.failures.unwrap_or(1),
        success_threshold: 1,
        http: HttpCheck::of(probe, &format!("{at}.probe.http"), gaps),
    };
    let mut t = Template::new(&format!("abort-{j}"), TemplateType::StatusCheck).deadline(end);
    t.abort_with_status_check = Some(true);
    t.status_check = Some(check);
    Some(t)
}

fn whole_seconds(d: Duration) -> u64 {
    d.as_secs_f64().ceil().max(1.0) as u64
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Workflow {
    api_version: &'static str,
    kind: &'static str,
    metadata: Metadata,
    spec: WorkflowSpec,
}

/// Object metadata, labelled as ours so a cluster's operator can find what a run left.
#[derive(Serialize)]
pub(crate) struct Metadata {
    pub name: String,
    pub namespace: String,
    pub labels: BTreeMap<&'static str, &'static str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<&'static str, String>,
}

impl Metadata {
    pub(crate) fn new(name: &str, namespace: &str) -> Self {
        let labels = BTreeMap::from([("app.kubernetes.io/managed-by", "chaos-testbed")]);
        Self { name: name.into(), namespace: namespace.into(), labels, annotations: BTreeMap::new() }
    }
}

/// A chaos resource on its own (not a Workflow's template).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Resource {
    api_version: &'static str,
    kind: TemplateType,
    metadata: Metadata,
    spec: serde_json::Value,
}

#[derive(Serialize)]
struct WorkflowSpec {
    entry: String,
    templates: Vec<Template>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Template {
    name: String,
    template_type: TemplateType,
    #[serde(skip_serializing_if = "Option::is_none")]
    deadline: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    children: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    http_chaos: Option<HttpChaos>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pod_chaos: Option<PodChaos>,
    #[serde(skip_serializing_if = "Option::is_none")]
    network_chaos: Option<NetworkChaos>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_check: Option<StatusCheck>,
    #[serde(skip_serializing_if = "Option::is_none")]
    abort_with_status_check: Option<bool>,
}

impl Template {
    fn new(name: &str, kind: TemplateType) -> Self {
        Self {
            name: name.into(),
            template_type: kind,
            deadline: None,
            children: Vec::new(),
            http_chaos: None,
            pod_chaos: None,
            network_chaos: None,
            status_check: None,
            abort_with_status_check: None,
        }
    }

    fn group(name: &str, kind: TemplateType, children: Vec<String>) -> Self {
        Self { children, ..Self::new(name, kind) }
    }

    fn suspend(name: &str, wait: Duration) -> Self {
        Self::new(name, TemplateType::Suspend).deadline(wait)
    }

    fn http(spec: HttpChaos) -> Self {
        Self { http_chaos: Some(spec), ..Self::new("", TemplateType::HTTPChaos) }
    }

    fn pod(spec: PodChaos) -> Self {
        Self { pod_chaos: Some(spec), ..Self::new("", TemplateType::PodChaos) }
    }

    fn network(spec: NetworkChaos) -> Self {
        Self { network_chaos: Some(spec), ..Self::new("", TemplateType::NetworkChaos) }
    }

    /// The template's chaos as a resource of its own. An HTTPChaos or NetworkChaos gets the
    /// fault's `duration` too: the runner deletes it at the step's end, and should the runner
    /// die first, Chaos Mesh still ends it then.
    fn into_resource(self, metadata: Metadata, lasts: Duration) -> Resource {
        let (spec, timed) = match (self.http_chaos, self.pod_chaos, self.network_chaos) {
            (Some(http), _, _) => (serde_json::to_value(http), true),
            (_, Some(pod), _) => (serde_json::to_value(pod), false),
            (_, _, Some(net)) => (serde_json::to_value(net), true),
            _ => (Ok(serde_json::Value::Null), false),
        };
        // Plain structs of strings, numbers and maps: serializing them cannot fail.
        let mut spec = spec.unwrap_or_default();
        if let (true, Some(fields)) = (timed, spec.as_object_mut()) {
            fields.insert("duration".into(), go_duration(lasts).into());
        }
        Resource { api_version: API_VERSION, kind: self.template_type, metadata, spec }
    }

    fn named(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }

    fn deadline(mut self, d: Duration) -> Self {
        self.deadline = Some(go_duration(d));
        self
    }
}

#[derive(Clone, Copy, Serialize)]
#[allow(clippy::upper_case_acronyms)]
enum TemplateType {
    Serial,
    Parallel,
    Suspend,
    HTTPChaos,
    PodChaos,
    NetworkChaos,
    StatusCheck,
}

#[derive(Clone, Copy, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
enum ModeName {
    #[default]
    All,
    Fixed,
    FixedPercent,
}

#[derive(Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct Selector {
    namespaces: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    label_selectors: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pods: BTreeMap<String, Vec<String>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    node_selectors: BTreeMap<String, String>,
}

impl Selector {
    fn of(p: &Placement) -> Self {
        Self {
            namespaces: vec![p.namespace.clone()],
            label_selectors: p.labels.clone(),
            pods: p.pod.iter().map(|pod| (p.namespace.clone(), vec![pod.clone()])).collect(),
            node_selectors: p.nodes.clone(),
        }
    }
}

#[derive(Clone, Copy, Default, Serialize)]
enum Target {
    #[default]
    Request,
    Response,
}

#[derive(Default, Serialize)]
struct HttpChaos {
    mode: ModeName,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    selector: Selector,
    target: Target,
    port: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    method: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    request_headers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delay: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    abort: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    replace: Option<Replace>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch: Option<Patch>,
}

#[derive(Serialize)]
struct Replace {
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<u16>,
    /// Base64, as the CRD's `format: byte` asks.
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
}

#[derive(Serialize)]
struct Patch {
    headers: Vec<[String; 2]>,
}

#[derive(Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum PodAction {
    PodKill,
    PodFailure,
    ContainerKill,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PodChaos {
    action: PodAction,
    mode: ModeName,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    selector: Selector,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    grace_period: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    container_names: Vec<String>,
}

#[derive(Clone, Copy, Serialize)]
#[serde(rename_all = "lowercase")]
enum NetAction {
    Delay,
    Bandwidth,
}

#[derive(Serialize)]
struct NetworkChaos {
    action: NetAction,
    mode: ModeName,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    selector: Selector,
    /// `to`: the selected pods' outgoing traffic.
    direction: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    delay: Option<NetDelay>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bandwidth: Option<Bandwidth>,
}

#[derive(Serialize)]
struct NetDelay {
    latency: String,
    jitter: String,
    correlation: String,
}

impl NetDelay {
    fn of(latency_ms: u64, jitter_ms: u64) -> Self {
        let ms = |n: u64| go_duration(Duration::from_millis(n));
        Self { latency: ms(latency_ms), jitter: ms(jitter_ms), correlation: "0".into() }
    }
}

/// tc's token bucket: `rate` in bytes per second (tc's `bps`), with the queue and burst sizes
/// of Chaos Mesh's own example.
#[derive(Serialize)]
struct Bandwidth {
    rate: String,
    limit: u32,
    buffer: u32,
}

impl Bandwidth {
    fn bytes_per_s(rate: u64) -> Self {
        Self { rate: format!("{rate}bps"), limit: 20_971_520, buffer: 10_000 }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusCheck {
    mode: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    duration: String,
    interval_seconds: u64,
    timeout_seconds: u64,
    failure_threshold: u32,
    success_threshold: u32,
    http: HttpCheck,
}

#[derive(Serialize)]
struct HttpCheck {
    url: String,
    method: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    headers: BTreeMap<String, Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    criteria: Criteria,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Criteria {
    status_code: String,
}

impl HttpCheck {
    fn of(probe: &HttpProbe, at: &str, gaps: &mut Gaps) -> Self {
        let method = probe.method.clone().unwrap_or_else(|| "GET".into()).to_ascii_uppercase();
        if method != "GET" && method != "POST" {
            gaps.inexpressible(format!("{at}.method"), "a StatusCheck sends GET or POST only");
        }
        let expect = &probe.expect;
        if expect.body_contains.is_some() || !expect.json.is_empty() {
            gaps.approximated(
                format!("{at}.expect"),
                "a StatusCheck judges the status code only: the body is not read",
            );
        }
        Self {
            url: probe.url.clone(),
            method,
            headers: probe.headers.iter().map(|(k, v)| (k.clone(), vec![v.clone()])).collect(),
            body: probe.body.clone(),
            criteria: Criteria { status_code: status_range(&expect.status, &format!("{at}.expect.status"), gaps) },
        }
    }
}

/// Accepted statuses as a StatusCheck's `statusCode`: one code or an inclusive range.
fn status_range(status: &[u16], at: &str, gaps: &mut Gaps) -> String {
    let (Some(lo), Some(hi)) = (status.iter().min(), status.iter().max()) else { return "200-399".into() };
    if lo == hi {
        return lo.to_string();
    }
    let mut sorted = status.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != usize::from(hi - lo) + 1 {
        gaps.approximated(at, format!("a StatusCheck takes one range: {lo}-{hi}"));
    }
    format!("{lo}-{hi}")
}
