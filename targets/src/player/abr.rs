//! The adaptive-bitrate rule: which rendition to fetch next, and when to give up on a download.
//!
//! Throughput-based with a buffer-based safety, in the spirit of dash.js's DYNAMIC strategy and
//! of BBA/BOLA (Huang et al. 2014, Spiteri et al. 2016):
//!
//! 1. **Throughput.** Every finished download is a sample (bits / wall-clock seconds, in the
//!    ladder's kbit/s); two exponentially weighted averages follow them, a fast one (α 0.5) and a
//!    slow one (α 0.15), and the estimate is the lower of the two — quick to fall, slow to rise.
//! 2. **Rate pick.** The highest rendition at or below `safety` × estimate (the lowest if none).
//! 3. **Buffer safety** (once playing): below half the `reservoir` the lowest rendition is
//!    fetched (refill fast); below the `reservoir` the player never goes up; it goes up only
//!    with `upswitch_buffer` buffered; above the `cushion` a throughput dip moves it down one
//!    rendition per segment (the buffer rides the dip out).
//! 4. **Abandonment.** While a segment downloads, when at the speed seen so far its remaining
//!    bytes would arrive after the buffer runs dry, the download is abandoned and the segment
//!    fetched again at the rendition that speed can sustain (dash.js's AbandonRequestsRule).
//!
//! With the `adaptive` guard off, the player never goes down and never abandons: a player that
//! only climbs, which is what the `cdn-throttle` mutant shows failing.
//!
//! Pure functions over numbers: unit tests drive them with scripted throughput traces.

use crate::topology::AbrSpec;
use std::time::Duration;

/// The throughput estimate: the lower of a fast and a slow moving average of download samples.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Throughput {
    fast: Option<f64>,
    slow: Option<f64>,
}

impl Throughput {
    const FAST: f64 = 0.5;
    const SLOW: f64 = 0.15;

    /// Adds one finished download of `bytes` that took `wall` on the wall clock.
    pub fn sample(&mut self, bytes: usize, wall: Duration) {
        let kbps = bytes as f64 * 8.0 / 1000.0 / wall.as_secs_f64().max(1e-6);
        let ewma = |avg: Option<f64>, alpha: f64| Some(avg.map_or(kbps, |a| a + alpha * (kbps - a)));
        self.fast = ewma(self.fast, Self::FAST);
        self.slow = ewma(self.slow, Self::SLOW);
    }

    /// The estimate in kbit/s; `None` before the first sample.
    pub fn kbps(&self) -> Option<f64> {
        Some(self.fast?.min(self.slow?))
    }
}

/// The rule, with its settings and the `adaptive` guard.
#[derive(Clone, Debug, PartialEq)]
pub struct AbrRule {
    /// Settings (buffer levels in media time).
    pub spec: AbrSpec,
    /// The guard: when off, never down, never abandon.
    pub adaptive: bool,
}

impl AbrRule {
    /// The first segment's rendition: the highest at or below `start_kbps`.
    pub fn start(&self, ladder: &[u32]) -> usize {
        ladder.iter().rposition(|&b| b <= self.spec.start_kbps).unwrap_or(0)
    }

    /// The highest rendition `kbps` of throughput sustains with the safety margin.
    pub fn fit(&self, ladder: &[u32], kbps: f64) -> usize {
        ladder.iter().rposition(|&b| f64::from(b) <= self.spec.safety * kbps).unwrap_or(0)
    }

    /// The next segment's rendition, given the estimate, the media buffered, whether playback has
    /// started, and the current rendition.
    pub fn choose(
        &self,
        ladder: &[u32],
        estimate: Option<f64>,
        buffer: Duration,
        playing: bool,
        current: usize,
    ) -> usize {
        let Some(kbps) = estimate else { return current };
        let fit = self.fit(ladder, kbps);
        let spec = &self.spec;
        // A level exactly on a threshold counts as just under it. Levels are checked right after
        // a segment arrives, at a multiple of the segment length: on the wall clock a little
        // playback always passes before the choice (the level is a hair under), on the virtual
        // clock none does, and the rule must not flip between the two.
        let pick = match () {
            _ if !playing => fit,
            _ if buffer <= spec.reservoir / 2 => 0,
            _ if fit > current && buffer <= spec.upswitch_buffer => current,
            _ if fit < current && buffer > spec.cushion => current - 1,
            _ => fit,
        };
        if self.adaptive { pick } else { pick.max(current) }
    }

