//! The fault layer in a tonic server and the proxy in front of one, seen by gRPC clients nobody
//! here wrote: tonic's own client and Python's grpcio (Debian's `python3-grpcio`). The `grpc`
//! fault answers with its status, `reset` ends one HTTP/2 stream and not the connection, a
//! latency delays the call, and all of it scoped by the method's path.

use chaos_fault::{Fault, FaultLayer, FaultTable, GrpcCode, GrpcFault, Rule, Scope};
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tonic::Code;
use tonic::transport::server::TcpIncoming;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

const CHECK: &str = "/grpc.health.v1.Health/Check";

/// A tonic server with tonic-health's service, behind a fault layer reading `table` (or none).
/// Dropping the handle's task stops it (aborted at the end of each test).
async fn health_server(table: Option<FaultTable>) -> (SocketAddr, JoinHandle<()>) {
    let incoming = TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = incoming.local_addr().unwrap();
    let (_reporter, health) = tonic_health::server::health_reporter();
    let server = tokio::spawn(async move {
        let mut builder = tonic::transport::Server::builder();
        let served = match table {
            Some(t) => {
                builder.layer(FaultLayer::new(t).seed(3)).add_service(health).serve_with_incoming(incoming).await
            }
            None => builder.add_service(health).serve_with_incoming(incoming).await,
        };
        served.unwrap();
    });
    (addr, server)
}

async fn client(addr: SocketAddr) -> HealthClient<tonic::transport::Channel> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
    HealthClient::new(channel)
}

async fn check(client: &mut HealthClient<tonic::transport::Channel>) -> Result<i32, tonic::Status> {
    client.check(HealthCheckRequest { service: String::new() }).await.map(|r| r.into_inner().status)
}

fn rule(id: &str, fault: Fault, route: &str) -> Rule {
    Rule::new(id, fault, Scope { route: Some(route.into()), ..Scope::default() })
}

fn unavailable(message: &str) -> Fault {
    Fault::Grpc(GrpcFault { code: GrpcCode::UNAVAILABLE, message: message.into() })
}

const SERVING: i32 = 1;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tonic_client_sees_the_injected_status_then_ok_once_the_rule_is_removed() {
    let table = FaultTable::new();
    let (addr, server) = health_server(Some(table.clone())).await;
    let mut health = client(addr).await;
    assert_eq!(check(&mut health).await.unwrap(), SERVING);

    table.insert(rule("down", unavailable("inventory down 100%"), CHECK));
    let status = check(&mut health).await.unwrap_err();
    assert_eq!((status.code(), status.message()), (Code::Unavailable, "inventory down 100%"));
    assert_eq!(status.metadata().get("x-chaos-fault").unwrap(), "down", "the answer names its rule");

    table.remove("down");
    assert_eq!(check(&mut health).await.unwrap(), SERVING);
    // Scoped by method path: a rule on another method leaves Check alone.
    table.insert(rule("watch", unavailable(""), "/grpc.health.v1.Health/Watch"));
    assert_eq!(check(&mut health).await.unwrap(), SERVING);
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_ends_one_http2_stream_and_latency_delays_the_call() {
    let table = FaultTable::new();
    let (addr, server) = health_server(Some(table.clone())).await;
    let mut health = client(addr).await;
    assert_eq!(check(&mut health).await.unwrap(), SERVING);

    table.insert(rule("reset", Fault::Reset, CHECK));
    let status = check(&mut health).await.unwrap_err();
    // hyper answers a failed service with RST_STREAM(INTERNAL_ERROR); tonic reads it as Internal.
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    let seen = format!("{status:?}");
    assert!(
        seen.contains("Reset(StreamId") && seen.contains("INTERNAL_ERROR, Remote"),
        "a RST_STREAM from the server: {seen}"
    );
    table.remove("reset");
    // The same channel, the same connection: only the stream was reset.
    assert_eq!(check(&mut health).await.unwrap(), SERVING);

    table.insert(rule("slow", Fault::fixed_latency(Duration::from_millis(300)), CHECK));
    let start = Instant::now();
    assert_eq!(check(&mut health).await.unwrap(), SERVING);
    assert!(start.elapsed() >= Duration::from_millis(300), "{:?}", start.elapsed());
    server.abort();
}

/// Python's grpcio (Debian's python3-grpcio, for Debian's /usr/bin/python3), or a skip outside
/// CI when it is not installed (`.ci/run` installs it).
fn grpcio() -> bool {
    let ok = Command::new("/usr/bin/python3").args(["-c", "import grpc"]).output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "/usr/bin/python3 with grpc is needed under CI (.ci/run installs it)"
        );
        eprintln!("skipped: /usr/bin/python3 cannot import grpc (apt-get install python3-grpcio)");
    }
    ok
}

fn python_checks(addr: SocketAddr, calls: u32) -> Vec<String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/grpc/health_check.py");
    let out =
        Command::new("/usr/bin/python3").arg(script).arg(addr.to_string()).arg(calls.to_string()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_clients_through_the_proxy_see_the_upstream_or_the_injected_status() {
    let (upstream, server) = health_server(None).await;
    let table = FaultTable::new();
    let proxy =
        chaos_fault::proxy::start("127.0.0.1:0".parse().unwrap(), &format!("http://{upstream}"), table.clone(), 1)
            .await
            .unwrap();
    let mut health = client(proxy.addr()).await;
    assert_eq!(check(&mut health).await.unwrap(), SERVING, "h2c both ways, trailers passed through");
    table.insert(rule("down", unavailable("maintenance"), CHECK));
    let status = check(&mut health).await.unwrap_err();
    assert_eq!((status.code(), status.message()), (Code::Unavailable, "maintenance"));

    if grpcio() {
        let addr = proxy.addr();
        let seen = tokio::task::spawn_blocking(move || python_checks(addr, 2)).await.unwrap();
        assert_eq!(seen, ["UNAVAILABLE maintenance", "UNAVAILABLE maintenance"]);
        table.insert(rule(
            "down",
            Fault::Grpc(GrpcFault { code: GrpcCode::new(4).unwrap(), message: String::new() }),
            CHECK,
        ));
        let seen = tokio::task::spawn_blocking(move || python_checks(addr, 1)).await.unwrap();
        assert_eq!(seen, ["DEADLINE_EXCEEDED "], "replaced in place: code 4 by number");
        table.remove("down");
        // SERVING is field 1, varint 1: 08 01.
        let seen = tokio::task::spawn_blocking(move || python_checks(addr, 1)).await.unwrap();
        assert_eq!(seen, ["OK 0801"]);
    }
    proxy.shutdown().await;
    server.abort();
}
