//! `load.player`: viewers of a real HLS or DASH stream on the user's own origins, played with
//! the platform's player (its ABR rule, buffer and guards) in real media time.
//!
//! ```yaml
//! load:
//!   rate: 2/s
//!   duration: 30s
//!   player:
//!     manifest: http://127.0.0.1:8080/video/master.m3u8
//!     origins: [http://127.0.0.1:8080, http://127.0.0.1:8081]
//!     watch: 20s
//!     start_budget: 4s
//! ```

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Who watches a real stream, and for how long.
#[derive(schemars::JsonSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlayerLoad {
    /// The HLS master playlist or DASH MPD, `http://HOST:PORT/PATH`.
    #[schemars(with = "String")]
    pub manifest: url::Url,
    /// Origins serving the same paths (`http://HOST:PORT`), in failover order: segments (and the
    /// manifest) are asked of the first, then the next (default: the manifest's own).
    #[schemars(with = "Vec<String>")]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub origins: Vec<url::Url>,
    /// Media time each viewer watches (default 60 s; at most the whole title).
    #[schemars(with = "String")]
    #[serde(default = "default_watch", with = "humantime_serde")]
    pub watch: Duration,
    /// A start succeeds when the first frame shows within this from the Play press (the
    /// manifest's reading counts); past it the viewer leaves (default 4 s).
    #[schemars(with = "String")]
    #[serde(default = "default_start_budget", with = "humantime_serde")]
    pub start_budget: Duration,
    /// The longest a segment download may take before the player gives up on it and fails over
    /// (default 4 s).
    #[schemars(with = "String")]
    #[serde(default = "default_segment_timeout", with = "humantime_serde")]
    pub segment_timeout: Duration,
    /// A download with no new byte for this long is stalled: aborted and fetched from the next
    /// origin, with `player/stall_abort` on (default 1 s).
    #[schemars(with = "String")]
    #[serde(default = "default_stall_timeout", with = "humantime_serde")]
    pub stall_timeout: Duration,
    /// The first segment's bitrate, kbit/s: the highest rendition at or below it (default 500,
    /// hls.js's first estimate; the platform's player starts at 3000).
    #[serde(default = "default_start_kbps")]
    pub start_kbps: u32,
    /// Send CTA-5004 Common Media Client Data with every request, so that your origin's or CDN's
    /// logs can be joined with each viewer's view (session id, object, bitrate, buffer, measured
    /// throughput): `query` (the `CMCD` argument) or `headers` (`CMCD-Object`, `-Request`,
    /// `-Session`, `-Status`); default `off`.
    #[serde(default, skip_serializing_if = "Cmcd::is_off")]
    pub cmcd: Cmcd,
}

/// Whether and how viewers send CMCD.
#[derive(schemars::JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cmcd {
    /// Not at all.
    #[default]
    Off,
    /// As the `CMCD` query argument.
    Query,
    /// As the four `CMCD-*` headers.
    Headers,
}

impl Cmcd {
    fn is_off(&self) -> bool {
        *self == Self::Off
    }
}

fn default_start_kbps() -> u32 {
    500
}

fn default_watch() -> Duration {
    Duration::from_secs(60)
}

fn default_start_budget() -> Duration {
    Duration::from_secs(4)
}

fn default_segment_timeout() -> Duration {
    Duration::from_secs(4)
}

fn default_stall_timeout() -> Duration {
    Duration::from_secs(1)
}

/// Longest a `watch` or a timeout may be.
const DAY: Duration = Duration::from_secs(86_400);

impl PlayerLoad {
    /// Why it cannot be played, as (field, message).
    pub(crate) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(why) = http_problem(&self.manifest, false) {
            out.push(("manifest", why));
        }
        for origin in &self.origins {
            if let Some(why) = http_problem(origin, true) {
                out.push(("origins", why));
            }
        }
        let durations = [
            ("watch", self.watch),
            ("start_budget", self.start_budget),
            ("segment_timeout", self.segment_timeout),
            ("stall_timeout", self.stall_timeout),
        ];
        for (field, d) in durations {
            if d.is_zero() || d > DAY {
                out.push((field, format!("{} must be more than 0 and at most a day", humantime::format_duration(d))));
            }
        }
        out
    }

    /// A viewer of the stream with `player` (the topology's, its guards as the experiment set
    /// them) held to this load's real-time limits.
    pub fn viewer(&self, mut player: targets::PlayerSpec) -> targets::StreamPlayer {
        player.start_budget = self.start_budget;
        player.cdn_timeout = self.segment_timeout;
        player.stall_timeout = self.stall_timeout;
        // Real media starts on its first segment, as players do with 2–6 s segments.
        player.first_frame_segments = 1;
        player.abr.start_kbps = self.start_kbps;
        player.cmcd = match self.cmcd {
            Cmcd::Off => targets::CmcdMode::Off,
            Cmcd::Query => targets::CmcdMode::Query,
            Cmcd::Headers => targets::CmcdMode::Headers,
        };
        let stream =
            targets::StreamSpec { manifest: self.manifest.clone(), origins: self.origins.clone(), watch: self.watch };
        targets::StreamPlayer::new(stream, player)
    }
}

/// Why `url` is not an `http://` URL with a host (with `base`, nothing after the authority).
pub(super) fn http_problem(url: &url::Url, base: bool) -> Option<String> {
    if url.scheme() != "http" || url.host_str().is_none_or(str::is_empty) {
        let https = if url.scheme() == "https" { " (https is not supported yet)" } else { "" };
        return Some(format!("`{url}` must be an http://HOST:PORT URL{https}"));
    }
    if base && (url.path() != "/" || url.query().is_some()) {
        return Some(format!("`{url}` must be an origin (http://HOST:PORT), without a path"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(manifest: &str, origins: &[&str]) -> PlayerLoad {
        PlayerLoad {
            manifest: manifest.parse().unwrap(),
            origins: origins.iter().map(|o| o.parse().unwrap()).collect(),
            watch: default_watch(),
            start_budget: default_start_budget(),
            segment_timeout: default_segment_timeout(),
            stall_timeout: default_stall_timeout(),
            start_kbps: default_start_kbps(),
            cmcd: Cmcd::Off,
        }
    }

    #[test]
    fn urls_are_checked() {
        assert!(load("http://127.0.0.1:8080/v/master.m3u8", &["http://127.0.0.1:8081"]).problems().is_empty());
        let bad = load("https://cdn.test/v.mpd", &["http://127.0.0.1:8081/v"]).problems();
        assert_eq!(bad.iter().map(|(f, _)| *f).collect::<Vec<_>>(), ["manifest", "origins"]);
        assert!(bad[0].1.contains("https is not supported"), "{bad:?}");
        assert!(!load("ftp://127.0.0.1/m.mpd", &[]).problems().is_empty());
    }

    #[test]
    fn zero_durations_are_refused() {
        let mut l = load("http://127.0.0.1:1/m.mpd", &[]);
        l.watch = Duration::ZERO;
        assert_eq!(l.problems()[0].0, "watch");
    }
}
