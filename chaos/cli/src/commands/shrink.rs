//! `chaos shrink REPORT.json` and `chaos run --shrink`: the smallest fault timeline that still
//! fails the run's gate, written as a runnable experiment.

use super::EXIT_BAD_INPUT;
use anyhow::Context;
use chaos_engine::Report;
use chaos_engine::report::write_files;
use chaos_engine::shrink::{Shrink, ShrinkError};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// Replays `chaos shrink` allows by default.
pub const DEFAULT_MAX_RUNS: usize = 60;

/// Shrinks the run of `report` (read from `source`) and writes the reproduction to `out`
/// (default: `shrunk.yaml` beside the report). Exit 0 written, 1 not reproduced, 2 bad input.
pub(crate) fn shrink(report: &Report, source: &Path, out: Option<&Path>, max_runs: usize) -> anyhow::Result<ExitCode> {
    // The experiment as it ran, parsed again: its topology (guards switched off included) is
    // rebuilt from the same text a user could run.
    let base = report.experiment.file.as_deref().or(report.file.as_deref().map(Path::new)).and_then(Path::parent);
    let mut experiment = report.experiment.clone();
    experiment.system.topology = absolute_topology(&experiment.system.topology, base);
    let yaml = serde_yaml::to_string(&experiment)?;
    let label = source.display().to_string();
    let (experiment, topology) = match chaos_engine::parse_str(&yaml, &label, Path::new(".")) {
        Ok(x) => x,
        Err(errors) => {
            eprintln!("error: {label}: the experiment in this report does not load any more: {errors}");
            return Ok(ExitCode::from(EXIT_BAD_INPUT));
        }
    };
    let job = match Shrink::of(report, &experiment, &topology, max_runs) {
        Ok(job) => job,
        Err(e) => {
            eprintln!("error: {label}: {e}");
            return Ok(ExitCode::from(EXIT_BAD_INPUT));
        }
    };
    eprintln!(
        "shrinking: `{}` of {} (seed {}), replaying on the virtual clock (at most {max_runs} replays)",
        job.gate, report.experiment.name, report.seed
    );
    let started = Instant::now();
    let shrunk = match job.run(|line| eprintln!("  {line}")) {
        Ok(s) => s,
        Err(e @ ShrinkError::NotReproduced(_)) => {
            eprintln!("not reproduced: {e}");
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e.into()),
    };
    let path = out.map_or_else(|| source.with_file_name("shrunk.yaml"), Path::to_path_buf);
    let header = format!(
        "# Written by `chaos shrink {}`: fails `{}` with seed {}.\n# Replay: chaos run {}\n",
        source.display(),
        shrunk.gate,
        shrunk.experiment.seed,
        path.display()
    );
    let text = header + &serde_yaml::to_string(&shrunk.experiment)?;
    let (dir, name) = (path.parent().unwrap_or(Path::new(".")), path.file_name().context("--out names a file")?);
    write_files(dir, [(name.to_string_lossy().to_string(), text.into_bytes())])
        .with_context(|| format!("writing {}", path.display()))?;
    let changes = if shrunk.changes.is_empty() { "nothing could go".to_string() } else { shrunk.changes.join("; ") };
    println!(
        "{}: {changes} ({} replays in {:.1} s)",
        report.experiment.name,
        shrunk.runs,
        started.elapsed().as_secs_f64()
    );
    println!("  → {} fails `{}`", path.display(), shrunk.gate);
    Ok(ExitCode::SUCCESS)
}

/// A topology file named relative to the experiment, made absolute so the reproduction runs
/// from anywhere; `default` and `synthetic:N` stay.
fn absolute_topology(topology: &str, base: Option<&Path>) -> String {
    if topology == "default" || topology.starts_with("synthetic:") || Path::new(topology).is_absolute() {
        return topology.to_string();
    }
    let joined: PathBuf = base.unwrap_or(Path::new(".")).join(topology);
    std::fs::canonicalize(&joined).unwrap_or(joined).display().to_string()
}
