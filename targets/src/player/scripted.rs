//! The session loop on scripted CDN links, under tokio's paused clock: no sockets, exact timing.

use super::stream::{SegmentBody, SegmentSource, StreamOutcome, play};
use super::{Media, PlayFailure, Segmentation};
use crate::topology::{MediaSpec, Topology};
use std::time::Duration;
use tokio::time::Instant;

/// One scripted CDN.
#[derive(Clone, Copy)]
struct Link {
    /// Bytes per wall-clock second.
    rate: f64,
    /// From this segment on, bodies stop after 1,000 bytes and never go on.
    stall_from: Option<u32>,
    /// From this segment on, the rate drops to `rate / 20`.
    slow_from: Option<u32>,
    /// Refuses every request.
    refuse: bool,
}

const FAST: Link = Link { rate: 50_000_000.0, stall_from: None, slow_from: None, refuse: false };

fn link(rate: f64) -> Link {
    Link { rate, ..FAST }
}

struct Script(Vec<Link>, MediaSpec);

/// A body that arrives in chunks of 1 ms worth (tokio's timer has a 1 ms tick), at least a byte.
struct Body {
    left: usize,
    chunk: usize,
    chunk_wait: Duration,
    stall_at: Option<usize>,
}

impl SegmentSource for Script {
    type Body = Body;

    async fn open(&self, cdn: usize, rendition: usize, n: u32, _: super::stream::Status) -> Result<Body, ()> {
        let link = self.0[cdn];
        if link.refuse {
            return Err(());
        }
        let rate = if link.slow_from.is_some_and(|s| n >= s) { link.rate / 20.0 } else { link.rate };
        tokio::time::sleep(Duration::from_millis(1)).await; // a round trip
        let total = self.1.segment_bytes(self.1.ladder_kbps[rendition]);
        let stall_at = link.stall_from.filter(|s| n >= *s).map(|_| total.saturating_sub(1000));
        let chunk = (rate / 1000.0).max(1.0);
        Ok(Body { left: total, chunk: chunk as usize, chunk_wait: Duration::from_secs_f64(chunk / rate), stall_at })
    }
}

impl SegmentBody for Body {
    fn len(&self) -> Option<usize> {
        None
    }

