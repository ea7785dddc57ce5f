//! Open-loop load: sessions start on a fixed schedule whether or not earlier ones were answered,
//! and each one's latency is measured from its intended start — so a stall of the system under
//! test shows in the figures instead of silently slowing the arrivals (coordinated omission),
//! as wrk2 and `oha --latency-correction` do.

use hdrhistogram::Histogram;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// When sessions are meant to start.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    /// Arrivals per second at the start (open loop).
    pub rate: f64,
    /// Arrivals per second at the end: the rate ramps linearly (equal to `rate`: constant).
    pub end_rate: f64,
    /// Closed loop: this many sessions at once, each followed by the next (`rate` unused).
    pub viewers: Option<usize>,
    /// Intended start of the first arrival.
    pub start: Instant,
    /// Arrivals stop after this long.
    pub duration: Duration,
    /// Sessions in flight at most; an arrival beyond it is counted as dropped, not delayed.
    pub max_in_flight: usize,
}

impl Schedule {
    /// An open-loop schedule at a constant rate.
    pub fn constant(rate: f64, start: Instant, duration: Duration, max_in_flight: usize) -> Self {
        Self { rate, end_rate: rate, viewers: None, start, duration, max_in_flight }
    }

    /// The intended start of arrival `i`: where the arrivals so far, the integral of the
    /// (linearly ramping) rate, reach `i`.
    pub fn intended(&self, i: u64) -> Instant {
        let (r0, t) = (self.rate, self.duration.as_secs_f64());
        let a = (self.end_rate - r0) / t;
        let i = i as f64;
        let at = if a.abs() < 1e-12 { i / r0 } else { (-r0 + (r0 * r0 + 2.0 * a * i).max(0.0).sqrt()) / a };
        self.start + Duration::from_secs_f64(at.max(0.0))
    }

    /// Number of arrivals in the schedule.
    pub fn arrivals(&self) -> u64 {
        (self.duration.as_secs_f64() * (self.rate + self.end_rate) / 2.0).ceil() as u64
    }
}

/// What to do with each arrival. Cloned once per viewer of a closed loop, which runs its sessions
/// in a task of its own.
pub trait Sessions: Clone + Send + Sync + 'static {
    /// One session; its completion time counts from its intended start.
    fn start(&self, index: u64, intended: Instant) -> impl Future<Output = ()> + Send + 'static;
    /// An arrival that could not start because `max_in_flight` sessions were running.
    fn dropped(&self, _index: u64, _intended: Instant) {}
}

/// What the generator did.
#[derive(Clone, Debug)]
pub struct LoadStats {
    /// Sessions started.
    pub sent: u64,
    /// Sessions that ran to their end.
    pub completed: u64,
    /// Arrivals dropped at the in-flight limit.
    pub dropped: u64,
    /// Arrivals not started because the run was stopped.
    pub cancelled: u64,
    /// Session time from intended start to completion, µs.
    pub latency_us: Histogram<u64>,
}

impl LoadStats {
    fn new() -> Self {
        Self { sent: 0, completed: 0, dropped: 0, cancelled: 0, latency_us: targets::latency_histogram() }
    }

    fn completed(&mut self, latency: Duration) {
        self.completed += 1;
        let _ = self.latency_us.record(latency.as_micros().clamp(1, 3_600_000_000) as u64);
    }
}

/// Drives `sessions` on `schedule` until its end or until `stop` resolves, then waits for the
/// sessions in flight (each is bounded by its own timeouts).
pub async fn drive<S: Sessions>(schedule: Schedule, sessions: &S, stop: impl Future<Output = ()>) -> LoadStats {
    if let Some(viewers) = schedule.viewers {
        return drive_closed(schedule, viewers, sessions, stop).await;
    }
    let mut stats = LoadStats::new();
    let mut running: JoinSet<Duration> = JoinSet::new();
    let arrivals = schedule.arrivals();
    tokio::pin!(stop);
    for i in 0..arrivals {
        let intended = schedule.intended(i);
        tokio::select! {
            biased;
            _ = &mut stop => {
                stats.cancelled = arrivals - i;
                break;
            }
            _ = tokio::time::sleep_until(intended) => {}
        }
        while let Some(done) = running.try_join_next() {
            record(&mut stats, done);
        }
        if running.len() >= schedule.max_in_flight {
            stats.dropped += 1;
            sessions.dropped(i, intended);
            continue;
        }
        let session = sessions.start(i, intended);
        running.spawn(timed(session, intended));
        stats.sent += 1;
    }
    while let Some(done) = running.join_next().await {
        record(&mut stats, done);
    }
    stats
}

/// Closed loop: `viewers` sessions at once; each one's end starts the next, until the schedule's
/// end. A closed loop measures what one viewer waits, not what an arriving crowd sees: a stall
/// slows the arrivals down with it (coordinated omission), which is why open loop is the default.
///
/// Each viewer is a task running its sessions one after another, so that a session's end starts
/// the next on the spot, without a hop through this task (which capped the HTTP workload at
/// ~0.8× wrk's rate with fifty viewers).
async fn drive_closed<S: Sessions>(
    schedule: Schedule,
    viewers: usize,
    sessions: &S,
    stop: impl Future<Output = ()>,
) -> LoadStats {
    let stats = Arc::new(Mutex::new(LoadStats::new()));
    let next = Arc::new(AtomicU64::new(0));
    let stopped = Arc::new(AtomicBool::new(false));
    let end = schedule.start + schedule.duration;
    tokio::time::sleep_until(schedule.start).await;
    let mut running = JoinSet::new();
    for _ in 0..viewers {
        let (sessions, stats, next, stopped) = (sessions.clone(), stats.clone(), next.clone(), stopped.clone());
        running.spawn(async move {
            while !stopped.load(Relaxed) && Instant::now() < end {
                let intended = Instant::now();
                sessions.start(next.fetch_add(1, Relaxed), intended).await;
                stats.lock().unwrap_or_else(|p| p.into_inner()).completed(intended.elapsed());
            }
        });
    }
    tokio::pin!(stop);
    tokio::select! {
        biased;
        _ = &mut stop => stopped.store(true, Relaxed),
        _ = async { while running.join_next().await.is_some() {} } => {}
    }
    while running.join_next().await.is_some() {}
    let mut stats = std::mem::replace(&mut *stats.lock().unwrap_or_else(|p| p.into_inner()), LoadStats::new());
    stats.sent = next.load(Relaxed);
    stats
}

