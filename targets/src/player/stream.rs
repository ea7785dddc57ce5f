//! One play session after the manifest: fetch segments ahead with the ABR rule, fill and drain
//! the buffer in scaled media time, fail over between CDNs on an error, a timeout or a stalled
//! body, abandon downloads that cannot arrive in time — and report what the viewer saw.
//!
//! Generic over where segments come from ([`SegmentSource`]): the device fetches them over HTTP;
//! the tests script throughput traces under tokio's paused clock, without sockets.

use super::abr::{AbrRule, Throughput};
use super::buffer::{Event, Playout};
use super::{Media, PlayFailure};
use crate::topology::PlayerSpec;
use std::future::Future;
use std::task::Poll;
use std::time::Duration;
use tokio::time::{Instant, timeout_at};

/// Where segments come from: CDN `cdn` (an index into the manifest's list), rendition
/// `rendition` (an index into the ladder), segment `n`.
///
/// Sources need no timeouts of their own: the session bounds every wait, for the head and for
/// each chunk, by the stall guard and the CDN timeout.
pub trait SegmentSource: Sync {
    /// A body being received.
    type Body: SegmentBody;
    /// Starts a download, the player being in `status`; `Err` when the CDN refused it or could
    /// not be reached.
    fn open(
        &self,
        cdn: usize,
        rendition: usize,
        n: u32,
        status: Status,
    ) -> impl Future<Output = Result<Self::Body, ()>> + Send;

    /// Gets what a download of `rendition` from `cdn` needs first (its media playlist, its
    /// initialisation segment), before the download's clock starts: that time is not the
    /// segment's throughput (as in hls.js and dash.js, whose estimates count media segments
    /// only). `Err` fails the attempt as a refused download does.
    fn prepare(&self, cdn: usize, rendition: usize, status: Status) -> impl Future<Output = Result<(), ()>> + Send {
        let _ = (cdn, rendition, status);
        std::future::ready(Ok(()))
    }
}

/// What the player knows when it makes a request (what CMCD tells the origin).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Status {
    /// Media buffered.
    pub buffer: Duration,
    /// The throughput estimate, kbit/s, once there is one.
    pub throughput_kbps: Option<f64>,
    /// Playback has not started yet.
    pub starting: bool,
    /// The buffer ran dry since the previous segment's first request.
    pub starved: bool,
}

/// A segment body arriving in chunks.
pub trait SegmentBody: Send {
    /// The body's length when its head says it (`content-length`).
    fn len(&self) -> Option<usize>;
    /// The length of the next chunk; `None` at the end; `Err` when the connection failed.
    fn next(&mut self) -> impl Future<Output = Result<Option<usize>, ()>> + Send;
}

/// How the stream went, as the viewer saw it. Durations are media time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Qoe {
    /// Media played.
    pub played: Duration,
    /// Time stalled after the first frame (rebuffering).
    pub stalled: Duration,
    /// Stalls after the first frame.
    pub rebuffers: u32,
    /// Σ bitrate (kbit/s) × media seconds of the segments delivered, for the average bitrate.
    pub kbps_seconds: f64,
    /// Media seconds of the segments delivered.
    pub delivered: Duration,
    /// Rendition changes between consecutive segments.
    pub switches: u32,
    /// Of those, to a lower rendition.
    pub down_switches: u32,
    /// Downloads abandoned for a lower rendition.
    pub abandons: u32,
    /// Downloads aborted because their body stalled.
    pub stall_aborts: u32,
    /// The stream stopped before the viewer's last segment: no CDN could serve one.
    pub interrupted: bool,
}

/// What one session's stream gave.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamOutcome {
    /// Time to first frame from the Play press, when it showed within the start budget.
    pub ttff: Option<Duration>,
    /// Why it never started.
    pub failure: Option<PlayFailure>,
    /// Moves to the next CDN.
    pub failovers: u32,
    /// The viewer's experience.
    pub qoe: Qoe,
}

