//! The runner's verdicts on the embedded platform, with short runs on the virtual clock: each
//! replays exactly, in a fraction of its length (`tests/virtual_clock.rs` and CI check that the
//! clocks agree; the healthy run goes on the real clock too).

use chaos_engine::experiment::Clock;
use chaos_engine::kpi::Phase;
use chaos_engine::timeline::Action;
use chaos_engine::verdict::{Outcome, Status};
use chaos_engine::{Report, RunOptions, parse_str, run_blocking};
use std::future::Future;
use std::path::Path;

fn run_on(clock: Clock, src: &str, stop: impl Future<Output = ()>) -> Report {
    let (mut exp, topology) = parse_str(src, "test.yaml", Path::new(".")).unwrap();
    exp.clock = clock;
    run_blocking(&exp, &topology, &RunOptions::default(), stop).unwrap()
}

fn run_yaml(src: &str, stop: impl Future<Output = ()>) -> Report {
    run_on(Clock::Virtual, src, stop)
}

const KILL_ALL_CDN: &str = "\
name: kill-all-cdn
seed: 7
load: { rate: 25/s, warmup: 1s, duration: 6s }
faults:
  - { at: 2s, for: 2s, target: cdn, fault: kill }
gates:
  - { kpi: play_success_ratio, during: faults, at_least: 0.9 }
  - { kpi: play_success_ratio, during: before, at_least: 0.9 }
";

#[test]
fn a_healthy_run_passes_its_gates_on_either_clock() {
    for clock in [Clock::Virtual, Clock::Real] {
        healthy(clock);
    }
}

fn healthy(clock: Clock) {
    let report = run_on(
        clock,
        "name: ok\nload: { rate: 25/s, warmup: 1s, duration: 4s }\ngates:\n  - { kpi: play_success_ratio, at_least: 0.95 }\n  - { kpi: sps, at_least: 20 }\n",
        std::future::pending(),
    );
    assert_eq!(report.status, Status::Passed, "{:#?}", report.gates);
    assert_eq!(report.load.sent, 125);
    assert!(report.phase(Phase::Run).unwrap().kpis[&chaos_engine::kpi::Kpi::Sessions] >= Some(99.0));
    assert!(report.services.iter().any(|s| s.service == "cdn" && s.requests >= 99));
}

#[test]
fn killing_every_cdn_fails_the_fault_window_gate_and_only_it() {
    let report = run_yaml(KILL_ALL_CDN, std::future::pending());
    assert_eq!(report.status, Status::Failed);
    let faults = report.gates.iter().find(|g| g.phase == Phase::Faults).unwrap();
    assert_eq!(faults.outcome, Outcome::Fail);
    assert!(faults.observed.unwrap() < 0.5, "{faults:?}");
    assert_eq!(report.gates.iter().find(|g| g.phase == Phase::Before).unwrap().outcome, Outcome::Pass);
    let actions: Vec<Action> = report.timeline.iter().map(|e| e.action).collect();
    assert_eq!(actions, [Action::Applied, Action::Removed]);
    assert_eq!(report.timeline[0].instances, ["cdn-0", "cdn-1", "cdn-2"]);
    let failures = &report.phase(Phase::Faults).unwrap().failures;
    assert!(failures.get("cdn").copied().unwrap_or(0) > 0, "{failures:?}");
}

#[test]
fn a_stop_signal_rolls_faults_back_and_marks_the_run_aborted() {
    let stop = async { tokio::time::sleep(std::time::Duration::from_millis(3500)).await };
    let report = run_yaml(KILL_ALL_CDN, stop);
    assert_eq!(report.status, Status::Aborted);
    assert_eq!(report.abort_reason.as_deref(), Some("interrupted by a signal"));
    let actions: Vec<Action> = report.timeline.iter().map(|e| e.action).collect();
    assert_eq!(actions, [Action::Applied, Action::RolledBack]);
    assert!(report.load.cancelled > 0);
}

