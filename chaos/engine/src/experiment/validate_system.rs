//! The validator's rules for the system under test and its workload: the user's programs,
//! proxies and control APIs, the HTTP workload's requests, which KPIs fit which workload, and
//! which faults fit which target.

use super::http::{GrpcCall, HttpEntry, request_names};
use super::kpi::{Kpi, Workload};
use super::{Experiment, SystemKind};
use chaos_fault::Fault;
use std::collections::BTreeSet;

/// Reports each problem as (path, message).
pub(super) fn system_problems(exp: &Experiment, problem: &mut impl FnMut(String, String)) {
    let sys = &exp.system;
    let workload = exp.load.workload();
    let kind = sys.kind(&exp.load);
    if let Some(ext) = &sys.external {
        if sys.processes != super::system::Processes::Platform(false) {
            problem("system.processes".into(), "an external system is not started here: no processes".into());
        }
        if !sys.proxies.is_empty() || !sys.control.is_empty() {
            problem("system.external".into(), "`external` goes alone: not with `proxies` or `control`".into());
        }
        if let Some(why) = base_url_problem(&ext.edge) {
            problem("system.external.edge".into(), why);
        }
        for (name, url) in &ext.proxies {
            if let Some(why) = base_url_problem(url) {
                problem(format!("system.external.proxies.{name}"), why);
            }
        }
    }
    if workload == Workload::Play && kind == SystemKind::Managed && exp.load.player.is_none() {
        problem(
            "load".into(),
            "Play sessions need the embedded platform or `system.external.edge`; to call your own \
             service, give the requests in `load.http`, to play your own stream `load.player`"
                .into(),
        );
    }
    player_problems(exp, kind, problem);
    managed_problems(exp, problem);
    for (i, e) in exp.load.http.iter().enumerate() {
        entry_problems(e, &format!("load.http[{i}]"), true, problem);
    }
    let mut seen = BTreeSet::new();
    for (i, e) in exp.load.http.iter().enumerate() {
        if !seen.insert(&e.name) {
            problem(format!("load.http[{i}].name"), format!("two requests are named `{}`", e.name));
        }
    }
    kpi_problems(exp, workload, problem);
    cohort_problems(exp, workload, problem);
    fault_target_problems(exp, kind, problem);
    let mut mutants = BTreeSet::new();
    for (i, m) in exp.mutants.iter().enumerate() {
        if m.name.is_empty() || m.name.contains(['/', '\\']) || !mutants.insert(&m.name) {
            problem(format!("mutants[{i}].name"), format!("`{}` must be a unique name without `/`", m.name));
        }
        if m.set.is_empty() && m.guards_off.is_empty() {
            problem(format!("mutants[{i}]"), "a mutant changes something: `set` variables or `guards_off`".into());
        }
        let players_only = exp.load.player.is_some() && m.guards_off.iter().all(|g| g.starts_with("player/"));
        if !m.guards_off.is_empty() && kind != SystemKind::Embedded && !players_only {
            problem(
                format!("mutants[{i}].guards_off"),
                "guards belong to the embedded platform (and its player)".into(),
            );
        }
    }
}

/// `load.player`: its URLs and durations; alone (not with `load.http`, browsing or an edge);
/// no home page KPIs.
fn player_problems(exp: &Experiment, kind: SystemKind, problem: &mut impl FnMut(String, String)) {
    let Some(p) = &exp.load.player else { return };
    for (field, why) in p.problems() {
        problem(format!("load.player.{field}"), why);
    }
    if !exp.load.http.is_empty() {
        problem("load.player".into(), "one workload a run: `load.player` or `load.http`, not both".into());
    }
    if exp.load.flows.browse > 0.0 {
        problem("load.flows.browse".into(), "a stream's viewers have no home page to browse".into());
    }
    if exp.load.watch_segments.is_some() {
        problem("load.watch_segments".into(), "a stream's viewers watch `load.player.watch` of media".into());
    }
    if exp.cohorts.is_some() {
        problem("cohorts".into(), "a stream's viewers carry no user to split into cohorts".into());
    }
    if kind == SystemKind::External {
        problem("system.external".into(), "`load.player` plays your stream; `external` is an edge API's".into());
    }
    for (path, kpi, _) in checked_kpis(exp).filter(|(_, k, _)| k.is_home()) {
        problem(format!("{path}.kpi"), format!("`{}` is the platform's home page: a stream has none", kpi.name()));
    }
}

