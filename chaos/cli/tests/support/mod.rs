//! What the CLI's process tests share: finding the live processes a run left, and bounded waits.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `chaos run --quiet` on experiment `src`, written to `dir/file`; reports go to `dir/out`.
/// The caller stops the child (each test ends it by a signal or waits for it).
pub fn start_run(dir: &Path, file: &str, src: &str) -> Child {
    let path = dir.join(file);
    std::fs::write(&path, src).unwrap();
    Command::new(assert_cmd::cargo::cargo_bin("chaos"))
        .args(["run", "--quiet", "--out"])
        .arg(dir.join("out"))
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// (pid, environment) of every live process (zombies are dead already) whose environment holds
/// `marker` (`NAME=VALUE`), from `/proc`.
pub fn live_with_env(marker: &str) -> Vec<(u32, Vec<String>)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(env) = std::fs::read(entry.path().join("environ")) else { continue };
        let vars: Vec<String> = env.split(|b| *b == 0).map(|v| String::from_utf8_lossy(v).into_owned()).collect();
        if !vars.iter().any(|v| v == marker) {
            continue;
        }
        let state = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        if state.split_whitespace().nth(2) != Some("Z") {
            found.push((pid, vars));
        }
    }
    found
}

/// Waits (at most `limit`, polling every 50 ms) until `check` holds.
pub fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
