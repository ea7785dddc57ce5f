//! [`run`]: one experiment from start to verdict — platform up, open-loop play sessions,
//! fault timeline, hypothesis and gates, report.

use crate::abort;
use crate::cohorts::{self, Side};
use crate::coverage::PlayerGuards;
use crate::deploy::{Deployment, InstanceProgram, ManagedSpec, ManagedSystem, Supervisor};
use crate::experiment::{Clock, Experiment, SystemKind};
use crate::kpi::{Kpi, Phase, PhaseStats, Workload};
use crate::load::{self, LoadStats, Schedule};
use crate::metrics::{MetricsBoard, RunPhase};
use crate::probes::{self, ProbeLog, ProbeResult, Reader};
use crate::progress::Progress;
use crate::record::{PhaseBounds, Recorder};
use crate::report::{
    LoadReport, Percentiles, PhaseReport, Report, RequestReport, RunInfo, SCHEMA_VERSION, ServiceReport, hgrm,
};
use crate::sequential;
use crate::timeline::{Stop, Timeline};
use crate::verdict::{self, CheckKind, Outcome};
use crate::workload::http::HttpSessions;
use crate::workload::play::PlaySessions;
use crate::workload::stream::StreamSessions;
use chaos_fault::server::{MemNet, Net};
use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use targets::{PlatformError, PlaybackClient, Topology};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::Instrument;

/// Why the faults (and the load) stopped before their time: one value, decided where it
/// happens and read everywhere else.
#[derive(Clone, Debug, PartialEq)]
enum Halt {
    /// Ctrl-C or SIGTERM.
    Signal,
    /// The steady state did not hold before the first fault.
    Unsteady(String),
    /// An abort condition fired.
    AbortCondition(String),
    /// A fault could not be applied or removed.
    FaultFailed(String),
    /// The sequential test decided early: not an abort.
    Decided,
}

impl Halt {
    /// The report's `abort_reason`: every halt but an early decision aborts the run.
    fn abort_reason(&self) -> Option<String> {
        match self {
            Halt::Signal => Some("interrupted by a signal".into()),
            Halt::Unsteady(r) | Halt::FaultFailed(r) | Halt::AbortCondition(r) => Some(r.clone()),
            Halt::Decided => None,
        }
    }
}

/// How to run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Overrides the experiment's seed.
    pub seed: Option<u64>,
    /// The program that serves one instance, for `system: { processes: true }`.
    pub instance_program: Option<InstanceProgram>,
    /// The program that supervises the user's programs (`system.processes` as a list).
    pub supervisor: Option<Supervisor>,
    /// Where reports go: the user's programs write their logs into the run's report folder
    /// below it (`ROOT/<name>/<stamp>/logs/`); without it, into the system's temporary folder.
    pub report_root: Option<PathBuf>,
    /// Where to publish [`Progress`] snapshots (four a second) while the run goes on.
    pub progress: Option<Arc<watch::Sender<Progress>>>,
    /// Where to show the run's live series (`--metrics`), refreshed four times a second.
    pub metrics: Option<Arc<MetricsBoard>>,
}

/// Why a run could not happen at all (a run that happens always gives a report).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The platform did not start.
    #[error("the platform did not start: {0}")]
    Platform(#[from] PlatformError),
    /// The runtime could not be built.
    #[error("cannot start a runtime: {0}")]
    Runtime(std::io::Error),
    /// The experiment cannot run on the virtual clock.
    #[error("cannot run on the virtual clock: {0}")]
    NotVirtual(String),
    /// Process mode was asked for without a program to run instances.
    #[error("`system: {{ processes: true }}` needs the chaos binary to start instances (run it with `chaos run`)")]
    NoInstanceProgram,
    /// A declared part of the user's system did not come up, or a fault target is not there.
    #[error("the system under test is not all there: {0}")]
    TargetMissing(String),
}

