//! `chaos run` on a cluster (`system.kubernetes`), as far as this machine allows: no cluster
//! here, so `kubectl` is a script of the test's that records each call (its arguments, what it
//! read on standard input, when) and answers as a cluster would, or refuses as one does. The
//! load goes to a service of the test's own on 127.0.0.1. What is checked is what the runner
//! makes the cluster do: every resource checked by the API server first, the pods looked for,
//! each step applied at its start and deleted at its end, and on a failure everything applied
//! deleted again.

use bytes::Bytes;
use chaos_engine::timeline::Action;
use chaos_engine::verdict::Status;
use chaos_engine::{RunError, RunOptions, parse_str, run};
use chaos_fault::server::Instance;
use std::convert::Infallible;
use std::path::{Path, PathBuf};

async fn service() -> Instance {
    let svc = tower::service_fn(|_req: http::Request<hyper::body::Incoming>| async move {
        Ok::<_, Infallible>(http::Response::new(http_body_util::Full::new(Bytes::from_static(b"ok"))))
    });
    Instance::bind("svc", "127.0.0.1:0".parse().unwrap(), svc).await.unwrap()
}

/// How the fake cluster answers.
#[derive(Clone, Copy, Default)]
struct Cluster {
    /// `get pods` finds nothing.
    no_pods: bool,
    /// The API server refuses the resources (the engine's CRDs are not installed).
    no_crds: bool,
    /// `apply` of the resource named `*-down` fails.
    refuse_down: bool,
}

/// Writes the fake `kubectl` into `dir`: each call appends `CALL <ms since epoch> <args>`, its
/// standard input and `END` to `dir/calls.log`.
fn fake_kubectl(dir: &Path, cluster: Cluster) -> PathBuf {
    let no_pods = if cluster.no_pods { "" } else { "echo pod/inventory-7d9f-x2" };
    let no_crds = if cluster.no_crds {
        r#"echo 'error: resource mapping not found for name: "shop-slow" namespace: "shop" from "STDIN": no matches for kind "HTTPChaos" in version "chaos-mesh.org/v1alpha1"' >&2; exit 1"#
    } else {
        ":"
    };
    let refuse_down = if cluster.refuse_down {
        r#"grep -q 'name: shop-down' "$in" && { echo 'Error from server (Forbidden): podchaos is forbidden' >&2; exit 1; }"#
    } else {
        ":"
    };
    let script = format!(
        r#"#!/bin/sh
log="{log}"
in="$(mktemp)"
cat > "$in"
echo "CALL $(date +%s%3N) $*" >> "$log"
cat "$in" >> "$log"
echo END >> "$log"
case "$*" in
  *--dry-run=server*) {no_crds} ;;
  *"get pods"*) {no_pods} ;;
  *"apply --filename -"*) {refuse_down} ;;
esac
rm -f "$in"
"#,
        log = dir.join("calls.log").display()
    );
    let path = dir.join("kubectl");
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// One recorded call: when (ms since the epoch), its arguments, its standard input.
#[derive(Debug)]
struct Call {
    at_ms: u64,
    args: String,
    stdin: String,
}

fn calls(dir: &Path) -> Vec<Call> {
    let log = std::fs::read_to_string(dir.join("calls.log")).unwrap_or_default();
    let mut out = Vec::new();
    let mut lines = log.lines();
    while let Some(head) = lines.next() {
        let rest = head.strip_prefix("CALL ").expect("a call's first line");
        let (at, args) = rest.split_once(' ').unwrap();
        let stdin: Vec<&str> = lines.by_ref().take_while(|l| *l != "END").collect();
        out.push(Call { at_ms: at.parse().unwrap(), args: args.into(), stdin: stdin.join("\n") });
    }
    out
}

