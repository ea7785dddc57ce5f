//! Shrinking a failed run (`chaos shrink REPORT.json`, `chaos run --shrink`): the smallest fault
//! timeline that still fails the same gate with the same seed, found by replaying on the
//! virtual clock — delta debugging (Zeller's ddmin) over the steps, then each remaining step's
//! window and intensity halved by bisection while the gate still fails.
//!
//! Written by hand: the crates that shrink (proptest, quickcheck) shrink generated values inside
//! their own test runners, not an experiment replayed through a simulator.

use crate::experiment::{Clock, Experiment, FaultStep};
use crate::report::Report;
use crate::run::{RunError, RunOptions, run_blocking};
use chaos_fault::{Distribution, Fault};
use std::collections::BTreeMap;
use std::time::Duration;
use targets::Topology;

/// Bisection steps per knob: the knob ends within 1/16 of its smallest failing value.
const BISECTIONS: u32 = 4;

/// Shortest fault window tried.
const MIN_WINDOW: Duration = Duration::from_millis(100);

/// What to shrink.
pub struct Shrink<'a> {
    /// The experiment as it ran.
    pub experiment: &'a Experiment,
    /// Its platform.
    pub topology: &'a Topology,
    /// The seed of the failed run.
    pub seed: u64,
    /// The gate that must keep failing (a name from [`Report::failed`]).
    pub gate: String,
    /// Replays allowed at most.
    pub max_runs: usize,
}

/// The smallest reproduction found.
#[derive(Debug)]
pub struct Shrunk {
    /// The experiment with the smallest timeline, on the virtual clock with the seed fixed.
    pub experiment: Experiment,
    /// The gate it fails.
    pub gate: String,
    /// Replays made.
    pub runs: usize,
    /// What was taken away, one line each.
    pub changes: Vec<String>,
}

/// Why no reproduction came out.
#[derive(Debug, thiserror::Error)]
pub enum ShrinkError {
    /// The run passed: nothing to shrink.
    #[error("the run passed: there is no failed gate to shrink")]
    Passed,
    /// The failure does not happen on the virtual clock with this seed.
    #[error(
        "`{0}` does not fail when the run is replayed on the virtual clock with the same seed (an effect of real time: see docs/VIRTUAL_TIME.md)"
    )]
    NotReproduced(String),
    /// A replay could not run.
    #[error(transparent)]
    Run(#[from] RunError),
}

impl<'a> Shrink<'a> {
    /// Shrinks the run `report` describes — `experiment` on `topology`, as loaded again from the
    /// report's — to its first failed gate.
    pub fn of(
        report: &Report,
        experiment: &'a Experiment,
        topology: &'a Topology,
        max_runs: usize,
    ) -> Result<Self, ShrinkError> {
        let gate = report.failed().into_iter().next().ok_or(ShrinkError::Passed)?;
        Ok(Self { experiment, topology, seed: report.seed, gate, max_runs })
    }

    /// Replays until the timeline is as small as it gets (or the replays run out); `progress`
    /// hears of each reduction found.
    pub fn run(self, mut progress: impl FnMut(&str)) -> Result<Shrunk, ShrinkError> {
        let mut base = self.experiment.clone();
        base.clock = Clock::Virtual;
        base.seed = self.seed;
        // Steps placed by `after` get their resolved start, and every step its name (its rule
        // id, which seeds its draws): any step may then go alone and still act as it did.
        for i in 0..base.faults.len() {
            let name = base.step_name(i);
            let step = &mut base.faults[i];
            (step.at, step.after, step.name) = (step.start, None, Some(name));
        }
        let mut replay = Replay {
            base,
            topology: self.topology,
            gate: &self.gate,
            runs: 0,
            max: self.max_runs,
            seen: BTreeMap::new(),
        };
        let original = replay.base.faults.clone();
        if !replay.fails(&original)? {
            return Err(ShrinkError::NotReproduced(self.gate));
        }
        progress(&format!("`{}` fails again on the virtual clock with seed {}", self.gate, self.seed));
        let mut changes = Vec::new();
        let mut steps = ddmin(&mut replay, original.clone(), &mut progress)?;
        if steps.len() < original.len() {
            let kept: Vec<String> = steps.iter().map(name).collect();
            changes.push(format!("{} fault step(s) → {}: {}", original.len(), steps.len(), kept.join(", ")));
        }
        for i in 0..steps.len() {
            for knob in Knob::ALL {
                let Some(from) = knob.value(&steps[i]) else { continue };
                let smallest = bisect(&mut replay, &steps, i, knob)?;
                if let Some(smaller) = smallest {
                    let to = knob.value(&smaller).unwrap_or(from.clone());
                    let line = format!("{}: {} {from} → {to}", name(&smaller), knob.label());
                    progress(&line);
                    changes.push(line);
                    steps[i] = smaller;
                }
            }
        }
        let runs = replay.runs;
        let mut experiment = replay.base;
        experiment.faults = steps;
        experiment.name = format!("{}-shrunk", self.experiment.name);
        experiment.description = format!(
            "The smallest fault timeline found (by `chaos shrink`, {} replays on the virtual clock) that still fails `{}` of `{}` with seed {}.",
            runs, self.gate, self.experiment.name, self.seed
        );
        experiment.file = None;
        Ok(Shrunk { experiment, gate: self.gate, runs, changes })
    }
}

