//! Writing exporters' output atomically: each file goes to a temporary name in the target
//! directory and is renamed into place, so a reader never sees half a report.

use super::Report;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Turns a report into the bytes of one file.
pub trait Exporter {
    /// The file's name in the report directory.
    fn file_name(&self) -> &str;
    /// The file's content.
    fn render(&self, report: &Report) -> Vec<u8>;
}

/// `ROOT/<experiment>/<timestamp>/`, the timestamp taken from the report's start.
pub fn report_dir(root: &Path, report: &Report) -> PathBuf {
    root.join(&report.experiment.name).join(stamp(&report.run.started_at))
}

/// A directory name for an RFC 3339 time: `2026-11-28T10:05:52Z` → `20261128T100552Z`.
pub fn stamp(rfc3339: &str) -> String {
    rfc3339.chars().filter(|c| !matches!(c, '-' | ':')).collect()
}

/// Writes every exporter's file into `dir` (created if missing); returns the paths written.
pub fn write_report(dir: &Path, report: &Report, exporters: &[Box<dyn Exporter>]) -> io::Result<Vec<PathBuf>> {
    write_files(dir, exporters.iter().map(|e| (e.file_name().to_string(), e.render(report))))
}

/// Writes each (name, bytes) into `dir` (created if missing), each atomically; returns the paths.
pub fn write_files(dir: &Path, files: impl IntoIterator<Item = (String, Vec<u8>)>) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (name, bytes) in files {
        let path = dir.join(&name);
        let tmp = dir.join(format!(".{name}.tmp"));
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, &path)?;
        written.push(path);
    }
    Ok(written)
}
