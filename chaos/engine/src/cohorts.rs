//! Control versus experiment, as Netflix's ChAP does: a stable share of users is the experiment
//! cohort and gets the faults, the rest is the control cohort on the same platform at the same
//! time; the verdict compares the two instead of holding them to a fixed bar.

use crate::kpi::{Kpi, PhaseStats, Workload};
use crate::verdict::Outcome;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

pub use crate::experiment::gates::Cohorts;

/// Which cohort a session belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// No faults.
    Control,
    /// Faults.
    Experiment,
}

impl Cohorts {
    /// The cohort of `user` (the same stable hash the fault layer's cohort scope uses).
    pub fn side_of(&self, user: &str) -> Side {
        if chaos_fault::cohort_position(user) < self.experiment { Side::Experiment } else { Side::Control }
    }
}

/// One cohort's figures: the Play workload's, or the HTTP workload's.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CohortFigures {
    /// Sessions (HTTP workload: arrivals).
    pub sessions: u64,
    /// Play success ratio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub play_success_ratio: Option<f64>,
    /// TTFF median, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttff_p50_ms: Option<f64>,
    /// TTFF 99th percentile, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttff_p99_ms: Option<f64>,
    /// HTTP workload: request success ratio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_ratio: Option<f64>,
    /// HTTP workload: request latency median, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p50_ms: Option<f64>,
    /// HTTP workload: request latency 99th percentile, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p99_ms: Option<f64>,
}

impl CohortFigures {
    /// (success ratio, latency p50, latency p99) of the cohort's workload.
    pub fn headline(&self) -> (Option<f64>, Option<f64>, Option<f64>) {
        if self.success_ratio.is_some() || self.latency_p50_ms.is_some() {
            (self.success_ratio, self.latency_p50_ms, self.latency_p99_ms)
        } else {
            (self.play_success_ratio, self.ttff_p50_ms, self.ttff_p99_ms)
        }
    }
}

/// How the cohorts differ, in the workload's own terms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Difference {
    /// Play sessions: play success and TTFF.
    Play {
        /// Control's play success minus the experiment's.
        play_success_drop: f64,
        /// 95 % interval of the drop (normal approximation).
        drop_ci95: (f64, f64),
        /// Two-sided p-value of the Mann–Whitney U test on TTFF.
        ttff_mann_whitney_p: Option<f64>,
    },
    /// HTTP requests: request success and latency.
    Http {
        /// Control's request success minus the experiment's.
        success_drop: f64,
        /// 95 % interval of the drop (normal approximation).
        drop_ci95: (f64, f64),
        /// Two-sided p-value of the Mann–Whitney U test on request latency.
        latency_mann_whitney_p: Option<f64>,
    },
}

impl Difference {
    /// (drop, its 95 % interval, the Mann–Whitney p).
    pub fn figures(&self) -> (f64, (f64, f64), Option<f64>) {
        match *self {
            Difference::Play { play_success_drop, drop_ci95, ttff_mann_whitney_p } => {
                (play_success_drop, drop_ci95, ttff_mann_whitney_p)
            }
            Difference::Http { success_drop, drop_ci95, latency_mann_whitney_p } => {
                (success_drop, drop_ci95, latency_mann_whitney_p)
            }
        }
    }

    /// What succeeds and what is timed, for people: (`play success`, `TTFF`) or (`request
    /// success`, `latency`).
    pub fn names(&self) -> (&'static str, &'static str) {
        match self {
            Difference::Play { .. } => ("play success", "TTFF"),
            Difference::Http { .. } => ("request success", "latency"),
        }
    }
}

/// The comparison, on the fault window (the whole run when there are no faults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CohortReport {
    /// The phase compared.
    pub phase: crate::kpi::Phase,
    /// Control cohort.
    pub control: CohortFigures,
    /// Experiment cohort.
    pub experiment: CohortFigures,
    /// How they differ.
    #[serde(flatten)]
    pub difference: Difference,
    /// The gates, checked: (name, outcome).
    pub gates: Vec<(String, Outcome)>,
}

fn figures(s: &PhaseStats, workload: Workload) -> CohortFigures {
    let kpi = |k| s.kpi(k, 1.0);
    let play = workload == Workload::Play;
    let (play_kpi, http_kpi) = (|k| if play { kpi(k) } else { None }, |k| if play { None } else { kpi(k) });
    CohortFigures {
        sessions: s.sessions,
        play_success_ratio: play_kpi(Kpi::PlaySuccessRatio),
        ttff_p50_ms: play_kpi(Kpi::TtffP50),
        ttff_p99_ms: play_kpi(Kpi::TtffP99),
        success_ratio: http_kpi(Kpi::SuccessRatio),
        latency_p50_ms: http_kpi(Kpi::LatencyP50),
        latency_p99_ms: http_kpi(Kpi::LatencyP99),
    }
}