/// `http://HOST:PORT` with nothing after it (as a stream's origins are checked).
fn base_url_problem(url: &str) -> Option<String> {
    match url::Url::parse(url) {
        Ok(parsed) => super::player::http_problem(&parsed, true),
        Err(e) => Some(format!("`{url}` must be an http://HOST:PORT URL: {e}")),
    }
}

/// `HOST:PORT`, for a TCP proxy's upstream.
fn host_port_problem(addr: &str) -> Option<String> {
    (!chaos_fault::tcp::is_host_port(addr))
        .then(|| format!("`{addr}` must be HOST:PORT (a TCP proxy forwards bytes, not URLs)"))
}

fn managed_problems(exp: &Experiment, problem: &mut impl FnMut(String, String)) {
    let sys = &exp.system;
    let mut names = BTreeSet::new();
    let mut name_problem = |path: String, name: &str, problem: &mut dyn FnMut(String, String)| {
        if name.is_empty() || name.contains(['/', '*']) || name.chars().any(char::is_whitespace) {
            problem(path.clone(), format!("`{name}` must be a non-empty name without `/`, `*` or spaces"));
        }
        if !names.insert(name.to_string()) {
            problem(
                path,
                format!("`{name}` names two parts of the system (programs, proxies and control APIs share names)"),
            );
        }
    };
    for (i, p) in sys.processes.programs().iter().enumerate() {
        let at = |f: &str| format!("system.processes[{i}].{f}");
        name_problem(at("name"), &p.name, problem);
        if p.run.first().is_none_or(String::is_empty) {
            problem(at("run"), "`run` needs the program and its arguments, e.g. [./server, --port, \"9001\"]".into());
        }
        if let Some(r) = &p.ready {
            match (&r.http, &r.tcp) {
                (Some(_), Some(_)) | (None, None) => {
                    problem(at("ready"), "`ready` takes `http: URL` or `tcp: HOST:PORT` (one of them)".into())
                }
                (Some(url), None) if super::http::url_problem(url).is_some() => {
                    problem(at("ready.http"), format!("`{url}` must be an http://HOST:PORT/PATH URL"))
                }
                (None, Some(addr)) if host_port_problem(addr).is_some() => {
                    problem(at("ready.tcp"), format!("`{addr}` must be HOST:PORT"))
                }
                _ => {}
            }
            if r.within.is_zero() || r.within > super::MAX_PHASE {
                problem(at("ready.within"), "`within` must be > 0 and at most 30 days".into());
            }
        }
    }
    for (name, p) in &sys.proxies {
        name_problem(format!("system.proxies.{name}"), name, problem);
        if p.listen.parse::<std::net::SocketAddr>().is_err() {
            problem(format!("system.proxies.{name}.listen"), format!("`{}` must be IP:PORT", p.listen));
        }
        let upstream = if p.tcp { host_port_problem(&p.upstream) } else { base_url_problem(&p.upstream) };
        if let Some(why) = upstream {
            problem(format!("system.proxies.{name}.upstream"), why);
        }
    }
    for (name, url) in &sys.control {
        name_problem(format!("system.control.{name}"), name, problem);
        if let Some(why) = base_url_problem(url) {
            problem(format!("system.control.{name}"), why);
        }
    }
}