/// Runs `exp` on `topology`. `stop` resolving (Ctrl-C, SIGTERM) ends the run early: faults are
/// rolled back and the report is marked aborted. Logs go to `tracing`, in an `experiment` span.
pub async fn run(
    exp: &Experiment,
    topology: &Topology,
    opts: &RunOptions,
    stop: impl Future<Output = ()>,
) -> Result<Report, RunError> {
    let seed = opts.seed.unwrap_or(exp.seed);
    let span = tracing::info_span!("experiment", name = %exp.name, seed);
    run_in_span(exp, topology, opts, seed, stop).instrument(span).await
}

/// Runs `exp` on the calling thread, on a runtime of its own: on the virtual clock (the
/// experiment's `clock: virtual`) a current-thread runtime whose clock is paused and jumps to
/// the next timer whenever every task waits, so the run takes the CPU time it needs rather than
/// its length. `stop` may come from another runtime (a signal watcher).
pub fn run_blocking(
    exp: &Experiment,
    topology: &Topology,
    opts: &RunOptions,
    stop: impl Future<Output = ()>,
) -> Result<Report, RunError> {
    let runtime = match exp.clock {
        Clock::Real => tokio::runtime::Builder::new_multi_thread().enable_all().build(),
        // Timers only: a virtual run has no sockets (`Experiment::virtual_conflict`), and without
        // an IO driver a jump of the paused clock (up to one per millisecond of virtual time, the
        // timer's grain) is not an `epoll_wait` system call.
        Clock::Virtual => tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build(),
    };
    let runtime = runtime.map_err(RunError::Runtime)?;
    runtime.block_on(run(exp, topology, opts, stop))
}

async fn run_in_span(
    exp: &Experiment,
    topology: &Topology,
    opts: &RunOptions,
    seed: u64,
    stop: impl Future<Output = ()>,
) -> Result<Report, RunError> {
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let wall = std::time::Instant::now();
    if let Some((field, message)) = exp.virtual_conflict() {
        return Err(RunError::NotVirtual(format!("{field}: {message}")));
    }
    let probes = exp.steady_state.iter().chain(&exp.gates).filter_map(|c| c.probe.as_ref());
    let probes = probes.chain(exp.abort.iter().filter_map(|a| a.probe.as_ref()));
    Reader::new(exp.base_dir().to_path_buf()).check_servers(probes).await.map_err(RunError::TargetMissing)?;
    let net = match exp.clock {
        Clock::Real => Net::Tcp,
        Clock::Virtual => Net::Mem(MemNet::new()),
    };
    let platform = start(exp, topology, opts, seed, &net, &started_at).await?;
    let platform_start_s = wall.elapsed().as_secs_f64();
    tracing::info!(edge = %platform.edge_url(), platform_start_s, "system up");
    // Nothing passes by accident: every target must be there before the load starts.
    if let Err(missing) = check_targets(exp, topology, &platform).await {
        platform.shutdown().await;
        return Err(RunError::TargetMissing(missing));
    }
    let driven = drive(exp, topology, opts, seed, &net, &platform, stop).await;
    platform.heal().await;
    let fault_metrics = platform.fault_metrics().await;
    let (services, guards) = platform.stats().await;
    platform.shutdown().await;
    let judged = judge(exp, &driven, &guards);
    tracing::info!(status = ?judged.verdict.status, wall_s = wall.elapsed().as_secs_f64(), "run finished");
    let run = RunInfo { started_at, wall_time_s: wall.elapsed().as_secs_f64(), platform_start_s };
    Ok(assemble(exp, seed, run, driven, judged, Observed { services, guards, fault_metrics }))
}

/// What the system's own counters said after the run.
struct Observed {
    services: BTreeMap<String, targets::StatsSnapshot>,
    guards: Vec<targets::GuardStats>,
    fault_metrics: BTreeMap<String, chaos_fault::FaultMetrics>,
}

