//! HLS: a master playlist lists the variant streams (one per rendition, with its `BANDWIDTH`;
//! several with the same bandwidth and resolution are redundant copies of one rendition, for
//! failover), each a media playlist listing its segments with their `EXTINF` durations.

use super::{ManifestError, Presentation, Rendition, Track, Unsupported};
use m3u8_rs::{KeyMethod, MasterPlaylist, MediaPlaylist, MediaPlaylistType, Playlist};
use std::time::Duration;
use url::Url;

/// Tags of low-latency HLS, which m3u8-rs keeps as unknown tags.
const LOW_LATENCY_TAGS: [&str; 4] = ["X-PART", "X-PART-INF", "X-SERVER-CONTROL", "X-PRELOAD-HINT"];

/// A rendition as the master playlist lists it: its media playlists, first and redundant copies.
#[derive(Clone, Debug, PartialEq)]
pub struct Variant {
    /// `BANDWIDTH`, kbit/s.
    pub kbps: u32,
    /// The media playlists, in the master playlist's order.
    pub playlists: Vec<Url>,
}

/// The variants of the master playlist at `url`, lowest bitrate first.
pub fn master(url: &Url, body: &[u8]) -> Result<Vec<Variant>, ManifestError> {
    match parse(url, body)? {
        Playlist::MasterPlaylist(m) => variants(url, &m),
        Playlist::MediaPlaylist(_) => Err(ManifestError::unsupported(url, Unsupported::MediaPlaylistOnly)),
    }
}

fn variants(url: &Url, m: &MasterPlaylist) -> Result<Vec<Variant>, ManifestError> {
    let mut out: Vec<(Variant, Option<(u64, u64)>)> = Vec::new();
    for v in m.variants.iter().filter(|v| !v.is_i_frame) {
        let playlist = join(url, &v.uri)?;
        let resolution = v.resolution.map(|r| (r.width, r.height));
        let kbps = kbps(v.bandwidth);
        match out.iter_mut().find(|(o, res)| o.kbps == kbps && *res == resolution) {
            Some((same, _)) => same.playlists.push(playlist),
            None => out.push((Variant { kbps, playlists: vec![playlist] }, resolution)),
        }
    }
    let mut out: Vec<Variant> = out.into_iter().map(|(v, _)| v).collect();
    if out.is_empty() {
        return Err(ManifestError::Empty { url: url.clone() });
    }
    out.sort_by_key(|v| v.kbps);
    Ok(out)
}

/// The segments of the media playlist at `url` and their durations.
pub fn media(url: &Url, body: &[u8]) -> Result<(Track, Vec<Duration>), ManifestError> {
    let l = listing(url, body)?;
    let init = l.init.as_deref().map(|uri| join(url, uri)).transpose()?;
    let segments = l.segments.iter().map(|uri| join(url, uri)).collect::<Result<_, _>>()?;
    Ok((Track { init, segments }, l.durations.to_vec()))
}

/// A media playlist as written: its references unresolved, so that what is read depends on the
/// body alone (players share one reading of the same playlist served from several places).
#[derive(Clone, Debug, PartialEq)]
pub struct Listing {
    /// The initialisation segment's URI reference (`EXT-X-MAP`).
    pub init: Option<String>,
    /// Each media segment's URI reference.
    pub segments: Vec<String>,
    /// Each media segment's `EXTINF`.
    pub durations: std::sync::Arc<[Duration]>,
}

/// Reads the media playlist `body` (from `url`, which errors name).
pub fn listing(url: &Url, body: &[u8]) -> Result<Listing, ManifestError> {
    match parse(url, body)? {
        Playlist::MediaPlaylist(m) => entries(url, m),
        Playlist::MasterPlaylist(_) => Err(ManifestError::Invalid {
            url: url.clone(),
            format: super::Format::Hls,
            reason: "a master playlist where a media playlist was expected".into(),
        }),
    }
}