#[test]
fn an_unsteady_system_gets_no_faults_and_the_run_is_aborted() {
    let src = KILL_ALL_CDN.replace("gates:", "steady_state:\n  - { kpi: ttff_p99, at_most: 1us }\ngates:");
    let report = run_yaml(&src, std::future::pending());
    assert_eq!(report.status, Status::Aborted);
    assert!(
        report.abort_reason.as_deref().unwrap().starts_with("steady state not met before the faults"),
        "{:?}",
        report.abort_reason
    );
    assert!(report.timeline.is_empty(), "{:?}", report.timeline);
}

#[test]
fn a_partial_target_kills_a_seeded_share_and_players_fail_over() {
    let src = "\
name: two-cdns
seed: 11
load: { rate: 25/s, warmup: 1s, duration: 5s }
faults:
  - { at: 1s, for: 3s, target: { service: cdn, count: 2 }, fault: kill }
gates:
  - { kpi: play_success_ratio, during: faults, at_least: 0.95 }
";
    let report = run_yaml(src, std::future::pending());
    let killed = &report.timeline[0].instances;
    assert_eq!(killed.len(), 2, "{killed:?}");
    assert_eq!(report.timeline[0].target, "service=cdn count=2");
    assert_eq!(report.status, Status::Passed, "{:#?}", report.gates);
    assert!(report.phase(Phase::Faults).unwrap().failovers > 0);
    let again = run_yaml(src, std::future::pending());
    assert_eq!(&again.timeline[0].instances, killed, "the same seed kills the same instances");
}

#[test]
fn an_abort_condition_rolls_faults_back_at_once_and_lets_the_load_show_recovery() {
    let src = "\
name: abort
seed: 3
load: { rate: 30/s, warmup: 1s, duration: 20s }
faults:
  - { at: 2s, for: 15s, target: cdn, fault: kill }
abort:
  - { kpi: play_success_ratio, below: 0.8, window: 2s, recovery: 3s }
";
    let report = run_yaml(src, std::future::pending());
    assert_eq!(report.status, Status::Aborted);
    let fired = report.abort.clone().expect("the condition fired");
    assert!(fired.condition.starts_with("play_success_ratio <"), "{fired:?}");
    assert!((3.0..8.0).contains(&fired.at_s), "{fired:?}");
    assert!(fired.observed.unwrap() < 0.8);
    assert!(report.abort_reason.as_deref().unwrap().contains("abort condition"));
    let rollback = report.timeline.iter().find(|e| e.action == Action::RolledBack).expect("rolled back");
    let delay_ms = rollback.at_ms as f64 - fired.at_s * 1000.0;
    assert!(delay_ms < 1000.0, "rollback {delay_ms:.0} ms after the abort");
    assert!(report.load.cancelled > 0, "the load stopped after the recovery period, before the schedule's end");
    // Sessions started a second after the rollback play again.
    let after = (rollback.at_ms / 1000 + 1) as usize;
    let recovered: Vec<_> = report.series.iter().skip(after).filter(|p| p.sessions > 0).collect();
    assert!(!recovered.is_empty());
    assert!(recovered.iter().all(|p| p.play_ok == p.sessions), "{recovered:?}");
}

#[test]
fn a_windowed_check_catches_a_dip_that_the_phase_average_hides() {
    let src = "\
name: dip
seed: 4
load: { rate: 30/s, warmup: 1s, duration: 12s }
faults:
  - { at: 5s, for: 1s, target: cdn, fault: kill }
gates:
  - { name: whole, kpi: play_success_ratio, during: run, at_least: 0.85 }
  - { name: windowed, kpi: play_success_ratio, during: run, at_least: 0.85, window: 2s }
";
    let report = run_yaml(src, std::future::pending());
    let gate = |name: &str| report.gates.iter().find(|g| g.name == name).unwrap().clone();
    assert_eq!(gate("whole").outcome, Outcome::Pass, "{:?}", gate("whole"));
    assert_eq!(gate("windowed").outcome, Outcome::Fail, "{:?}", gate("windowed"));
    assert!(gate("windowed").observed.unwrap() < gate("whole").observed.unwrap());
}

