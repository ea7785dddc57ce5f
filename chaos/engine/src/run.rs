//! [`run`]: one experiment from start to verdict — platform up, open-loop play sessions,
//! fault timeline, hypothesis and gates, report.

use crate::abort;
use crate::cohorts::{self, Cohorts, Side};
use crate::coverage::PlayerGuards;
use crate::deploy::{Deployment, InstanceProgram};
use crate::experiment::{Clock, Experiment};
use crate::kpi::{Kpi, Phase};
use crate::load::{self, Schedule, Sessions};
use crate::progress::Progress;
use crate::record::{PhaseBounds, Recorder};
use crate::report::{LoadReport, Percentiles, PhaseReport, Report, RunInfo, SCHEMA_VERSION, ServiceReport, hgrm};
use crate::sequential::{self, Decision};
use crate::timeline::Timeline;
use crate::verdict::{self, CheckKind, Outcome, Status};
use chaos_fault::derive_seed;
use chaos_fault::server::{MemNet, Net};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use targets::{PlatformError, PlaybackClient, Topology};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::Instrument;

/// The reason the sequential test gives when it stops the faults: an early verdict, not an abort.
const EARLY_STOP: &str = "the sequential test decided";

/// Distinct titles played.
const TITLES: u64 = 200;

/// How to run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Overrides the experiment's seed.
    pub seed: Option<u64>,
    /// The program that serves one instance, for `system: { processes: true }`.
    pub instance_program: Option<InstanceProgram>,
    /// Where to publish [`Progress`] snapshots (four a second) while the run goes on.
    pub progress: Option<Arc<watch::Sender<Progress>>>,
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
}

/// Play sessions: user and title drawn from the seed and the arrival's index.
struct PlaySessions {
    player: PlaybackClient,
    recorder: Arc<Recorder>,
    seed: u64,
    cohorts: Option<Cohorts>,
    /// Share of sessions that only browse.
    browse: f64,
    /// Distinct subscribers.
    users: u64,
}

impl PlaySessions {
    /// User and title of arrival `index`, drawn from the seed.
    fn who(&self, index: u64) -> (String, String) {
        let h = derive_seed(self.seed, itoa::Buffer::new().format(index));
        (targets::numbered("u", h % self.users), targets::numbered("t", (h >> 32) % TITLES))
    }
}