/// Brings the system up: the embedded platform (in this process or as processes), the external
/// system's handle, or the user's programs and proxies.
async fn start(
    exp: &Experiment,
    topology: &Topology,
    opts: &RunOptions,
    seed: u64,
    net: &Net,
    started_at: &str,
) -> Result<Deployment, RunError> {
    let sys = &exp.system;
    Ok(match sys.kind(&exp.load) {
        SystemKind::External => {
            Deployment::External(crate::deploy::ExternalSystem::new(sys.external.as_ref().expect("kind External")))
        }
        SystemKind::Managed => {
            let base = exp.base_dir();
            let root = opts.report_root.clone().unwrap_or_else(std::env::temp_dir);
            let logs = root.join(&exp.name).join(crate::report::stamp(started_at)).join("logs");
            let spec = ManagedSpec {
                programs: sys.processes.programs(),
                proxies: &sys.proxies,
                control: &sys.control,
                base,
                logs: &logs,
            };
            let managed = ManagedSystem::start(&spec, opts.supervisor.as_ref(), seed).await;
            Deployment::Managed(managed.map_err(RunError::TargetMissing)?)
        }
        SystemKind::Kubernetes => Deployment::Kubernetes(on_cluster(exp, topology)?),
        SystemKind::Embedded => {
            let program = match (sys.processes.platform(), &opts.instance_program) {
                (false, _) => None,
                (true, Some(p)) => Some(p),
                (true, None) => return Err(RunError::NoInstanceProgram),
            };
            Deployment::start(topology, seed, program, net).await?
        }
    })
}

/// The cluster of `system.kubernetes` and each fault step's resource.
fn on_cluster(exp: &Experiment, topology: &Topology) -> Result<crate::deploy::KubernetesSystem, RunError> {
    let spec = exp.system.kubernetes.as_ref().expect("kind Kubernetes");
    // The validator refuses the gaps; this is for an experiment built in code.
    let steps = crate::export::steps(exp, topology, spec.engine, spec.lossy).map_err(|gaps| {
        let gaps: Vec<String> = gaps.iter().map(ToString::to_string).collect();
        RunError::TargetMissing(format!("{} cannot put every step in place: {}", spec.engine.title(), gaps.join("; ")))
    })?;
    let kubectl = crate::deploy::Kubectl::new(&spec.kubectl, &spec.context, exp.base_dir());
    Ok(crate::deploy::KubernetesSystem::new(kubectl, steps))
}

/// What driving the load and the timeline left.
struct Driven {
    recorder: Arc<Recorder>,
    bounds: PhaseBounds,
    /// Measured time actually run (shorter when the run stopped early).
    measured: Duration,
    rate: f64,
    load: LoadStats,
    events: Vec<crate::timeline::TimelineEvent>,
    halt: Option<Halt>,
    sequential: Option<sequential::SequentialResult>,
    abort: Option<crate::abort::AbortFired>,
    /// The probe checks judged, hypothesis then gates.
    probes: Vec<ProbeResult>,
}

/// Runs the workload on its schedule while the timeline applies and removes the faults, and
/// the watchers (progress, sequential test, abort conditions) look on.
/// The system's targets, and a stream's manifest: read and playable.
async fn check_targets(exp: &Experiment, topology: &Topology, platform: &Deployment) -> Result<(), String> {
    platform.check_targets().await?;
    if let Some(stream) = &exp.load.player {
        stream.viewer(topology.player.clone()).load().await.map_err(|e| format!("load.player.manifest: {e}"))?;
    }
    Ok(())
}