const RECS_DOWN: &str = "\
name: recs-down
seed: 8
relies_on: [edge/recommendations/fallback]
load: { rate: 25/s, warmup: 1s, duration: 4s }
faults:
  - { at: 1s, for: 2s, target: recommendations, fault: { error: { status: 500 } } }
gates:
  - { kpi: home_success_ratio, during: faults, at_least: 0.95 }
coverage:
  - { guard: edge/recommendations/fallback, at_least: 10 }
";

#[test]
fn the_mutant_without_the_guard_fails_where_the_experiment_passes() {
    let report = run_yaml(RECS_DOWN, std::future::pending());
    assert_eq!(report.status, Status::Passed, "{:#?} {:#?}", report.gates, report.coverage);
    assert!(report.coverage[0].observed >= 10);

    let (exp, topology) = parse_str(RECS_DOWN, "recs.yaml", Path::new(".")).unwrap();
    let (mut mutant, topology) = exp.mutant(&topology).unwrap();
    mutant.clock = Clock::Virtual;
    assert_eq!(mutant.name, "recs-down-mutant");
    assert_eq!(mutant.system.guards_off, ["edge/recommendations/fallback"]);
    let report = run_blocking(&mutant, &topology, &RunOptions::default(), std::future::pending()).unwrap();
    assert_eq!(report.status, Status::Failed);
    assert_eq!(report.gates[0].outcome, Outcome::Fail, "{:?}", report.gates[0]);
    assert_eq!(report.coverage[0].observed, 0, "a switched-off fallback never fires");
}

#[test]
fn a_coverage_gate_fails_a_run_whose_guard_never_fired() {
    let src = RECS_DOWN
        .replace("faults:\n  - { at: 1s, for: 2s, target: recommendations, fault: { error: { status: 500 } } }\n", "")
        .replace("during: faults, ", "");
    let report = run_yaml(&src, std::future::pending());
    assert_eq!(report.gates[0].outcome, Outcome::Pass);
    assert_eq!(report.coverage[0].outcome, Outcome::Fail);
    assert_eq!(report.status, Status::Failed);
}

#[test]
fn unknown_guards_are_rejected_at_their_place() {
    let src =
        RECS_DOWN.replace("relies_on: [edge/recommendations/fallback]", "relies_on: [edge/recomendations/fallback]");
    let errs = parse_str(&src, "x.yaml", Path::new(".")).unwrap_err().0;
    assert_eq!((errs[0].line, errs[0].message.contains("does not call")), (3, true), "{errs:?}");
}

#[test]
fn faults_reach_only_the_experiment_cohort_and_the_verdict_compares_cohorts() {
    let src = "\
name: cohorts
seed: 12
load: { rate: 40/s, warmup: 1s, duration: 5s }
cohorts: { experiment: 0.3, max_play_success_drop: 0.01, ttff_min_p: 0.001 }
faults:
  - { at: 1s, for: 3s, target: license, fault: { error: { status: 503 } } }
";
    let report = run_yaml(src, std::future::pending());
    let c = report.cohorts.clone().expect("cohorts compared");
    assert_eq!(c.phase, Phase::Faults);
    assert_eq!(c.control.play_success_ratio, Some(1.0), "{c:?}");
    assert!(c.experiment.play_success_ratio.unwrap() < 0.05, "{c:?}");
    assert!(c.experiment.sessions > 10 && c.control.sessions > c.experiment.sessions);
    assert!(c.difference.figures().1.0 > 0.9, "{c:?}");
    assert_eq!(c.gates[0].1, Outcome::Fail);
    assert_eq!(report.status, Status::Failed);
}

