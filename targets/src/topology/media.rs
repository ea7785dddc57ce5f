//! The media (bitrate ladder, segment length, time scale) and the device's settings.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What is streamed: the renditions the manifest lists and how segments are cut and scaled.
///
/// Media time is scaled so that a session stays short in wall time while its buffer dynamics
/// keep their shape: with `time_scale: 100`, a 4 s segment plays out in 40 ms and weighs
/// 1/100 of its real size, so the wall-clock throughput a rendition needs is its real bitrate
/// (a `throttle` of 125,000 bytes/s is a 1 Mbit/s link, whatever the scale).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaSpec {
    /// Renditions, kbit/s, ascending.
    #[serde(default = "default_ladder")]
    pub ladder_kbps: Vec<u32>,
    /// Media time per segment.
    #[serde(default = "default_segment", with = "humantime_serde")]
    pub segment: Duration,
    /// Media seconds played per wall-clock second (≥ 1).
    #[serde(default = "default_scale")]
    pub time_scale: f64,
    /// Segments per title.
    #[serde(default = "default_segments")]
    pub segments: u32,
}

impl Default for MediaSpec {
    fn default() -> Self {
        Self {
            ladder_kbps: default_ladder(),
            segment: default_segment(),
            time_scale: default_scale(),
            segments: default_segments(),
        }
    }
}

impl MediaSpec {
    /// Bytes the CDN serves for one segment of the rendition at `kbps`.
    pub fn segment_bytes(&self, kbps: u32) -> usize {
        (f64::from(kbps) * 125.0 * self.segment.as_secs_f64() / self.time_scale).round().max(1.0) as usize
    }

    /// The wall-clock time a media duration takes to play.
    pub fn to_wall(&self, media: Duration) -> Duration {
        media.div_f64(self.time_scale)
    }

    /// The media time a wall-clock duration plays.
    pub fn to_media(&self, wall: Duration) -> Duration {
        wall.mul_f64(self.time_scale)
    }

    /// Checks the ladder and the scale.
    pub fn validate(&self) -> Result<(), String> {
        if self.ladder_kbps.is_empty() || self.ladder_kbps.windows(2).any(|w| w[0] >= w[1]) {
            return Err("media.ladder_kbps must list at least one bitrate, strictly ascending".into());
        }
        if !(self.time_scale >= 1.0 && self.time_scale.is_finite()) || self.segment.is_zero() || self.segments == 0 {
            return Err("media needs time_scale ≥ 1, a non-zero segment and at least one segment".into());
        }
        chaos_fault::check_delays(&[("segment", self.segment)])?;
        Ok(())
    }
}

impl PlayerSpec {
    /// The device's timeouts and buffer levels, by name, for `chaos_fault::check_delays`.
    pub(crate) fn durations(&self) -> Vec<(&'static str, Duration)> {
        let a = &self.abr;
        vec![
            ("edge_timeout", self.edge_timeout),
            ("cdn_timeout", self.cdn_timeout),
            ("start_budget", self.start_budget),
            ("stall_timeout", self.stall_timeout),
            ("abr.reservoir", a.reservoir),
            ("abr.upswitch_buffer", a.upswitch_buffer),
            ("abr.cushion", a.cushion),
            ("abr.max_buffer", a.max_buffer),
        ]
    }
}

/// Netflix-like ladder, 235 kbit/s to 16 Mbit/s.
fn default_ladder() -> Vec<u32> {
    vec![235, 375, 560, 750, 1050, 1750, 2350, 3000, 4300, 5800, 8000, 16000]
}

fn default_segment() -> Duration {
    Duration::from_secs(4)
}

fn default_scale() -> f64 {
    100.0
}

/// Six minutes of 4 s segments: longer than any session watches by default, and a media playlist
/// (text, which the time scale cannot shrink) of about 1.7 KB, the weight of one low segment.
fn default_segments() -> u32 {
    90
}

