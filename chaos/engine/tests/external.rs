//! An experiment against a system the runner does not start, faulted through `chaos proxy`.

use chaos_engine::kpi::Phase;
use chaos_engine::timeline::Action;
use chaos_engine::verdict::{Outcome, Status};
use chaos_engine::{RunOptions, parse_str, run};
use chaos_fault::FaultTable;
use chaos_fault::control::{ControlConfig, Registry, serve};
use std::path::Path;
use targets::{Platform, Topology};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_reach_an_external_system_through_its_proxy() {
    // "Their" system: a platform we only know by URL, with a proxy in front of its edge.
    let theirs = Platform::start(&Topology::default_platform(), 9).await.unwrap();
    let table = FaultTable::new();
    let proxy =
        chaos_fault::proxy::start("127.0.0.1:0".parse().unwrap(), &theirs.edge_url(), table.clone(), 1).await.unwrap();
    let registry = Registry::new();
    registry.register("proxy", table.clone(), Some(proxy.clone()));
    let control = serve(registry, ControlConfig::default()).await.unwrap();

    let src = format!(
        "name: external
seed: 1
system:
  external:
    edge: {}
    proxies: {{ edge-proxy: {} }}
load: {{ rate: 20/s, warmup: 1s, duration: 5s }}
faults:
  - {{ at: 1s, for: 3s, target: edge-proxy, fault: {{ error: {{ status: 503 }} }}, scope: {{ route: /play }} }}
gates:
  - {{ kpi: play_success_ratio, during: before, at_least: 0.9 }}
  - {{ kpi: play_success_ratio, during: faults, at_least: 0.9 }}
",
        proxy.url(),
        control.url()
    );
    let (exp, topology) = parse_str(&src, "external.yaml", Path::new(".")).unwrap();
    let report = run(&exp, &topology, &RunOptions::default(), std::future::pending()).await.unwrap();
    assert_eq!(report.status, Status::Failed);
    let outcome = |phase| report.gates.iter().find(|g| g.phase == phase).unwrap().outcome;
    assert_eq!((outcome(Phase::Before), outcome(Phase::Faults)), (Outcome::Pass, Outcome::Fail));
    let faults = report.phase(Phase::Faults).unwrap();
    assert!(faults.failures.get("edge_unreachable").copied().unwrap_or(0) > 0, "{:?}", faults.failures);
    assert_eq!(report.timeline.iter().map(|e| e.action).collect::<Vec<_>>(), [Action::Applied, Action::Removed]);
    let proxied = &report.fault_metrics["edge-proxy/proxy"];
    let injected: u64 = proxied.injected.values().sum();
    assert!(injected > 0 && proxied.requests_seen > injected, "{proxied:?}");
    assert!(report.services.is_empty(), "a proxy's all-time counters are not the run's figures");
    assert!(table.rules().is_empty(), "the rule was removed at the end of its window");

    let bad = src.replace(&proxy.url(), "ftp://nowhere");
    let errs = parse_str(&bad, "external.yaml", Path::new(".")).unwrap_err();
    assert!(errs.0[0].message.contains("must be an http://HOST:PORT URL"), "{errs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_control_api_that_does_not_answer_refuses_the_run() {
    // Nothing listens on the control URL: before, the run passed with its fault "applied".
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let src = format!(
        "name: external
system:
  external:
    edge: http://127.0.0.1:9
    proxies: {{ edge-proxy: {url} }}
load: {{ rate: 5/s, duration: 2s }}
faults:
  - {{ at: 0s, for: 1s, target: edge-proxy, fault: {{ error: {{ status: 503 }} }} }}
"
    );
    let (exp, topology) = parse_str(&src, "external.yaml", Path::new(".")).unwrap();
    let err = run(&exp, &topology, &RunOptions::default(), std::future::pending()).await.unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, chaos_engine::RunError::TargetMissing(_)), "{message}");
    assert!(message.contains("edge-proxy") && message.contains(&url), "{message}");
}
