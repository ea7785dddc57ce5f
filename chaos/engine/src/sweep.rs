//! A seed sweep (`chaos run --seeds 1..100`): one experiment run once per seed — on the virtual
//! clock cheap and exact — to learn how often a resilience property holds, and the first seed
//! where it does not, which replays exactly with `--seed`.

use crate::experiment::Clock;
use crate::report::Report;
use crate::verdict::Status;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// Most seeds one sweep takes.
pub const MAX_SEEDS: usize = 100_000;

/// Parses `1..100` (both ends included, as `seq` counts), `1..=100`, `7`, or a comma-separated
/// list of those; seeds in the order given, each once.
pub fn parse_seeds(text: &str) -> Result<Vec<u64>, String> {
    let (mut seeds, mut seen) = (Vec::new(), std::collections::HashSet::new());
    for part in text.split(',').map(str::trim) {
        let number =
            |s: &str| s.trim().parse::<u64>().map_err(|_| format!("`{s}` in `{part}` is not a seed (0 or more)"));
        let (from, to) = match part.split_once("..") {
            Some((a, b)) => (number(a)?, number(b.strip_prefix('=').unwrap_or(b))?),
            None => (number(part)?, number(part)?),
        };
        if from > to {
            return Err(format!("`{part}`: the range ends before it starts"));
        }
        if (to - from) as usize >= MAX_SEEDS.saturating_sub(seeds.len()) {
            return Err(format!("`{text}`: at most {MAX_SEEDS} seeds in one sweep"));
        }
        seeds.extend((from..=to).filter(|s| seen.insert(*s)));
    }
    Ok(seeds)
}

/// One seed's run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeedOutcome {
    /// The seed.
    pub seed: u64,
    /// Its verdict.
    pub status: Status,
    /// What failed (see [`Report::failed`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<String>,
    /// Play success over the measured run.
    pub play_success_ratio: Option<f64>,
    /// Where its full report was written (only runs that did not pass keep one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
}

impl SeedOutcome {
    /// The outcome of `report`.
    pub fn of(report: &Report) -> Self {
        let run = report.phase(crate::kpi::Phase::Run);
        Self {
            seed: report.seed,
            status: report.status,
            failed: report.failed(),
            play_success_ratio: run.and_then(|p| p.kpis.get(&crate::kpi::Kpi::PlaySuccessRatio).copied().flatten()),
            report: None,
        }
    }
}

/// A sweep's result: `sweep.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    /// The experiment's name.
    pub experiment: String,
    /// The file it came from.
    pub file: Option<String>,
    /// The clock every run used.
    pub clock: Clock,
    /// The seeds asked for.
    pub asked: usize,
    /// Each seed that ran, in seed order.
    pub seeds: Vec<SeedOutcome>,
    /// Stopped by a signal before every seed ran.
    pub aborted: bool,
}

impl Sweep {
    /// An empty sweep of `asked` seeds of `exp`.
    pub fn new(exp: &crate::Experiment, asked: usize) -> Self {
        let file = exp.file.as_ref().map(|f| f.display().to_string());
        Self { experiment: exp.name.clone(), file, clock: exp.clock, asked, seeds: Vec::new(), aborted: false }
    }

    /// Seeds whose gates held.
    pub fn held(&self) -> usize {
        self.seeds.iter().filter(|s| s.status == Status::Passed).count()
    }

    /// The lowest seed whose run did not pass.
    pub fn first_failing(&self) -> Option<&SeedOutcome> {
        self.seeds.iter().filter(|s| s.status != Status::Passed).min_by_key(|s| s.seed)
    }

    /// The sweep's verdict: aborted when stopped, failed when a seed did not pass.
    pub fn status(&self) -> Status {
        match (self.aborted, self.first_failing()) {
            (true, _) => Status::Aborted,
            (false, Some(_)) => Status::Failed,
            (false, None) => Status::Passed,
        }
    }

    /// One line: `9/10 seeds held (90.0 %); first failing seed 4 (gate)`.
    pub fn summary(&self) -> String {
        let ran = self.seeds.len();
        let mut line =
            format!("{}/{ran} seeds held ({:.1} %)", self.held(), 100.0 * self.held() as f64 / ran.max(1) as f64);
        if let Some(first) = self.first_failing() {
            let _ = write!(line, "; first failing seed {} ({})", first.seed, first.failed.join("; "));
        }
        if self.aborted {
            let _ = write!(line, "; aborted after {ran} of {} seeds", self.asked);
        }
        line
    }

    /// `sweep.md`: the summary, how to replay, and every seed that did not pass.
    pub fn markdown(&self) -> String {
        let mut md = format!("# {} — seed sweep\n\n{}\n\n", self.experiment, self.summary());
        if let (Some(first), Some(file)) = (self.first_failing(), &self.file) {
            let clock = if self.clock == Clock::Virtual { " --clock virtual" } else { "" };
            let _ = writeln!(md, "Replay: `chaos run {file}{clock} --seed {}`\n", first.seed);
        }
        md.push_str("| seed | verdict | failed | play success | report |\n|---:|---|---|---:|---|\n");
        for s in self.seeds.iter().filter(|s| s.status != Status::Passed) {
            let ok = s.play_success_ratio.map_or("–".into(), |r| format!("{:.2} %", r * 100.0));
            let _ = writeln!(
                md,
                "| {} | {:?} | {} | {ok} | {} |",
                s.seed,
                s.status,
                s.failed.join("; "),
                s.report.as_deref().unwrap_or("–")
            );
        }
        md
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_parse_as_inclusive_ranges_and_lists_and_nonsense_is_named() {
        assert_eq!(parse_seeds("1..5").unwrap(), vec![1, 2, 3, 4, 5]);
        assert_eq!(parse_seeds("1..=3, 9, 2..4").unwrap(), vec![1, 2, 3, 9, 4]);
        assert_eq!(parse_seeds("7").unwrap(), vec![7]);
        assert!(parse_seeds("5..1").unwrap_err().contains("ends before it starts"));
        assert!(parse_seeds("1..x").unwrap_err().contains("`x`"));
        assert!(parse_seeds("0..100000").unwrap_err().contains("at most"));
        assert!(parse_seeds("").is_err());
    }

    fn outcome(seed: u64, status: Status) -> SeedOutcome {
        let failed = if status == Status::Passed { vec![] } else { vec!["rebuffer_ratio faults <= 2.00 %".into()] };
        SeedOutcome { seed, status, failed, play_success_ratio: Some(0.99), report: None }
    }

    #[test]
    fn the_sweep_names_the_share_that_held_and_the_lowest_failing_seed() {
        let seeds = vec![outcome(3, Status::Passed), outcome(9, Status::Failed), outcome(4, Status::Failed)];
        let sweep = Sweep {
            experiment: "x".into(),
            file: Some("x.yaml".into()),
            clock: Clock::Virtual,
            asked: 3,
            seeds,
            aborted: false,
        };
        assert_eq!(sweep.held(), 1);
        assert_eq!(sweep.first_failing().unwrap().seed, 4);
        assert_eq!(sweep.status(), Status::Failed);
        assert_eq!(sweep.summary(), "1/3 seeds held (33.3 %); first failing seed 4 (rebuffer_ratio faults <= 2.00 %)");
        assert!(sweep.markdown().contains("`chaos run x.yaml --clock virtual --seed 4`"));
        let stopped = Sweep { aborted: true, asked: 10, ..sweep };
        assert_eq!(stopped.status(), Status::Aborted);
        assert!(stopped.summary().ends_with("aborted after 3 of 10 seeds"));
    }
}
