//! The verdict is decided once and every output displays it: a run failed only by the
//! sequential test, or only by a cohort gate, names why in report.md, in junit.xml and on the
//! terminal (both said nothing before: `❌ **failed** —` and no failing test case).

use chaos_engine::cohorts::{CohortFigures, CohortReport, Difference};
use chaos_engine::kpi::Phase;
use chaos_engine::report::{Exporter, Junit, Markdown};
use chaos_engine::verdict::{Evidence, FindingKind, Outcome, Status, decide};
use chaos_engine::{Report, RunOptions, parse_str, run_blocking};
use std::path::Path;

/// Every CDN down: the sequential test decides "bad" within a few seconds; no gate is set.
const DOOMED: &str = "name: doomed
clock: virtual
seed: 3
load: { rate: 40/s, warmup: 1s, duration: 20s }
faults:
  - { at: 1s, for: 18s, target: cdn, fault: kill }
sequential: { good: 0.99, bad: 0.9, alpha: 0.01, beta: 0.01 }
";

fn doomed() -> Report {
    let (exp, topology) = parse_str(DOOMED, "doomed.yaml", Path::new(".")).unwrap();
    run_blocking(&exp, &topology, &RunOptions::default(), std::future::pending()).unwrap()
}

fn text(e: &dyn Exporter, r: &Report) -> String {
    String::from_utf8(e.render(r)).unwrap()
}

#[test]
fn a_run_failed_by_the_sequential_test_alone_says_so_everywhere() {
    let r = doomed();
    assert_eq!(r.status, Status::Failed);
    assert!(r.gates.is_empty() && r.steady_state.is_empty());
    assert_eq!(r.findings.iter().map(|f| f.kind).collect::<Vec<_>>(), [FindingKind::Sequential]);
    let md = text(&Markdown, &r);
    let verdict = md.lines().find(|l| l.starts_with("❌")).unwrap();
    assert!(verdict.contains("the sequential test found play success bad"), "{verdict}");
    let junit = text(&Junit, &r);
    assert!(junit.contains("sequential test") && junit.contains("<failure"), "{junit}");
    assert_eq!(r.failed(), ["sequential: bad"]);
}

#[test]
fn a_run_failed_by_a_cohort_gate_alone_names_the_gate() {
    let r = doomed();
    let figures = CohortFigures { sessions: 100, play_success_ratio: Some(0.8), ..CohortFigures::default() };
    let gate = "play success drop 20.74 pp (95 % CI 18.1..23.4) within 0.50 pp".to_string();
    let cohorts = CohortReport {
        phase: Phase::Faults,
        control: figures.clone(),
        experiment: figures,
        difference: Difference::Play {
            play_success_drop: 0.2074,
            drop_ci95: (0.181, 0.234),
            ttff_mann_whitney_p: None,
        },
        gates: vec![(gate, Outcome::Fail)],
    };
    let verdict = decide(&Evidence {
        checks: &[],
        probes: &[],
        coverage: &[],
        cohorts: Some(&cohorts),
        sequential: None,
        aborted: None,
    });
    assert_eq!(verdict.status, Status::Failed);
    let r =
        Report { status: verdict.status, findings: verdict.findings, sequential: None, cohorts: Some(cohorts), ..r };
    let md = text(&Markdown, &r);
    let line = md.lines().find(|l| l.starts_with("❌")).unwrap();
    assert!(line.contains("cohorts: play success drop 20.74 pp"), "{line}");
    assert_eq!(r.failed(), ["cohorts: play success drop"]);
    assert!(text(&Junit, &r).contains("<failure"));
}
