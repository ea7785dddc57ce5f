//! `chaos export`: load, export with the engine, print or write the manifests.

use super::{EXIT_BAD_INPUT, load_all};
use anyhow::Context;
use chaos_engine::export::{self, Engine};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exports every file; nothing is written unless every file exports.
pub fn run(
    files: &[PathBuf],
    engine: Engine,
    out: Option<&Path>,
    lossy: bool,
    vars: &BTreeMap<String, String>,
) -> anyhow::Result<ExitCode> {
    let Ok(loaded) = load_all(files, vars) else { return Ok(ExitCode::from(EXIT_BAD_INPUT)) };
    let mut exports = Vec::new();
    let mut bad = false;
    for ((exp, topology), file) in loaded.iter().zip(files) {
        match export::export(exp, topology, engine, lossy) {
            Ok(e) => exports.push(e),
            Err(gaps) => {
                bad = true;
                let problems = gaps.iter().map(|g| (g.path.clone(), format!("{}: {}", engine.name(), g.describe())));
                for e in chaos_engine::experiment::locate_in_file(file, vars, problems).0 {
                    eprintln!("error: {e}");
                }
            }
        }
    }
    if bad {
        return Ok(ExitCode::from(EXIT_BAD_INPUT));
    }
    for e in &exports {
        for change in &e.changes {
            eprintln!("warning: {}: changed for {}: {}: {}", e.file_name, engine.name(), change.path, change.message);
        }
    }
    match out {
        None => {
            let mut stdout = std::io::stdout().lock();
            for (i, e) in exports.iter().enumerate() {
                if i > 0 {
                    writeln!(stdout, "---")?;
                }
                stdout.write_all(e.text.as_bytes())?;
            }
        }
        Some(dir) => {
            let files = exports.iter().map(|e| (e.file_name.clone(), e.text.clone().into_bytes()));
            for path in chaos_engine::report::write_files(dir, files)
                .with_context(|| format!("writing to {}", dir.display()))?
            {
                println!("wrote {}", path.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
