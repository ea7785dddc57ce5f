//! `chaos run`: experiments one after another with a live display, or up to `--jobs` at once.
//!
//! Side by side, each experiment has its own platform on its own loopback ports; they share
//! the machine's cores, so latency KPIs carry the others' load (see docs/BENCHMARKS.md, item 6).
//! The live display follows one run, so it is off when more than one runs; each summary is
//! printed in the files' order as soon as it and those before it are done.

use super::runtime;
use crate::{live, printer};
use anyhow::Context;
use chaos_engine::deploy::{InstanceProgram, Supervisor};
use chaos_engine::experiment::Clock;
use chaos_engine::metrics::MetricsBoard;
use chaos_engine::progress::Progress;
use chaos_engine::report::{exporters, report_dir, write_report};
use chaos_engine::verdict::Status;
use chaos_engine::{Experiment, Report, RunError, RunOptions};
use futures_util::stream::{self, StreamExt};
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use targets::Topology;
use tokio::sync::watch;

/// How `chaos run` runs.
pub(crate) struct Settings<'a> {
    pub out: &'a Path,
    pub seed: Option<u64>,
    pub quiet: bool,
    pub jobs: usize,
    /// A seed sweep instead of one run per experiment (see `sweep`).
    pub seeds: Option<Vec<u64>>,
    /// Shrink each failed run (see `shrink`).
    pub shrink: bool,
    /// Where to serve the runs' live series (`--metrics`).
    pub metrics: Option<SocketAddr>,
}

pub(crate) fn run(loaded: &[(Experiment, Topology)], s: &Settings) -> anyhow::Result<ExitCode> {
    if let Some(seeds) = &s.seeds {
        return super::sweep::sweep(loaded, s, seeds);
    }
    let runtime = runtime()?;
    let program = instance_program()?;
    let supervisor = supervisor()?;
    let jobs = s.jobs.max(1);
    let (worst, failed) = runtime.block_on(async {
        let board = Arc::new(MetricsBoard::default());
        let endpoint = match s.metrics {
            None => None,
            Some(addr) => {
                let served = chaos_engine::metrics::serve(addr, board.clone()).await;
                let served = served.with_context(|| format!("--metrics {addr}: cannot listen there"))?;
                if !s.quiet {
                    eprintln!("metrics: {}/metrics", served.url());
                }
                Some(served)
            }
        };
        let signalled = signal_watch();
        let runs = loaded.iter().map(|(exp, topology)| {
            let opts = RunOptions {
                seed: s.seed,
                instance_program: Some(program.clone()),
                supervisor: Some(supervisor.clone()),
                report_root: Some(s.out.to_path_buf()),
                progress: None,
                metrics: endpoint.is_some().then(|| board.clone()),
            };
            let style = (jobs == 1 && !s.quiet).then(|| live::Style::choose(exp.total()));
            one(exp, topology, opts, style, s.quiet, signalled.clone())
        });
        let mut results = stream::iter(runs).buffered(jobs);
        let mut tally = printer::Tally::default();
        let mut failed = Vec::new();
        while let Some(done) = results.next().await {
            let Some(report) = done else { break };
            let report = report?;
            let (status, json) = finish(&report, s)?;
            if s.shrink && status == Status::Failed {
                failed.push((report, json));
            }
            tally.add(status);
        }
        drop(results);
        if let Some(endpoint) = endpoint {
            endpoint.shutdown().await;
        }
        if loaded.len() > 1 {
            printer::tally(&mut std::io::stdout().lock(), &tally, loaded.len())?;
        }
        std::io::stdout().lock().flush()?;
        anyhow::Ok((tally.worst(), failed))
    })?;
    // Shrinking replays on runtimes of its own, outside this one.
    for (report, json) in &failed {
        super::shrink::shrink(report, json, None, super::shrink::DEFAULT_MAX_RUNS)?;
    }
    Ok(ExitCode::from(worst.exit_code()))
}

/// One signal watcher for all of a command's runs: it turns `true` on Ctrl-C or SIGTERM, and
/// each run rolls back while no new one starts. Call it inside the runtime.
pub(super) fn signal_watch() -> watch::Receiver<bool> {
    let (signal_tx, signalled) = watch::channel(false);
    tokio::spawn(async move {
        super::shutdown_signal().await;
        signal_tx.send_replace(true);
    });
    signalled
}

/// Resolves once `signalled` turns `true`: a run's stop.
pub(super) fn stopped(signalled: &watch::Receiver<bool>) -> impl Future<Output = ()> + Send + 'static {
    let mut rx = signalled.clone();
    async move {
        let _ = rx.wait_for(|v| *v).await;
    }
}

/// This binary, serving one instance: for `system: { processes: true }`.
pub(super) fn instance_program() -> anyhow::Result<InstanceProgram> {
    let program = std::env::current_exe().context("locating the chaos binary")?;
    Ok(InstanceProgram { program, args: vec!["__instance".into()] })
}

/// This binary, supervising one of the user's programs: for `system.processes` as a list.
pub(super) fn supervisor() -> anyhow::Result<Supervisor> {
    let program = std::env::current_exe().context("locating the chaos binary")?;
    Ok(Supervisor { program, args: vec!["__supervise".into()] })
}

/// Runs one experiment (unless a signal came first), following it live when `style` is given.
async fn one(
    exp: &Experiment,
    topology: &Topology,
    mut opts: RunOptions,
    style: Option<live::Style>,
    quiet: bool,
    signalled: watch::Receiver<bool>,
) -> Option<Result<Report, RunError>> {
    if *signalled.borrow() {
        return None;
    }
    if !quiet {
        eprintln!("▶ {} — {}", exp.name, printer::plan_line(exp));
    }
    let stop = stopped(&signalled);
    let Some(style) = style else { return Some(execute(exp, topology, opts, stop).await) };
    let (progress, shown) = watch::channel(Progress::default());
    opts.progress = Some(Arc::new(progress));
    let display = tokio::spawn(live::follow(shown, style));
    let report = execute(exp, topology, opts, stop).await;
    let _ = display.await;
    Some(report)
}

/// A real-clock run shares the command's runtime; a virtual-clock one gets a thread and a
/// paused single-threaded runtime of its own (the display follows it from here).
pub(super) async fn execute(
    exp: &Experiment,
    topology: &Topology,
    opts: RunOptions,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<Report, RunError> {
    if exp.clock == Clock::Real {
        return chaos_engine::run(exp, topology, &opts, stop).await;
    }
    let (exp, topology) = (exp.clone(), topology.clone());
    tokio::task::spawn_blocking(move || chaos_engine::run_blocking(&exp, &topology, &opts, stop))
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// Writes a run's report and prints its summary; returns its verdict and its report.json.
fn finish(report: &Report, s: &Settings) -> anyhow::Result<(Status, PathBuf)> {
    let dir = report_dir(s.out, report);
    let written = write_report(&dir, report, &exporters(report))
        .with_context(|| format!("writing the report to {}", dir.display()))?;
    printer::summary(&mut std::io::stdout().lock(), report, &written, s.quiet)?;
    printer::failed_checks(&mut std::io::stderr().lock(), report)?;
    Ok((report.status, dir.join("report.json")))
}