async fn drive(
    exp: &Experiment,
    topology: &Topology,
    opts: &RunOptions,
    seed: u64,
    net: &Net,
    platform: &Deployment,
    stop: impl Future<Output = ()>,
) -> Driven {
    let rate = exp.load.start_rate();
    let end_rate = exp.load.ramp_to.map_or(rate, |r| r.0);
    let schedule = Schedule {
        rate,
        end_rate,
        viewers: exp.load.viewers.map(|v| v as usize),
        start: Instant::now() + Duration::from_millis(50),
        duration: exp.total(),
        max_in_flight: ((rate.max(end_rate) * 10.0) as usize).max(256),
    };
    let (load_start, origin) = (schedule.start, schedule.start + exp.load.warmup);
    let bounds = PhaseBounds { duration: exp.load.duration, faults: exp.fault_window() };
    let metrics = opts.metrics.as_ref().map(|board| board.start(exp, platform.prometheus()));
    let metrics = metrics.as_ref();
    let recorder = Arc::new(Recorder::new(origin, bounds).with_metrics(metrics.cloned()));
    let reader = Reader::new(exp.base_dir().to_path_buf());
    let probe_log = probe_log(exp, &bounds);

    // Faults stop (and roll back) on a signal, an unsteady start, a fault that cannot be
    // applied, or an abort condition; the load stops on any of those but the last, which lets
    // it go on for `recovery` first.
    let (halt_faults, faults_halted) = watch::channel(None::<Halt>);
    let (halt_load, load_halted) = watch::channel(false);
    let (load_finished, load_done) = watch::channel(false);
    let until = |rx: &watch::Receiver<bool>| {
        let mut rx = rx.clone();
        async move {
            let _ = rx.wait_for(|v| *v).await;
        }
    };
    let until_faults_halted = || {
        let mut rx = faults_halted.clone();
        async move {
            let _ = rx.wait_for(Option::is_some).await;
        }
    };
    let halt = |why: Halt| {
        halt_faults.send_if_modified(|h| h.is_none() && h.replace(why).is_none());
    };
    let timeline = Timeline::new(exp, topology, seed);
    let publish = async {
        if opts.progress.is_none() && metrics.is_none() {
            return;
        }
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let done = until(&load_done);
        tokio::pin!(done);
        loop {
            tokio::select! {
                biased;
                _ = tick.tick() => {}
                _ = &mut done => break,
            }
            let elapsed = Instant::now().saturating_duration_since(load_start);
            let workload = exp.load.workload();
            let progress =
                Progress::sample(workload, &recorder, elapsed, exp.load.warmup, exp.total(), timeline.active());
            if let Some(m) = metrics {
                m.set_phase(progress.phase.map_or(RunPhase::Warmup, RunPhase::Measured));
                m.set_faults(&timeline.active_steps());
            }
            if let Some(tx) = &opts.progress {
                tx.send_replace(progress);
            }
        }
        if let Some(m) = metrics {
            m.set_phase(RunPhase::Done);
        }
    };
    let load = async {
        let stats = match (exp.load.workload(), &exp.load.player) {
            (Workload::Play, Some(stream)) => {
                let sessions =
                    StreamSessions { player: stream.viewer(topology.player.clone()), recorder: recorder.clone() };
                load::drive(schedule, &sessions, until(&load_halted)).await
            }
            (Workload::Play, None) => {
                let mut device = topology.player.clone();
                device.watch_segments = exp.load.watch_segments.unwrap_or(device.watch_segments);
                let flows = &exp.load.flows;
                let sessions = PlaySessions {
                    player: PlaybackClient::on(net, platform.edge_url(), device),
                    recorder: recorder.clone(),
                    seed,
                    cohorts: exp.cohorts.clone(),
                    browse: flows.browse / (flows.play + flows.browse),
                    users: exp.load.users,
                };
                load::drive(schedule, &sessions, until(&load_halted)).await
            }
            (Workload::Http, _) => {
                let (users, cohorts) = (exp.load.users, exp.cohorts.clone());
                let sessions = HttpSessions::new(&exp.load.http, recorder.clone(), seed, users, cohorts);
                load::drive(schedule, &sessions, until(&load_halted)).await
            }
        };
        load_finished.send_replace(true);
        stats
    };
    let sample_probes = probe_log.run(&reader, origin, until(&load_done));
    let faults = async {
        let precheck = || {
            let mut failed = steady_before(exp, &recorder);
            failed.extend(probe_log.unsteady_before());
            if failed.is_empty() {
                Ok(())
            } else {
                Err(format!("steady state not met before the faults: {}", failed.join("; ")))
            }
        };
        let (events, stopped) = timeline.run(platform, origin, precheck, until_faults_halted()).await;
        let why = match stopped {
            None | Some(Stop::Halted) => None,
            Some(Stop::Unsteady(r)) => Some(Halt::Unsteady(r)),
            Some(Stop::FaultFailed(r)) => Some(Halt::FaultFailed(r)),
        };
        if let Some(why) = why {
            tracing::warn!(reason = ?why, "the fault timeline stopped");
            halt(why);
            halt_load.send_replace(true);
        }
        events
    };
    let decide = async {
        let phase = if exp.faults.is_empty() { Phase::Run } else { Phase::Faults };
        let decided =
            sequential::watch(exp.sequential.as_ref(), exp.load.workload(), phase, &recorder, until(&load_done))
                .await?;
        tracing::info!(at_s = decided.at_s, decision = ?decided.decision, "the sequential test decided");
        halt(Halt::Decided);
        halt_load.send_replace(true);
        Some(decided)
    };
    let watch_abort = async {
        let kpis = abort::watch(&exp.abort, &recorder, until(&load_done));
        let probes = probes::watch_abort(&exp.abort, &reader, origin, until(&load_done));
        let fired = tokio::select! {
            Some(fired) = kpis => fired,
            Some(fired) = probes => fired,
            else => return None,
        };
        tracing::warn!(condition = %fired.condition, at_s = fired.at_s, "abort condition fired");
        let seen = fired.detail.as_ref().map(|d| format!(" ({d})")).unwrap_or_default();
        halt(Halt::AbortCondition(format!("abort condition `{}` fired at {:.1}s{seen}", fired.condition, fired.at_s)));
        let recovery = tokio::time::sleep(Duration::from_secs_f64(fired.recovery_s));
        tokio::select! {
            biased;
            _ = recovery => {}
            _ = until(&load_done) => {}
        }
        halt_load.send_replace(true);
        Some(fired)
    };
    let ((), (), load, events, sequential, abort) = {
        let work = async { tokio::join!(publish, sample_probes, load, faults, decide, watch_abort) };
        tokio::pin!(work, stop);
        let mut signalled = false;
        loop {
            tokio::select! {
                biased;
                done = &mut work => break done,
                _ = &mut stop, if !signalled => {
                    signalled = true;
                    tracing::warn!("interrupted by a signal: rolling back");
                    halt(Halt::Signal);
                    halt_load.send_replace(true);
                }
            }
        }
    };
    let halt = faults_halted.borrow().clone();
    if let Some(m) = metrics {
        m.set_faults(&timeline.active_steps());
    }
    let measured = Instant::now().saturating_duration_since(origin).min(exp.load.duration);
    let probes = [probe_log.judge(CheckKind::SteadyState), probe_log.judge(CheckKind::Gate)].concat();
    Driven { recorder, bounds, measured, rate, load, events, halt, sequential, abort, probes }
}

