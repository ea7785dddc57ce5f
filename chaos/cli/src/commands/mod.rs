//! The subcommands: load input, call the engine, hand results to the printer.

mod export;
mod fault;
mod render;
mod run;
mod serve;
mod shrink;
mod sweep;

use crate::args::{Cli, Command, TargetsAction};
use crate::{live, printer};
use anyhow::Context;
use chaos_engine::{Experiment, ExperimentErrors, Report, load_file, load_file_with};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use targets::Topology;

/// Exit code for bad input or usage (clap uses it too).
pub const EXIT_BAD_INPUT: u8 = 2;

/// Runs the chosen subcommand.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    init_logs(cli.verbose);
    match cli.command {
        Command::Run { files, out, seed, quiet, mutant, dry_run, set, jobs, clock, seeds, shrink, metrics } => {
            if metrics.is_some() && jobs > 1 {
                eprintln!("error: --metrics serves one run at a time: leave --jobs at 1");
                return Ok(ExitCode::from(EXIT_BAD_INPUT));
            }
            let vars = set.into_iter().collect();
            let loaded = match &mutant {
                None => load_all(&files, &vars),
                Some(name) => load_mutants(&files, &vars, Some(name.as_str()).filter(|n| !n.is_empty())),
            };
            let Ok(mut loaded) = loaded else { return Ok(ExitCode::from(EXIT_BAD_INPUT)) };
            if let Some(clock) = clock {
                let mut bad = false;
                for ((exp, _), file) in loaded.iter_mut().zip(&files) {
                    exp.clock = clock.into();
                    if let Some((field, message)) = exp.virtual_conflict() {
                        eprintln!("error: {}: `--clock virtual`: {field}: {message}", file.display());
                        bad = true;
                    }
                }
                if bad {
                    return Ok(ExitCode::from(EXIT_BAD_INPUT));
                }
            }
            if dry_run {
                let mut out = std::io::stdout().lock();
                for (exp, topology) in &loaded {
                    printer::plan(&mut out, exp, topology, seed.unwrap_or(exp.seed))?;
                }
                return Ok(ExitCode::SUCCESS);
            }
            let seeds = match seeds.as_deref().map(chaos_engine::sweep::parse_seeds).transpose() {
                Ok(seeds) => seeds,
                Err(e) => {
                    eprintln!("error: --seeds: {e}");
                    return Ok(ExitCode::from(EXIT_BAD_INPUT));
                }
            };
            let settings = run::Settings { out: &out, seed, quiet, jobs: usize::from(jobs), seeds, shrink, metrics };
            run::run(&loaded, &settings)
        }
        Command::Validate { files, set } => Ok(validate(&files, &set.into_iter().collect())),
        Command::Export { files, to, out, lossy, set } => {
            export::run(&files, to.into(), out.as_deref(), lossy, &set.into_iter().collect())
        }
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "chaos", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { report, format, out } => render::run(&report, format, out.as_deref()),
        Command::Load { url, connections, duration, warmup, rate } => {
            let Ok(url) = url.parse() else {
                eprintln!("error: {}", chaos_engine::http_load::HttpLoadError::Url(url));
                return Ok(ExitCode::from(EXIT_BAD_INPUT));
            };
            let load = chaos_engine::http_load::HttpLoad { url, connections, rate, duration, warmup };
            // One thread, as `wrk -t1`: the target usually shares the machine.
            let one =
                tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the runtime")?;
            match one.block_on(chaos_engine::http_load::run(&load)) {
                Ok(report) => {
                    printer::http_load(&mut std::io::stdout().lock(), &load, &report)?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    Ok(ExitCode::from(EXIT_BAD_INPUT))
                }
            }
        }
        Command::Compare { base, new, max_regression, clocks } => {
            // `--clocks` judges agreement, not regressions: its limits are not used.
            let limits = match clocks {
                true => Ok(Vec::new()),
                false => {
                    chaos_engine::compare::parse_limits(&max_regression).map_err(|e| format!("--max-regression: {e}"))
                }
            };
            match (read_report(&base), read_report(&new), limits) {
                (Ok(b), Ok(n), _) if clocks => compare_clocks(&b, &n),
                (Ok(b), Ok(n), Ok(l)) => compare(&b, &n, &l),
                (b, n, l) => {
                    for e in [b.err(), n.err(), l.err()].into_iter().flatten() {
                        eprintln!("error: {e}");
                    }
                    Ok(ExitCode::from(EXIT_BAD_INPUT))
                }
            }
        }
        Command::Schema { markdown: true } => {
            print!("{}", chaos_engine::experiment_reference());
            Ok(ExitCode::SUCCESS)
        }
        Command::Schema { markdown: false } => {
            println!("{}", serde_json::to_string_pretty(&chaos_engine::experiment_schema())?);
            Ok(ExitCode::SUCCESS)
        }
        Command::List { dir } => list(&dir),
        Command::Shrink { report, out, max_runs } => match read_report(&report) {
            Ok(r) => shrink::shrink(&r, &report, out.as_deref(), max_runs as usize),
            Err(e) => {
                eprintln!("error: {e}");
                Ok(ExitCode::from(EXIT_BAD_INPUT))
            }
        },
        Command::Fault { target, token, action } => fault::run(target, token, action),
        Command::Proxy { listen, upstream, control, seed, tcp: true, .. } => {
            serve::tcp_proxy(listen, &upstream, control, seed)
        }
        Command::Proxy { listen, upstream, control, token, seed, tcp: false, envoy_headers } => {
            let layer =
                chaos_fault::FaultLayer::new(chaos_fault::FaultTable::new()).seed(seed).envoy_headers(envoy_headers);
            serve::proxy(listen, &upstream, control, token, layer)
        }
        Command::Toxiproxy { host, port, config, seed } => serve::toxiproxy(&host, port, config.as_deref(), seed),
        Command::Targets { action: TargetsAction::Up { seed, control, metrics } } => {
            serve::targets_up(seed, control, metrics)
        }
        Command::Instance => {
            runtime()?.block_on(targets::process::run_instance())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Supervise { args } => Ok(ExitCode::from(chaos_engine::deploy::supervise(&args))),
    }
}

