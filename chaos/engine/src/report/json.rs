//! `report.json`.

use super::{Exporter, Report};

/// Pretty-printed JSON of the whole [`Report`].
pub struct Json;

impl Exporter for Json {
    fn file_name(&self) -> &str {
        "report.json"
    }

    fn render(&self, report: &Report) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(report).expect("a report always serializes");
        out.push(b'\n');
        out
    }
}
