//! One direction of a proxied connection: what is read from one socket goes through the toxics
//! of its stream, in the order they were added, and is written to the other.
//!
//! A reader task stamps each chunk with the time it was read and hands it on; the writer holds
//! it as long as the toxics say. Latency is therefore counted from the read, as Toxiproxy counts
//! it, and data keeps being read while earlier chunks wait. Each chunk is read once into a
//! buffer that is reused once written, and written once: no copy besides the kernel's.

use crate::toxic::{Stream, Toxic, ToxicKind};
use bytes::{Bytes, BytesMut};
use rand::rngs::SmallRng;
use rand::{Rng, RngExt};
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep, sleep_until};

/// Milliseconds (Toxiproxy's unit) as a duration.
fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The most read at once.
const CHUNK: usize = 32 * 1024;

/// How a connection is ended by a toxic or by the proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Close {
    /// Both sockets closed (FIN).
    Graceful,
    /// Both sockets reset (RST: zero linger).
    Reset,
}

/// The end of a connection, shared by its two directions: decided once, by whoever ends it first.
#[derive(Debug)]
pub(crate) struct Ending(watch::Sender<Option<Close>>);

impl Ending {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self(watch::channel(None).0))
    }

    /// Ends the connection (a second call changes nothing).
    pub(crate) fn end(&self, how: Close) {
        self.0.send_if_modified(|c| c.is_none() && c.replace(how).is_none());
    }

    /// Resolves once the connection is ended, with how.
    pub(crate) async fn ended(&self) -> Close {
        let mut rx = self.0.subscribe();
        // The sender lives as long as `self`: the wait ends only with a value.
        let how = rx.wait_for(Option::is_some).await.map(|c| *c);
        how.ok().flatten().unwrap_or(Close::Graceful)
    }
}

/// A chunk of data and when it was read.
struct Chunk {
    data: Bytes,
    at: Instant,
}

/// What one direction needs.
pub(crate) struct Direction {
    /// Which stream it is.
    pub stream: Stream,
    /// The proxy's toxics, as they change.
    pub toxics: watch::Receiver<Arc<[Toxic]>>,
    /// The connection's end.
    pub ending: Arc<Ending>,
    /// This direction's draws (toxicity, jitter, slice sizes).
    pub rng: SmallRng,
    /// The proxy's count of connections each toxic acted on, by name.
    pub hits: Hits,
}

/// Connections each toxic acted on, by toxic name (shared by a proxy's connections).
pub(crate) type Hits = Arc<Mutex<BTreeMap<String, u64>>>;

/// Moves data from `src` to `dst` through the toxics until the source closes (then the close is
/// passed on, half-closing `dst`) or the connection is ended.
pub(crate) async fn pump(src: OwnedReadHalf, dst: OwnedWriteHalf, d: Direction) {
    let (tx, rx) = mpsc::channel(64);
    let writing = write(rx, dst, d);
    tokio::pin!(writing);
    tokio::select! {
        // The connection ended: stop reading too.
        _ = &mut writing => return,
        _ = read(src, tx) => {}
    }
    writing.await;
}

