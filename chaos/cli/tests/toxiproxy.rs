//! `chaos toxiproxy` driven by clients nobody here wrote, from PyPI (`.ci/run` installs them):
//! Toxiproxy's own Python client (`toxiproxy-python`) creating a proxy, adding each kind of toxic
//! and checking it from a socket's side (tests/toxiproxy/client.py), and Chaos Toolkit with its
//! Toxiproxy extension running an experiment whose verdict must follow the fault
//! (tests/toxiproxy/chaostoolkit_run.py).

use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child killed when the test ends, passed or not.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Whether python3 can import `module`; under CI it must.
fn python_has(module: &str) -> bool {
    let ok =
        Command::new("python3").args(["-c", &format!("import {module}")]).output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "python3 with {module} is needed under CI (.ci/run installs it)");
        let _ = writeln!(std::io::stderr(), "skipped: python3 cannot import {module}");
    }
    ok
}

/// `chaos toxiproxy` on a free port, once its API answers (10 s at most).
fn start_toxiproxy() -> (Reap, u16) {
    let port = free_port();
    let child = Command::new(assert_cmd::cargo::cargo_bin("chaos"))
        .args(["toxiproxy", "--port", &port.to_string()])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let server = Reap(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chaos toxiproxy did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    (server, port)
}

#[test]
fn toxiproxys_python_client_drives_every_toxic() {
    if !python_has("toxiproxy") {
        return;
    }
    let (_server, port) = start_toxiproxy();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/toxiproxy/client.py");
    let out = Command::new("python3").arg(script).arg(port.to_string()).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("ok: reset_peer resets the connection") && !said.contains("FAILED"), "{said}");
}

#[test]
fn chaos_toolkit_with_its_toxiproxy_extension_deviates_under_the_fault_and_holds_without_it() {
    if !python_has("chaostoolkit") || !python_has("chaostoxi") {
        return;
    }
    let (_server, port) = start_toxiproxy();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/toxiproxy/chaostoolkit_run.py");
    let out = Command::new("python3").arg(script).arg(port.to_string()).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("latency toxic: exit 1") && said.contains("toxicity 0: exit 0"), "{said}");
}

#[test]
fn a_taken_port_is_refused_with_exit_2() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    assert_cmd::Command::cargo_bin("chaos")
        .unwrap()
        .args(["toxiproxy", "--port", &port])
        .timeout(Duration::from_secs(10))
        .assert()
        .code(2)
        .stderr(predicates::str::contains(format!("cannot listen on 127.0.0.1:{port}")));
}