/// Compares the cohorts' figures of one phase and checks the cohort gates of `workload`.
pub fn compare(
    settings: &Cohorts,
    workload: Workload,
    phase: crate::kpi::Phase,
    control: &PhaseStats,
    experiment: &PhaseStats,
) -> CohortReport {
    let ((control_ok, control_n), (exp_ok, exp_n)) = (control.successes(workload), experiment.successes(workload));
    let (drop, lo, hi) = drop_ci(control_ok, control_n, exp_ok, exp_n);
    let p = control.latencies(workload).zip(experiment.latencies(workload)).and_then(|(a, b)| mann_whitney_p(a, b));
    let difference = match workload {
        Workload::Play => Difference::Play { play_success_drop: drop, drop_ci95: (lo, hi), ttff_mann_whitney_p: p },
        Workload::Http => Difference::Http { success_drop: drop, drop_ci95: (lo, hi), latency_mann_whitney_p: p },
    };
    let (success, latency) = difference.names();
    let (max_drop, min_p) = match workload {
        Workload::Play => (settings.max_play_success_drop, settings.ttff_min_p),
        Workload::Http => (settings.max_success_drop, settings.latency_min_p),
    };
    let mut gates = Vec::new();
    if let Some(max) = max_drop {
        let ok = control_n > 0 && exp_n > 0 && lo <= max;
        let (drop, lo, hi, max) = (drop * 100.0, lo * 100.0, hi * 100.0, max * 100.0);
        gates.push((format!("{success} drop {drop:.2} pp (95 % CI {lo:.2}..{hi:.2}) within {max:.2} pp"), outcome(ok)));
    }
    if let Some(min_p) = min_p {
        let ok = p.is_some_and(|p| p >= min_p);
        let p = p.map_or("–".into(), |p| format!("{p:.4}"));
        gates.push((format!("{latency} unchanged: Mann–Whitney p {p} ≥ {min_p}"), outcome(ok)));
    }
    CohortReport {
        phase,
        control: figures(control, workload),
        experiment: figures(experiment, workload),
        difference,
        gates,
    }
}

fn outcome(ok: bool) -> Outcome {
    if ok { Outcome::Pass } else { Outcome::Fail }
}

/// Control's success ratio minus the experiment's, with a 95 % Wald interval.
pub fn drop_ci(control_ok: u64, control_n: u64, exp_ok: u64, exp_n: u64) -> (f64, f64, f64) {
    if control_n == 0 || exp_n == 0 {
        return (0.0, f64::NAN, f64::NAN);
    }
    let (pc, pe) = (control_ok as f64 / control_n as f64, exp_ok as f64 / exp_n as f64);
    let se = (pc * (1.0 - pc) / control_n as f64 + pe * (1.0 - pe) / exp_n as f64).sqrt();
    let d = pc - pe;
    (d, d - 1.96 * se, d + 1.96 * se)
}

/// Two-sided p-value of the Mann–Whitney U test between two histograms (equal values are ties:
/// mid-ranks and the tie-corrected variance), by the normal approximation.
pub fn mann_whitney_p(a: &Histogram<u64>, b: &Histogram<u64>) -> Option<f64> {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    if n1 < 2.0 || n2 < 2.0 {
        return None;
    }
    // Distinct values of both, with their counts on each side.
    let mut values: std::collections::BTreeMap<u64, (u64, u64)> = std::collections::BTreeMap::new();
    for v in a.iter_recorded() {
        values.entry(a.highest_equivalent(v.value_iterated_to())).or_default().0 += v.count_at_value();
    }
    for v in b.iter_recorded() {
        values.entry(b.highest_equivalent(v.value_iterated_to())).or_default().1 += v.count_at_value();
    }
    let (mut rank, mut r1, mut ties) = (0.0, 0.0, 0.0);
    for (c1, c2) in values.values() {
        let t = (c1 + c2) as f64;
        let mid = rank + (t + 1.0) / 2.0;
        r1 += mid * *c1 as f64;
        ties += t * t * t - t;
        rank += t;
    }
    let n = n1 + n2;
    let u1 = r1 - n1 * (n1 + 1.0) / 2.0;
    let mean = n1 * n2 / 2.0;
    let var = n1 * n2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)));
    if var <= 0.0 {
        return Some(1.0);
    }
    let z = (u1 - mean).abs() / var.sqrt();
    Some(2.0 * (1.0 - Normal::standard().cdf(z)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut h = targets::latency_histogram();
        values.into_iter().for_each(|v| h.record(v).unwrap());
        h
    }

    #[test]
    fn mann_whitney_separates_shifted_samples_and_not_equal_ones() {
        let a = hist((0..300).map(|i| 10_000 + (i * 37) % 5_000));
        let same = hist((0..300).map(|i| 10_000 + (i * 53) % 5_000));
        let shifted = hist((0..300).map(|i| 12_000 + (i * 37) % 5_000));
        assert!(mann_whitney_p(&a, &same).unwrap() > 0.05);
        assert!(mann_whitney_p(&a, &shifted).unwrap() < 1e-6);
        assert_eq!(mann_whitney_p(&a, &hist([1])), None);
    }

    #[test]
    fn the_drop_interval_contains_the_drop_and_narrows_with_samples() {
        let (d, lo, hi) = drop_ci(990, 1000, 950, 1000);
        assert!((d - 0.04).abs() < 1e-9 && lo < d && d < hi);
        let (_, lo2, hi2) = drop_ci(9900, 10000, 9500, 10000);
        assert!(hi2 - lo2 < hi - lo);
    }
}