fn init_logs(verbose: u8) {
    let default = ["warn", "info", "debug"][usize::from(verbose.min(2))];
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default.into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(live::colours())
        .with_writer(|| live::LogWriter)
        .try_init();
}

/// Loads every file; prints every error of every file.
fn load_all(files: &[PathBuf], vars: &BTreeMap<String, String>) -> Result<Vec<(Experiment, Topology)>, ()> {
    let mut loaded = Vec::new();
    let mut bad = false;
    for file in files {
        match load_file_with(file, vars).and_then(|x| on_its_cluster(file, vars, x)) {
            Ok(x) => loaded.push(x),
            Err(ExperimentErrors(errors)) => {
                bad = true;
                for e in errors {
                    eprintln!("error: {e}");
                }
            }
        }
    }
    if bad { Err(()) } else { Ok(loaded) }
}

/// `loaded` as it is, or what its cluster's engine (`system.kubernetes`) cannot run, at its
/// place in `file`.
fn on_its_cluster(
    file: &Path,
    vars: &BTreeMap<String, String>,
    loaded: (Experiment, Topology),
) -> Result<(Experiment, Topology), ExperimentErrors> {
    let problems = chaos_engine::export::cluster_problems(&loaded.0, &loaded.1);
    if problems.is_empty() { Ok(loaded) } else { Err(chaos_engine::experiment::locate_in_file(file, vars, problems)) }
}

/// Every mutant of every file (or the one named `only`), each loaded with its own variables.
fn load_mutants(
    files: &[PathBuf],
    vars: &BTreeMap<String, String>,
    only: Option<&str>,
) -> Result<Vec<(Experiment, Topology)>, ()> {
    let mut loaded = Vec::new();
    let mut bad = false;
    for file in files {
        let mutants = chaos_engine::load_mutants(file, vars, only);
        match mutants.and_then(|m| m.into_iter().map(|x| on_its_cluster(file, vars, x)).collect()) {
            Ok(mutants) => loaded.extend::<Vec<_>>(mutants),
            Err(ExperimentErrors(errors)) => {
                bad = true;
                errors.iter().for_each(|e| eprintln!("error: {e}"));
            }
        }
    }
    if bad { Err(()) } else { Ok(loaded) }
}