impl Sessions for PlaySessions {
    fn start(&mut self, index: u64, intended: Instant) -> impl Future<Output = ()> + Send + 'static {
        let (user, title) = self.who(index);
        let side = self.cohorts.as_ref().map(|c| c.side_of(&user));
        let draw =
            (derive_seed(self.seed ^ 0xb20, itoa::Buffer::new().format(index)) >> 11) as f64 / (1u64 << 53) as f64;
        let browse = draw < self.browse;
        let (player, recorder) = (self.player.clone(), self.recorder.clone());
        async move {
            let outcome = if browse {
                player.browse(&user, intended).await
            } else {
                player.session(&user, &title, intended).await
            };
            recorder.record(intended, side, &outcome);
        }
    }

    fn dropped(&mut self, index: u64, intended: Instant) {
        let side = self.cohorts.as_ref().map(|c| c.side_of(&self.who(index).0));
        self.recorder.record_dropped(intended, side);
    }
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
    let program = match (exp.system.processes, &opts.instance_program) {
        (false, _) => None,
        (true, Some(p)) => Some(p),
        (true, None) => return Err(RunError::NoInstanceProgram),
    };
    let net = match exp.clock {
        Clock::Real => Net::Tcp,
        Clock::Virtual => Net::Mem(MemNet::new()),
    };
    let platform = match &exp.system.external {
        Some(external) => Deployment::External(crate::deploy::ExternalSystem::new(external)),
        None => Deployment::start(topology, seed, program, &net).await?,
    };
    let platform_start_s = wall.elapsed().as_secs_f64();
    tracing::info!(edge = %platform.edge_url(), processes = exp.system.processes, platform_start_s, "platform up");
    let mut device = topology.player.clone();
    device.watch_segments = exp.load.watch_segments.unwrap_or(device.watch_segments);
    let player = PlaybackClient::on(&net, platform.edge_url(), device);

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
    let recorder = Arc::new(Recorder::new(origin, bounds));
    let flows = &exp.load.flows;
    let browse = flows.browse / (flows.play + flows.browse);
    let mut sessions = PlaySessions {
        player,
        recorder: recorder.clone(),
        seed,
        cohorts: exp.cohorts.clone(),
        browse,
        users: exp.load.users,
    };

    // Faults stop (and roll back) on a signal, an unsteady start or an abort condition; the load
    // stops on a signal, an unsteady start, or `recovery` after an abort condition.
    let (halt_faults, faults_halted) = watch::channel(None::<String>);
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
    let timeline = Timeline::new(exp, topology, seed);
    let publish = async {
        let Some(tx) = &opts.progress else { return };
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let done = until(&load_done);
        tokio::pin!(done);
        loop {
            tokio::select! {
                biased;
                _ = tick.tick() => {}
                _ = &mut done => return,
            }
            let elapsed = Instant::now().saturating_duration_since(load_start);
            tx.send_replace(Progress::sample(&recorder, elapsed, exp.load.warmup, exp.total(), timeline.active()));
        }
    };
    let work = async {
        tokio::join!(
            publish,
            async {
                let stats = load::drive(schedule, &mut sessions, until(&load_halted)).await;
                load_finished.send_replace(true);
                stats
            },
            async {
                let precheck = || steady_before(exp, &recorder);
                let (events, reason) = timeline.run(&platform, origin, precheck, until_faults_halted()).await;
                if let Some(reason) = reason.filter(|r| r != "stopped") {
                    tracing::warn!(%reason, "the fault timeline stopped");
                    halt_faults.send_replace(Some(reason));
                    halt_load.send_replace(true);
                }
                events
            },
            async {
                let phase = if exp.faults.is_empty() { Phase::Run } else { Phase::Faults };
                let decided = sequential::watch(exp.sequential.as_ref(), phase, &recorder, until(&load_done)).await?;
                tracing::info!(at_s = decided.at_s, decision = ?decided.decision, "the sequential test decided");
                halt_faults.send_replace(Some(EARLY_STOP.into()));
                halt_load.send_replace(true);
                Some(decided)
            },
            async {
                let fired = abort::watch(&exp.abort, &recorder, until(&load_done)).await?;
                tracing::warn!(condition = %fired.condition, at_s = fired.at_s, "abort condition fired");
                halt_faults
                    .send_replace(Some(format!("abort condition `{}` fired at {:.1}s", fired.condition, fired.at_s)));
                let recovery = tokio::time::sleep(Duration::from_secs_f64(fired.recovery_s));
                tokio::select! {
                    biased;
                    _ = recovery => {}
                    _ = until(&load_done) => {}
                }
                halt_load.send_replace(true);
                Some(fired)
            }
        )
    };
    tokio::pin!(work, stop);
    let mut signalled = false;
    let ((), load_stats, events, sequential, abort) = loop {
        tokio::select! {
            biased;
            done = &mut work => break done,
            _ = &mut stop, if !signalled => {
                signalled = true;
                tracing::warn!("interrupted by a signal: rolling back");
                halt_faults.send_replace(Some("interrupted by a signal".into()));
                halt_load.send_replace(true);
            }
        }
    };
    let abort_reason = faults_halted.borrow().clone().filter(|r| r != EARLY_STOP);
    platform.heal().await;
    let measured = Instant::now().saturating_duration_since(origin).min(exp.load.duration);

    let mut kpis = BTreeMap::new();
    let mut phases = Vec::new();
    let mut histograms = BTreeMap::new();
    for phase in Phase::ALL {
        let Some((from, to)) = bounds.span(phase) else { continue };
        let to = to.min(measured.max(from));
        let stats = recorder.phase(phase);
        histograms.insert(format!("ttff/{phase}"), hgrm::encode(&stats.ttff_us));
        histograms.insert(format!("home/{phase}"), hgrm::encode(&stats.home_us));
        let secs = (to - from).as_secs_f64();
        let values: BTreeMap<Kpi, Option<f64>> = Kpi::ALL.into_iter().map(|k| (k, stats.kpi(k, secs))).collect();
        kpis.insert(phase, values.clone());
        phases.push(PhaseReport {
            phase,
            from_s: from.as_secs_f64(),
            to_s: to.as_secs_f64(),
            kpis: values,
            ttff_ms: Percentiles::of_us(&stats.ttff_us),
            failures: stats.failures,
            failovers: stats.failovers,
            qoe: stats.qoe,
        });
    }
    let windowed = |phase, kpi, window, lower_is_worse| {
        let (from, to) = bounds.span(phase)?;
        recorder.worst_window(from, to.min(measured), kpi, window, lower_is_worse)
    };
    let steady_state = verdict::evaluate(exp, &exp.steady_state, CheckKind::SteadyState, &kpis, &windowed);
    let gates = verdict::evaluate(exp, &exp.gates, CheckKind::Gate, &kpis, &windowed);
    let (service_stats, guards) = platform.stats().await;
    let player = phases.iter().find(|p| p.phase == Phase::Run).map(PlayerGuards::of).unwrap_or_default();
    let coverage: Vec<_> = exp.coverage.iter().map(|c| c.evaluate(&guards, &player)).collect();
    let cohorts = exp.cohorts.as_ref().map(|c| {
        let phase = if exp.faults.is_empty() { Phase::Run } else { Phase::Faults };
        cohorts::compare(c, phase, &recorder.cohort(Side::Control, phase), &recorder.cohort(Side::Experiment, phase))
    });
    let cohort_failed = cohorts.iter().flat_map(|c| &c.gates).any(|(_, o)| *o == Outcome::Fail);
    let decided_bad = sequential.as_ref().is_some_and(|s| s.decision == Decision::Bad);
    let status = if abort_reason.is_some() {
        Status::Aborted
    } else if decided_bad || cohort_failed || coverage.iter().any(|c| c.outcome == Outcome::Fail) {
        Status::Failed
    } else {
        verdict::status(&steady_state.iter().chain(&gates).cloned().collect::<Vec<_>>())
    };
    let fault_metrics = platform.fault_metrics().await;
    let services = service_stats
        .into_iter()
        .inspect(|(service, s)| {
            histograms.insert(format!("service/{service}"), hgrm::encode(&s.latency_us));
        })
        .map(|(service, s)| ServiceReport {
            service,
            requests: s.requests,
            errors: s.errors,
            injected: s.injected,
            latency_ms: Percentiles::of_us(&s.latency_us),
        })
        .collect();
    platform.shutdown().await;
    tracing::info!(?status, wall_s = wall.elapsed().as_secs_f64(), "run finished");

    Ok(Report {
        schema_version: SCHEMA_VERSION,
        experiment: exp.clone(),
        file: exp.file.as_ref().map(|f| f.display().to_string()),
        seed,
        run: RunInfo { started_at, wall_time_s: wall.elapsed().as_secs_f64(), platform_start_s },
        status,
        abort_reason,
        sequential,
        abort,
        load: LoadReport {
            rate_per_s: rate,
            warmup_s: exp.load.warmup.as_secs_f64(),
            duration_s: exp.load.duration.as_secs_f64(),
            sent: load_stats.sent,
            completed: load_stats.completed,
            dropped: load_stats.dropped,
            cancelled: load_stats.cancelled,
            session_latency_ms: Percentiles::of_us(&load_stats.latency_us),
        },
        timeline: events,
        phases,
        steady_state,
        gates,
        coverage,
        cohorts,
        services,
        guards,
        fault_metrics,
        series: recorder.series(),
        histograms,
    })
}

