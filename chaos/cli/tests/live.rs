//! `chaos targets up`, `chaos fault` and `chaos proxy` as separate processes, seen from a plain
//! HTTP client.

use assert_cmd::Command;
use predicates::prelude::*;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A child process killed on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts `chaos ARGS`, returns it and its first `lines` lines of stdout.
fn spawn(args: &[&str], lines: usize) -> (Running, Vec<String>) {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("chaos"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    for _ in 0..lines {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        seen.push(line.trim_end().to_string());
    }
    (Running(child), seen)
}

/// The URL printed after `label` (e.g. `license-0`).
fn url_of(lines: &[String], label: &str) -> String {
    let line = lines
        .iter()
        .find(|l| l.split_whitespace().next() == Some(label))
        .unwrap_or_else(|| panic!("{label} in {lines:?}"));
    line.split_whitespace().last().unwrap().to_string()
}

fn get_status(url: &str) -> Option<u16> {
    let addr = url.trim_start_matches("http://");
    let (host_port, path) = addr.split_once('/').map_or((addr, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(host_port).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {host_port}\r\nx-user-id: u1\r\nConnection: close\r\n\r\n").ok()?;
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.split_whitespace().nth(1)?.parse().ok()
}

fn chaos() -> Command {
    Command::cargo_bin("chaos").unwrap()
}

#[test]
fn fault_commands_change_a_running_platform() {
    let port = free_port();
    let control = format!("http://127.0.0.1:{port}");
    let instances = targets::Topology::default_platform().instances().len();
    let (_platform, lines) = spawn(&["targets", "up", "--control", &format!("127.0.0.1:{port}")], 2 + instances);
    let license = format!("{}/license/t1", url_of(&lines, "license-0"));
    assert_eq!(get_status(&license), Some(200));

    chaos()
        .args(["fault", "add", "--target", &control, "--instance", "license-0", "--id", "lic-down"])
        .args(["--fault", "{ error: { status: 503 } }", "--scope", "{ route: /license }"])
        .assert()
        .success();
    assert_eq!(get_status(&license), Some(503));
    chaos()
        .args(["fault", "list", "--target", &control])
        .assert()
        .success()
        .stdout(predicate::str::contains("license-0").and(predicate::str::contains("lic-down")));
    chaos().args(["fault", "rm", "--target", &control, "--instance", "license-0", "lic-down"]).assert().success();
    assert_eq!(get_status(&license), Some(200));
    chaos()
        .args(["fault", "rm", "--target", &control, "--instance", "license-0", "lic-down"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no rule"));

    chaos()
        .args(["fault", "add", "--target", &control, "--id", "all", "--fault", "{ error: { status: 500 } }"])
        .assert()
        .success();
    assert_eq!(get_status(&license), Some(500));
    chaos().args(["fault", "reset", "--target", &control]).assert().success();
    assert_eq!(get_status(&license), Some(200));

    chaos()
        .args(["fault", "add", "--target", &control, "--id", "bad", "--fault", "{ error: { status: 999 } }"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not an HTTP status"));
    chaos().args(["fault", "list", "--target", &format!("http://127.0.0.1:{}", free_port())]).assert().code(4);
}

#[test]
fn the_proxy_command_faults_traffic_to_any_upstream() {
    let port = free_port();
    let (_platform, lines) = spawn(&["targets", "up", "--control", &format!("127.0.0.1:{port}")], 2);
    let edge = url_of(&lines, "edge");
    let (listen, control) = (free_port(), free_port());
    let (_proxy, _) = spawn(
        &[
            "proxy",
            "--listen",
            &format!("127.0.0.1:{listen}"),
            "--upstream",
            &edge,
            "--control",
            &format!("127.0.0.1:{control}"),
        ],
        2,
    );
    let through = format!("http://127.0.0.1:{listen}/home");
    let deadline = Instant::now() + Duration::from_secs(5);
    while get_status(&through) != Some(200) {
        assert!(Instant::now() < deadline, "proxy never answered 200");
        std::thread::sleep(Duration::from_millis(50));
    }
    chaos()
        .args(["fault", "add", "--target", &format!("http://127.0.0.1:{control}"), "--instance", "proxy", "--id", "x"])
        .args(["--fault", "{ error: { status: 502 } }", "--ttl", "30s"])
        .assert()
        .success();
    assert_eq!(get_status(&through), Some(502));
}

#[test]
fn a_control_api_beyond_loopback_needs_a_token() {
    chaos()
        .args(["proxy", "--listen", "127.0.0.1:0", "--upstream", "http://127.0.0.1:9", "--control", "0.0.0.0:0"])
        .env_remove("CHAOS_TOKEN")
        .timeout(Duration::from_secs(20))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("token is required"));
}
