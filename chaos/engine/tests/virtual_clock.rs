//! The virtual clock: the same experiment and seed give the same `report.json`, byte for byte
//! (the wall-clock `run` object aside), and the faults act on it as they do in real time.

use chaos_engine::experiment::Clock;
use chaos_engine::report::{Exporter, Json, RunInfo};
use chaos_engine::verdict::Status;
use chaos_engine::{Experiment, RunError, RunOptions, load_file, parse_str, run_blocking};
use std::path::{Path, PathBuf};
use targets::Topology;

/// Runs `exp` on the virtual clock; returns its report.json with the `run` object emptied.
fn report_json(exp: &Experiment, topology: &Topology) -> (Status, Vec<u8>) {
    let mut exp = exp.clone();
    exp.clock = Clock::Virtual;
    let mut report = run_blocking(&exp, topology, &RunOptions::default(), std::future::pending()).unwrap();
    assert!(report.load.completed > 0, "{}: no session ran", exp.name);
    report.run = RunInfo::default();
    (report.status, Json.render(&report))
}

fn shipped() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "the shipped experiments are found: {files:?}");
    files
}

#[test]
fn every_shipped_experiment_gives_a_byte_identical_report_on_every_run() {
    for file in shipped() {
        let (exp, topology) = load_file(&file).unwrap();
        let (status, first) = report_json(&exp, &topology);
        let (_, second) = report_json(&exp, &topology);
        if let Some(at) = first.iter().zip(&second).position(|(a, b)| a != b) {
            let context =
                |r: &[u8]| String::from_utf8_lossy(&r[at.saturating_sub(80)..(at + 300).min(r.len())]).to_string();
            panic!(
                "{}: the reports differ at byte {at}:\n{}\n---\n{}",
                file.display(),
                context(&first),
                context(&second)
            );
        }
        assert_eq!(first.len(), second.len(), "{}", file.display());
        // Shipped experiments hold their gates on the virtual clock too.
        assert_eq!(status, Status::Passed, "{}", file.display());
    }
}

#[test]
fn another_seed_gives_another_run() {
    let src = "name: seeds\nload: { rate: 50/s, warmup: 1s, duration: 5s }\n";
    let (exp, topology) = parse_str(src, "seeds.yaml", Path::new(".")).unwrap();
    let (_, a) = report_json(&exp, &topology);
    let (_, b) = report_json(&Experiment { seed: exp.seed + 1, ..exp.clone() }, &topology);
    assert_ne!(a, b);
}

#[test]
fn process_mode_and_external_systems_are_refused_on_the_virtual_clock() {
    for system in ["{ processes: true }", "{ external: { edge: 'http://127.0.0.1:1', proxies: {} } }"] {
        let src = format!("name: v\nclock: virtual\nsystem: {system}\nload: {{ rate: 5/s, duration: 2s }}\n");
        let errors = parse_str(&src, "v.yaml", Path::new(".")).unwrap_err().to_string();
        assert!(errors.contains("v.yaml:3:") && errors.contains("virtual clock"), "{errors}");
        // The engine refuses it too when the clock is set after validation (`--clock`).
        let (mut exp, topology) = parse_str(&src.replace("clock: virtual\n", ""), "v.yaml", Path::new(".")).unwrap();
        exp.clock = Clock::Virtual;
        let refused = run_blocking(&exp, &topology, &RunOptions::default(), std::future::pending());
        assert!(matches!(refused, Err(RunError::NotVirtual(_))), "{system}");
    }
}