fn experiment(kubectl: &Path, url: &str) -> String {
    format!(
        "name: shop
system:
  kubernetes: {{ context: staging, kubectl: {kubectl} }}
kubernetes:
  namespace: shop
  targets:
    inventory: {{ selector: {{ app: inventory }}, port: 8080 }}
load:
  rate: 20/s
  warmup: 200ms
  duration: 2500ms
  http:
    - {{ name: home, url: \"{url}/\" }}
faults:
  - {{ name: slow, at: 300ms, for: 1s, target: inventory, fault: {{ latency: {{ fixed: 200ms }} }} }}
  - {{ name: down, after: slow, for: 500ms, target: {{ service: inventory, count: 1 }}, fault: kill }}
gates:
  - {{ kpi: success_ratio, at_least: 0.99 }}
",
        kubectl = kubectl.display()
    )
}

async fn run_on(cluster: Cluster) -> (Result<chaos_engine::Report, RunError>, Vec<Call>) {
    let dir = tempfile::tempdir().unwrap();
    let kubectl = fake_kubectl(dir.path(), cluster);
    let svc = service().await;
    let (exp, topology) = parse_str(&experiment(&kubectl, &svc.url()), "shop.yaml", dir.path()).unwrap();
    let report = run(&exp, &topology, &RunOptions::default(), std::future::pending()).await;
    svc.shutdown().await;
    (report, calls(dir.path()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_step_is_applied_at_its_start_and_deleted_at_its_end() {
    let (report, calls) = run_on(Cluster::default()).await;
    let report = report.unwrap();
    assert_eq!(report.status, Status::Passed, "{:?}", report.findings);
    let args: Vec<&str> = calls.iter().map(|c| c.args.as_str()).collect();
    assert_eq!(
        args,
        [
            "--context staging apply --dry-run=server --filename -",
            "--context staging get pods --namespace shop --selector app=inventory --output name",
            "--context staging apply --filename -",
            "--context staging delete --ignore-not-found --filename -",
            "--context staging apply --filename -",
            "--context staging delete --ignore-not-found --filename -",
        ]
    );
    // The API server checks both resources before the load; then each step its own.
    assert!(calls[0].stdin.contains("kind: HTTPChaos") && calls[0].stdin.contains("kind: PodChaos"));
    for (call, kind, name) in
        [(2, "HTTPChaos", "shop-slow"), (3, "HTTPChaos", "shop-slow"), (4, "PodChaos", "shop-down")]
    {
        let stdin = &calls[call].stdin;
        assert!(stdin.contains(&format!("kind: {kind}")) && stdin.contains(&format!("name: {name}")), "{stdin}");
    }
    assert!(calls[2].stdin.contains("delay: 200ms") && calls[2].stdin.contains("port: 8080"));
    assert!(calls[4].stdin.contains("action: pod-failure") && calls[4].stdin.contains("value: '1'"));
    // The windows as the cluster saw them: a delete does not come before the step's `for` (each
    // time is read by a process the runner started, some milliseconds after it asked).
    assert!(calls[3].at_ms - calls[2].at_ms >= 950, "slow lasted {} ms", calls[3].at_ms - calls[2].at_ms);
    assert!(calls[5].at_ms - calls[4].at_ms >= 450, "down lasted {} ms", calls[5].at_ms - calls[4].at_ms);
    assert!(calls[4].at_ms >= calls[3].at_ms, "`down` follows `slow`");
    let actions: Vec<_> = report.timeline.iter().map(|e| (e.step.as_str(), e.action)).collect();
    assert_eq!(
        actions,
        [("slow", Action::Applied), ("slow", Action::Removed), ("down", Action::Applied), ("down", Action::Removed)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_without_the_engine_or_the_pods_is_refused_before_the_load() {
    let (report, calls) = run_on(Cluster { no_crds: true, ..Cluster::default() }).await;
    let Err(RunError::TargetMissing(why)) = report else { panic!("ran without the engine's CRDs: {report:?}") };
    assert!(why.contains("no matches for kind \"HTTPChaos\"") && why.contains("--dry-run=server"), "{why}");
    assert_eq!(calls.len(), 1, "nothing applied: {calls:?}");

    let (report, calls) = run_on(Cluster { no_pods: true, ..Cluster::default() }).await;
    let Err(RunError::TargetMissing(why)) = report else { panic!("ran without pods: {report:?}") };
    assert!(why.contains("faults[0]: no pod matches") && why.contains("--selector app=inventory"), "{why}");
    assert!(calls.iter().all(|c| !c.args.contains("apply --filename")), "nothing applied: {calls:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_the_cluster_refuses_aborts_the_run_and_what_was_applied_is_deleted() {
    let (report, calls) = run_on(Cluster { refuse_down: true, ..Cluster::default() }).await;
    let report = report.unwrap();
    assert_eq!(report.status, Status::Aborted);
    let reason = report.abort_reason.as_deref().unwrap_or_default();
    assert!(reason.contains("`down` could not be applied") && reason.contains("Forbidden"), "{reason}");
    let deletes: Vec<&Call> = calls.iter().filter(|c| c.args.contains(" delete ")).collect();
    // `slow` at its end; then `down`, half made, deleted by the rollback.
    assert_eq!(deletes.len(), 2, "{calls:?}");
    assert!(deletes[1].stdin.contains("name: shop-down"));
    let down: Vec<_> = report.timeline.iter().filter(|e| e.step == "down").map(|e| e.action).collect();
    assert_eq!(down, [Action::Failed, Action::RolledBack]);
}
