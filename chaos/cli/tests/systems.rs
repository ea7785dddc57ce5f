//! The user's own system, run by `chaos run`: a program of theirs (Python's `http.server`, which
//! nobody here wrote) started, paused, killed and restarted by the runner, behind a proxy the
//! runner runs; no program outlives the runner, however it ends; a target that is not there
//! refuses the run.

use assert_cmd::Command as AssertCommand;
use predicates::prelude::*;
use std::io::Write as _;
use std::process::Command;
mod support;

use std::time::Duration;
use support::{start_run, wait_for};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// An experiment whose program is `python3 -m http.server`, marked with `mark` in its
/// environment so that leftovers can be found.
fn experiment(mark: &str, duration: &str) -> String {
    let (port, proxy) = (free_port(), free_port());
    format!(
        "name: python-server
seed: 4
system:
  processes:
    - name: files
      run: [python3, -m, http.server, \"{port}\", --bind, 127.0.0.1]
      env: {{ CHAOS_TEST_MARK: \"{mark}\" }}
      ready: {{ http: \"http://127.0.0.1:{port}/\", within: 10s }}
  proxies:
    files-px: {{ listen: \"127.0.0.1:{proxy}\", upstream: \"http://127.0.0.1:{port}\" }}
load:
  rate: 40/s
  warmup: 500ms
  duration: {duration}
  http:
    - {{ name: list, url: \"http://127.0.0.1:{proxy}/\", timeout: 300ms }}
faults:
  - {{ name: frozen, at: 1s, for: 1s, target: files, fault: pause }}
  - {{ name: dead, at: 2500ms, for: 1500ms, target: files, fault: {{ kill: {{ restart_after: 500ms }} }} }}
# Served before and after the faults; not a latency objective: with other tests on two cores a
# request now and then misses the 300 ms timeout (one of 40 did in a full `cargo test`).
gates:
  - {{ kpi: success_ratio, during: before, at_least: 0.9 }}
  - {{ kpi: success_ratio, during: after, at_least: 0.9 }}
"
    )
}

/// Live processes whose environment holds `CHAOS_TEST_MARK=mark`.
fn marked(mark: &str) -> Vec<u32> {
    support::live_with_env(&format!("CHAOS_TEST_MARK={mark}")).into_iter().map(|(pid, _)| pid).collect()
}

fn python() -> bool {
    let ok = Command::new("python3").arg("--version").output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "python3 is missing: .ci/run installs it");
        // To the process's stderr, not eprintln!: cargo test hides what a passing test prints,
        // and a skipped check must be seen.
        let _ = writeln!(std::io::stderr(), "skipped: python3 is not installed");
    }
    ok
}

#[test]
fn a_paused_and_a_killed_program_are_seen_by_the_workload_and_nothing_is_left_behind() {
    if !python() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mark = format!("pause-kill-{}", std::process::id());
    let file = dir.path().join("python-server.yaml");
    std::fs::write(&file, experiment(&mark, "5s")).unwrap();
    AssertCommand::new(assert_cmd::cargo::cargo_bin("chaos"))
        .args(["run", "--quiet", "--out"])
        .arg(dir.path().join("out"))
        .arg(&file)
        .timeout(Duration::from_secs(60))
        .assert()
        .code(0)
        .stdout(predicate::str::contains("python-server: PASSED (exit 0)"));
    assert_eq!(marked(&mark), Vec::<u32>::new(), "leftover processes after a finished run");
    let run = std::fs::read_dir(dir.path().join("out/python-server")).unwrap().next().unwrap().unwrap().path();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("report.json")).unwrap()).unwrap();
    let faults = report["phases"].as_array().unwrap().iter().find(|p| p["phase"] == "faults").unwrap();
    let failures = &faults["failures"];
    // Frozen: connections are accepted by the kernel and never answered. Dead: the proxy finds
    // nothing listening upstream and answers 502.
    assert!(failures["timeout"].as_u64().unwrap_or(0) >= 20, "{failures}");
    assert!(failures["status 502"].as_u64().unwrap_or(0) >= 5, "{failures}");
    let stderr = std::fs::read_to_string(run.join("logs/files.stderr.log")).unwrap();
    assert!(stderr.contains("GET / HTTP/1.1"), "the program's own log is kept: {stderr}");
}

#[test]
fn a_sigkilled_runner_leaves_no_program_behind() {
    if !python() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mark = format!("sigkill-{}", std::process::id());
    let mut run = start_run(dir.path(), "python-server.yaml", &experiment(&mark, "30s"));
    wait_for("the program", Duration::from_secs(20), || !marked(&mark).is_empty());
    run.kill().unwrap();
    run.wait().unwrap();
    wait_for("no leftover program", Duration::from_secs(5), || marked(&mark).is_empty());
}

#[test]
fn ctrl_c_leaves_no_program_behind_and_the_run_is_aborted() {
    if !python() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mark = format!("sigint-{}", std::process::id());
    let mut run = start_run(dir.path(), "python-server.yaml", &experiment(&mark, "30s"));
    wait_for("the program", Duration::from_secs(20), || !marked(&mark).is_empty());
    std::thread::sleep(Duration::from_millis(500));
    assert!(Command::new("kill").args(["-INT", &run.id().to_string()]).status().unwrap().success());
    assert_eq!(run.wait().unwrap().code(), Some(3));
    assert_eq!(marked(&mark), Vec::<u32>::new(), "leftover processes after Ctrl-C");
}

#[test]
fn a_control_api_that_is_not_there_refuses_the_run_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let file = dir.path().join("nothing-there.yaml");
    std::fs::write(
        &file,
        format!(
            "name: nothing-there
system:
  control: {{ shop: \"http://127.0.0.1:{port}\" }}
load:
  rate: 5/s
  duration: 2s
  http: [{{ name: home, url: \"http://127.0.0.1:{port}/\" }}]
faults:
  - {{ at: 0s, for: 1s, target: shop, fault: {{ error: {{ status: 503 }} }} }}
"
        ),
    )
    .unwrap();
    AssertCommand::new(assert_cmd::cargo::cargo_bin("chaos"))
        .args(["run", "--quiet", "--out"])
        .arg(dir.path().join("out"))
        .arg(&file)
        .timeout(Duration::from_secs(30))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("control API `shop`").and(predicate::str::contains(port.to_string())));
}