/// A step's name (every step has one once [`Shrink::run`] has named them).
fn name(step: &FaultStep) -> String {
    step.name.clone().unwrap_or_default()
}

/// Replays of one experiment with other timelines; remembers each timeline's answer.
struct Replay<'a> {
    base: Experiment,
    topology: &'a Topology,
    gate: &'a str,
    runs: usize,
    max: usize,
    seen: BTreeMap<String, bool>,
}

impl Replay<'_> {
    /// Whether the gate fails with `faults` (false once the replays are spent).
    fn fails(&mut self, faults: &[FaultStep]) -> Result<bool, RunError> {
        let key = serde_json::to_string(faults).unwrap_or_default();
        if let Some(&known) = self.seen.get(&key) {
            return Ok(known);
        }
        if self.runs >= self.max {
            return Ok(false);
        }
        let exp = Experiment { faults: faults.to_vec(), ..self.base.clone() };
        // A timeline the experiment cannot have (no faults left for a gate `during: faults`)
        // reproduces nothing.
        if !exp.problems(self.topology).is_empty() {
            self.seen.insert(key, false);
            return Ok(false);
        }
        self.runs += 1;
        let report = run_blocking(&exp, self.topology, &RunOptions::default(), std::future::pending())?;
        let fails = report.failed().iter().any(|f| f == self.gate);
        self.seen.insert(key, fails);
        Ok(fails)
    }
}

/// Zeller's ddmin: a 1-minimal subset of `steps` that still fails (none at all, when the gate
/// fails without faults and the experiment may have none).
fn ddmin(
    replay: &mut Replay,
    mut steps: Vec<FaultStep>,
    progress: &mut impl FnMut(&str),
) -> Result<Vec<FaultStep>, RunError> {
    if replay.fails(&[])? {
        progress("it fails with no fault at all");
        return Ok(Vec::new());
    }
    let mut n = 2;
    while steps.len() >= 2 {
        let size = steps.len().div_ceil(n);
        let chunks: Vec<Vec<FaultStep>> = steps.chunks(size).map(<[FaultStep]>::to_vec).collect();
        let complement = |i: usize| -> Vec<FaultStep> {
            chunks.iter().enumerate().filter(|(j, _)| *j != i).flat_map(|(_, c)| c.clone()).collect()
        };
        let mut reduced = None;
        for (i, chunk) in chunks.iter().enumerate() {
            if replay.fails(chunk)? {
                reduced = Some((chunk.clone(), 2));
                break;
            }
            if chunks.len() > 2 && replay.fails(&complement(i))? {
                reduced = Some((complement(i), (n - 1).max(2)));
                break;
            }
        }
        match reduced {
            Some((fewer, next)) => {
                progress(&format!("{} fault step(s) still fail", fewer.len()));
                (steps, n) = (fewer, next);
            }
            None if n >= steps.len() => break,
            None => n = (n * 2).min(steps.len()),
        }
    }
    Ok(steps)
}

/// What may be made smaller about one step.
#[derive(Clone, Copy, Debug)]
enum Knob {
    /// The window's length, cut from its end.
    Window,
    /// The window's length, cut from its start (the end kept): for a failure that needs the
    /// fault late in its window.
    Onset,
    /// The share of requests faulted.
    Probability,
    /// The fault's own strength: a delay, a hang, a stall or a restart made shorter; a throttle
    /// made faster, a truncation made later.
    Strength,
}

impl Knob {
    const ALL: [Knob; 4] = [Knob::Window, Knob::Onset, Knob::Probability, Knob::Strength];

