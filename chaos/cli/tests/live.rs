//! The long-running and interactive sides of `chaos`: `targets up` and the live progress lines.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// A plain HTTP/1.0 GET (the test needs no client library): status line and body.
fn get(url: &str, headers: &str) -> (String, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = TcpStream::connect(host).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n{headers}\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_string(), body.to_string())
}

/// A child process killed when the test ends, passed or not.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn targets_up_prints_its_urls_serves_metrics_and_stops_on_sigterm() {
    let mut child = Killed(
        Command::new(assert_cmd::cargo::cargo_bin("chaos"))
            .args(["targets", "up", "--control", "127.0.0.1:0", "--metrics", "127.0.0.1:0"])
            .current_dir(root())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let mut urls = std::collections::BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    for line in lines.by_ref() {
        let line = line.unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        if let (Some(what), Some(url)) = (words.first(), words.iter().find(|w| w.starts_with("http://"))) {
            urls.insert(what.to_string(), url.to_string());
        }
        if line.starts_with("Ctrl-C") || Instant::now() > deadline {
            break;
        }
    }
    let (edge, metrics) = (&urls["edge"], &urls["metrics"]);
    assert!(urls.contains_key("control") && urls.contains_key("cdn-2"), "{urls:?}");
    assert!(edge.starts_with("http://127.0.0.1:"), "{edge}");

    let (status, _) = get(&format!("{edge}/home"), "x-user-id: u1\r\n");
    assert!(status.contains(" 200 "), "{status}");
    let (status, body) = get(metrics, "");
    assert!(status.contains(" 200 "), "{status}");
    assert!(body.contains(r#"chaos_target_requests_total{service="edge",replica="edge-0",zone="zone-a",route="/home",code="200",fault=""} 1"#), "{body}");
    let (_, own) = get(&format!("{}/metrics", urls["catalog-0"]), "");
    assert!(own.contains(r#"replica="catalog-0""#) && !own.contains(r#"replica="edge-0""#), "{own}");

    let killed = Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status().unwrap();
    assert!(killed.success());
    assert_eq!(child.0.wait().unwrap().code(), Some(0));
}

#[test]
fn without_a_terminal_progress_is_plain_lines_and_logs_stay_off_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let exp = dir.path().join("short.yaml");
    std::fs::write(
        &exp,
        "name: short\nload: { rate: 20/s, warmup: 1s, duration: 7s }\nfaults:\n  - { name: kill-cdn-0, at: 2s, for: 4s, target: cdn-0, fault: kill }\n",
    )
    .unwrap();
    let out = Command::new(assert_cmd::cargo::cargo_bin("chaos"))
        .args(["run", "-v", "--out"])
        .arg(dir.path().join("out"))
        .arg(&exp)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let progress: Vec<&str> = stderr.lines().filter(|l| l.starts_with('[') && l.contains("s/8s]")).collect();
    assert!(progress.len() >= 4, "about a line a second of an 8 s run:\n{stderr}");
    assert!(progress[0].contains("warm-up"), "{}", progress[0]);
    assert!(progress.iter().any(|l| l.contains("] faults [kill-cdn-0] · ")), "{stderr}");
    assert!(progress.iter().any(|l| l.contains(" · SPS ")), "figures once sessions have finished:\n{stderr}");
    assert!(!stderr.contains('\u{1b}'), "no escape codes without a terminal");
    // -v: the engine's logs, in the experiment's span, on stderr only.
    assert!(stderr.contains("experiment{name=short seed=0}") && stderr.contains("fault applied"), "{stderr}");
    assert!(!stdout.contains("fault applied") && !stdout.contains("s/8s]"), "stdout is the summary only:\n{stdout}");
    assert!(stdout.starts_with("short: PASSED"), "{stdout}");
}

#[test]
fn on_a_terminal_progress_is_a_bar_and_the_summary_follows_it() {
    let dir = tempfile::tempdir().unwrap();
    let exp = dir.path().join("tiny.yaml");
    std::fs::write(&exp, "name: tiny\nload: { rate: 10/s, warmup: 1s, duration: 3s }\n").unwrap();
    let bin = assert_cmd::cargo::cargo_bin("chaos");
    let cmd = format!("{} run --out {} {}", bin.display(), dir.path().join("out").display(), exp.display());
    // util-linux `script` gives the command a pseudo-terminal and copies what it drew.
    let out = Command::new("script").args(["-qec", &cmd, "/dev/null"]).env_remove("NO_COLOR").output().unwrap();
    let screen = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{screen}");
    assert!(screen.contains('█') && screen.contains("s/4s"), "a drawn bar with its clock:\n{screen}");
    assert!(screen.contains("tiny: PASSED"), "{screen}");
}

#[test]
fn load_rejects_a_url_it_cannot_send_to_with_exit_2() {
    for url in ["https://example.com/", "not a url"] {
        let out = Command::new(assert_cmd::cargo::cargo_bin("chaos")).args(["load", "-d", "1s", url]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{url}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("expected http://HOST:PORT/PATH"), "{url}");
    }
}

#[test]
fn load_rejects_counts_and_times_out_of_range_with_exit_2_before_sending() {
    let cases: [&[&str]; 5] = [
        &["-c", "0"],
        &["-c", "18446744073709551615"],
        &["-d", "0s"],
        &["-d", "584542046090years"],
        &["--warmup", "31days"],
    ];
    for flags in cases {
        let out = Command::new(assert_cmd::cargo::cargo_bin("chaos"))
            .arg("load")
            .args(flags)
            .arg("http://127.0.0.1:9/")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {stderr}");
        assert!(stderr.contains("1..=10000") || stderr.contains("at most 30 days"), "{flags:?}: {stderr}");
    }
}