/// The device's settings. Network timeouts are wall-clock; buffer levels are media time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlayerSpec {
    /// Timeout of each call to the edge.
    #[serde(with = "humantime_serde")]
    pub edge_timeout: Duration,
    /// Timeout of each segment download attempt (wall clock).
    #[serde(with = "humantime_serde")]
    pub cdn_timeout: Duration,
    /// A start succeeds when the first frame arrives within this, counted from the Play press;
    /// past it the viewer leaves (an exit before video start).
    #[serde(with = "humantime_serde")]
    pub start_budget: Duration,
    /// Segments buffered before the first frame shows.
    pub first_frame_segments: u32,
    /// Segments a viewer watches (the session's length); experiments may override it.
    #[serde(default = "default_watch")]
    pub watch_segments: u32,
    /// The adaptive-bitrate rule's settings.
    #[serde(default)]
    pub abr: AbrSpec,
    /// A body with no new byte for this long (wall clock) is a stalled download: aborted and
    /// fetched from the next CDN.
    #[serde(default = "default_stall_timeout", with = "humantime_serde")]
    pub stall_timeout: Duration,
    /// Guard: move to the next CDN when one fails.
    #[serde(default = "yes")]
    pub failover: bool,
    /// Guard: switch down (and abandon downloads that cannot arrive in time) when throughput drops.
    #[serde(default = "yes")]
    pub adaptive: bool,
    /// Guard: abort a stalled download after `stall_timeout` instead of waiting for `cdn_timeout`.
    #[serde(default = "yes")]
    pub stall_abort: bool,
    /// Send CTA-5004 Common Media Client Data with each media request (`query` or `headers`).
    #[serde(default, skip_serializing_if = "is_off")]
    pub cmcd: crate::player::cmcd::CmcdMode,
}

fn is_off(mode: &crate::player::cmcd::CmcdMode) -> bool {
    *mode == crate::player::cmcd::CmcdMode::Off
}

/// The ABR rule's settings (see `player::abr`). Buffer levels are media time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbrSpec {
    /// The first segment's bitrate, kbit/s (the highest rendition at or below it).
    #[serde(default = "default_start")]
    pub start_kbps: u32,
    /// Share of the estimated throughput a rendition may use.
    #[serde(default = "default_safety")]
    pub safety: f64,
    /// Below this buffer level the lowest rendition is fetched, to refill fast.
    #[serde(default = "default_reservoir", with = "humantime_serde")]
    pub reservoir: Duration,
    /// Up-switches only with at least this much buffered.
    #[serde(default = "default_upswitch", with = "humantime_serde")]
    pub upswitch_buffer: Duration,
    /// Above this level a throughput dip moves down one rendition at a time (the buffer rides it out).
    #[serde(default = "default_cushion", with = "humantime_serde")]
    pub cushion: Duration,
    /// The player fetches ahead up to this much buffered media.
    #[serde(default = "default_max_buffer", with = "humantime_serde")]
    pub max_buffer: Duration,
}

impl Default for AbrSpec {
    fn default() -> Self {
        Self {
            start_kbps: default_start(),
            safety: default_safety(),
            reservoir: default_reservoir(),
            upswitch_buffer: default_upswitch(),
            cushion: default_cushion(),
            max_buffer: default_max_buffer(),
        }
    }
}

fn yes() -> bool {
    true
}
fn default_watch() -> u32 {
    15
}
fn default_stall_timeout() -> Duration {
    Duration::from_millis(150)
}
fn default_start() -> u32 {
    3000
}
fn default_safety() -> f64 {
    0.8
}
fn default_reservoir() -> Duration {
    Duration::from_secs(8)
}
fn default_upswitch() -> Duration {
    Duration::from_secs(12)
}
fn default_cushion() -> Duration {
    Duration::from_secs(20)
}
fn default_max_buffer() -> Duration {
    Duration::from_secs(30)
}