fn entries(url: &Url, m: MediaPlaylist) -> Result<Listing, ManifestError> {
    let unsupported = |feature| Err(ManifestError::unsupported(url, feature));
    if m.unknown_tags
        .iter()
        .chain(m.segments.iter().flat_map(|s| &s.unknown_tags))
        .any(|t| LOW_LATENCY_TAGS.contains(&t.tag.as_str()))
    {
        return unsupported(Unsupported::LowLatencyHls);
    }
    if !m.end_list && m.playlist_type != Some(MediaPlaylistType::Vod) {
        return unsupported(Unsupported::Live);
    }
    let mut init = None;
    let (mut segments, mut durations) = (Vec::with_capacity(m.segments.len()), Vec::with_capacity(m.segments.len()));
    for s in m.segments {
        if s.key.as_ref().is_some_and(|k| k.method != KeyMethod::None) {
            return unsupported(Unsupported::Encryption);
        }
        if s.byte_range.is_some() || s.map.as_ref().is_some_and(|m| m.byte_range.is_some()) {
            return unsupported(Unsupported::ByteRanges);
        }
        // EXT-X-MAP applies to the segments after it; one per rendition is what this player
        // fetches (a second would be a discontinuity, which VOD ladders do not have).
        if let (None, Some(map)) = (&init, s.map) {
            init = Some(map.uri.trim().to_string());
        }
        durations.push(Duration::from_secs_f64(f64::from(s.duration).max(0.0)));
        segments.push(s.uri.trim().to_string());
    }
    Ok(Listing { init, segments, durations: durations.into() })
}

/// The presentation of a master playlist's `variants` and their fetched media playlists
/// (`tracks[i][j]`: variant `i`'s copy `j`, with its durations).
pub fn presentation(
    url: &Url,
    variants: &[Variant],
    tracks: Vec<Vec<(Track, Vec<Duration>)>>,
) -> Result<Presentation, ManifestError> {
    let ladder = variants
        .iter()
        .zip(tracks)
        .filter_map(|(v, copies)| {
            let durations = copies.first()?.1.clone();
            Some((Rendition { kbps: v.kbps, copies: copies.into_iter().map(|(t, _)| t).collect() }, durations))
        })
        .collect();
    Presentation::assemble(url, ladder)
}

fn parse(url: &Url, body: &[u8]) -> Result<Playlist, ManifestError> {
    m3u8_rs::parse_playlist_res(body).map_err(|e| ManifestError::Invalid {
        url: url.clone(),
        format: super::Format::Hls,
        reason: match e {
            nom::Err::Error(e) | nom::Err::Failure(e) => format!("{:?} near line {}", e.code, line_of(body, e.input)),
            nom::Err::Incomplete(_) => "it ends too soon".into(),
        },
    })
}

/// The 1-based line of `rest` (a tail of `body`) in `body`.
fn line_of(body: &[u8], rest: &[u8]) -> usize {
    let at = body.len().saturating_sub(rest.len());
    1 + body[..at].iter().filter(|&&b| b == b'\n').count()
}

/// `uri` resolved against the playlist at `base`.
pub(super) fn join(base: &Url, uri: &str) -> Result<Url, ManifestError> {
    base.join(uri.trim()).map_err(|e| ManifestError::Invalid {
        url: base.clone(),
        format: super::Format::Hls,
        reason: format!("`{uri}` is not a URI: {e}"),
    })
}

