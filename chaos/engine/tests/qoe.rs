//! The streaming-QoE experiments end to end, shortened, on the virtual clock: the shipped
//! `cdn-throttle` and `cdn-stall` hold on the platform and fail as mutants without the player
//! guard they rely on.

use chaos_engine::experiment::Clock;
use chaos_engine::kpi::{Kpi, Phase};
use chaos_engine::verdict::{Outcome, Status};
use chaos_engine::{Experiment, Report, RunOptions, parse_str, run_blocking};
use std::path::Path;
use targets::Topology;

/// The shipped experiment with a shorter timeline (same faults, gates and guards).
fn shortened(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments").join(file);
    let src = std::fs::read_to_string(path).unwrap();
    // Short phases hold few sessions, so one play that straddles the fault's start weighs far
    // more than in the full run: the steady-state bound on rebuffering gets the slack for it.
    let short = src
        .replace("load: { rate: 40/s, warmup: 3s, duration: 30s }", "load: { rate: 30/s, warmup: 1s, duration: 13s }")
        .replace("at: 8s", "at: 4s")
        .replace("for: 14s", "for: 6s")
        .replace("- { kpi: rebuffer_ratio, at_most: 0.01 }", "- { kpi: rebuffer_ratio, at_most: 0.03 }");
    assert_eq!(short.matches("duration: 13s").count(), 1, "{file} changed shape: update this test");
    assert_eq!(short.matches("at_most: 0.03").count(), 1, "{file} changed shape: update this test");
    short
}

fn run_both(file: &str) -> (Report, Report) {
    let (mut exp, topology) = parse_str(&shortened(file), file, Path::new(".")).unwrap();
    exp.clock = Clock::Virtual;
    let (mutant, broken_topology) = exp.mutant(&topology).unwrap();
    (virtual_run(&exp, &topology), virtual_run(&mutant, &broken_topology))
}

fn virtual_run(exp: &Experiment, topology: &Topology) -> Report {
    run_blocking(exp, topology, &RunOptions::default(), std::future::pending()).unwrap()
}

fn kpi(r: &Report, phase: Phase, kpi: Kpi) -> f64 {
    r.phase(phase).unwrap().kpis[&kpi].unwrap_or(f64::NAN)
}

fn gate_outcome(r: &Report, k: Kpi) -> Outcome {
    r.gates.iter().find(|g| g.kpi == k).map(|g| g.outcome).unwrap()
}

#[test]
fn a_throttled_cdn_lowers_the_bitrate_without_rebuffering_and_only_with_abr() {
    let (guarded, mutant) = run_both("cdn-throttle.yaml");
    assert_eq!(guarded.status, Status::Passed, "{:#?} {:#?}", guarded.steady_state, guarded.gates);
    let (before, during) =
        (kpi(&guarded, Phase::Before, Kpi::AvgBitrateKbps), kpi(&guarded, Phase::Faults, Kpi::AvgBitrateKbps));
    assert!(during < before * 0.9, "bitrate {before:.0} → {during:.0} kbit/s");
    assert!(kpi(&guarded, Phase::Faults, Kpi::RebufferRatio) <= 0.02);
    assert_eq!(mutant.status, Status::Failed);
    assert_eq!(gate_outcome(&mutant, Kpi::RebufferRatio), Outcome::Fail, "{:#?}", mutant.gates);
    assert!(kpi(&mutant, Phase::Faults, Kpi::RebufferRatio) > 0.1);
}

#[test]
fn stalled_bodies_are_aborted_and_fetched_elsewhere_and_only_with_the_stall_guard() {
    let (guarded, mutant) = run_both("cdn-stall.yaml");
    assert_eq!(
        guarded.status,
        Status::Passed,
        "{:#?} {:#?} {:#?}",
        guarded.steady_state,
        guarded.gates,
        guarded.coverage
    );
    let qoe = &guarded.phase(Phase::Run).unwrap().qoe;
    assert!(qoe.stall_aborts >= 50 && guarded.phase(Phase::Run).unwrap().failovers >= qoe.stall_aborts, "{qoe:?}");
    assert_eq!(mutant.status, Status::Failed);
    assert_eq!(gate_outcome(&mutant, Kpi::RebufferRatio), Outcome::Fail, "{:#?}", mutant.gates);
    assert_eq!(gate_outcome(&mutant, Kpi::TtffP99), Outcome::Fail, "{:#?}", mutant.gates);
}