    /// Whether to abandon a download of `total` bytes at rendition `current` after `received`
    /// bytes in `elapsed`, with `buffer_wall()` of playback left on the wall clock (worked out
    /// only when the download is far enough along to judge); returns the rendition to fetch
    /// instead.
    pub fn abandon(
        &self,
        ladder: &[u32],
        current: usize,
        received: usize,
        total: usize,
        elapsed: Duration,
        buffer_wall: impl FnOnce() -> Duration,
    ) -> Option<usize> {
        // Too early to judge: fewer than an eighth of the bytes, or under 5 ms.
        if !self.adaptive || current == 0 || received * 8 < total || elapsed < Duration::from_millis(5) {
            return None;
        }
        let rate = received as f64 / elapsed.as_secs_f64();
        let remaining = Duration::from_secs_f64(total.saturating_sub(received) as f64 / rate);
        if remaining <= buffer_wall() {
            return None;
        }
        let lower = self.fit(ladder, rate * 8.0 / 1000.0);
        (lower < current).then_some(lower)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LADDER: [u32; 6] = [235, 750, 1750, 3000, 5800, 16000];

    fn rule(adaptive: bool) -> AbrRule {
        AbrRule { spec: AbrSpec::default(), adaptive }
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// A download of `kbps` × 40 ms worth of bytes at `kbps` takes 40 ms.
    fn sample_at(t: &mut Throughput, kbps: f64) {
        t.sample((kbps * 1000.0 / 8.0 * 0.040) as usize, Duration::from_millis(40));
    }

    #[test]
    fn the_estimate_falls_fast_and_rises_slowly() {
        let mut t = Throughput::default();
        assert_eq!(t.kbps(), None);
        for _ in 0..10 {
            sample_at(&mut t, 10_000.0);
        }
        assert!((t.kbps().unwrap() - 10_000.0).abs() < 1.0);
        sample_at(&mut t, 1_000.0);
        assert!(t.kbps().unwrap() < 5_600.0, "one bad sample halves it: {:?}", t.kbps());
        let mut up = Throughput::default();
        for _ in 0..10 {
            sample_at(&mut up, 1_000.0);
        }
        sample_at(&mut up, 10_000.0);
        assert!(up.kbps().unwrap() < 2_400.0, "one good sample moves it little: {:?}", up.kbps());
    }

    #[test]
    fn the_rate_pick_keeps_the_safety_margin() {
        let r = rule(true);
        assert_eq!(r.fit(&LADDER, 4000.0), 3); // 3000 ≤ 0.8 × 4000 = 3200
        assert_eq!(r.fit(&LADDER, 3750.0), 3); // exactly 3000
        assert_eq!(r.fit(&LADDER, 3700.0 * 0.8), 2);
        assert_eq!(r.fit(&LADDER, 100.0), 0);
        assert_eq!(r.start(&LADDER), 3);
    }

    #[test]
    fn the_buffer_decides_when_a_switch_may_happen() {
        let r = rule(true);
        // Startup: rate only.
        assert_eq!(r.choose(&LADDER, Some(25_000.0), secs(0), false, 3), 5);
        // A thin buffer refills at the lowest rendition, whatever the throughput.
        assert_eq!(r.choose(&LADDER, Some(25_000.0), secs(3), true, 3), 0);
        // No climbing below the up-switch level; climbing above it.
        assert_eq!(r.choose(&LADDER, Some(25_000.0), secs(10), true, 3), 3);
        assert_eq!(r.choose(&LADDER, Some(25_000.0), secs(14), true, 3), 5);
        // A dip with a rich buffer: one step down; with a middling one: straight to the fit.
        assert_eq!(r.choose(&LADDER, Some(1_000.0), secs(25), true, 5), 4);
        assert_eq!(r.choose(&LADDER, Some(1_000.0), secs(10), true, 5), 1);
        // No estimate yet: stay.
        assert_eq!(r.choose(&LADDER, None, secs(10), true, 2), 2);
    }

    #[test]
    fn a_level_exactly_on_a_threshold_is_taken_as_just_under_it() {
        let r = rule(true);
        // Reservoir 8 s: at 4 s (one segment, the virtual clock's level at the first frame) refill.
        assert_eq!(r.choose(&LADDER, Some(25_000.0), secs(4), true, 3), 0);
        // Up-switch level 12 s: at 12 s no climbing yet.
        assert_eq!(r.choose(&LADDER, Some(25_000.0), secs(12), true, 3), 3);
        // Cushion 20 s: at 20 s a dip goes straight to the fit.
        assert_eq!(r.choose(&LADDER, Some(1_000.0), secs(20), true, 5), 1);
    }

    #[test]
    fn without_the_adaptive_guard_the_player_never_goes_down_nor_abandons() {
        let r = rule(false);
        assert_eq!(r.choose(&LADDER, Some(300.0), secs(3), true, 3), 3);
        assert_eq!(r.choose(&LADDER, Some(25_000.0), secs(14), true, 3), 5);
        assert_eq!(r.abandon(&LADDER, 3, 2000, 15000, Duration::from_millis(100), || Duration::from_millis(10)), None);
    }

    #[test]
    fn a_download_that_cannot_arrive_before_the_buffer_runs_dry_is_abandoned() {
        let r = rule(true);
        // 2,000 of 15,000 bytes in 100 ms: 20 kB/s, 650 ms to go; 40 ms of buffer left.
        let lower = r.abandon(&LADDER, 3, 2000, 15000, Duration::from_millis(100), || Duration::from_millis(40));
        assert_eq!(lower, Some(0), "20 kB/s = 160 kbit/s sustains only the lowest");
        // The same speed with 1 s of buffer: it arrives in time, carry on.
        assert_eq!(r.abandon(&LADDER, 3, 2000, 15000, Duration::from_millis(100), || secs(1)), None);
        // Too early to judge.
        assert_eq!(r.abandon(&LADDER, 3, 500, 15000, Duration::from_millis(100), || Duration::ZERO), None);
        // Already at the lowest: nothing to switch to.
        assert_eq!(r.abandon(&LADDER, 0, 2000, 15000, Duration::from_millis(100), || Duration::ZERO), None);
    }
}
