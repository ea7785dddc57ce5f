//! The HTTP workload against a small server of the test's own, through a proxy the runner
//! runs: every fault is seen as its client sees it (a status, a timeout, a refusal), flows stop
//! at their first failed step, expectations are checked, and a fault that cannot be applied
//! aborts the run instead of passing it.

mod common;
use bytes::Bytes;
use chaos_engine::kpi::{Kpi, Phase};
use chaos_engine::report::{Exporter, Html, Markdown};
use chaos_engine::timeline::Action;
use chaos_engine::verdict::{FindingKind, Status};
use chaos_fault::FaultTable;
use chaos_fault::control::{ControlConfig, Registry, serve};
use chaos_fault::server::Instance;
use common::{free_port, run_yaml};
use std::convert::Infallible;

/// A service answering `{"status":"ok"}`, or `{"status":"degraded"}` on `/degraded`.
async fn service() -> Instance {
    let svc = tower::service_fn(|req: http::Request<hyper::body::Incoming>| async move {
        let body = if req.uri().path() == "/degraded" { r#"{"status":"degraded"}"# } else { r#"{"status":"ok"}"# };
        Ok::<_, Infallible>(http::Response::new(http_body_util::Full::new(Bytes::from(body))))
    });
    Instance::bind("svc", "127.0.0.1:0".parse().unwrap(), svc).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fault_is_seen_as_its_client_sees_it() {
    let svc = service().await;
    let port = free_port();
    let report = run_yaml(&format!(
        "name: http-faults
seed: 3
system:
  proxies:
    px: {{ listen: \"127.0.0.1:{port}\", upstream: \"{up}\" }}
load:
  rate: 200/s
  warmup: 500ms
  duration: 3500ms
  http:
    - {{ name: get, url: \"http://127.0.0.1:{port}/items?u={{{{user}}}}\", timeout: 150ms }}
faults:
  - {{ name: errors, at: 500ms, for: 700ms, target: px, fault: {{ error: {{ status: 503 }} }} }}
  - {{ name: slow, at: 1200ms, for: 700ms, target: px, fault: {{ latency: {{ fixed: 400ms }} }} }}
  - {{ name: down, at: 1900ms, for: 700ms, target: px, fault: kill }}
gates:
  - {{ kpi: success_ratio, during: before, at_least: 0.98 }}
  - {{ kpi: success_ratio, during: faults, at_least: 0.99 }}
  - {{ kpi: latency_p99, request: get, during: after, at_most: 100ms }}
",
        up = svc.url()
    ))
    .await;
    assert_eq!(report.status, Status::Failed);
    let failed: Vec<_> = report.findings.iter().map(|f| (f.kind, f.name.as_str())).collect();
    assert_eq!(failed, [(FindingKind::Check, "success_ratio faults >= 99.00 %")]);
    let faults = report.phase(Phase::Faults).unwrap();
    for reason in ["status 503", "timeout", "refused"] {
        assert!(faults.failures.get(reason).copied().unwrap_or(0) > 20, "{reason}: {:?}", faults.failures);
    }
    let before = report.phase(Phase::Before).unwrap();
    // A request due just before the errors began but sent as they did (two cores busy with other
    // tests) counts before them, as its client saw it: at most a couple, and only 503s (CI saw one).
    let stragglers: u64 = before.failures.values().sum();
    assert!(stragglers <= 2 && before.failures.keys().all(|r| r == "status 503"), "{:?}", before.failures);
    assert!(before.kpis[&Kpi::SuccessRatio].unwrap() >= 0.98, "{:?}", before.kpis);
    // 200/s for 0.5 s; the timeouts count 150 ms from when each request was due.
    assert!((95.0..=105.0).contains(&before.kpis[&Kpi::Requests].unwrap()), "{:?}", before.kpis);
    assert!(faults.kpis[&Kpi::LatencyMax].unwrap() >= 150.0, "{:?}", faults.kpis);
    let get = &faults.requests["get"];
    assert_eq!(get.kpis[&Kpi::Requests], faults.kpis[&Kpi::Requests], "one request: its figures are all's");
    let actions: Vec<_> = report.timeline.iter().map(|e| (e.step.as_str(), e.action)).collect();
    assert!(actions.contains(&("down", Action::Applied)) && actions.contains(&("down", Action::Removed)));
    svc.shutdown().await;
}

/// HTTP is a TCP protocol too: Toxiproxy's toxics on a runner-run TCP proxy in front of the
/// service, each seen by the workload as what it does to the bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toxics_on_a_tcp_proxy_are_seen_as_their_client_sees_them() {
    let svc = service().await;
    let port = free_port();
    let report = run_yaml(&format!(
        "name: tcp-toxics
seed: 5
system:
  proxies:
    px: {{ tcp: true, listen: \"127.0.0.1:{port}\", upstream: \"{up}\" }}
load:
  rate: 200/s
  warmup: 500ms
  duration: 3500ms
  http:
    - {{ name: get, url: \"http://127.0.0.1:{port}/items\", timeout: 150ms }}
faults:
  - {{ name: slow, at: 500ms, for: 500ms, target: px, fault: {{ toxic: {{ type: latency, attributes: {{ latency: 400 }} }} }} }}
  - {{ name: resets, at: 1000ms, for: 500ms, target: px, fault: {{ toxic: {{ type: reset_peer, stream: upstream }} }} }}
  - {{ name: cut, at: 1500ms, for: 500ms, target: px, fault: {{ toxic: {{ type: limit_data, attributes: {{ bytes: 10 }} }} }} }}
  - {{ name: down, at: 2000ms, for: 500ms, target: px, fault: kill }}
gates:
  - {{ kpi: success_ratio, during: before, at_least: 0.99 }}
  - {{ kpi: success_ratio, during: faults, at_least: 0.99 }}
  - {{ kpi: success_ratio, during: after, at_least: 0.99 }}
",
        up = svc.url().trim_start_matches("http://")
    ))
    .await;
    let failed: Vec<_> = report.findings.iter().map(|f| f.name.as_str()).collect();
    // Before and after the faults all is well (a stray timeout of two cores busy with other
    // tests aside: CI once saw a failure among the 100 requests before them).
    assert_eq!(failed, ["success_ratio faults >= 99.00 %"], "the faults phase only");
    let faults = report.phase(Phase::Faults).unwrap();
    for reason in ["timeout", "reset", "refused"] {
        assert!(faults.failures.get(reason).copied().unwrap_or(0) > 20, "{reason}: {:?}", faults.failures);
    }
    let px = &report.fault_metrics["px"];
    for toxic in ["slow", "resets", "cut"] {
        assert!(px.by_rule.get(toxic).copied().unwrap_or(0) >= 1, "{toxic} acted on no connection: {px:?}");
    }
    let applied = report.timeline.iter().filter(|e| e.action == Action::Applied).count();
    assert_eq!(applied, 4, "{:?}", report.timeline);
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_stops_at_its_first_failed_step_and_expectations_are_checked() {
    let svc = service().await;
    let up = svc.url();
    let report = run_yaml(&format!(
        "name: http-flow
load:
  rate: 100/s
  duration: 1s
  http:
    - name: browse
      weight: 1
      steps:
        - {{ name: degraded, url: \"{up}/degraded\", expect: {{ body_contains: '\"ok\"' }} }}
        - {{ name: next, url: \"{up}/next\" }}
    - {{ name: home, weight: 3, method: POST, url: \"{up}/\", body: '{{\"user\": \"{{{{user}}}}\"}}', expect: {{ status: [200], body_contains: '\"ok\"' }} }}
gates:
  - {{ kpi: success_ratio, request: home, at_least: 1.0 }}
  - {{ kpi: success_ratio, request: browse, at_most: 0.0 }}
  - {{ kpi: requests, request: browse/next, at_most: 0 }}
"
    ))
    .await;
    assert_eq!(report.status, Status::Passed, "{:?}", report.findings);
    let run = report.phase(Phase::Run).unwrap();
    let degraded = &run.requests["browse/degraded"];
    assert_eq!(degraded.failures.keys().collect::<Vec<_>>(), ["expectation not met"]);
    let (home, browse) = (run.requests["home"].kpis[&Kpi::Requests].unwrap(), degraded.kpis[&Kpi::Requests].unwrap());
    assert_eq!(home + browse, 100.0);
    assert!((60.0..=90.0).contains(&home), "weights 3:1 over 100 arrivals gave {home} home requests");
    // The reports show the requests' own figures, not Play's.
    let md = String::from_utf8(Markdown.render(&report)).unwrap();
    assert!(md.contains("| browse/degraded |") && md.contains("expectation not met ×"), "{md}");
    assert!(md.contains("| success_ratio |") && !md.contains("play_success_ratio"), "{md}");
    let html = String::from_utf8(Html.render(&report)).unwrap();
    for title in ["Requests per second", "Request success", "Latency by percentile"] {
        assert!(html.contains(title), "{title}");
    }
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_the_control_api_refuses_aborts_the_run_and_is_never_applied() {
    let svc = service().await;
    let table = FaultTable::new();
    let registry = Registry::new();
    registry.register("inventory", table.clone(), None);
    let control = serve(registry, ControlConfig::default()).await.unwrap();
    let report = run_yaml(&format!(
        "name: http-refused
system:
  control: {{ shop: \"{}\" }}
load:
  rate: 50/s
  duration: 3s
  http:
    - {{ name: get, url: \"{}/\" }}
faults:
  - {{ name: ok, at: 500ms, for: 2s, target: shop/inventory, fault: {{ latency: {{ fixed: 1ms }} }} }}
  - {{ name: nowhere, at: 1s, for: 1s, target: shop/nonexistent, fault: {{ error: {{ status: 503 }} }} }}
gates:
  - {{ kpi: success_ratio, at_least: 0.5 }}
",
        control.url(),
        svc.url()
    ))
    .await;
    assert_eq!(report.status, Status::Aborted);
    let reason = report.abort_reason.as_deref().unwrap_or_default();
    assert!(reason.contains("`nowhere` could not be applied") && reason.contains("404"), "{reason}");
    let nowhere: Vec<_> = report.timeline.iter().filter(|e| e.step == "nowhere").map(|e| e.action).collect();
    assert_eq!(nowhere, [Action::Failed, Action::RolledBack], "never `applied`; what it may have left, rolled back");
    let ok: Vec<_> = report.timeline.iter().filter(|e| e.step == "ok").map(|e| e.action).collect();
    assert_eq!(ok, [Action::Applied, Action::RolledBack]);
    assert!(table.rules().is_empty(), "what was applied was rolled back");
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cohorts_split_requests_by_user_and_the_sequential_test_weighs_requests() {
    let svc = service().await;
    let port = free_port();
    let report = run_yaml(&format!(
        "name: http-cohorts
seed: 9
system:
  proxies:
    px: {{ listen: \"127.0.0.1:{port}\", upstream: \"{up}\" }}
load:
  rate: 200/s
  warmup: 300ms
  duration: 2700ms
  users: 200
  http:
    - {{ name: get, url: \"http://127.0.0.1:{port}/items\", timeout: 500ms }}
faults:
  - {{ at: 500ms, for: 2s, target: px, fault: {{ error: {{ status: 503 }} }} }}
cohorts: {{ experiment: 0.3, max_success_drop: 0.05, latency_min_p: 0.0 }}
",
        up = svc.url()
    ))
    .await;
    let c = report.cohorts.clone().expect("cohorts compared");
    assert_eq!(c.control.success_ratio, Some(1.0), "the fault reaches only the experiment cohort: {c:?}");
    assert_eq!(c.experiment.success_ratio, Some(0.0), "{c:?}");
    assert!(c.control.play_success_ratio.is_none() && c.control.latency_p99_ms.is_some(), "{c:?}");
    let share = c.experiment.sessions as f64 / (c.experiment.sessions + c.control.sessions) as f64;
    assert!((0.2..0.4).contains(&share), "about 30 % of the users: {share}");
    let (drop, (lo, _), _) = c.difference.figures();
    assert!(drop > 0.99 && lo > 0.9, "{c:?}");
    assert_eq!(c.gates.len(), 2);
    assert!(c.gates[0].0.starts_with("request success drop"), "{:?}", c.gates);
    assert_eq!(report.status, Status::Failed);
    assert!(report.findings.iter().any(|f| f.kind == FindingKind::Cohort), "{:?}", report.findings);

    // Every request failing: the sequential test decides `bad` on requests well before the end.
    let report = run_yaml(&format!(
        "name: http-sequential
seed: 9
system:
  proxies:
    px: {{ listen: \"127.0.0.1:{port}\", upstream: \"{up}\" }}
load:
  rate: 200/s
  warmup: 300ms
  duration: 20s
  http:
    - {{ name: get, url: \"http://127.0.0.1:{port}/items\", timeout: 500ms }}
faults:
  - {{ at: 0s, for: 20s, target: px, fault: {{ error: {{ status: 503 }} }} }}
sequential: {{ good: 0.99, bad: 0.9 }}
",
        up = svc.url()
    ))
    .await;
    let q = report.sequential.clone().expect("the sequential test decided");
    assert_eq!(q.decision, chaos_engine::sequential::Decision::Bad);
    // Requests due in the moment the fault is being put in place may still pass.
    assert!(q.at_s < 10.0 && q.plays > 0 && q.failures as f64 >= 0.9 * q.plays as f64, "{q:?}");
    assert_eq!(report.status, Status::Failed);
    svc.shutdown().await;
}
