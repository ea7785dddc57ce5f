//! Command-line arguments (clap). Usage errors exit with 2.

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
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
        /// Run each experiment's mutant: the guards it `relies_on` switched off. A mutant must
        /// fail its gates (exit 1), or the experiment proves nothing.
        #[arg(long)]
        mutant: bool,
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
    /// Manage the rules of running instances through their control API.
    /// Exit: 0 done, 2 bad input (here or refused by the API), 4 control API unreachable.
    Fault {
        /// The control API's base URL, e.g. http://127.0.0.1:7474.
        #[arg(long, global = true, env = "CHAOS_CONTROL")]
        target: Option<String>,
        /// Bearer token for the control API.
        #[arg(long, global = true, env = "CHAOS_TOKEN")]
        token: Option<String>,
        /// What to do.
        #[command(subcommand)]
        action: FaultAction,
    },
    /// Put the fault layer in front of any HTTP service, as a reverse proxy.
    Proxy {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// The service to forward to, e.g. http://127.0.0.1:3000.
        #[arg(long)]
        upstream: String,
        /// Address of the control API.
        #[arg(long, default_value = "127.0.0.1:7474")]
        control: SocketAddr,
        /// Bearer token for the control API (required when it is not on loopback).
        #[arg(long, env = "CHAOS_TOKEN")]
        token: Option<String>,
        /// Seed of the proxy's random draws.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Serve one instance described on stdin (used by process mode; not for people).
    #[command(name = "__instance", hide = true)]
    Instance,
    /// Run the simulated platform for exploration until Ctrl-C.
    Targets {
        /// What to do.
        #[command(subcommand)]
        action: TargetsAction,
    },
}

/// `chaos targets` actions.
#[derive(Debug, Subcommand)]
pub enum TargetsAction {
    /// Start the default platform and its control API, print their URLs, wait for Ctrl-C.
    Up {
        /// Seed of every instance.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Address of the control API.
        #[arg(long, default_value = "127.0.0.1:7474")]
        control: SocketAddr,
    },
}

/// `chaos fault` actions.
#[derive(Debug, Subcommand)]
pub enum FaultAction {
    /// Add a rule to an instance (`*`: every instance).
    Add {
        /// The instance, e.g. license-0, or `*`.
        #[arg(long, default_value = "*")]
        instance: String,
        /// The rule's id.
        #[arg(long)]
        id: String,
        /// The fault, as YAML or JSON: `{ latency: { fixed: 200ms } }`, `reset`, ...
        #[arg(long)]
        fault: String,
        /// The scope, as YAML or JSON: `{ probability: 0.5, route: /license }`.
        #[arg(long)]
        scope: Option<String>,
        /// Remove the rule by itself after this long, e.g. 30s.
        #[arg(long)]
        ttl: Option<String>,
    },
    /// List instances and their rules.
    List,
    /// Remove a rule.
    Rm {
        /// The instance, or `*`.
        #[arg(long, default_value = "*")]
        instance: String,
        /// The rule's id.
        id: String,
    },
    /// Remove every rule of every instance (halt all).
    Reset,
}

/// Parses `std::env::args`; exits with 2 and clap's message on a usage error.
pub fn parse() -> Cli {
    Cli::parse()
}
