//! Shrinking: a failed run's timeline cut down to what still fails the same gate, replayed on
//! the virtual clock; the result is a valid experiment that fails when run.

use chaos_engine::shrink::{Shrink, ShrinkError};
use chaos_engine::verdict::Status;
use chaos_engine::{Experiment, RunOptions, parse_str, run_blocking};
use chaos_fault::Fault;
use std::path::Path;
use std::time::Duration;
use targets::Topology;

/// Three steps; only the license outage (every call fails, no retry at the edge) breaks Play.
const NOISY: &str = "\
name: noisy
seed: 5
clock: virtual
system: { guards_off: [edge/license/retries] }
load: { rate: 20/s, warmup: 1s, duration: 6s }
faults:
  - { name: slow-art, at: 0s, for: 5s, target: artwork, fault: { latency: { fixed: 2ms } } }
  - { name: license-down, at: 1s, for: 4s, target: license, fault: { error: { status: 503 } }, scope: { probability: 0.8 } }
  - { name: slow-history, at: 2s, for: 3s, target: history, fault: { latency: { fixed: 1ms } } }
gates:
  - { kpi: play_success_ratio, during: faults, at_least: 0.9 }
";

fn run(exp: &Experiment, topology: &Topology) -> chaos_engine::Report {
    run_blocking(exp, topology, &RunOptions::default(), std::future::pending()).unwrap()
}

#[test]
fn a_failing_timeline_shrinks_to_the_step_that_matters_and_the_result_still_fails() {
    let (exp, topology) = parse_str(NOISY, "noisy.yaml", Path::new(".")).unwrap();
    let report = run(&exp, &topology);
    assert_eq!(report.status, Status::Failed);
    let shrunk = Shrink::of(&report, &exp, &topology, 40).unwrap().run(|_| {}).unwrap();
    assert_eq!(shrunk.gate, "play_success_ratio faults >= 90.00 %");
    let steps = &shrunk.experiment.faults;
    assert_eq!(steps.len(), 1, "{steps:#?}");
    let step = &steps[0];
    assert_eq!(step.name.as_deref(), Some("license-down"));
    assert!(matches!(step.fault, Fault::Error(_)));
    assert!(step.duration < Duration::from_secs(4) || step.scope.probability < 0.8, "nothing was lowered: {step:#?}");
    assert!(shrunk.runs <= 40);
    // Written out and read back, it is an experiment that fails the same gate.
    let yaml = serde_yaml::to_string(&shrunk.experiment).unwrap();
    let (again, topology) = parse_str(&yaml, "shrunk.yaml", Path::new(".")).unwrap();
    assert_eq!(again.seed, 5);
    let replayed = run(&again, &topology);
    assert!(replayed.failed().contains(&shrunk.gate), "{:?}", replayed.failed());
}

#[test]
fn a_run_that_passed_has_nothing_to_shrink() {
    let (exp, topology) =
        parse_str(&NOISY.replace("at_least: 0.9", "at_least: 0.1"), "ok.yaml", Path::new(".")).unwrap();
    let report = run(&exp, &topology);
    assert_eq!(report.status, Status::Passed);
    assert!(matches!(Shrink::of(&report, &exp, &topology, 10), Err(ShrinkError::Passed)));
}

#[test]
fn every_shipped_experiment_reads_back_from_the_yaml_it_writes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let (exp, _) = chaos_engine::load_file(&path).unwrap();
        let yaml = serde_yaml::to_string(&exp).unwrap();
        let (back, _) =
            parse_str(&yaml, "again.yaml", &dir).unwrap_or_else(|e| panic!("{}: {e}\n{yaml}", path.display()));
        assert_eq!(Experiment { file: exp.file.clone(), ..back }, exp, "{}", path.display());
    }
}