/// Reads chunks until EOF or an error; dropping `tx` tells the writer.
async fn read(mut src: OwnedReadHalf, tx: mpsc::Sender<Chunk>) {
    let mut buf = BytesMut::with_capacity(CHUNK);
    loop {
        // Takes back the buffer's space once the chunks cut from it are written and dropped.
        buf.reserve(CHUNK);
        match src.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let chunk = Chunk { data: buf.split().freeze(), at: Instant::now() };
                if tx.send(chunk).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// The writer's state for one direction.
struct Writer {
    dst: OwnedWriteHalf,
    stream: Stream,
    rng: SmallRng,
    ending: Arc<Ending>,
    hits: Hits,
    /// Whether each toxic (by name and toxicity) acts on this connection, drawn at first sight.
    chosen: HashMap<(String, u32), bool>,
    /// When each toxic was first seen in place here (a `timeout` counts from then).
    since: HashMap<String, Instant>,
    /// Bytes written (for `limit_data`).
    sent: u64,
    /// Pacing owed by `bandwidth`, carried from chunk to chunk.
    owed: Duration,
}

async fn write(mut rx: mpsc::Receiver<Chunk>, dst: OwnedWriteHalf, d: Direction) {
    let Direction { stream, mut toxics, ending, rng, hits } = d;
    let mut w = Writer {
        dst,
        stream,
        rng,
        ending: ending.clone(),
        hits,
        chosen: HashMap::new(),
        since: HashMap::new(),
        sent: 0,
        owed: Duration::ZERO,
    };
    loop {
        let list = toxics.borrow_and_update().clone();
        let active = w.active(&list);
        let timeout = active.iter().find_map(|t| match &t.kind {
            ToxicKind::Timeout(x) => Some((t.name.as_str(), x.timeout)),
            _ => None,
        });
        let deadline = timeout.filter(|(_, n)| *n > 0).map(|(name, n)| w.first_seen(name) + ms(n));
        tokio::select! {
            biased;
            how = ending.ended() => return w.finish(how).await,
            changed = toxics.changed() => if changed.is_err() {
                // The proxy is gone (it outlives its connections, so this is only defence).
                ending.end(Close::Graceful);
            },
            _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => ending.end(Close::Graceful),
            chunk = rx.recv() => match chunk {
                None => return w.close_later(&active).await,
                // `timeout`: the data is dropped.
                Some(_) if timeout.is_some() => {}
                Some(chunk) => {
                    tokio::select! {
                        biased;
                        how = ending.ended() => return w.finish(how).await,
                        going = w.pass(chunk, &active) => if !going {
                            let how = ending.ended().await;
                            return w.finish(how).await;
                        },
                    }
                }
            },
        }
    }
}

impl Writer {
    /// The toxics of this stream that act on this connection.
    fn active<'t>(&mut self, list: &'t [Toxic]) -> Vec<&'t Toxic> {
        // A toxic removed and added again starts afresh (a `timeout` counts from its return).
        self.since.retain(|name, _| list.iter().any(|t| t.name == *name));
        let (rng, chosen, hits) = (&mut self.rng, &mut self.chosen, &self.hits);
        list.iter()
            .filter(|t| t.stream == self.stream)
            .filter(|t| {
                let key = (t.name.clone(), t.toxicity.to_bits());
                *chosen.entry(key).or_insert_with(|| {
                    let acts = rng.random::<f32>() < t.toxicity;
                    if acts {
                        *hits.lock().unwrap_or_else(|p| p.into_inner()).entry(t.name.clone()).or_default() += 1;
                    }
                    acts
                })
            })
            .collect()
    }

    fn first_seen(&mut self, name: &str) -> Instant {
        *self.since.entry(name.to_string()).or_insert_with(Instant::now)
    }

    /// Passes one chunk through `active`; `false` once the connection is being ended.
    async fn pass(&mut self, chunk: Chunk, active: &[&Toxic]) -> bool {
        if let Some(reset) = active.iter().find_map(|t| match &t.kind {
            ToxicKind::ResetPeer(r) => Some(r.timeout),
            _ => None,
        }) {
            sleep(ms(reset)).await;
            self.ending.end(Close::Reset);
            return false;
        }
        let mut delay = Duration::ZERO;
        for t in active {
            if let ToxicKind::Latency(l) = &t.kind {
                let jitter = if l.jitter > 0 { self.rng.random_range(0..=2 * l.jitter) } else { 0 };
                delay += ms((l.latency + jitter).saturating_sub(l.jitter));
            }
        }
        sleep_until(chunk.at + delay).await;
        let limit = active.iter().filter_map(|t| match &t.kind {
            ToxicKind::LimitData(l) => Some(l.bytes),
            _ => None,
        });
        let limit = limit.min();
        let mut data = chunk.data;
        if let Some(limit) = limit {
            data.truncate(limit.saturating_sub(self.sent).min(data.len() as u64) as usize);
        }
        let slicer = active.iter().find_map(|t| match &t.kind {
            ToxicKind::Slicer(s) => Some(*s),
            _ => None,
        });
        let pieces = match slicer {
            Some(s) => slices(data.len(), s.average_size as usize, s.size_variation as usize, &mut self.rng),
            None => std::iter::once(0..data.len()).collect(),
        };
        let rate = active.iter().find_map(|t| match &t.kind {
            ToxicKind::Bandwidth(b) if b.rate > 0 => Some(b.rate),
            _ => None,
        });
        for (i, piece) in pieces.into_iter().enumerate() {
            if i > 0
                && let Some(s) = slicer
            {
                sleep(Duration::from_micros(s.delay)).await;
            }
            if !self.send(data.slice(piece), rate).await {
                self.ending.end(Close::Graceful);
                return false;
            }
        }
        if limit.is_some_and(|l| self.sent >= l) {
            self.ending.end(Close::Graceful);
            return false;
        }
        true
    }

    /// Writes `data`, paced to `rate` KB/s when given (in pieces of 100 ms' worth, as Toxiproxy
    /// sends them); `false` when the socket is gone.
    async fn send(&mut self, data: Bytes, rate: Option<u64>) -> bool {
        let Some(rate) = rate else {
            self.sent += data.len() as u64;
            return self.dst.write_all(&data).await.is_ok();
        };
        let step = (rate * 100).max(1) as usize;
        for piece in data.chunks(step) {
            // rate KB/s is rate bytes per millisecond.
            self.owed += Duration::from_secs_f64(piece.len() as f64 / rate as f64 / 1000.0);
            let start = Instant::now();
            sleep(self.owed).await;
            self.owed = self.owed.saturating_sub(start.elapsed());
            if self.dst.write_all(piece).await.is_err() {
                return false;
            }
            self.sent += piece.len() as u64;
        }
        true
    }

    /// The source closed: after any `slow_close` delay, half-close the destination.
    async fn close_later(mut self, active: &[&Toxic]) {
        let delay = active.iter().find_map(|t| match &t.kind {
            ToxicKind::SlowClose(s) => Some(ms(s.delay)),
            _ => None,
        });
        if let Some(delay) = delay {
            let ending = self.ending.clone();
            tokio::select! {
                _ = sleep(delay) => {}
                how = ending.ended() => return self.finish(how).await,
            }
        }
        let _ = self.dst.shutdown().await;
    }

    /// The connection was ended: closed, or reset with a zero linger.
    async fn finish(mut self, how: Close) {
        match how {
            Close::Reset => {
                let _ = self.dst.as_ref().set_zero_linger();
                // Dropping a write half sends a FIN first, which the peer would read as a clean
                // end: forgotten, the socket is closed (with the RST) when its read half drops.
                self.dst.forget();
            }
            Close::Graceful => {
                let _ = self.dst.shutdown().await;
            }
        }
    }
}

