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
        /// Run each experiment's mutants instead (`--mutant=NAME`: only that one): its
        /// `mutants:` (variables set, guards off), or else the guards it `relies_on` switched
        /// off. A mutant must fail its gates (exit 1), or the experiment proves nothing.
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "", value_name = "NAME")]
        mutant: Option<String>,
        /// Print the resolved plan (load, phases, fault timeline with instances, checks) and
        /// start nothing.
        #[arg(long)]
        dry_run: bool,
        /// Set a variable used as `${KEY}` in the files (before the environment).
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        set: Vec<(String, String)>,
        /// Run up to this many experiments at once, each on its own platform (no live display
        /// then; summaries in the files' order). They share the cores: see docs/BENCHMARKS.md.
        #[arg(short, long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
        jobs: u16,
        /// The clock (overrides the experiments' `clock`): `virtual` runs the platform on an
        /// in-memory network and a paused clock, deterministic and faster than real time.
        #[arg(long, value_enum)]
        clock: Option<ClockArg>,
        /// Sweep seeds: run each experiment once per seed (`1..100`, both ends included; `3,7`)
        /// and report the share whose gates held and the first failing seed, which replays
        /// exactly with `--seed`. Best with `--clock virtual`; `--jobs` seeds at once.
        #[arg(long, value_name = "RANGE", conflicts_with = "seed")]
        seeds: Option<String>,
        /// When a run fails its gate, shrink it (see `chaos shrink`): `shrunk.yaml` in its report
        /// directory.
        #[arg(long, conflicts_with = "seeds")]
        shrink: bool,
        /// Serve the run's live series for Prometheus on ADDR (`GET /metrics`): requests and
        /// their durations per request, the phase, `chaos_experiment_fault_active`, and the
        /// embedded platform's own series. One run at a time: not with `--jobs` above 1.
        #[arg(long, value_name = "ADDR", conflicts_with = "seeds")]
        metrics: Option<SocketAddr>,
    },
    /// Find the smallest fault timeline that still fails a failed run's gate with its seed, by
    /// replaying on the virtual clock (drop steps, shorten windows, lower intensities), and
    /// write it as a runnable experiment. Exit: 0 written, 1 the failure does not happen on the
    /// virtual clock, 2 bad input.
    Shrink {
        /// The failed run's report.json.
        report: PathBuf,
        /// Where to write the experiment (default: shrunk.yaml beside the report).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replays allowed at most.
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        max_runs: u64,
    },
    /// Hand experiments to a cluster's fault engine: a Chaos Mesh Workflow or Istio
    /// VirtualServices following the fault timeline, targets placed by the `kubernetes:`
    /// section. What the engine cannot express is an error naming the field (or, with
    /// `--lossy`, a comment saying what changed). Exit: 0 written, 2 bad input or not
    /// expressible.
    Export {
        /// Experiment files (YAML).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The engine.
        #[arg(long, value_enum)]
        to: EngineArg,
        /// Write each manifest to DIR/<experiment>.<engine>.yaml instead of standard output.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Export what has a close equivalent changed, with a comment saying how, instead of
        /// refusing it.
        #[arg(long)]
        lossy: bool,
        /// Set a variable used as `${KEY}` in the files.
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        set: Vec<(String, String)>,
    },
    /// Check experiment files without running them; every error of a file at once. Exit: 0
    /// valid, 2 not.
    Validate {
        /// Experiment files (YAML).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Set a variable used as `${KEY}` in the files.
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        set: Vec<(String, String)>,
    },
    /// Re-render a run's files from its report.json alone. Exit: 0 done, 2 not a report.
    Report {
        /// The report.json.
        report: PathBuf,
        /// What to render; `all` writes every file of a report.
        #[arg(long, value_enum, default_value = "md")]
        format: ReportFormat,
        /// Write into this directory (atomically) instead of printing; required for `hgrm`/`all`.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Plain HTTP load against one URL, like wrk (closed loop) or wrk2 (`--rate`: open loop,
    /// latency from each request's due time). Exit: 0 done, 2 bad input.
    Load {
        /// `http://HOST:PORT/PATH`.
        url: String,
        /// Connections, each with one request in flight.
        #[arg(short, long, default_value_t = 50)]
        connections: usize,
        /// Measured time, e.g. 10s.
        #[arg(short, long, default_value = "10s", value_parser = humantime::parse_duration)]
        duration: std::time::Duration,
        /// Time sent but not measured, first.
        #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
        warmup: std::time::Duration,
        /// Open loop at this many requests per second.
        #[arg(short, long)]
        rate: Option<f64>,
    },
    /// Print a shell completion script: `chaos completions bash > /etc/bash_completion.d/chaos`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Compare two reports; exit 1 when a KPI of NEW is worse than BASE beyond its limit.
    Compare {
        /// The reference report.json.
        base: PathBuf,
        /// The report.json to judge.
        new: PathBuf,
        /// Limits, e.g. `p99=10%,sps=2%,success=0.5%` (p50 p90 p99 p999 max: TTFF; success:
        /// play success; or any KPI name).
        #[arg(long, default_value = chaos_engine::compare::DEFAULT_LIMITS)]
        max_regression: String,
        /// BASE ran on the real clock and NEW is the same experiment on the virtual clock: exit 1
        /// unless the verdicts are the same and every KPI agrees within its tolerance (see
        /// docs/VIRTUAL_TIME.md); `--max-regression` is not used.
        #[arg(long)]
        clocks: bool,
    },
    /// Print the JSON Schema of the experiment format (for yaml-language-server:
    /// `# yaml-language-server: $schema=chaos-experiment.schema.json`).
    Schema {
        /// Print the field-by-field reference in Markdown instead (docs/EXPERIMENT_FORMAT.md).
        #[arg(long)]
        markdown: bool,
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
        /// A TCP proxy (any protocol: Redis, PostgreSQL, …) with Toxiproxy's toxics instead of
        /// the HTTP one; `--upstream` is `host:port`, and `--control` serves Toxiproxy's API with
        /// this proxy under the name `proxy`.
        #[arg(long)]
        tcp: bool,
        /// Honour Envoy's header-controlled faults (`x-envoy-fault-abort-request`,
        /// `-abort-grpc-request`, `-delay-request`, `-throughput-response`, `…-percentage`), so
        /// that tests written against Envoy's fault filter run unchanged.
        #[arg(long, conflicts_with = "tcp")]
        envoy_headers: bool,
    },
    /// A drop-in Toxiproxy server: its HTTP API (proxies, toxics, populate, reset, version) over
    /// TCP proxies with its toxics, for Toxiproxy's clients and the tools built on them. Runs
    /// until Ctrl-C or SIGTERM. Exit: 0 stopped, 2 bad input (a port taken, a bad --config).
    Toxiproxy {
        /// Host to listen on (Toxiproxy's flag).
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// Port to listen on (Toxiproxy's flag and default).
        #[arg(long, default_value_t = 8474)]
        port: u16,
        /// A JSON list of proxies to create at start, as Toxiproxy's `-config` reads it.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Seed of the toxics' draws (toxicity, jitter, slices).
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Serve one instance described on stdin (used by process mode; not for people).
    #[command(name = "__instance", hide = true)]
    Instance,
    /// Run one of an experiment's programs and kill its process group when stdin closes (used
    /// for `system.processes`; not for people).
    #[command(name = "__supervise", hide = true)]
    Supervise {
        /// `--stdout F --stderr F --cwd DIR -- PROGRAM ARGS...`
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
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
    /// Start the default platform, its control API and its Prometheus endpoint, print their
    /// URLs, wait for Ctrl-C.
    Up {
        /// Seed of every instance.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Address of the control API.
        #[arg(long, default_value = "127.0.0.1:7474")]
        control: SocketAddr,
        /// Address of the platform-wide Prometheus endpoint (`/metrics`; each instance serves
        /// its own too).
        #[arg(long, default_value = "127.0.0.1:9464")]
        metrics: SocketAddr,
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

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').ok_or_else(|| format!("`{s}`: expected KEY=VALUE"))?;
    Ok((k.to_string(), v.to_string()))
}

/// Parses `std::env::args`; exits with 2 and clap's message on a usage error.
pub fn parse() -> Cli {
    Cli::parse()
}

/// `chaos export --to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineArg {
    /// A Chaos Mesh Workflow (HTTPChaos, PodChaos, NetworkChaos, StatusCheck).
    ChaosMesh,
    /// Istio VirtualServices with fault.delay / fault.abort.
    Istio,
}

impl From<EngineArg> for chaos_engine::export::Engine {
    fn from(e: EngineArg) -> Self {
        match e {
            EngineArg::ChaosMesh => Self::ChaosMesh,
            EngineArg::Istio => Self::Istio,
        }
    }
}

/// `--clock`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ClockArg {
    /// Loopback sockets and the wall clock.
    Real,
    /// An in-memory network and tokio's paused clock, on one thread.
    Virtual,
}

impl From<ClockArg> for chaos_engine::experiment::Clock {
    fn from(c: ClockArg) -> Self {
        match c {
            ClockArg::Real => Self::Real,
            ClockArg::Virtual => Self::Virtual,
        }
    }
}

/// The files `chaos report` renders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// report.md: verdict, gates, KPIs per phase.
    Md,
    /// report.html: one self-contained page with charts.
    Html,
    /// junit.xml: each check a test case.
    Junit,
    /// report.json, normalised.
    Json,
    /// One .hgrm per histogram (TTFF and home per phase, each service).
    Hgrm,
    /// Every file.
    All,
}
