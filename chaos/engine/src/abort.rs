//! Watching the abort conditions while the run goes on.

use crate::experiment::AbortCondition;
use crate::record::Recorder;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::time::Duration;

/// Sessions need this long to finish before their second is judged.
const SETTLE: f64 = 1.0;
/// How often the conditions are checked.
const EVERY: Duration = Duration::from_millis(250);

/// An abort condition that fired.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AbortFired {
    /// The condition, e.g. `play_success_ratio < 90.00 % over 5s`.
    pub condition: String,
    /// When it fired, seconds from the end of warm-up.
    pub at_s: f64,
    /// The window it judged, seconds from the end of warm-up (a KPI's condition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_s: Option<(u64, u64)>,
    /// The KPI's value in that window, or the probe's last value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<f64>,
    /// A probe's last failed sample: what was seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// How long the load went on afterwards.
    pub recovery_s: f64,
}

/// Checks `conditions` every 250 ms on the last complete windows until `done` resolves; returns
/// the first that fires.
pub async fn watch(
    conditions: &[AbortCondition],
    recorder: &Recorder,
    done: impl Future<Output = ()>,
) -> Option<AbortFired> {
    if conditions.iter().all(|c| c.kpi.is_none()) {
        done.await;
        return None;
    }
    tokio::pin!(done);
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tokio::select! {
            biased;
            _ = &mut done => return None,
            _ = tick.tick() => {}
        }
        let now = recorder.now_s();
        let end = (now - SETTLE).max(0.0).floor() as u64;
        for (c, kpi) in conditions.iter().filter_map(|c| Some((c, c.kpi?))) {
            let w = c.window.as_secs().max(1);
            if end < w {
                continue;
            }
            let stats = recorder.window(end - w, end);
            if stats.sessions < c.min_sessions {
                continue;
            }
            if let Some(v) = stats.value(kpi, c.request.as_deref(), w as f64).filter(|v| c.breached(*v)) {
                return Some(AbortFired {
                    condition: c.describe(),
                    at_s: now,
                    window_s: Some((end - w, end)),
                    observed: Some(v),
                    detail: None,
                    recovery_s: c.recovery.as_secs_f64(),
                });
            }
        }
    }
}