/// The experiment's probe checks, each with the phases it covers and their spans.
fn probe_log<'a>(exp: &'a Experiment, bounds: &PhaseBounds) -> ProbeLog<'a> {
    let checks = exp.steady_state.iter().map(|c| (CheckKind::SteadyState, c));
    let checks = checks.chain(exp.gates.iter().map(|c| (CheckKind::Gate, c)));
    ProbeLog::new(checks.map(|(kind, c)| {
        let spans = verdict::phases(exp, c, kind).into_iter().filter_map(|p| Some((p, bounds.span(p)?))).collect();
        (kind, c, spans)
    }))
}

/// The figures, the checks and the verdict of a driven run.
struct Judged {
    phases: Vec<PhaseReport>,
    histograms: BTreeMap<String, String>,
    steady_state: Vec<verdict::CheckResult>,
    gates: Vec<verdict::CheckResult>,
    coverage: Vec<crate::coverage::CoverageResult>,
    cohorts: Option<crate::cohorts::CohortReport>,
    verdict: verdict::Verdict,
}

/// Computes each phase's KPIs, checks the hypothesis, the gates, the guards' coverage and the
/// cohorts, and decides the verdict: the one place that does.
fn judge(exp: &Experiment, d: &Driven, guards: &[targets::GuardStats]) -> Judged {
    let workload = exp.load.workload();
    let mut phases = Vec::new();
    let mut histograms = BTreeMap::new();
    let mut stats_of = BTreeMap::new();
    for phase in Phase::ALL {
        let Some((from, to)) = d.bounds.span(phase) else { continue };
        let to = to.min(d.measured.max(from));
        let stats = d.recorder.phase(phase);
        let secs = (to - from).as_secs_f64();
        match workload {
            Workload::Play => {
                histograms.insert(format!("ttff/{phase}"), hgrm::encode(&stats.ttff_us));
                // A real stream's viewers open no home page.
                if exp.load.player.is_none() {
                    histograms.insert(format!("home/{phase}"), hgrm::encode(&stats.home_us));
                }
            }
            Workload::Http => {
                for (name, r) in stats.http.iter().flat_map(|h| &h.by_name) {
                    histograms.insert(format!("request/{name}/{phase}"), hgrm::encode(&r.latency_us));
                }
                if let Some(h) = &stats.http {
                    histograms.insert(format!("requests/{phase}"), hgrm::encode(&h.all.latency_us));
                }
            }
        }
        phases.push(phase_report(phase, (from, to), &stats, workload));
        stats_of.insert(phase, (stats, secs));
    }
    let measured = |phase, (kpi, request): verdict::KpiOf<'_>| {
        let (stats, secs) = stats_of.get(&phase)?;
        stats.value(kpi, request, *secs)
    };
    let windowed = |phase, kpi: verdict::KpiOf<'_>, window, lower_is_worse| {
        let (from, to) = d.bounds.span(phase)?;
        d.recorder.worst_window(from, to.min(d.measured), kpi, window, lower_is_worse)
    };
    let steady_state = verdict::evaluate(exp, &exp.steady_state, CheckKind::SteadyState, &measured, &windowed);
    let gates = verdict::evaluate(exp, &exp.gates, CheckKind::Gate, &measured, &windowed);
    let probes = &d.probes;
    let player = phases.iter().find(|p| p.phase == Phase::Run).map(PlayerGuards::of).unwrap_or_default();
    let coverage: Vec<_> = exp.coverage.iter().map(|c| c.evaluate(guards, &player)).collect();
    let cohorts = exp.cohorts.as_ref().map(|c| {
        let phase = if exp.faults.is_empty() { Phase::Run } else { Phase::Faults };
        let side = |s| d.recorder.cohort(s, phase);
        cohorts::compare(c, exp.load.workload(), phase, &side(Side::Control), &side(Side::Experiment))
    });
    let checks: Vec<_> = steady_state.iter().chain(&gates).cloned().collect();
    let aborted = d.halt.as_ref().and_then(Halt::abort_reason);
    let verdict = verdict::decide(&verdict::Evidence {
        checks: &checks,
        probes,
        coverage: &coverage,
        cohorts: cohorts.as_ref(),
        sequential: d.sequential.as_ref(),
        aborted: aborted.as_deref(),
    });
    Judged { phases, histograms, steady_state, gates, coverage, cohorts, verdict }
}