/// How one download attempt ended.
enum Attempt {
    /// The body arrived whole, with this many bytes, in this window (from the download's start,
    /// after what it needed first, to its end).
    Done { began: Instant, end: Instant, bytes: usize },
    /// Given up for this lower rendition: it could not arrive before the buffer ran dry.
    Abandoned(usize),
    /// Refused, cut off or timed out; `stalled` when the stall guard gave up on a wait before
    /// the attempt's limit.
    Failed { stalled: bool },
}

/// The session: what is played, by which rules, and the clock of the buffer.
struct Session<'a, S> {
    source: &'a S,
    media: &'a Media,
    spec: &'a PlayerSpec,
    abr: AbrRule,
    buffer: Playout,
    /// When the buffer was last brought up to date.
    clock: Instant,
}

impl<S: SegmentSource> Session<'_, S> {
    /// Brings the buffer up to now.
    fn tick(&mut self) {
        self.tick_at(Instant::now());
    }

    /// Brings the buffer up to `now`, read by the caller.
    fn tick_at(&mut self, now: Instant) {
        self.buffer.advance(self.media.to_media(now - self.clock));
        self.clock = now;
    }

    /// Wall-clock playback left in the buffer at `now`.
    fn buffer_wall(&self, now: Instant) -> Duration {
        self.media.to_wall(self.buffer.level_after(self.media.to_media(now - self.clock)))
    }

    /// One attempt at segment `n` of `rendition` from `cdn`, started at `start` and ending by
    /// `limit` at the latest.
    async fn fetch(&self, at: (usize, usize, u32), status: Status, start: Instant, limit: Instant) -> Attempt {
        let (cdn, rendition, n) = at;
        let limit = limit.min(start + self.spec.cdn_timeout);
        // With the stall guard on, every wait for the next byte is bounded by `stall_timeout`.
        let idle = |now: Instant| match self.spec.stall_abort {
            true => (now + self.spec.stall_timeout).min(limit),
            false => limit,
        };
        let timed_out = || Attempt::Failed { stalled: Instant::now() < limit };
        let start = match within(idle(start), self.source.prepare(cdn, rendition, status)).await {
            Ok((Ok(()), waited)) => {
                if waited {
                    Instant::now()
                } else {
                    start
                }
            }
            Ok((Err(()), _)) => return Attempt::Failed { stalled: false },
            Err(()) => return timed_out(),
        };
        let mut body = match timeout_at(idle(start), self.source.open(cdn, rendition, n, status)).await {
            Ok(Ok(body)) => body,
            Ok(Err(())) => return Attempt::Failed { stalled: false },
            Err(_) => return timed_out(),
        };
        // A length the body does not give is the manifest's: exact on the platform, an estimate
        // (bitrate × duration) for a real stream, whose end then completes it.
        let expected = self.media.expected_bytes(rendition, n);
        let (total, exact) = body.len().map_or((expected, self.media.exact_sizes), |len| (len, true));
        let mut received = 0;
        // The clock is read again only after a wait: a chunk that was already there took no
        // time on the virtual clock, and only the CPU time of taking it on the real one (on the
        // virtual clock each read takes a lock, and most chunks are there already).
        let mut now = Instant::now();
        loop {
            let (next, waited) = match within(idle(now), body.next()).await {
                Err(()) => return timed_out(),
                Ok(got) => got,
            };
            if waited {
                now = Instant::now();
            }
            match next {
                Err(()) => return Attempt::Failed { stalled: false },
                Ok(None) if received == total || !exact => {
                    return Attempt::Done { began: start, end: now, bytes: received };
                }
                Ok(None) => return Attempt::Failed { stalled: false },
                Ok(Some(len)) => received += len,
            }
            if self.buffer.started()
                && let Some(lower) =
                    self.abr
                        .abandon(&self.media.ladder, rendition, received, total, now - start, || self.buffer_wall(now))
            {
                return Attempt::Abandoned(lower);
            }
        }
    }
}

/// `fut`'s output and whether it had to wait for it, or `Err` at `deadline`: tokio's
/// `timeout_at`, but its timer is made only when `fut` has to wait. A body's next chunk is mostly
/// there already, and a timer made and dropped for each was 2 % of a session on the virtual clock.
async fn within<F: Future>(deadline: Instant, fut: F) -> Result<(F::Output, bool), ()> {
    let mut fut = std::pin::pin!(fut);
    if let Poll::Ready(out) = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await {
        return Ok((out, false));
    }
    timeout_at(deadline, fut).await.map(|out| (out, true)).map_err(drop)
}

