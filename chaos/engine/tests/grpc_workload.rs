//! Unary gRPC calls as the HTTP workload's requests, to tonic's health service (a server nobody
//! here wrote) through a proxy the runner runs: a call is judged by its `grpc-status`, and the
//! `grpc` fault, a latency and a reset stream are each seen as a gRPC client sees them.

mod common;
use chaos_engine::kpi::{Kpi, Phase};
use chaos_engine::timeline::Action;
use chaos_engine::verdict::Status;
use common::{free_port, run_yaml};
use tonic::transport::server::TcpIncoming;

/// `HealthCheckRequest { service: "shop" }`: field 1, a string of 4 bytes.
const SHOP: &str = "CgRzaG9w";

/// tonic-health's service on a free loopback port: SERVING for the server as a whole (service
/// "") and NOT_FOUND for a service nobody registered. Aborting the task stops it.
fn health_server() -> (std::net::SocketAddr, tokio::task::JoinHandle<Result<(), tonic::transport::Error>>) {
    let incoming = TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = incoming.local_addr().unwrap();
    let (_reporter, health) = tonic_health::server::health_reporter();
    (addr, tokio::spawn(tonic::transport::Server::builder().add_service(health).serve_with_incoming(incoming)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_calls_are_judged_by_their_status_and_each_fault_is_seen_as_a_grpc_client_sees_it() {
    let (upstream, server) = health_server();
    let port = free_port();
    let report = run_yaml(&format!(
        "name: grpc-calls
seed: 7
system:
  proxies:
    px: {{ listen: \"127.0.0.1:{port}\", upstream: \"http://{upstream}\" }}
load:
  rate: 200/s
  warmup: 500ms
  duration: 3500ms
  http:
    - {{ name: check, weight: 3, url: \"http://127.0.0.1:{port}\", timeout: 150ms,
        grpc: {{ method: /grpc.health.v1.Health/Check }} }}
    - {{ name: unknown, url: \"http://127.0.0.1:{port}\", timeout: 150ms,
        grpc: {{ method: /grpc.health.v1.Health/Check, message: {SHOP} }}, expect: {{ grpc_status: [not_found] }} }}
faults:
  - {{ name: down, at: 500ms, for: 600ms, target: px, fault: {{ grpc: {{ code: unavailable, message: down }} }} }}
  - {{ name: slow, at: 1100ms, for: 600ms, target: px, fault: {{ latency: {{ fixed: 400ms }} }} }}
  - {{ name: resets, at: 1700ms, for: 600ms, target: px, fault: reset }}
gates:
  - {{ kpi: success_ratio, during: before, at_least: 0.99 }}
  - {{ kpi: success_ratio, during: faults, at_least: 0.99 }}
  - {{ kpi: success_ratio, during: after, at_least: 0.99 }}
"
    ))
    .await;
    server.abort();
    let failed: Vec<_> = report.findings.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(report.status, Status::Failed);
    assert_eq!(failed, ["success_ratio faults >= 99.00 %"], "the faults phase only");
    let faults = report.phase(Phase::Faults).unwrap();
    for reason in ["grpc unavailable", "timeout", "reset"] {
        assert!(faults.failures.get(reason).copied().unwrap_or(0) > 20, "{reason}: {:?}", faults.failures);
    }
    let before = report.phase(Phase::Before).unwrap();
    assert!(before.failures.is_empty(), "{:?}", before.failures);
    // NOT_FOUND is what `unknown` expects: a success, as OK is for `check`.
    for name in ["check", "unknown"] {
        let kpis = &before.requests[name].kpis;
        assert!(kpis[&Kpi::Requests].unwrap() >= 10.0, "{name}: {kpis:?}");
        assert_eq!(kpis[&Kpi::SuccessRatio], Some(1.0), "{name}");
    }
    let applied = report.timeline.iter().filter(|e| e.action == Action::Applied).count();
    assert_eq!(applied, 3, "{:?}", report.timeline);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_the_call_does_not_expect_fails_it_and_no_server_is_a_refusal() {
    let (upstream, server) = health_server();
    let nobody = free_port();
    let report = run_yaml(&format!(
        "name: grpc-expectations
seed: 7
load:
  rate: 50/s
  duration: 1s
  http:
    - {{ name: unknown, url: \"http://{upstream}\", grpc: {{ method: /grpc.health.v1.Health/Check, message: {SHOP} }} }}
    - {{ name: nobody, url: \"http://127.0.0.1:{nobody}\", grpc: {{ method: /grpc.health.v1.Health/Check }} }}
gates:
  - {{ kpi: success_ratio, during: run, at_least: 0.99 }}
"
    ))
    .await;
    server.abort();
    assert_eq!(report.status, Status::Failed);
    let run = report.phase(Phase::Run).unwrap();
    let total = run.kpis[&Kpi::Requests].unwrap() as u64;
    let (not_found, refused) = (run.failures["grpc not_found"], run.failures["refused"]);
    assert_eq!(not_found + refused, total, "{:?}", run.failures);
    assert!(not_found >= 10 && refused >= 10, "{:?}", run.failures);
}