fn record(stats: &mut LoadStats, done: Result<Duration, tokio::task::JoinError>) {
    if let Ok(latency) = done {
        stats.completed(latency);
    }
}

/// A session as a task: it runs, then tells how long it took from its intended start. Boxed: a
/// task's stage (the future, then its output) is copied whole at each change, and a playback
/// session's future is kilobytes (boxing it took 4 % off a virtual-clock run).
fn timed(
    session: impl Future<Output = ()> + Send + 'static,
    intended: Instant,
) -> Pin<Box<dyn Future<Output = Duration> + Send>> {
    Box::pin(async move {
        session.await;
        intended.elapsed()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone)]
    struct Sleepy {
        each: Duration,
        starts: Arc<Mutex<Vec<Instant>>>,
    }

    impl Sessions for Sleepy {
        fn start(&self, _i: u64, _intended: Instant) -> impl Future<Output = ()> + Send + 'static {
            self.starts.lock().unwrap().push(Instant::now());
            tokio::time::sleep(self.each)
        }
    }

    fn schedule(rate: f64, secs: u64, max_in_flight: usize) -> Schedule {
        Schedule::constant(rate, Instant::now(), Duration::from_secs(secs), max_in_flight)
    }

    #[tokio::test(start_paused = true)]
    async fn a_ramping_rate_spreads_arrivals_along_the_integral_of_the_rate() {
        let starts = Arc::new(Mutex::new(Vec::new()));
        let s = Sleepy { each: Duration::from_millis(1), starts: starts.clone() };
        let sched = Schedule { end_rate: 300.0, ..schedule(100.0, 10, 10_000) };
        let stats = drive(sched, &s, std::future::pending()).await;
        assert_eq!(stats.sent, 2000, "(100 + 300) / 2 × 10 s");
        let starts = starts.lock().unwrap();
        let in_first_second = starts.iter().filter(|t| **t - sched.start < Duration::from_secs(1)).count();
        let in_last_second = starts.iter().filter(|t| **t - sched.start >= Duration::from_secs(9)).count();
        // The rate is 100–120/s in the first second and 280–300/s in the last.
        assert!((105..=115).contains(&in_first_second), "{in_first_second}");
        assert!((285..=295).contains(&in_last_second), "{in_last_second}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_loop_keeps_its_viewers_busy_back_to_back() {
        let s = Sleepy { each: Duration::from_millis(100), starts: Arc::default() };
        let sched = Schedule { viewers: Some(5), ..schedule(1.0, 2, 100) };
        let stats = drive(sched, &s, std::future::pending()).await;
        // 5 viewers × 2 s / 0.1 s per session.
        assert_eq!(stats.sent, 100);
        assert_eq!(stats.completed, 100);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stopped_closed_loop_starts_no_session_more_and_waits_for_those_running() {
        let s = Sleepy { each: Duration::from_millis(100), starts: Arc::default() };
        let sched = Schedule { viewers: Some(5), ..schedule(1.0, 10, 100) };
        let stats = drive(sched, &s, tokio::time::sleep(Duration::from_millis(950))).await;
        // Sessions start at 0, 0.1, …, 0.9 s: ten per viewer, the last finishing after the stop.
        assert_eq!((stats.sent, stats.completed), (50, 50));
        assert_eq!(s.starts.lock().unwrap().len(), 50);
    }

    #[tokio::test(start_paused = true)]
    async fn arrivals_follow_the_schedule_whatever_the_answers_take() {
        let starts = Arc::new(Mutex::new(Vec::new()));
        let s = Sleepy { each: Duration::from_millis(500), starts: starts.clone() };
        let sched = schedule(100.0, 3, 10_000);
        let stats = drive(sched, &s, std::future::pending()).await;
        assert_eq!((stats.sent, stats.completed, stats.dropped), (300, 300, 0));
        let starts = starts.lock().unwrap();
        // Open loop: arrival 150 starts at 1.5 s even though every session takes 0.5 s.
        assert_eq!(starts[150] - sched.start, Duration::from_millis(1500));
        assert_eq!(stats.latency_us.value_at_quantile(0.5) / 1000, 500);
    }

    #[tokio::test(start_paused = true)]
    async fn arrivals_beyond_the_in_flight_limit_are_dropped_not_delayed() {
        let s = Sleepy { each: Duration::from_secs(10), starts: Arc::default() };
        let stats = drive(schedule(10.0, 2, 5), &s, std::future::pending()).await;
        assert_eq!((stats.sent, stats.dropped), (5, 15));
    }

    #[tokio::test(start_paused = true)]
    async fn stopping_cancels_the_remaining_arrivals() {
        let s = Sleepy { each: Duration::from_millis(1), starts: Arc::default() };
        let stop = tokio::time::sleep(Duration::from_millis(999));
        let stats = drive(schedule(10.0, 10, 100), &s, stop).await;
        assert_eq!((stats.sent, stats.cancelled), (10, 90));
    }
}