fn entry_problems(e: &HttpEntry, path: &str, top: bool, problem: &mut impl FnMut(String, String)) {
    let at = |f: &str| format!("{path}.{f}");
    if e.name.is_empty() || e.name.contains('/') {
        problem(at("name"), format!("`{}` must be a non-empty name without `/`", e.name));
    }
    if !top && (e.weight.is_some() || !e.steps.is_empty()) {
        problem(path.into(), "a flow's step takes no `weight` and no `steps` of its own".into());
    }
    if let Some(w) = e.weight.filter(|w| !(w.is_finite() && *w > 0.0)) {
        problem(at("weight"), format!("weight must be > 0, got {w}"));
    }
    if e.is_flow() {
        let request_keys =
            [e.url.is_some(), e.method.is_some(), e.body.is_some(), !e.headers.is_empty(), e.grpc.is_some()];
        if request_keys.into_iter().any(|k| k) || e.expect.is_some() || e.timeout.is_some() {
            problem(
                path.into(),
                "a flow takes `steps`; `url`, `method`, `headers`, `body`, `grpc`, `timeout` and `expect` go on each step"
                    .into(),
            );
        }
        let mut seen = BTreeSet::new();
        for (j, s) in e.steps.iter().enumerate() {
            entry_problems(s, &format!("{path}.steps[{j}]"), false, problem);
            if !seen.insert(&s.name) {
                problem(format!("{path}.steps[{j}].name"), format!("two steps are named `{}`", s.name));
            }
        }
        return;
    }
    match &e.url {
        None => problem(path.into(), "a request needs a `url` (or a flow, `steps`)".into()),
        Some(url) => {
            if let Some(why) = super::http::url_problem(url) {
                problem(at("url"), why);
            }
        }
    }
    if let Some(m) = e.method.as_ref().filter(|m| http::Method::from_bytes(m.as_bytes()).is_err()) {
        problem(at("method"), format!("`{m}` is not an HTTP method"));
    }
    for (name, value) in &e.headers {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() || http::HeaderValue::from_str(value).is_err() {
            problem(format!("{path}.headers.{name}"), format!("`{name}: {value}` is not a valid header"));
        }
    }
    if let Some(t) = e.timeout.filter(|t| t.is_zero() || *t > chaos_fault::MAX_DELAY) {
        problem(at("timeout"), format!("timeout {} must be > 0 and at most a day", humantime::format_duration(t)));
    }
    for s in e.expect.iter().flat_map(|x| &x.status).filter(|s| !(100..=599).contains(*s)) {
        problem(at("expect.status"), format!("{s} is not an HTTP status (100..=599)"));
    }
    match &e.grpc {
        Some(call) => grpc_entry_problems(e, call, &at, problem),
        None if e.expect.as_ref().is_some_and(|x| !x.grpc_status.is_empty()) => {
            problem(at("expect.grpc_status"), "`grpc_status` judges a `grpc` call; this entry sends HTTP".into())
        }
        None => {}
    }
}

/// A gRPC call is a POST to its method's path with the message as its body, judged by its status.
fn grpc_entry_problems(
    e: &HttpEntry,
    call: &GrpcCall,
    at: &dyn Fn(&str) -> String,
    problem: &mut impl FnMut(String, String),
) {
    for (field, why) in call.problems() {
        problem(at(&format!("grpc.{field}")), why);
    }
    if e.method.as_ref().is_some_and(|m| !m.eq_ignore_ascii_case("POST")) {
        problem(at("method"), "a gRPC call is a POST; leave `method` out".into());
    }
    if e.body.is_some() {
        problem(at("body"), "a gRPC call's request is `grpc.message`".into());
    }
    if e.expect.as_ref().is_some_and(|x| !x.status.is_empty() || x.body_contains.is_some()) {
        problem(at("expect"), "a gRPC call is judged by `expect.grpc_status`, not `status` or `body_contains`".into());
    }
    let path = e.url.as_deref().and_then(|u| u.parse::<http::Uri>().ok()).map(|u| u.path_and_query().cloned());
    if let Some(Some(p)) = path.filter(|p| p.as_ref().is_some_and(|p| p.as_str() != "/")) {
        problem(
            at("url"),
            format!("a gRPC call's URL is http://HOST:PORT; its path comes from `grpc.method`, not `{p}`"),
        );
    }
}

fn kpi_problems(exp: &Experiment, workload: Workload, problem: &mut impl FnMut(String, String)) {
    let names = request_names(&exp.load.http);
    for (path, kpi, request) in checked_kpis(exp) {
        check_kpi(kpi, request, workload, &names, &path, problem);
    }
}

/// Every KPI the experiment checks — steady state, gates, abort conditions — with its path and
/// the request it is about.
fn checked_kpis(exp: &Experiment) -> impl Iterator<Item = (String, Kpi, Option<&str>)> {
    let checks = exp.steady_state.iter().enumerate().map(|(i, c)| (format!("steady_state[{i}]"), c.kpi, &c.request));
    let gates = exp.gates.iter().enumerate().map(|(i, c)| (format!("gates[{i}]"), c.kpi, &c.request));
    let aborts = exp.abort.iter().enumerate().map(|(i, c)| (format!("abort[{i}]"), c.kpi, &c.request));
    checks.chain(gates).chain(aborts).filter_map(|(path, kpi, request)| Some((path, kpi?, request.as_deref())))
}