/// One phase's figures: the workload's KPIs, and for the HTTP workload each request's.
fn phase_report(phase: Phase, (from, to): (Duration, Duration), stats: &PhaseStats, workload: Workload) -> PhaseReport {
    let secs = (to - from).as_secs_f64();
    let kpis = Kpi::of(workload).map(|k| (k, stats.kpi(k, secs))).collect();
    let (failures, requests) = match (workload, &stats.http) {
        (Workload::Http, Some(h)) => {
            let failures = h.all.failures.iter().map(|(f, n)| (f.to_string(), *n)).collect();
            let requests = h.by_name.keys().map(|name| (name.clone(), RequestReport::of(stats, name, secs))).collect();
            (failures, requests)
        }
        _ => (stats.failures.clone(), BTreeMap::new()),
    };
    PhaseReport {
        phase,
        from_s: from.as_secs_f64(),
        to_s: to.as_secs_f64(),
        kpis,
        ttff_ms: Percentiles::of_us(&stats.ttff_us),
        failures,
        failovers: stats.failovers,
        qoe: stats.qoe.clone(),
        requests,
    }
}

/// The report of a finished run.
fn assemble(exp: &Experiment, seed: u64, run: RunInfo, d: Driven, mut j: Judged, o: Observed) -> Report {
    let services = o
        .services
        .into_iter()
        .inspect(|(service, s)| {
            j.histograms.insert(format!("service/{service}"), hgrm::encode(&s.latency_us));
        })
        .map(|(service, s)| ServiceReport {
            service,
            requests: s.requests,
            errors: s.errors,
            injected: s.injected,
            latency_ms: Percentiles::of_us(&s.latency_us),
        })
        .collect();
    Report {
        schema_version: SCHEMA_VERSION,
        experiment: exp.clone(),
        file: exp.file.as_ref().map(|f| f.display().to_string()),
        seed,
        run,
        status: j.verdict.status,
        findings: j.verdict.findings,
        abort_reason: d.halt.as_ref().and_then(Halt::abort_reason),
        sequential: d.sequential,
        abort: d.abort,
        probes: d.probes,
        load: LoadReport {
            rate_per_s: d.rate,
            warmup_s: exp.load.warmup.as_secs_f64(),
            duration_s: exp.load.duration.as_secs_f64(),
            sent: d.load.sent,
            completed: d.load.completed,
            dropped: d.load.dropped,
            cancelled: d.load.cancelled,
            session_latency_ms: Percentiles::of_us(&d.load.latency_us),
        },
        timeline: d.events,
        phases: j.phases,
        steady_state: j.steady_state,
        gates: j.gates,
        coverage: j.coverage,
        cohorts: j.cohorts,
        services,
        guards: o.guards,
        fault_metrics: o.fault_metrics,
        series: d.recorder.series(),
        histograms: j.histograms,
    }
}

/// The steady-state hypothesis' KPI checks that fail on the `before` phase so far: faults go in
/// only on a steady system (as ChAP does); an unsteady one aborts the run.
fn steady_before(exp: &Experiment, recorder: &Recorder) -> Vec<String> {
    let Some((start, _)) = exp.fault_window() else { return Vec::new() };
    let stats = recorder.phase(Phase::Before);
    let secs = start.as_secs_f64();
    let measured = |phase, (kpi, request): verdict::KpiOf<'_>| {
        if phase == Phase::Before { stats.value(kpi, request, secs) } else { None }
    };
    let now = Duration::from_secs_f64(recorder.now_s()).min(start);
    let windowed = |_phase, kpi: verdict::KpiOf<'_>, window, lower_is_worse| {
        recorder.worst_window(Duration::ZERO, now, kpi, window, lower_is_worse)
    };
    verdict::evaluate(exp, &exp.steady_state, CheckKind::SteadyState, &measured, &windowed)
        .into_iter()
        .filter(|r| r.phase == Phase::Before && r.outcome == Outcome::Fail)
        .map(|r| format!("{} (observed {:.4})", r.name, r.observed.unwrap_or(f64::NAN)))
        .collect()
}
