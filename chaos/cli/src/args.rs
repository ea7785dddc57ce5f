//! Command-line arguments (clap). Usage errors exit with 2.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Chaos experiments against a simulated streaming platform: inject faults, press Play, gate CI.
#[derive(Debug, Parser)]
#[command(name = "chaos", version, about, long_about = None)]
pub struct Cli {
    /// More logs on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run experiments and write their reports. Exit: 0 all gates held, 1 a gate failed,
    /// 2 bad input, 3 aborted.
    Run {
        /// Experiment files (YAML).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Root of the report directories: reports go to OUT/<experiment>/<timestamp>/.
        #[arg(long, default_value = "reports")]
        out: PathBuf,
        /// Seed for every random draw (overrides the experiments' `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Print only the verdict lines.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Check experiment files without running them. Exit: 0 valid, 2 not.
    Validate {
        /// Experiment files (YAML).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List the shipped experiments and the services of the default topology.
    List {
        /// Where the experiments are.
        #[arg(long, default_value = "experiments")]
        dir: PathBuf,
    },
}

/// Parses `std::env::args`; exits with 2 and clap's message on a usage error.
pub fn parse() -> Cli {
    Cli::parse()
}