fn validate(files: &[PathBuf], vars: &BTreeMap<String, String>) -> ExitCode {
    match load_all(files, vars) {
        Err(()) => ExitCode::from(EXIT_BAD_INPUT),
        Ok(loaded) => {
            for ((exp, _), file) in loaded.iter().zip(files) {
                println!(
                    "ok {} ({}: {}, {})",
                    file.display(),
                    exp.name,
                    printer::count(exp.faults.len(), "fault"),
                    printer::count(exp.gates.len(), "gate")
                );
            }
            ExitCode::SUCCESS
        }
    }
}

/// A multi-threaded runtime for one command.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")
}

/// A future that resolves on Ctrl-C or SIGTERM. The handlers are installed when this is called
/// (not when first polled), so a signal during start-up is caught too. Call it inside the runtime.
pub(crate) fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt()).ok();
    let mut term = signal(SignalKind::terminate()).ok();
    async move {
        tokio::select! {
            Some(_) = async { int.as_mut()?.recv().await } => {}
            Some(_) = async { term.as_mut()?.recv().await } => {}
            else => std::future::pending::<()>().await,
        }
    }
}

/// Reads a report: `report.json`, or the run folder that holds it.
pub(crate) fn read_report(path: &Path) -> Result<Report, String> {
    let joined;
    let path = if path.is_dir() {
        joined = path.join("report.json");
        &joined
    } else {
        path
    };
    let text = chaos_engine::input::read_text(path, chaos_engine::input::REPORT_MAX_BYTES)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| format!("{}:{}:{}: not a report: {e}", path.display(), e.line(), e.column()))
}

/// `chaos compare BASE NEW`: exit 1 on a regression past its limit.
fn compare(base: &Report, new: &Report, limits: &[chaos_engine::compare::Limit]) -> anyhow::Result<ExitCode> {
    let deltas = chaos_engine::compare::compare(base, new, limits);
    printer::deltas(&mut std::io::stdout().lock(), &deltas)?;
    let regressions = deltas.iter().filter(|d| d.regression).count();
    if regressions > 0 {
        let limits: Vec<String> = limits.iter().map(ToString::to_string).collect();
        eprintln!("regression: {regressions} KPI(s) worse than allowed ({})", limits.join(", "));
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// `chaos compare --clocks REAL VIRTUAL`: exit 1 unless verdicts and KPIs agree.
fn compare_clocks(real: &Report, virt: &Report) -> anyhow::Result<ExitCode> {
    let found = chaos_engine::clocks::agreement(real, virt);
    printer::agreement(&mut std::io::stdout().lock(), &found)?;
    let disagreeing = found.iter().filter(|a| !a.agrees()).count();
    if real.status != virt.status {
        eprintln!("disagree: the verdict is {:?} on the real clock, {:?} on the virtual one", real.status, virt.status);
    }
    if disagreeing > 0 {
        eprintln!("disagree: {disagreeing} KPI(s) outside their tolerance");
    }
    Ok(if real.status != virt.status || disagreeing > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn list(dir: &Path) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect(),
        Err(e) => {
            writeln!(out, "no experiments: cannot read {}: {e}", dir.display())?;
            Vec::new()
        }
    };
    files.sort();
    if !files.is_empty() {
        writeln!(out, "Experiments in {}:", dir.display())?;
    }
    for file in &files {
        match load_file(file) {
            Ok((exp, _)) => writeln!(out, "  {:<28} {}", file.display(), exp.description.lines().next().unwrap_or(""))?,
            Err(_) => writeln!(out, "  {:<28} (invalid: run `chaos validate {}`)", file.display(), file.display())?,
        }
    }
    printer::topology(&mut out, &Topology::default_platform())?;
    Ok(ExitCode::SUCCESS)
}
