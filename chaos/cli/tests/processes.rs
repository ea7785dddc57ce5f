//! Process mode: each instance its own OS process, a kill a real SIGKILL, and no child outlives
//! the runner — not on success, not on Ctrl-C, not when the runner itself is SIGKILLed.

use std::process::Command;
mod support;

use std::time::Duration;
use support::{start_run, wait_for};

const EXPERIMENT: &str = "\
name: processes
seed: 5
system: { processes: true }
load: { rate: 20/s, warmup: 1s, duration: 9s }
faults:
  - { at: 2s, for: 5s, target: cdn-0, fault: { kill: { restart_after: 2s } } }
gates:
  - { kpi: play_success_ratio, during: faults, at_least: 0.95 }
";

/// (pid, instance) of every live process started by runner `runner_pid`.
fn children_of_run(runner_pid: u32) -> Vec<(u32, String)> {
    let marked = support::live_with_env(&format!("CHAOS_RUN_ID={runner_pid}-5"));
    let instance =
        |vars: &[String]| vars.iter().find_map(|v| v.strip_prefix("CHAOS_INSTANCE=")).unwrap_or("?").to_string();
    marked.into_iter().map(|(pid, vars)| (pid, instance(&vars))).collect()
}

fn all_instances() -> usize {
    targets::Topology::default_platform().instances().len()
}

#[test]
fn a_kill_replaces_the_process_and_a_finished_run_leaves_no_process() {
    let dir = tempfile::tempdir().unwrap();
    let mut run = start_run(dir.path(), "processes.yaml", EXPERIMENT);
    let pid = run.id();
    wait_for("every instance process", Duration::from_secs(20), || children_of_run(pid).len() == all_instances());
    let cdn0 = |kids: &[(u32, String)]| kids.iter().find(|(_, n)| n == "cdn-0").map(|(p, _)| *p);
    let first = cdn0(&children_of_run(pid)).unwrap();
    // The kill lands 1 s (warm-up) + 2 s after the start; the restart 2 s later.
    wait_for("cdn-0 killed", Duration::from_secs(15), || cdn0(&children_of_run(pid)).is_none());
    wait_for("cdn-0 restarted", Duration::from_secs(15), || cdn0(&children_of_run(pid)).is_some());
    assert_ne!(cdn0(&children_of_run(pid)).unwrap(), first, "a restart is a new process");
    let status = run.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(children_of_run(pid), vec![], "leftover processes after a finished run");
}

#[test]
fn ctrl_c_leaves_no_process() {
    let dir = tempfile::tempdir().unwrap();
    let mut run = start_run(dir.path(), "processes.yaml", EXPERIMENT);
    let pid = run.id();
    wait_for("every instance process", Duration::from_secs(20), || children_of_run(pid).len() == all_instances());
    assert!(Command::new("kill").args(["-INT", &pid.to_string()]).status().unwrap().success());
    assert_eq!(run.wait().unwrap().code(), Some(3));
    assert_eq!(children_of_run(pid), vec![], "leftover processes after Ctrl-C");
}

#[test]
fn a_sigkilled_runner_leaves_no_process() {
    let dir = tempfile::tempdir().unwrap();
    let mut run = start_run(dir.path(), "processes.yaml", EXPERIMENT);
    let pid = run.id();
    wait_for("every instance process", Duration::from_secs(20), || children_of_run(pid).len() == all_instances());
    run.kill().unwrap();
    run.wait().unwrap();
    // The kernel delivers the parent-death signal at once; allow the scheduler a moment.
    wait_for("no leftover process", Duration::from_secs(5), || children_of_run(pid).is_empty());
}
