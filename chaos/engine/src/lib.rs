//! The experiment engine: the experiment format ([`Experiment`]), the open-loop load generator
//! ([`load`]), the fault [`timeline`], KPIs per phase ([`kpi`]), the [`verdict`] and the
//! [`report`] writers.
//!
//! The engine computes and returns data; it knows nothing of the terminal (the CLI prints) and
//! the exporters know only the [`Report`].
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod abort;
pub mod clocks;
pub mod cohorts;
pub mod compare;
pub mod coverage;
pub mod deploy;
pub mod experiment;
pub mod export;
mod http_error;
pub mod http_load;
pub use experiment::input;
pub mod kpi;
pub mod load;
pub mod metrics;
pub mod probes;
pub mod progress;
pub mod record;
mod reference;
pub mod report;
pub mod requests;
mod run;
pub mod sequential;
pub mod shrink;
pub mod sweep;
pub mod timeline;
pub mod verdict;
mod workload;

pub use experiment::{
    Experiment, ExperimentError, ExperimentErrors, load_file, load_file_with, load_mutants, parse_str, parse_str_with,
};
pub use reference::experiment_reference;
pub use report::Report;

/// The JSON Schema of the experiment format, generated from the same types the parser reads
/// (for editor completion with yaml-language-server).
pub fn experiment_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Experiment)).unwrap_or_default()
}
pub use run::{RunError, RunOptions, run, run_blocking};
