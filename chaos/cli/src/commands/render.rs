//! `chaos report`: re-renders a run's files from its report.json alone.

use super::{EXIT_BAD_INPUT, read_report};
use crate::args::ReportFormat;
use chaos_engine::report::{Exporter, Hgrm, Html, Json, Junit, Markdown, exporters, write_report};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

pub fn run(path: &Path, format: ReportFormat, out: Option<&Path>) -> anyhow::Result<ExitCode> {
    let report = match read_report(path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(EXIT_BAD_INPUT));
        }
    };
    let chosen: Vec<Box<dyn Exporter>> = match format {
        ReportFormat::Md => vec![Box::new(Markdown)],
        ReportFormat::Html => vec![Box::new(Html)],
        ReportFormat::Junit => vec![Box::new(Junit)],
        ReportFormat::Json => vec![Box::new(Json)],
        ReportFormat::Hgrm => Hgrm::all(&report).into_iter().map(|h| Box::new(h) as Box<dyn Exporter>).collect(),
        ReportFormat::All => exporters(&report),
    };
    match (out, chosen.as_slice()) {
        (Some(dir), _) => {
            for written in write_report(dir, &report, &chosen)? {
                println!("{}", written.display());
            }
        }
        (None, [one]) => std::io::stdout().lock().write_all(&one.render(&report))?,
        (None, _) => {
            eprintln!("error: --format {format:?} makes several files: give --out DIR");
            return Ok(ExitCode::from(EXIT_BAD_INPUT));
        }
    }
    Ok(ExitCode::SUCCESS)
}