/// The steady-state hypothesis on the `before` phase so far: faults go in only on a steady
/// system (as ChAP does); an unsteady one aborts the run.
fn steady_before(exp: &Experiment, recorder: &Recorder) -> Result<(), String> {
    let Some((start, _)) = exp.fault_window() else { return Ok(()) };
    let stats = recorder.phase(Phase::Before);
    let values: BTreeMap<Kpi, Option<f64>> =
        Kpi::ALL.into_iter().map(|k| (k, stats.kpi(k, start.as_secs_f64()))).collect();
    let kpis = BTreeMap::from([(Phase::Before, values)]);
    let now = Duration::from_secs_f64(recorder.now_s()).min(start);
    let windowed =
        |_phase, kpi, window, lower_is_worse| recorder.worst_window(Duration::ZERO, now, kpi, window, lower_is_worse);
    let failed: Vec<String> = verdict::evaluate(exp, &exp.steady_state, CheckKind::SteadyState, &kpis, &windowed)
        .into_iter()
        .filter(|r| r.phase == Phase::Before && r.outcome == Outcome::Fail)
        .map(|r| format!("{} (observed {:.4})", r.name, r.observed.unwrap_or(f64::NAN)))
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("steady state not met before the faults: {}", failed.join("; ")))
    }
}