fn kbps(bits_per_second: u64) -> u32 {
    u32::try_from(bits_per_second.div_ceil(1000)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    const MASTER: &str = "#EXTM3U\n#EXT-X-VERSION:3\n\
        #EXT-X-STREAM-INF:BANDWIDTH=1320000,RESOLUTION=640x360\nhi/index.m3u8\n\
        #EXT-X-STREAM-INF:BANDWIDTH=220000,RESOLUTION=256x144\nlo/index.m3u8\n\
        #EXT-X-STREAM-INF:BANDWIDTH=220000,RESOLUTION=256x144\nhttp://b.test/lo/index.m3u8\n\
        #EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=50000,URI=\"iframes.m3u8\"\n";

    #[test]
    fn master_lists_renditions_ascending_with_redundant_copies() {
        let v = master(&url("http://a.test/v/master.m3u8"), MASTER.as_bytes()).unwrap();
        assert_eq!(v.len(), 2, "{v:?}");
        assert_eq!(v[0].kbps, 220);
        assert_eq!(v[0].playlists, [url("http://a.test/v/lo/index.m3u8"), url("http://b.test/lo/index.m3u8")]);
        assert_eq!((v[1].kbps, v[1].playlists.len()), (1320, 1));
    }

    #[test]
    fn media_playlist_gives_segments_durations_and_init() {
        let body = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MAP:URI=\"init.mp4\"\n\
            #EXTINF:2.0,\ns0.m4s\n#EXTINF:1.5,\ns1.m4s\n#EXT-X-ENDLIST\n";
        let (track, durations) = media(&url("http://a.test/v/lo/index.m3u8"), body.as_bytes()).unwrap();
        assert_eq!(track.init, Some(url("http://a.test/v/lo/init.mp4")));
        assert_eq!(track.segments, [url("http://a.test/v/lo/s0.m4s"), url("http://a.test/v/lo/s1.m4s")]);
        assert_eq!(durations, [Duration::from_secs(2), Duration::from_millis(1500)]);
    }

    fn refused(body: &str) -> Unsupported {
        match media(&url("http://a.test/x.m3u8"), body.as_bytes()) {
            Err(ManifestError::Unsupported { feature, .. }) => feature,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn what_this_player_cannot_play_is_named() {
        let vod = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n";
        assert_eq!(refused(&format!("{vod}#EXTINF:2,\ns.ts\n")), Unsupported::Live);
        let ll = format!("{vod}#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES\n#EXTINF:2,\ns.ts\n#EXT-X-ENDLIST\n");
        assert_eq!(refused(&ll), Unsupported::LowLatencyHls);
        let key = format!("{vod}#EXT-X-KEY:METHOD=AES-128,URI=\"k\"\n#EXTINF:2,\ns.ts\n#EXT-X-ENDLIST\n");
        assert_eq!(refused(&key), Unsupported::Encryption);
        let range = format!("{vod}#EXTINF:2,\n#EXT-X-BYTERANGE:100@0\ns.ts\n#EXT-X-ENDLIST\n");
        assert_eq!(refused(&range), Unsupported::ByteRanges);
        let only = format!("{vod}#EXTINF:2,\ns.ts\n#EXT-X-ENDLIST\n");
        assert!(matches!(
            master(&url("http://a.test/x.m3u8"), only.as_bytes()),
            Err(ManifestError::Unsupported { feature: Unsupported::MediaPlaylistOnly, .. })
        ));
    }

    #[test]
    fn renditions_cut_differently_are_refused() {
        let u = url("http://a.test/m.m3u8");
        let variants = master(&u, MASTER.as_bytes()).unwrap();
        let track = |n: usize| (Track { init: None, segments: vec![u.clone(); n] }, vec![Duration::from_secs(2); n]);
        let p = presentation(&u, &variants, vec![vec![track(3), track(3)], vec![track(3)]]).unwrap();
        assert_eq!((p.renditions.len(), p.renditions[0].copies.len(), p.duration()), (2, 2, Duration::from_secs(6)));
        let e = presentation(&u, &variants, vec![vec![track(3)], vec![track(4)]]).unwrap_err();
        assert!(matches!(e, ManifestError::Unsupported { feature: Unsupported::UnalignedSegments, .. }), "{e}");
    }

    #[test]
    fn garbage_is_refused() {
        let u = url("http://a.test/m.m3u8");
        let e = master(&u, b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=x\n").unwrap_err();
        assert!(matches!(e, ManifestError::Empty { .. }), "{e}");
        let e = master(&u, b"<html>").unwrap_err();
        assert!(matches!(e, ManifestError::Invalid { .. }), "{e}");
    }
}