/// Cuts `len` bytes into pieces of `avg` ± `var` bytes: halves at a point varied by up to
/// `var`, until each piece is at most `avg + var` long (so sizes vary evenly, with no short
/// piece kept for the end).
fn slices(len: usize, avg: usize, var: usize, rng: &mut impl Rng) -> Vec<Range<usize>> {
    fn cut(range: Range<usize>, avg: usize, var: usize, rng: &mut impl Rng, out: &mut Vec<Range<usize>>) {
        if range.len() <= avg + var {
            out.push(range);
            return;
        }
        // len > avg + var > 2 var, so half - var >= 1 and half + var < len: both halves are
        // non-empty.
        let half = range.len() / 2;
        let mid = range.start + half - var + rng.random_range(0..=2 * var);
        cut(range.start..mid, avg, var, rng, out);
        cut(mid..range.end, avg, var, rng, out);
    }
    let mut out = Vec::new();
    if len > 0 {
        cut(0..len, avg.max(1), var.min(avg.max(1) - 1), rng, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn slices_cover_the_chunk_in_order_within_the_size_range() {
        let mut rng = SmallRng::seed_from_u64(1);
        for (len, avg, var) in [(1000, 10, 5), (7, 10, 2), (4096, 1, 0), (100, 3, 2)] {
            let pieces = slices(len, avg, var, &mut rng);
            assert_eq!(pieces.first().map(|r| r.start), Some(0));
            assert_eq!(pieces.last().map(|r| r.end), Some(len));
            assert!(pieces.windows(2).all(|w| w[0].end == w[1].start), "in order, no gap");
            assert!(pieces.iter().all(|r| !r.is_empty() && r.len() <= avg + var), "{pieces:?}");
        }
        assert!(slices(0, 10, 5, &mut rng).is_empty());
    }
}
