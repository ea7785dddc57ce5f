//! Playback (manifests: renditions, segment length, ranked CDN instances) and CDN (segment
//! bytes of the requested rendition, streamed).

use super::routes::{Call, Table};
use super::{Ctx, stable_hash};
use crate::topology::Role;
use axum::Json;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Serialize;
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
/// same user sees the same order), as a steering service would.
async fn manifest(ctx: Arc<Ctx>, req: Call) -> Json<Manifest> {
    ctx.work().await;
    let n = ctx.steered.len().max(1);
    let first = (stable_hash(req.user()) % n as u64) as usize;
    let cdns = ctx.steered.iter().cycle().skip(first).take(ctx.steered.len()).cloned().collect();
    let media = &ctx.media;
    let renditions =
        media.ladder_kbps.iter().map(|&kbps| Rendition { bytes: media.segment_bytes(kbps), kbps }).collect();
    Json(Manifest {
        cdns,
        renditions,
        segment_ms: media.segment.as_millis() as u64,
        segments: media.segments,
        time_scale: media.time_scale,
        title: req.param,
    })
}

/// A manifest as the playback service answers it (keys in alphabetical order, as they were when
/// it was built as a JSON value).
#[derive(Serialize)]
struct Manifest {
    cdns: Vec<String>,
    renditions: Vec<Rendition>,
    segment_ms: u64,
    segments: u32,
    time_scale: f64,
    title: String,
}

#[derive(Serialize)]
struct Rendition {
    bytes: usize,
    kbps: u32,
}

/// Streams segment `{title}/{kbps}/{n}` in frames of 16 KiB; 404 for a bitrate or a segment the
/// manifest does not list, 400 for a bitrate or number that is not one.
///
/// The three parts are one wildcard, split here: a route has one parameter (the routes decode
/// and allocate each), and three of them were a third of a segment request's routing (the CDN
/// answers 15 of a session's 25 requests).
async fn segment(ctx: Arc<Ctx>, req: Call) -> Response {
    let mut parts = req.param.split('/');
    let (Some(_title), Some(kbps), Some(n), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return (http::StatusCode::NOT_FOUND, "a segment is /segments/{title}/{kbps}/{n}").into_response();
    };
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
    Body::from_stream(futures_util::stream::iter(frames)).into_response()
}
