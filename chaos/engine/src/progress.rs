//! [`Progress`]: what a running experiment is doing now, sampled for a live display. The engine
//! publishes it on a `watch` channel; how it is shown (a bar, plain lines) is the CLI's business.

use crate::kpi::{Kpi, Phase, Workload};
use crate::record::Recorder;
use std::time::Duration;

/// Width of the window the live figures are computed over, in whole seconds.
pub const WINDOW_S: u64 = 5;

/// Seconds a session may still be running after its intended start; the window ends this far
/// back so that it holds finished sessions only.
const SETTLE_S: u64 = 2;

/// A snapshot of a run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Progress {
    /// Since the load started (warm-up included).
    pub elapsed: Duration,
    /// Warm-up plus measured duration.
    pub total: Duration,
    /// The phase now; `None` during warm-up.
    pub phase: Option<Phase>,
    /// Sessions measured so far (warm-up excluded).
    pub sessions: u64,
    /// Figures of the last [`WINDOW_S`] seconds of finished sessions, once there are any.
    pub window: Option<Window>,
    /// Fault steps in place now.
    pub active_faults: Vec<String>,
}

/// Figures over a recent window: for Play sessions `sps`, `play_success_ratio` and `ttff_p99`;
/// for the HTTP workload `rps`, `success_ratio` and `latency_p99`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    /// Whose figures these are.
    pub workload: Workload,
    /// Stream starts (requests) per second.
    pub rate: f64,
    /// Play (request) success ratio, once there is any.
    pub success: Option<f64>,
    /// TTFF (request latency) 99th percentile in milliseconds.
    pub p99_ms: Option<f64>,
}

impl Window {
    /// The KPIs of the window's figures: rate, success, p99.
    pub fn kpis(&self) -> [Kpi; 3] {
        match self.workload {
            Workload::Play => [Kpi::Sps, Kpi::PlaySuccessRatio, Kpi::TtffP99],
            Workload::Http => [Kpi::Rps, Kpi::SuccessRatio, Kpi::LatencyP99],
        }
    }
}

impl Progress {
    /// The state of a run `elapsed` into its load, from what `recorder` holds.
    pub(crate) fn sample(
        workload: Workload,
        recorder: &Recorder,
        elapsed: Duration,
        warmup: Duration,
        total: Duration,
        active_faults: Vec<String>,
    ) -> Self {
        let measured = elapsed.checked_sub(warmup);
        let phase = measured.map(|m| recorder.bounds().phases_of(m).last().unwrap_or(Phase::Run));
        let now = measured.map_or(0, |m| m.as_secs());
        let to = now.saturating_sub(SETTLE_S);
        let from = to.saturating_sub(WINDOW_S);
        let stats = recorder.window(from, to);
        let window = (to > from && stats.sessions > 0).then(|| {
            let secs = (to - from) as f64;
            let mut w = Window { workload, rate: 0.0, success: None, p99_ms: None };
            let [rate, success, p99] = w.kpis();
            w.rate = stats.kpi(rate, secs).unwrap_or(0.0);
            w.success = stats.kpi(success, secs);
            w.p99_ms = stats.kpi(p99, secs);
            w
        });
        let sessions = recorder.sessions(Phase::Run);
        Self { elapsed: elapsed.min(total), total, phase, sessions, window, active_faults }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::PhaseBounds;
    use targets::{HomeOutcome, PlayFailure, PlayOutcome, SessionOutcome};
    use tokio::time::Instant;

    fn play(ttff_ms: Option<u64>) -> SessionOutcome {
        SessionOutcome {
            home: Some(HomeOutcome { ok: true, degraded: false, latency: Duration::from_millis(5) }),
            play: Some(PlayOutcome {
                ok: ttff_ms.is_some(),
                ttff: ttff_ms.map(Duration::from_millis),
                failure: ttff_ms.is_none().then_some(PlayFailure::Cdn),
                failovers: 0,
                qoe: None,
            }),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_window_holds_finished_seconds_and_the_phase_follows_the_fault_window() {
        let start = Instant::now();
        let warmup = Duration::from_secs(2);
        let bounds = PhaseBounds {
            duration: Duration::from_secs(20),
            faults: Some((Duration::from_secs(5), Duration::from_secs(10))),
        };
        let recorder = Recorder::new(start + warmup, bounds);
        // 4 plays a second for 8 measured seconds, one in four failing from second 4.
        for s in 0..8u64 {
            for n in 0..4u64 {
                let at = start + warmup + Duration::from_millis(s * 1000 + n * 250);
                let outcome = play((s < 4 || n > 0).then_some(30 + n));
                recorder.record(at, None, &outcome);
            }
        }
        let total = Duration::from_secs(22);
        let p = Progress::sample(Workload::Play, &recorder, Duration::from_secs(1), warmup, total, vec![]);
        assert_eq!((p.phase, p.window), (None, None), "warm-up has no phase and no figures");

        let p =
            Progress::sample(Workload::Play, &recorder, Duration::from_secs(2 + 9), warmup, total, vec!["kill".into()]);
        assert_eq!(p.phase, Some(Phase::Faults));
        assert_eq!(p.sessions, 32);
        // Measured second 9, settled to 7: seconds 2..7 hold 20 plays, 3 of them failed.
        let w = p.window.unwrap();
        assert_eq!(w.rate, 17.0 / 5.0);
        assert_eq!(w.success, Some(17.0 / 20.0));
        assert!(w.p99_ms.unwrap() >= 33.0);
        let after = Progress::sample(Workload::Play, &recorder, Duration::from_secs(2 + 12), warmup, total, vec![]);
        assert_eq!(after.phase, Some(Phase::After));
        assert_eq!(
            Progress::sample(Workload::Play, &recorder, Duration::from_secs(99), warmup, total, vec![]).elapsed,
            total
        );
    }
}