#[test]
fn a_ramp_raises_the_faulted_share_step_by_step() {
    let src = "\
name: ramp
seed: 13
system: { guards_off: [edge/license/retries] }
load: { rate: 40/s, warmup: 1s, duration: 7s }
faults:
  - { name: up, at: 1s, for: 5s, target: license, fault: { error: { status: 503 } }, ramp: { from: 0, to: 1, every: 1s } }
";
    let report = run_yaml(src, std::future::pending());
    let probs: Vec<f64> = report.timeline.iter().filter_map(|e| e.probability).collect();
    let want = [0.0, 0.2, 0.4, 0.6, 0.8];
    assert!(probs.len() == want.len() && probs.iter().zip(want).all(|(p, w)| (p - w).abs() < 1e-9), "{probs:?}");
    let ok = |t: usize| report.series[t].play_ok as f64 / report.series[t].sessions as f64;
    assert!(ok(1) > 0.85, "first ramp second: {}", ok(1));
    assert!(ok(5) < 0.4, "last ramp second: {}", ok(5));
    assert!(ok(6) > 0.85, "after the window: {}", ok(6));
}

#[test]
fn browse_and_play_flows_mix_by_weight_and_a_closed_loop_keeps_viewers_busy() {
    let report = run_yaml(
        "name: mix\nseed: 2\nload: { rate: 40/s, warmup: 1s, duration: 3s, flows: { play: 1, browse: 1 } }\n",
        std::future::pending(),
    );
    let run = report.phase(Phase::Run).unwrap();
    let sessions = run.kpis[&chaos_engine::kpi::Kpi::Sessions].unwrap();
    let sps = run.kpis[&chaos_engine::kpi::Kpi::Sps].unwrap();
    assert_eq!(sessions, 120.0);
    // About half press Play (99.9 % interval for n = 120, p = 0.5: 42..78), all of them start.
    assert!((14.0..26.0).contains(&sps), "sps {sps}");
    assert_eq!(run.kpis[&chaos_engine::kpi::Kpi::PlaySuccessRatio], Some(1.0));
    assert_eq!(run.kpis[&chaos_engine::kpi::Kpi::HomeSuccessRatio], Some(1.0));

    // Sessions that watch one segment: a viewer is back for the next one within tens of ms.
    let closed = "name: closed\nseed: 2\nload: { viewers: 4, duration: 3s, watch_segments: 1 }\n";
    let report = run_yaml(closed, std::future::pending());
    assert!(report.load.sent > 40, "4 viewers back to back for 3 s: {}", report.load.sent);
    assert_eq!(report.load.completed, report.load.sent);
    let errs =
        parse_str("name: x\nload: { rate: 5/s, viewers: 3, duration: 3s }\n", "x.yaml", Path::new(".")).unwrap_err();
    assert!(errs.0[0].message.contains("`rate` (open loop) or `viewers`"), "{errs}");
}

#[test]
fn the_sequential_test_stops_a_clearly_bad_run_early_and_lets_a_good_one_finish() {
    let bad = "\
name: sprt
seed: 21
load: { rate: 40/s, warmup: 1s, duration: 20s }
sequential: { good: 0.99, bad: 0.9 }
faults:
  - { at: 1s, for: 18s, target: cdn, fault: kill }
";
    let report = run_yaml(bad, std::future::pending());
    let q = report.sequential.clone().expect("decided early");
    assert_eq!(q.decision, chaos_engine::sequential::Decision::Bad);
    assert!(q.at_s < 6.0, "decided at {:.1}s", q.at_s);
    assert_eq!(report.status, Status::Failed);
    assert!(report.abort_reason.is_none(), "an early verdict is not an abort");
    assert!(report.load.cancelled > 0);
    assert_eq!(report.timeline.last().unwrap().action, Action::RolledBack);

    let good = bad.replace(
        "  - { at: 1s, for: 18s, target: cdn, fault: kill }\n",
        "  - { at: 1s, for: 18s, target: cdn-0, fault: kill }\n",
    );
    let report = run_yaml(&good, std::future::pending());
    let q = report.sequential.clone().expect("decided early");
    assert_eq!(q.decision, chaos_engine::sequential::Decision::Good, "{q:?}");
    assert_eq!(report.status, Status::Passed);
}
