//! The live display of a running experiment on stderr: an indicatif bar on a terminal, plain
//! periodic lines elsewhere (CI logs, pipes, `--quiet`, `NO_COLOR`). Logs printed while the bar
//! is up go through [`LogWriter`], which lifts the bar out of the way first.

use chaos_engine::kpi::Workload;
use chaos_engine::progress::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::watch;

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Style {
    /// A redrawn bar (a terminal).
    Bar,
    /// One line per `every` of run time.
    Lines {
        /// Run time between lines.
        every: Duration,
    },
}

impl Style {
    /// A bar when stderr is a terminal and `NO_COLOR` does not ask for plain output; else
    /// lines, about twenty per run (one a second at least, one per 30 s at most). (`--quiet`
    /// shows neither.)
    pub fn choose(total: Duration) -> Self {
        if !colours() {
            Style::Lines { every: (total / 20).clamp(Duration::from_secs(1), Duration::from_secs(30)) }
        } else {
            Style::Bar
        }
    }
}

/// Whether stderr takes escape codes: a terminal, and `NO_COLOR` unset or empty.
pub fn colours() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The bar on screen now, if any (for [`LogWriter`]).
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// One line about a snapshot: phase and the fault steps in place, then the figures over the last
/// window (faults first: a narrow terminal cuts the end of the line).
pub fn describe(p: &Progress) -> String {
    let phase = p.phase.map_or("warm-up".to_string(), |ph| ph.to_string());
    let figures = match &p.window {
        None => "waiting for finished sessions".to_string(),
        Some(w) => {
            let [_, success, p99] = w.kpis();
            let (rate, p99_label, _) = labels(w.workload);
            format!(
                "{rate} {:.1} · success {} · {p99_label} {}",
                w.rate,
                success.format(w.success),
                p99.format(w.p99_ms)
            )
        }
    };
    let faults = if p.active_faults.is_empty() { String::new() } else { format!(" [{}]", p.active_faults.join(", ")) };
    let arrivals = p.window.map_or("sessions", |w| labels(w.workload).2);
    format!("{phase}{faults} · {} {arrivals} · {figures}", p.sessions)
}

/// What the live line calls a workload's rate, its p99 and its arrivals.
fn labels(workload: Workload) -> (&'static str, &'static str, &'static str) {
    match workload {
        Workload::Play => ("SPS", "TTFF p99", "sessions"),
        Workload::Http => ("RPS", "p99", "arrivals"),
    }
}

/// `12.3s/40s`.
fn clock(p: &Progress) -> String {
    format!("{:.1}s/{:.0}s", p.elapsed.as_secs_f64(), p.total.as_secs_f64())
}

/// Shows the snapshots of `rx` until its sender is dropped (the run is over).
pub async fn follow(mut rx: watch::Receiver<Progress>, style: Style) {
    match style {
        Style::Bar => {
            let bar = ProgressBar::with_draw_target(Some(1), ProgressDrawTarget::stderr());
            let template = "{prefix:>11} {bar:20.cyan/blue} {wide_msg}";
            bar.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()));
            *BAR.lock().unwrap_or_else(|p| p.into_inner()) = Some(bar.clone());
            while rx.changed().await.is_ok() {
                let p = rx.borrow_and_update().clone();
                bar.set_length(p.total.as_millis().max(1) as u64);
                bar.set_position(p.elapsed.as_millis() as u64);
                bar.set_prefix(clock(&p));
                bar.set_message(describe(&p));
            }
            BAR.lock().unwrap_or_else(|p| p.into_inner()).take();
            bar.finish_and_clear();
        }
        Style::Lines { every } => {
            let mut next = Duration::ZERO;
            while rx.changed().await.is_ok() {
                let p = rx.borrow_and_update().clone();
                if p.elapsed >= next {
                    eprintln!("[{:>11}] {}", clock(&p), describe(&p));
                    next = p.elapsed + every;
                }
            }
        }
    }
}

/// A `tracing` writer to stderr that suspends the progress bar while a log line is written, so
/// logs and the bar never interleave.
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bar = BAR.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match bar {
            Some(bar) => bar.suspend(|| std::io::stderr().write(buf)),
            None => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chaos_engine::kpi::Phase;
    use chaos_engine::progress::Window;

    #[test]
    fn a_line_names_phase_figures_and_faults() {
        let mut p = Progress {
            elapsed: Duration::from_millis(12_300),
            total: Duration::from_secs(40),
            phase: None,
            sessions: 0,
            window: None,
            active_faults: vec![],
        };
        assert_eq!(describe(&p), "warm-up · 0 sessions · waiting for finished sessions");
        p.phase = Some(Phase::Faults);
        p.sessions = 210;
        p.window = Some(Window { workload: Workload::Play, rate: 19.8, success: Some(0.995), p99_ms: Some(31.2) });
        p.active_faults = vec!["kill-cdn-0".into(), "slow-license".into()];
        let line = describe(&p);
        assert!(
            line.starts_with("faults [kill-cdn-0, slow-license] · 210 sessions · SPS 19.8 · success 99.50"),
            "{line}"
        );
        assert!(line.ends_with("TTFF p99 31.2 ms"), "{line}");
        assert_eq!(clock(&p), "12.3s/40s");
    }

    #[test]
    fn plain_lines_are_chosen_when_asked_and_spaced_by_run_length() {
        assert_eq!(Style::choose(Duration::from_secs(600)), Style::Lines { every: Duration::from_secs(30) });
        assert_eq!(Style::choose(Duration::from_secs(7)), Style::Lines { every: Duration::from_secs(1) });
    }
}