fn check_kpi(
    kpi: Kpi,
    request: Option<&str>,
    workload: Workload,
    names: &[String],
    path: &str,
    problem: &mut impl FnMut(String, String),
) {
    match (kpi.workload(), workload) {
        (Workload::Http, Workload::Play) => problem(
            format!("{path}.kpi"),
            format!("`{}` is a KPI of the HTTP workload: give the requests in `load.http`", kpi.name()),
        ),
        (Workload::Play, Workload::Http) => problem(
            format!("{path}.kpi"),
            format!(
                "`{}` is a KPI of Play sessions; this experiment sends `load.http` requests (success_ratio, latency_p99, ...)",
                kpi.name()
            ),
        ),
        _ => {}
    }
    match request {
        Some(_) if kpi.workload() == Workload::Play => {
            problem(format!("{path}.request"), "`request` goes with the HTTP workload's KPIs".into())
        }
        Some(r) if !names.iter().any(|n| n == r) => problem(
            format!("{path}.request"),
            format!("`{r}` names no request of `load.http` (there are: {})", names.join(", ")),
        ),
        _ => {}
    }
}

/// Cohort gates compare what the experiment's workload measures.
fn cohort_problems(exp: &Experiment, workload: Workload, problem: &mut impl FnMut(String, String)) {
    let Some(c) = &exp.cohorts else { return };
    for (key, value, of) in c.gates() {
        let Some(value) = value else { continue };
        if of != workload {
            let fits = if workload == Workload::Http {
                "max_success_drop, latency_min_p"
            } else {
                "max_play_success_drop, ttff_min_p"
            };
            problem(format!("cohorts.{key}"), format!("`{key}` gates the other workload; this one's are {fits}"));
        }
        if !(0.0..=1.0).contains(&value) {
            problem(format!("cohorts.{key}"), format!("{value} is not in [0, 1]"));
        }
    }
}

fn fault_target_problems(exp: &Experiment, kind: SystemKind, problem: &mut impl FnMut(String, String)) {
    let programs: BTreeSet<&str> = exp.system.processes.programs().iter().map(|p| p.name.as_str()).collect();
    let tcp: BTreeSet<&str> = exp.system.proxies.iter().filter(|(_, p)| p.tcp).map(|(n, _)| n.as_str()).collect();
    if kind == SystemKind::Kubernetes {
        // The cluster's engine decides what fits a target: its gaps are the problems.
        return;
    }
    for (i, step) in exp.faults.iter().enumerate() {
        let at = format!("faults[{i}].fault");
        let target = step.target.name.as_deref().or(step.target.service.as_deref()).unwrap_or_default();
        let on_tcp = kind == SystemKind::Managed && tcp.contains(target);
        tcp_fault_problems(step, i, target, on_tcp, problem);
        let on_program = kind == SystemKind::Managed && programs.contains(target);
        match (&step.fault, on_program) {
            (Fault::Pause, false) => {
                problem(at, "`pause` freezes a program of `system.processes`; this target is none".into())
            }
            (f, true) if !f.is_instance_level() => problem(
                at,
                format!(
                    "`{target}` is a program: it takes `kill` or `pause`; for request faults put a proxy in front \
                     of it (`system.proxies`)"
                ),
            ),
            _ => {}
        }
    }
}

/// A toxic goes on a TCP proxy, and a TCP proxy takes toxics and `kill` only; a toxic's share
/// of connections is its `toxicity`, so its step has no `scope` and no `ramp`.
fn tcp_fault_problems(
    step: &super::FaultStep,
    i: usize,
    target: &str,
    on_tcp: bool,
    problem: &mut impl FnMut(String, String),
) {
    let at = format!("faults[{i}].fault");
    match (&step.fault, on_tcp) {
        (Fault::Toxic(_), false) => problem(
            at,
            format!(
                "`{target}` is not a TCP proxy (`system.proxies` with `tcp: true`): a toxic acts on its connections"
            ),
        ),
        (Fault::Toxic(_), true) => {
            if step.scope != chaos_fault::Scope::default() {
                problem(
                    format!("faults[{i}].scope"),
                    "a toxic acts on connections, not requests: its share is `toxicity`, not a scope".into(),
                );
            }
            if step.ramp.is_some() {
                problem(format!("faults[{i}].ramp"), "a toxic takes no ramp; give its `toxicity`".into());
            }
        }
        (Fault::Kill { .. }, true) => {}
        (f, true) => problem(
            at,
            format!(
                "`{target}` is a TCP proxy: it takes `toxic` (Toxiproxy's latency, bandwidth, slow_close, timeout, \
                 reset_peer, slicer, limit_data) or `kill`, not `{}`",
                f.kind()
            ),
        ),
        _ => {}
    }
}
