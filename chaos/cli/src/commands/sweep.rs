//! `chaos run --seeds 1..100`: each experiment once per seed, up to `--jobs` at once; a
//! `sweep.json`/`sweep.md` per experiment, and a full report for each seed that did not pass.

use super::run::{Settings, execute, instance_program, signal_watch, stopped};
use super::runtime;
use anyhow::Context;
use chaos_engine::experiment::Clock;
use chaos_engine::report::{exporters, stamp, write_files, write_report};
use chaos_engine::sweep::{SeedOutcome, Sweep};
use chaos_engine::verdict::Status;
use chaos_engine::{Experiment, Report, RunOptions};
use futures_util::stream::{self, StreamExt};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::SystemTime;
use targets::Topology;
use tokio::sync::watch;

pub(crate) fn sweep(loaded: &[(Experiment, Topology)], s: &Settings, seeds: &[u64]) -> anyhow::Result<ExitCode> {
    let runtime = runtime()?;
    runtime.block_on(async {
        let signalled = signal_watch();
        let mut tally = crate::printer::Tally::default();
        for (exp, topology) in loaded {
            let now = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
            let dir = s.out.join(&exp.name).join(format!("{}-sweep", stamp(&now)));
            let (sweep, failure) = one(exp, topology, s, seeds, &dir, &signalled).await;
            let files = [
                ("sweep.json".to_string(), serde_json::to_vec_pretty(&sweep)?),
                ("sweep.md".to_string(), sweep.markdown().into_bytes()),
            ];
            write_files(&dir, files).with_context(|| format!("writing the sweep to {}", dir.display()))?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}: {}", exp.name, sweep.summary())?;
            writeln!(out, "  → {}", dir.join("sweep.md").display())?;
            if let Some(e) = failure {
                return Err(e);
            }
            tally.add(sweep.status());
            if sweep.aborted {
                break;
            }
        }
        Ok(ExitCode::from(tally.worst().exit_code()))
    })
}

/// Runs `exp` once per seed; keeps the full report of each seed that did not pass, under `dir`.
/// A run that cannot happen (or a report that cannot be written) stops the sweep: the seeds done
/// are returned with it, marked aborted, so they are written before the error is told.
async fn one(
    exp: &Experiment,
    topology: &Topology,
    s: &Settings<'_>,
    seeds: &[u64],
    dir: &Path,
    signalled: &watch::Receiver<bool>,
) -> (Sweep, Option<anyhow::Error>) {
    let clock = if exp.clock == Clock::Virtual { "virtual" } else { "real" };
    eprintln!("▶ {} — {} seed(s) on the {clock} clock, {} at once", exp.name, seeds.len(), s.jobs.max(1));
    let program = match instance_program() {
        Ok(p) => p,
        Err(e) => return (Sweep::new(exp, seeds.len()), Some(e)),
    };
    let runs = seeds.iter().map(|&seed| {
        let opts = RunOptions { seed: Some(seed), instance_program: Some(program.clone()), ..RunOptions::default() };
        let stop = stopped(signalled);
        let signalled = signalled.clone();
        async move { if *signalled.borrow() { None } else { Some(execute(exp, topology, opts, stop).await) } }
    });
    let mut results = stream::iter(runs).buffered(s.jobs.max(1));
    let mut sweep = Sweep::new(exp, seeds.len());
    let mut failure = None;
    while let Some(done) = results.next().await {
        // A run a signal cut short says nothing about its seed.
        let (Some(report), false) = (done, *signalled.borrow()) else {
            sweep.aborted = true;
            break;
        };
        match report.map_err(anyhow::Error::from).and_then(|r| keep(&r, dir)) {
            Ok(outcome) => sweep.seeds.push(outcome),
            Err(e) => {
                sweep.aborted = true;
                failure = Some(e);
                break;
            }
        }
    }
    sweep.seeds.sort_by_key(|o| o.seed);
    (sweep, failure)
}

/// A seed's outcome; the full report of a seed that did not pass is written under `dir`.
fn keep(report: &Report, dir: &Path) -> anyhow::Result<SeedOutcome> {
    let mut outcome = SeedOutcome::of(report);
    if outcome.status != Status::Passed {
        let dir = dir.join(format!("seed-{}", report.seed));
        write_report(&dir, report, &exporters(report))
            .with_context(|| format!("writing the report to {}", dir.display()))?;
        eprintln!("  seed {}: {:?} — {}", report.seed, outcome.status, outcome.failed.join("; "));
        outcome.report = Some(dir.join("report.json").display().to_string());
    }
    Ok(outcome)
}
