//! `junit.xml`: every check of the verdict as a JUnit test case, so CI systems show the gates
//! natively. One suite per kind of check (steady state, gates, coverage, cohorts); a failed case
//! carries the KPI, the bound and the observed value. Written with `quick-junit` (nextest's).

use super::Report;
use super::write::Exporter;
use crate::verdict::{CheckResult, Outcome};
use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

/// The JUnit exporter.
pub struct Junit;

fn case(name: &str, outcome: Outcome, message: String) -> TestCase {
    let status = match outcome {
        Outcome::Pass => TestCaseStatus::success(),
        Outcome::Fail => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(message.clone()).set_type("gate");
            s
        }
        // No sessions in the phase: nothing could be measured.
        _ => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(message);
            s
        }
    };
    TestCase::new(name.to_string(), status)
}

fn check_case(experiment: &str, c: &CheckResult) -> TestCase {
    let message = c.describe();
    let mut tc = case(&c.name, c.outcome, message);
    tc.set_classname(experiment.to_string());
    tc
}

impl Exporter for Junit {
    fn file_name(&self) -> &str {
        "junit.xml"
    }

    fn render(&self, r: &Report) -> Vec<u8> {
        let name = &r.experiment.name;
        let mut report = quick_junit::Report::new(format!("chaos: {name}"));
        let mut suite = |title: &str, cases: Vec<TestCase>| {
            if !cases.is_empty() {
                let mut s = TestSuite::new(format!("{name}: {title}"));
                s.add_test_cases(cases);
                report.add_test_suite(s);
            }
        };
        suite("steady state", r.steady_state.iter().map(|c| check_case(name, c)).collect());
        suite("gates", r.gates.iter().map(|c| check_case(name, c)).collect());
        let probes = r.probes.iter().map(|p| {
            let mut tc = case(&p.name, p.outcome, p.describe());
            tc.set_classname(name.to_string());
            tc
        });
        suite("probes", probes.collect());
        let coverage = r.coverage.iter().map(|c| {
            let message = format!("guard {} fired {} time(s), needs at least {}", c.guard, c.observed, c.at_least);
            case(&format!("guard {}", c.guard), c.outcome, message)
        });
        suite("guard coverage", coverage.collect());
        let cohorts = r
            .cohorts
            .iter()
            .flat_map(|c| &c.gates)
            .map(|(gate, outcome)| case(gate, *outcome, format!("cohort gate `{gate}` failed")));
        suite("cohorts", cohorts.collect());
        let sequential = r.sequential.iter().map(|q| {
            let outcome = if q.decision == crate::sequential::Decision::Bad { Outcome::Fail } else { Outcome::Pass };
            let message = r
                .findings
                .iter()
                .find(|f| f.kind == crate::verdict::FindingKind::Sequential)
                .map_or_else(String::new, |f| f.detail.clone());
            case("play success (sequential test)", outcome, message)
        });
        suite("sequential test", sequential.collect());
        if let Some(reason) = &r.abort_reason {
            let mut aborted = TestCaseStatus::non_success(NonSuccessKind::Error);
            aborted.set_message(format!("run aborted: {reason}"));
            suite("run", vec![TestCase::new("run completed", aborted)]);
        }
        report.to_string().unwrap_or_default().into_bytes()
    }
}
