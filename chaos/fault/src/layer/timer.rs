//! The clock the layer's delays run on.
//!
//! tokio's timer wakes on a 1 ms tick and parks the driver with a millisecond timeout, so a
//! `sleep(50ms)` ends 1–3 ms late, more under load when many deadlines share a tick. That is fine
//! for a test on a paused clock and wrong for a tool whose figure is "p50 of a 50 ms delay".
//! [`Timer::Precise`] arms a Linux `timerfd` (a kernel hrtimer, ~50 µs slack) per delay and waits
//! for it through tokio's reactor: a few syscalls per delay, no thread, no spinning. Written by
//! hand because no maintained crate offers a one-shot timerfd future on tokio's reactor (the
//! `tokio-timerfd` crate is unmaintained); `rustix` makes the calls without `unsafe`.

use std::time::Duration;
use tokio::time::Instant;

/// Which clock delays are measured on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Timer {
    /// tokio's timer: follows a paused or auto-advanced clock (tests, virtual time); ~1 ms grain.
    #[default]
    Tokio,
    /// A timerfd per delay (Linux with the `precise-timer` feature): sub-millisecond grain, real
    /// time only. Elsewhere, or when a timerfd cannot be made, it falls back to [`Timer::Tokio`].
    Precise,
}

impl Timer {
    /// Waits `delay` on this clock; a delay past what an `Instant` can hold waits forever (rules
    /// are validated to [`crate::MAX_DELAY`], so only a rule made in code gets here).
    pub async fn sleep(self, delay: Duration) {
        if delay.is_zero() {
            return;
        }
        let Some(deadline) = Instant::now().checked_add(delay) else {
            return std::future::pending().await;
        };
        #[cfg(all(target_os = "linux", feature = "precise-timer"))]
        if self == Timer::Precise && precise::sleep_until(deadline.into_std()).await.is_ok() {
            return;
        }
        tokio::time::sleep_until(deadline).await
    }
}

#[cfg(all(target_os = "linux", feature = "precise-timer"))]
mod precise {
    use rustix::time::{Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec};
    use std::io;
    use tokio::io::Interest;
    use tokio::io::unix::AsyncFd;

    /// Waits for `deadline` on a one-shot monotonic timerfd.
    pub async fn sleep_until(deadline: std::time::Instant) -> io::Result<()> {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        let fd =
            rustix::time::timerfd_create(TimerfdClockId::Monotonic, TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC)?;
        let zero = Timespec { tv_sec: 0, tv_nsec: 0 };
        let value = Timespec { tv_sec: left.as_secs() as _, tv_nsec: left.subsec_nanos() as _ };
        rustix::time::timerfd_settime(
            &fd,
            TimerfdTimerFlags::empty(),
            &Itimerspec { it_interval: zero, it_value: value },
        )?;
        // Deprecated because a registered fd could be closed or replaced behind the reactor's
        // back; this `OwnedFd` belongs to the `AsyncFd` and is closed only when it drops (after
        // deregistration), the condition the safe replacement would ask us to promise.
        #[allow(deprecated)]
        let fd = AsyncFd::with_interest(fd, Interest::READABLE)?;
        let mut expirations = [0u8; 8];
        loop {
            let mut ready = fd.readable().await?;
            match ready.try_io(|fd| Ok(rustix::io::read(fd.get_ref(), &mut expirations)?)) {
                Ok(result) => return result.map(|_| ()),
                Err(_would_block) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_delay_no_instant_can_hold_waits_instead_of_panicking() {
        for timer in [Timer::Tokio, Timer::Precise] {
            let waited = tokio::time::timeout(Duration::from_secs(3600), timer.sleep(Duration::MAX)).await;
            assert!(waited.is_err(), "{timer:?} ended a Duration::MAX sleep");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_tokio_timer_follows_a_paused_clock() {
        let start = Instant::now();
        Timer::Tokio.sleep(Duration::from_secs(3600)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(3600));
    }

    /// The precise timer never ends early and (a checked-in bench measures by how much) ends
    /// within a few ms even on a loaded machine; this test only guards the "never early" side.
    #[tokio::test]
    async fn the_precise_timer_never_ends_early() {
        for ms in [1, 5, 20] {
            let start = std::time::Instant::now();
            Timer::Precise.sleep(Duration::from_millis(ms)).await;
            assert!(start.elapsed() >= Duration::from_millis(ms), "{ms} ms ended after {:?}", start.elapsed());
        }
    }
}
