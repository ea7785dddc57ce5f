//! Playback (manifests: an HLS master playlist listing each rendition once per CDN instance, in
//! the user's ranked order) and CDN (media playlists, and the segment bytes of the requested
//! rendition, streamed).

use super::routes::{Call, Table};
use super::{Ctx, stable_hash};
use crate::topology::Role;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use serde::Serialize;
use std::fmt::Write;
use std::sync::Arc;

/// Bytes per body frame when streaming a segment.
const CHUNK: usize = 16 * 1024;
static ZEROS: [u8; CHUNK] = [0; CHUNK];

pub(super) fn routes(role: Role, ctx: &Arc<Ctx>) -> Table {
    let t = Table::default();
    match role {
        Role::Playback => t.get("/manifest/{title}", ctx, manifest),
        Role::Cdn => t.get("/segments/{*segment}", ctx, segment),
        _ => t,
    }
}

/// Ranks the steered CDN instances for this user (a stable rotation, so load spreads and the
/// same user sees the same order), as a steering service would, and lists them in an HLS master
/// playlist: each rendition once per CDN, in that order (redundant variant streams, which
/// players fail over between).
async fn manifest(ctx: Arc<Ctx>, req: Call) -> Response {
    ctx.work().await;
    let n = ctx.steered.len().max(1);
    let first = (stable_hash(req.user()) % n as u64) as usize;
    let answer = ctx.manifest(&req.param, first, || {
        let ranked = ctx.steered.iter().cycle().skip(first).take(ctx.steered.len());
        let mut hls = String::from("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n");
        for cdn in ranked {
            for kbps in &ctx.media.ladder_kbps {
                let (bandwidth, title) = (kbps * 1000, &req.param);
                let _ =
                    write!(hls, "#EXT-X-STREAM-INF:BANDWIDTH={bandwidth}\n{cdn}/segments/{title}/{kbps}/index.m3u8\n");
            }
        }
        let manifest = Manifest { hls, time_scale: ctx.media.time_scale, title: req.param.clone() };
        Bytes::from(serde_json::to_vec(&manifest).expect("a manifest serialises"))
    });
    ([(CONTENT_TYPE, "application/json")], answer).into_response()
}

/// A manifest as the playback service answers it: the master playlist and the media time scale
/// (media seconds per wall-clock second), which HLS has no tag for.
#[derive(Serialize)]
struct Manifest {
    hls: String,
    time_scale: f64,
    title: String,
}

/// The media playlist every rendition of every title shares (segment `n` is at the relative URI
/// `n`): VOD, each segment's `EXTINF` its media time. Made once per CDN instance.
pub(super) fn media_playlist(media: &crate::topology::MediaSpec) -> Bytes {
    let seconds = media.segment.as_secs_f64();
    let mut m3u8 = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:{}\n#EXT-X-MEDIA-SEQUENCE:0\n",
        seconds.ceil() as u64
    );
    for n in 0..media.segments {
        let _ = write!(m3u8, "#EXTINF:{seconds:.3},\n{n}\n");
    }
    m3u8.push_str("#EXT-X-ENDLIST\n");
    Bytes::from(m3u8)
}

/// Streams segment `{title}/{kbps}/{n}` in frames of 16 KiB with its `content-length`, or answers
/// the rendition's media playlist (`{title}/{kbps}/index.m3u8`); 404 for a bitrate or a segment
/// the manifest does not list, 400 for a bitrate or number that is not one.
///
/// The three parts are one wildcard, split here: a route has one parameter (the routes decode
/// and allocate each), and three of them were a third of a segment request's routing (the CDN
/// answers 15 of a session's 25 requests).
async fn segment(ctx: Arc<Ctx>, req: Call) -> Response {
    let mut parts = req.param.split('/');
    let (Some(_title), Some(kbps), Some(n), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return (http::StatusCode::NOT_FOUND, "a segment is /segments/{title}/{kbps}/{n}").into_response();
    };
    if n == "index.m3u8" && kbps.parse().is_ok_and(|kbps| ctx.media.ladder_kbps.contains(&kbps)) {
        ctx.work().await;
        return ([(CONTENT_TYPE, "application/vnd.apple.mpegurl")], ctx.media_playlist()).into_response();
    }
    let (Ok(kbps), Ok(n)) = (kbps.parse::<u32>(), n.parse::<u32>()) else {
        return (http::StatusCode::BAD_REQUEST, "bitrate and segment number are whole numbers").into_response();
    };
    if !ctx.media.ladder_kbps.contains(&kbps) || n >= ctx.media.segments {
        return (http::StatusCode::NOT_FOUND, "no such rendition or segment").into_response();
    }
    ctx.work().await;
    let total = ctx.media.segment_bytes(kbps);
    let frames = (0..total.div_ceil(CHUNK)).map(move |i| {
        let len = CHUNK.min(total - i * CHUNK);
        Ok::<_, std::convert::Infallible>(Bytes::from_static(&ZEROS[..len]))
    });
    ([(CONTENT_LENGTH, total)], Body::from_stream(futures_util::stream::iter(frames))).into_response()
}