    fn label(self) -> &'static str {
        match self {
            Knob::Window => "window",
            Knob::Onset => "start",
            Knob::Probability => "probability",
            Knob::Strength => "strength",
        }
    }

    /// The knob's setting on `step`, shown; `None` when it has nothing to lower.
    fn value(self, step: &FaultStep) -> Option<String> {
        match self {
            Knob::Window => Some(humantime::format_duration(step.duration).to_string()),
            Knob::Onset => Some(humantime::format_duration(step.at).to_string()),
            Knob::Probability => (step.ramp.is_none() && !matches!(step.fault, Fault::Kill { .. }))
                .then(|| format!("{}", step.scope.probability)),
            Knob::Strength => match &step.fault {
                Fault::Latency(l) => match l.distribution {
                    Distribution::Fixed(d) => Some(humantime::format_duration(d).to_string()),
                    _ => None,
                },
                Fault::Hang { max } | Fault::Stall { max, .. } => Some(humantime::format_duration(*max).to_string()),
                Fault::Kill { restart_after: Some(d) } => Some(humantime::format_duration(*d).to_string()),
                Fault::Throttle { bytes_per_s } => Some(format!("{bytes_per_s} B/s")),
                Fault::Truncate { after_bytes } => Some(format!("after {after_bytes} B")),
                _ => None,
            },
        }
    }

    /// `step` with the knob at `f` (0 < f ≤ 1) of its setting.
    fn scaled(self, step: &FaultStep, f: f64) -> FaultStep {
        let mut s = step.clone();
        // Whole milliseconds and four decimals: a reproduction a person reads.
        let shorter = |d: Duration| Duration::from_millis(d.mul_f64(f).as_millis() as u64);
        match self {
            Knob::Window => s.duration = shorter(step.duration).max(MIN_WINDOW.min(step.duration)),
            Knob::Onset => {
                s.duration = shorter(step.duration).max(MIN_WINDOW.min(step.duration));
                s.at = step.at + (step.duration - s.duration);
                s.start = s.at;
            }
            Knob::Probability => s.scope.probability = (step.scope.probability * f * 1e4).round() / 1e4,
            Knob::Strength => match &mut s.fault {
                Fault::Latency(l) => {
                    if let Distribution::Fixed(d) = &mut l.distribution {
                        *d = shorter(*d);
                    }
                }
                Fault::Hang { max } | Fault::Stall { max, .. } => *max = shorter(*max),
                Fault::Kill { restart_after: Some(d) } => *d = shorter(*d),
                Fault::Throttle { bytes_per_s } => *bytes_per_s = (*bytes_per_s as f64 / f).ceil() as u64,
                Fault::Truncate { after_bytes } => *after_bytes = (*after_bytes as f64 / f).ceil() as u64,
                _ => {}
            },
        }
        s
    }
}

/// The smallest setting of `knob` on step `i` (bisected between none and all of it) at which
/// the gate still fails; `None` when only the whole setting fails.
fn bisect(replay: &mut Replay, steps: &[FaultStep], i: usize, knob: Knob) -> Result<Option<FaultStep>, RunError> {
    let (mut lo, mut hi) = (0.0, 1.0);
    let mut best = None;
    for _ in 0..BISECTIONS {
        let mid = (lo + hi) / 2.0;
        let candidate = knob.scaled(&steps[i], mid);
        let mut trial = steps.to_vec();
        trial[i] = candidate.clone();
        if replay.fails(&trial)? {
            (hi, best) = (mid, Some(candidate));
        } else {
            lo = mid;
        }
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(yaml: &str) -> FaultStep {
        let mut s: FaultStep = serde_yaml::from_str(yaml).unwrap();
        s.start = s.at;
        s
    }

    #[test]
    fn each_knob_weakens_its_own_setting_and_nothing_else() {
        let s = step(
            "{ at: 2s, for: 8s, target: cdn, fault: { throttle: { bytes_per_s: 1000 } }, scope: { probability: 0.3 } }",
        );
        let w = Knob::Window.scaled(&s, 0.25);
        assert_eq!((w.at, w.duration, w.end()), (s.at, Duration::from_secs(2), Duration::from_secs(4)));
        let o = Knob::Onset.scaled(&s, 0.25);
        assert_eq!((o.start, o.duration, o.end()), (Duration::from_secs(8), Duration::from_secs(2), s.end()));
        assert_eq!(Knob::Probability.scaled(&s, 0.5).scope.probability, 0.15);
        assert!(matches!(Knob::Strength.scaled(&s, 0.5).fault, Fault::Throttle { bytes_per_s: 2000 }));
        // A window never shrinks below the shortest tried.
        assert_eq!(Knob::Window.scaled(&s, 0.001).duration, MIN_WINDOW);
        // A kill has no probability to lower, an error no strength.
        assert_eq!(Knob::Probability.value(&step("{ at: 0s, for: 1s, target: cdn, fault: kill }")), None);
        assert_eq!(
            Knob::Strength.value(&step("{ at: 0s, for: 1s, target: cdn, fault: { error: { status: 503 } } }")),
            None
        );
    }
}