/// Plays `spec.watch_segments` segments of `media` from `source`, starting at CDN `cdn`;
/// `pressed` is the Play press.
pub async fn play<S: SegmentSource>(
    source: &S,
    media: &Media,
    spec: &PlayerSpec,
    mut cdn: usize,
    pressed: Instant,
) -> StreamOutcome {
    let startup = media.segment * spec.first_frame_segments.max(1);
    let watch = spec.watch_segments.clamp(spec.first_frame_segments.max(1), media.segments());
    let abr = AbrRule { spec: spec.abr.clone(), adaptive: spec.adaptive };
    let mut rendition = abr.start(&media.ladder);
    let mut s =
        Session { source, media, spec, abr, buffer: Playout::new(startup, media.segment), clock: Instant::now() };
    let mut out = StreamOutcome::default();
    let mut throughput = Throughput::default();
    let mut last: Option<usize> = None;
    let mut reported_rebuffers = 0;
    let start_deadline = pressed + spec.start_budget;
    // The buffer is brought up to date after each segment (and after a wait), so each
    // iteration starts up to date, at `s.clock`: a segment's first attempt starts then, without
    // reading the clock again (nothing waited in between).
    'segments: for n in 0..watch {
        let length = media.duration(n);
        let wait = s.buffer.wait_for_room(length, spec.abr.max_buffer);
        if !wait.is_zero() {
            tokio::time::sleep(media.to_wall(wait)).await;
            s.tick();
        }
        rendition = s.abr.choose(&media.ladder, throughput.kbps(), s.buffer.level(), s.buffer.started(), rendition);
        // Failover goes round the manifest's CDNs, twice at most per segment: a transient failure
        // (a stalled body, a dropped connection) may hit every CDN once.
        let mut failed = 0;
        let mut now = s.clock;
        let status = Status {
            buffer: s.buffer.level(),
            throughput_kbps: throughput.kbps(),
            starting: !s.buffer.started(),
            starved: s.buffer.rebuffers > reported_rebuffers,
        };
        reported_rebuffers = s.buffer.rebuffers;
        let end = loop {
            let limit = if s.buffer.started() { now + spec.cdn_timeout } else { start_deadline };
            match s.fetch((cdn, rendition, n), status, now, limit).await {
                Attempt::Done { began, end, bytes } => {
                    throughput.sample(bytes, end - began);
                    break end;
                }
                Attempt::Abandoned(lower) => {
                    out.qoe.abandons += 1;
                    rendition = lower;
                    now = Instant::now();
                }
                Attempt::Failed { stalled } => {
                    out.qoe.stall_aborts += u32::from(stalled);
                    // When the attempt ended: read once, for the budget, the next attempt's
                    // start and the buffer.
                    let at = Instant::now();
                    if !s.buffer.started() && at >= start_deadline {
                        out.failure = Some(PlayFailure::Budget);
                        return out;
                    }
                    failed += 1;
                    if spec.failover && failed < 2 * media.cdns {
                        cdn = (cdn + 1) % media.cdns;
                        out.failovers += 1;
                        now = at;
                        continue;
                    }
                    s.tick_at(at);
                    if s.buffer.started() {
                        out.qoe.interrupted = true;
                        break 'segments;
                    }
                    out.failure = Some(PlayFailure::Cdn);
                    return out;
                }
            }
        };
        s.tick_at(end);
        out.qoe.switches += u32::from(last.is_some_and(|l| l != rendition));
        out.qoe.down_switches += u32::from(last.is_some_and(|l| l > rendition));
        last = Some(rendition);
        out.qoe.kbps_seconds += f64::from(media.ladder[rendition]) * length.as_secs_f64();
        out.qoe.delivered += length;
        if s.buffer.push(length) == Event::Started {
            out.ttff = Some(end - pressed);
        }
    }
    s.buffer.finish();
    out.qoe.played = s.buffer.played;
    out.qoe.stalled = s.buffer.stalled;
    out.qoe.rebuffers = s.buffer.rebuffers;
    out
}
