//! The validator's rules for probes: a check or an abort condition names a KPI or a probe, and a
//! probe's settings can work (URLs, bounds that fit its kind, a pattern that compiles).

use super::probe::{JsonExpect, Probe, Reduce};
use super::{AbortCondition, Check};
use std::time::Duration;

/// Longest sampling interval and probe timeout: a day, as a fault's durations.
const MAX_PROBE_TIME: Duration = Duration::from_secs(86_400);

/// Problems of a check with a `probe` (its KPI fields unused, its bounds fitting the probe).
pub(super) fn check_problems(check: &Check, probe: &Probe, path: &str, problem: &mut impl FnMut(String, String)) {
    if check.kpi.is_some() {
        problem(path.into(), "a check names a `kpi` or a `probe`, not both".into());
    }
    for (field, set) in [("request", check.request.is_some()), ("window", check.window.is_some())] {
        if set {
            problem(format!("{path}.{field}"), format!("`{field}` goes with a KPI; a probe is sampled `every`"));
        }
    }
    let bounds = [check.at_least.is_some(), check.at_most.is_some(), check.between.is_some(), check.equals.is_some()];
    let n = bounds.iter().filter(|b| **b).count();
    let both = check.at_least.is_some() && check.at_most.is_some() && n == 2;
    match (probe.is_numeric(), n) {
        (true, 0) => {
            problem(path.into(), "a prometheus probe's value needs `at_least`, `at_most`, `between` or `equals`".into())
        }
        (true, 1) => {}
        (true, _) if both => {}
        (true, _) => problem(path.into(), "give one of `at_least`/`at_most` (or both), `between`, `equals`".into()),
        (false, 0) => {}
        (false, _) => problem(
            path.into(),
            format!("a {} probe passes or fails by its `expect`: bounds go with a prometheus probe", probe.kind()),
        ),
    }
    if let Some((lo, hi)) = check.between.filter(|(lo, hi)| lo.partial_cmp(hi).is_none_or(|o| o.is_gt())) {
        problem(format!("{path}.between"), format!("[{lo}, {hi}] is empty"));
    }
    every_problems(check.every, &format!("{path}.every"), problem);
    if let Some(share) = check.share.filter(|s| !(*s > 0.0 && *s <= 1.0)) {
        problem(format!("{path}.share"), format!("share must be in (0, 1], got {share}"));
    }
    probe_problems(probe, &format!("{path}.probe"), problem);
}

/// Problems of an abort condition with a `probe`.
pub(super) fn abort_problems(a: &AbortCondition, probe: &Probe, path: &str, problem: &mut impl FnMut(String, String)) {
    if a.kpi.is_some() {
        problem(path.into(), "an abort condition watches a `kpi` or a `probe`, not both".into());
    }
    let bounded = a.below.is_some() || a.above.is_some();
    match (probe.is_numeric(), bounded) {
        (true, false) => problem(path.into(), "a prometheus probe fires `below` or `above` a bound".into()),
        (false, true) => problem(
            path.into(),
            format!("a {} probe fails by its `expect`: `below`/`above` go with a prometheus probe", probe.kind()),
        ),
        _ => {}
    }
    if a.below.is_some() && a.above.is_some() {
        problem(path.into(), "an abort condition takes `below` or `above` (one of them)".into());
    }
    if a.failures == Some(0) {
        problem(format!("{path}.failures"), "failures in a row must be at least 1".into());
    }
    every_problems(a.every, &format!("{path}.every"), problem);
    probe_problems(probe, &format!("{path}.probe"), problem);
}

/// The fields only a probe takes, set on a KPI's check or condition.
pub(super) fn probe_only_fields(fields: &[(&str, bool)], path: &str, problem: &mut impl FnMut(String, String)) {
    for (field, _) in fields.iter().filter(|(_, set)| *set) {
        problem(format!("{path}.{field}"), format!("`{field}` goes with a `probe`"));
    }
}

fn every_problems(every: Option<Duration>, path: &str, problem: &mut impl FnMut(String, String)) {
    if let Some(e) = every.filter(|e| e.is_zero() || *e > MAX_PROBE_TIME) {
        problem(path.into(), format!("{} must be more than 0 and at most a day", humantime::format_duration(e)));
    }
}

fn probe_problems(probe: &Probe, path: &str, problem: &mut impl FnMut(String, String)) {
    let timeout = probe.timeout();
    if timeout.is_zero() || timeout > MAX_PROBE_TIME {
        problem(format!("{path}.{}.timeout", probe.kind()), "a timeout must be more than 0 and at most a day".into());
    }
    match probe {
        Probe::Http(h) => {
            let at = |f: &str| format!("{path}.http.{f}");
            if let Some(why) = super::http::url_problem(&h.url) {
                problem(at("url"), why);
            }
            for (pointer, want) in &h.expect.json {
                if !(pointer.is_empty() || pointer.starts_with('/')) {
                    problem(at("expect.json"), format!("`{pointer}` is not a JSON pointer (`/key/0/field`)"));
                }
                if let JsonExpect::Range(r) = want
                    && r.at_least.is_none()
                    && r.at_most.is_none()
                {
                    problem(at("expect.json"), format!("`{pointer}`: a range needs `at_least` or `at_most`"));
                }
            }
        }
        Probe::Prometheus(p) => {
            let at = |f: &str| format!("{path}.prometheus.{f}");
            let base = p.url.trim_end_matches('/');
            match super::http::url_problem(base) {
                Some(why) => problem(at("url"), why),
                None if base.splitn(4, '/').nth(3).is_some_and(|rest| !rest.is_empty()) => {
                    problem(at("url"), format!("`{}` must be the server's base URL, without a path", p.url))
                }
                None => {}
            }
            if p.query.trim().is_empty() {
                problem(at("query"), "the query is empty".into());
            }
            let ranged = p.range.is_some();
            for (field, set) in [("step", p.step.is_some()), ("reduce", p.reduce.is_some())] {
                if set && !ranged {
                    problem(at(field), format!("`{field}` goes with `range` (a range query)"));
                }
            }
            if p.range.is_some_and(|r| r.is_zero()) || p.step.is_some_and(|s| s.is_zero()) {
                problem(at("range"), "range and step must be more than 0".into());
            }
            match (p.reduce, p.quantile) {
                (Some(Reduce::Quantile), Some(q)) if q > 0.0 && q < 1.0 => {}
                (Some(Reduce::Quantile), _) => {
                    problem(at("quantile"), "`reduce: quantile` needs a quantile in (0, 1)".into())
                }
                (_, Some(_)) => problem(at("quantile"), "`quantile` goes with `reduce: quantile`".into()),
                _ => {}
            }
        }
        Probe::Command(c) => {
            let at = |f: &str| format!("{path}.command.{f}");
            if c.run.first().is_none_or(|p| p.is_empty()) {
                problem(at("run"), "give the program and its arguments: `run: [./check.sh, --fast]`".into());
            }
            if let Some(Err(e)) = c.expect.stdout_matches.as_deref().map(regex::Regex::new) {
                problem(at("expect.stdout_matches"), format!("not a regular expression: {e}"));
            }
        }
    }
}