    async fn next(&mut self) -> Result<Option<usize>, ()> {
        if self.left == 0 {
            return Ok(None);
        }
        if self.stall_at.is_some_and(|at| self.left <= at) {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(self.chunk_wait).await;
        let n = self.left.min(self.chunk);
        self.left -= n;
        Ok(Some(n))
    }
}

fn media(spec: &MediaSpec, cdns: usize) -> Media {
    Media {
        ladder: spec.ladder_kbps.clone(),
        bytes: spec.ladder_kbps.iter().map(|&k| spec.segment_bytes(k)).collect(),
        exact_sizes: true,
        segment: spec.segment,
        segmentation: Segmentation::Uniform(spec.segments),
        scale: spec.time_scale,
        cdns,
    }
}

/// Plays 30 segments (2 minutes of media) over `links` with the default player, `tweak`ed.
async fn run(links: Vec<Link>, tweak: impl FnOnce(&mut crate::topology::PlayerSpec)) -> StreamOutcome {
    let topology = Topology::default_platform();
    let mut spec = topology.player.clone();
    spec.watch_segments = 30;
    tweak(&mut spec);
    let m = media(&topology.media, links.len());
    play(&Script(links, topology.media.clone()), &m, &spec, 0, Instant::now()).await
}

fn rebuffer_ratio(o: &StreamOutcome) -> f64 {
    let q = &o.qoe;
    q.stalled.as_secs_f64() / (q.played + q.stalled).as_secs_f64()
}

fn avg_kbps(o: &StreamOutcome) -> f64 {
    o.qoe.kbps_seconds / o.qoe.delivered.as_secs_f64()
}

#[tokio::test(start_paused = true)]
async fn a_fast_link_climbs_to_the_top_rendition_without_a_stall() {
    let o = run(vec![FAST], |_| {}).await;
    assert!(o.ttff.is_some() && o.failure.is_none(), "{o:?}");
    assert_eq!((o.qoe.rebuffers, o.qoe.delivered), (0, Duration::from_secs(120)));
    assert!(avg_kbps(&o) > 10_000.0, "average {:.0} kbit/s", avg_kbps(&o));
    assert!(o.qoe.switches >= 1 && o.qoe.switches <= 4, "{o:?}");
}

#[tokio::test(start_paused = true)]
async fn a_throttled_link_brings_the_bitrate_down_and_the_buffer_holds() {
    // 125,000 bytes/s is a 1 Mbit/s link: 750 kbit/s fits the 0.8 safety margin.
    let o = run(vec![link(125_000.0)], |_| {}).await;
    assert!(o.ttff.is_some(), "{o:?}");
    assert!(avg_kbps(&o) <= 1000.0, "average {:.0} kbit/s", avg_kbps(&o));
    assert!(rebuffer_ratio(&o) < 0.05, "rebuffer ratio {:.3} ({o:?})", rebuffer_ratio(&o));
    assert_eq!(o.qoe.delivered, Duration::from_secs(120));
}

#[tokio::test(start_paused = true)]
async fn without_adaptation_the_same_link_rebuffers() {
    let o = run(vec![link(125_000.0)], |p| p.adaptive = false).await;
    assert!(avg_kbps(&o) >= 3000.0, "stuck at the start rendition or above: {:.0}", avg_kbps(&o));
    assert!(rebuffer_ratio(&o) > 0.3, "rebuffer ratio {:.3}", rebuffer_ratio(&o));
    assert!(o.qoe.rebuffers >= 5, "{o:?}");
}

#[tokio::test(start_paused = true)]
async fn a_drop_in_throughput_mid_download_is_abandoned_for_a_lower_rendition() {
    let o = run(vec![Link { slow_from: Some(12), ..link(2_000_000.0) }], |_| {}).await;
    assert!(o.qoe.abandons >= 1, "{o:?}");
    assert!(o.qoe.switches >= 2, "{o:?}");
}

#[tokio::test(start_paused = true)]
async fn a_stalled_body_is_aborted_after_the_stall_timeout_and_fetched_from_the_next_cdn() {
    let stalling = Link { stall_from: Some(10), ..FAST };
    let o = run(vec![stalling, FAST], |_| {}).await;
    assert_eq!((o.failovers, o.qoe.stall_aborts, o.qoe.rebuffers), (1, 1, 0), "{o:?}");
    assert!(!o.qoe.interrupted);
    // Without the guard the player waits out the whole attempt timeout (1 s = 100 s of media).
    let o = run(vec![stalling, FAST], |p| p.stall_abort = false).await;
    assert_eq!((o.failovers, o.qoe.stall_aborts, o.qoe.rebuffers), (1, 0, 1), "{o:?}");
    assert!(o.qoe.stalled >= Duration::from_secs(60), "{o:?}");
}

#[tokio::test(start_paused = true)]
async fn refused_segments_fail_over_and_without_failover_the_start_fails() {
    let refusing = Link { refuse: true, ..FAST };
    let o = run(vec![refusing, FAST], |_| {}).await;
    assert!(o.ttff.is_some() && o.failovers == 1, "{o:?}");
    let o = run(vec![refusing, FAST], |p| p.failover = false).await;
    assert_eq!((o.ttff, o.failure), (None, Some(PlayFailure::Cdn)));
    // Slow but alive links: each attempt runs into the CDN timeout (1 s), the start budget ends first.
    let o = run(vec![link(2_000.0); 3], |p| p.start_budget = Duration::from_millis(1500)).await;
    assert_eq!((o.ttff, o.failure.clone(), o.failovers), (None, Some(PlayFailure::Budget), 1), "{o:?}");
}
