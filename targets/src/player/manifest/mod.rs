//! Real streams' manifests: an HLS master playlist and its media playlists ([`hls`], read by
//! m3u8-rs) or a DASH MPD ([`dash`], read by dash-mpd's parser), turned into one
//! [`Presentation`]: the renditions with their bitrates and the URL of every segment.
//!
//! Only what a VOD player needs is kept, and what this player cannot play honestly is refused
//! with a [`ManifestError`] naming it (live and low-latency streams, encryption, several periods,
//! byte ranges) rather than played wrong.

pub mod dash;
pub mod hls;

use std::time::Duration;
use url::Url;

/// What a player plays: renditions sharing one segmentation.
#[derive(Clone, Debug, PartialEq)]
pub struct Presentation {
    /// Ascending by bitrate.
    pub renditions: Vec<Rendition>,
    /// Media time of each segment (the lowest rendition's, as all share the segmentation).
    pub durations: Vec<Duration>,
}

/// One rendition of the ladder.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendition {
    /// Declared bitrate (HLS `BANDWIDTH`, DASH `@bandwidth`), kbit/s.
    pub kbps: u32,
    /// Where it is served: the first copy, then the alternates the manifest lists (HLS redundant
    /// variant streams, DASH `BaseURL`s), each with the same segments.
    pub copies: Vec<Track>,
}

/// One copy of a rendition's segments.
#[derive(Clone, Debug, PartialEq)]
pub struct Track {
    /// The initialisation segment (fMP4's `EXT-X-MAP`, DASH's `initialization`), fetched before
    /// the first media segment of the rendition.
    pub init: Option<Url>,
    /// Media segments in order.
    pub segments: Vec<Url>,
}

/// Which format a manifest is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// An HLS playlist (`#EXTM3U`).
    Hls,
    /// A DASH MPD (XML).
    Dash,
}

impl Format {
    /// Told from the body's first bytes (not the URL or content type, which origins get wrong).
    pub fn sniff(body: &[u8]) -> Option<Self> {
        let text = body.strip_prefix(b"\xef\xbb\xbf").unwrap_or(body);
        let start = text.iter().position(|b| !b.is_ascii_whitespace()).map_or(&[][..], |i| &text[i..]);
        if start.starts_with(b"#EXTM3U") {
            Some(Self::Hls)
        } else if start.starts_with(b"<") {
            Some(Self::Dash)
        } else {
            None
        }
    }
}

/// A feature of HLS or DASH this player does not play.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unsupported {
    /// A live (or event) stream: an HLS playlist without `EXT-X-ENDLIST`, a dynamic MPD.
    Live,
    /// Low-latency HLS (`EXT-X-PART`, `EXT-X-SERVER-CONTROL`, `EXT-X-PRELOAD-HINT`).
    LowLatencyHls,
    /// Encrypted segments (`EXT-X-KEY` other than `NONE`, DASH `ContentProtection`: DRM).
    Encryption,
    /// An MPD with more than one `Period`.
    MultiPeriod,
    /// Segments addressed by byte range (`EXT-X-BYTERANGE`, `SegmentBase`, `mediaRange`).
    ByteRanges,
    /// Renditions cut into different segments (counts differ), so switching is not aligned.
    UnalignedSegments,
    /// A media playlist given as the manifest: it declares no bitrate (give the master playlist).
    MediaPlaylistOnly,
    /// DASH elements given by reference (`xlink:href`).
    RemoteElements,
}

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Live => "live streams (an HLS playlist without EXT-X-ENDLIST, an MPD of type dynamic)",
            Self::LowLatencyHls => "low-latency HLS (EXT-X-PART / EXT-X-SERVER-CONTROL / EXT-X-PRELOAD-HINT)",
            Self::Encryption => "encrypted media (EXT-X-KEY, ContentProtection: DRM)",
            Self::MultiPeriod => "MPDs with more than one Period",
            Self::ByteRanges => "segments addressed by byte range (EXT-X-BYTERANGE, SegmentBase, mediaRange)",
            Self::UnalignedSegments => "renditions with different segment counts",
            Self::MediaPlaylistOnly => {
                "a media playlist as the manifest (give the master playlist: it has the bitrates)"
            }
            Self::RemoteElements => "remote (xlink) elements",
        })
    }
}

/// Why a manifest cannot be played.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Neither `#EXTM3U` nor XML.
    #[error("{url}: neither an HLS playlist (#EXTM3U) nor a DASH MPD (XML)")]
    UnknownFormat {
        /// The manifest's URL.
        url: Url,
    },
    /// The parser refused it.
    #[error("{url}: not a valid {format:?} manifest: {reason}")]
    Invalid {
        /// The manifest's (or media playlist's) URL.
        url: Url,
        /// Its format.
        format: Format,
        /// The parser's words.
        reason: String,
    },
    /// It uses what this player does not play.
    #[error("{url}: not supported: {feature}")]
    Unsupported {
        /// The manifest's (or media playlist's) URL.
        url: Url,
        /// What.
        feature: Unsupported,
    },
    /// Read, but it lists nothing to play.
    #[error("{url}: no video rendition with segments")]
    Empty {
        /// The manifest's URL.
        url: Url,
    },
}

impl ManifestError {
    fn unsupported(url: &Url, feature: Unsupported) -> Self {
        Self::Unsupported { url: url.clone(), feature }
    }
}

impl Presentation {
    /// Sorts the renditions, checks they share one segmentation and takes the durations from the
    /// lowest (`durations[i]` are rendition `i`'s, in the renditions' order before sorting).
    fn assemble(url: &Url, mut ladder: Vec<(Rendition, Vec<Duration>)>) -> Result<Self, ManifestError> {
        ladder.retain(|(r, _)| r.copies.first().is_some_and(|t| !t.segments.is_empty()));
        ladder.sort_by_key(|(r, _)| r.kbps);
        let Some((_, durations)) = ladder.first() else { return Err(ManifestError::Empty { url: url.clone() }) };
        let count = durations.len();
        let aligned =
            ladder.iter().all(|(r, d)| d.len() == count && r.copies.iter().all(|t| t.segments.len() == count));
        if !aligned {
            return Err(ManifestError::unsupported(url, Unsupported::UnalignedSegments));
        }
        let durations = durations.clone();
        Ok(Self { renditions: ladder.into_iter().map(|(r, _)| r).collect(), durations })
    }

    /// Media time of the whole presentation.
    pub fn duration(&self) -> Duration {
        self.durations.iter().sum()
    }
}
