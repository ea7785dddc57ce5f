//! [`run`]: plain HTTP load against one URL, as wrk (closed loop) or wrk2 (open loop) do — the
//! `chaos load` command, and the yardstick issue 8 holds our generator to.
//!
//! Each of `connections` workers owns one HTTP/1.1 keep-alive connection ([`wire`]: the request
//! encoded once, answers parsed in place, no pool, no lock on the request path). Closed loop: a
//! worker sends its next request when the last one is answered. Open loop: request `i` is due at
//! `start + i / rate`; a free worker takes the next due request, waits for its time and sends it,
//! and its latency counts from when it was *due*, so a target that falls behind shows in the
//! latency instead of slowing the arrivals (wrk2's corrected latency, no coordinated omission).

pub(crate) mod wire;

use crate::experiment::MAX_PHASE;
use chaos_fault::Timer;
use hdrhistogram::Histogram;
use http::Uri;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use wire::{Conn, Failure};

/// What to send.
#[derive(Clone, Debug)]
pub struct HttpLoad {
    /// `http://host:port/path`.
    pub url: Uri,
    /// Connections, one worker each.
    pub connections: usize,
    /// Open loop at this many requests per second; `None`: closed loop.
    pub rate: Option<f64>,
    /// Measured time, after `warmup`.
    pub duration: Duration,
    /// Time sent but not measured (connections open, caches fill).
    pub warmup: Duration,
}

/// What happened in the measured time.
#[derive(Clone, Debug)]
pub struct HttpLoadReport {
    /// Requests answered with a status below 400.
    pub ok: u64,
    /// Requests answered 4xx/5xx, or that failed (connection refused, reset).
    pub errors: u64,
    /// Requests actually sent inside the measured time (the achieved rate, open loop).
    pub sent: u64,
    /// Measured seconds.
    pub seconds: f64,
    /// Latency in microseconds of the answered requests (from the due time in open loop).
    pub latency_us: Histogram<u64>,
}

impl HttpLoadReport {
    /// Answered and failed requests per second.
    pub fn requests_per_s(&self) -> f64 {
        (self.ok + self.errors) as f64 / self.seconds
    }

    /// Requests sent per second inside the measured time.
    pub fn achieved_per_s(&self) -> f64 {
        self.sent as f64 / self.seconds
    }
}

/// The most connections: each is a socket and a task; 10,000 is half this machine's open-file
/// limit and 200× wrk's usual setting.
const MAX_CONNECTIONS: usize = 10_000;

/// Latencies in µs, 3 significant digits up to an hour.
fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static bounds")
}

/// Why a load could not run.
#[derive(Debug, thiserror::Error)]
pub enum HttpLoadError {
    /// Not an `http://host:port/...` URL.
    #[error("`{0}`: expected http://HOST:PORT/PATH")]
    Url(String),
    /// Connections, rate or times out of their range.
    #[error("{0}")]
    Invalid(String),
}

/// Runs `load` and returns the measured figures.
pub async fn run(load: &HttpLoad) -> Result<HttpLoadReport, HttpLoadError> {
    let url = &load.url;
    let bad = || HttpLoadError::Url(url.to_string());
    if url.scheme_str() != Some("http") {
        return Err(bad());
    }
    let authority = url.authority().ok_or_else(bad)?.clone();
    if !(1..=MAX_CONNECTIONS).contains(&load.connections) || load.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        return Err(HttpLoadError::Invalid(format!(
            "connections must be in 1..={MAX_CONNECTIONS} and the rate positive"
        )));
    }
    if load.duration.is_zero() || load.duration.max(load.warmup) > MAX_PHASE {
        return Err(HttpLoadError::Invalid(format!(
            "the duration must be > 0, and both it and the warm-up at most {} days",
            MAX_PHASE.as_secs() / 86_400
        )));
    }
    let start = Instant::now();
    let shared = Arc::new(Shared {
        addr: format!("{}:{}", authority.host(), authority.port_u16().unwrap_or(80)),
        request: wire::encode_get(url.path_and_query().map_or("/", |p| p.as_str()), authority.as_str()),
        next: AtomicU64::new(0),
        rate: load.rate,
        start,
        measured_from: start + load.warmup,
        end: start + load.warmup + load.duration,
        latency_us: Mutex::new(latency_histogram()),
    });
    let workers: Vec<_> = (0..load.connections).map(|_| tokio::spawn(worker(shared.clone()))).collect();
    let mut all = Counts::default();
    for w in workers {
        if let Ok(part) = w.await {
            all.ok += part.ok;
            all.errors += part.errors;
            all.sent += part.sent;
        }
    }
    let seconds = load.duration.as_secs_f64();
    let latency_us = shared.latency().clone();
    Ok(HttpLoadReport { ok: all.ok, errors: all.errors, sent: all.sent, seconds, latency_us })
}

struct Shared {
    addr: String,
    /// The request's bytes, encoded once.
    request: Box<[u8]>,
    /// Index of the next due request (open loop).
    next: AtomicU64,
    rate: Option<f64>,
    start: Instant,
    measured_from: Instant,
    end: Instant,
    /// One histogram for every worker: at 3 significant digits up to an hour it is 188 KiB, so
    /// one per connection (50 × 188 KiB) missed the cache on every record (2 % of the
    /// generator's samples); the lock is uncontended, the workers share one thread.
    latency_us: Mutex<Histogram<u64>>,
}

impl Shared {
    fn latency(&self) -> std::sync::MutexGuard<'_, Histogram<u64>> {
        self.latency_us.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// When the next request is due: now (closed loop) or its slot in the schedule.
    fn next_due(&self) -> Instant {
        match self.rate {
            None => Instant::now(),
            Some(rate) => {
                let i = self.next.fetch_add(1, Ordering::Relaxed);
                self.start + Duration::from_secs_f64(i as f64 / rate)
            }
        }
    }
}

/// One worker's counts (its latencies go to the shared histogram).
#[derive(Default)]
struct Counts {
    ok: u64,
    errors: u64,
    sent: u64,
}

/// One connection's loop until the end of the run.
async fn worker(shared: Arc<Shared>) -> Counts {
    let mut mine = Counts::default();
    let mut conn: Option<Conn> = None;
    loop {
        let due = shared.next_due();
        if due >= shared.end {
            return mine;
        }
        if shared.rate.is_some() {
            // tokio's timer would wake up to 1–2 ms late and that lateness would count as latency.
            Timer::Precise.sleep(due.saturating_duration_since(Instant::now())).await;
        }
        let sent_at = Instant::now();
        mine.sent += u64::from(sent_at >= shared.measured_from && sent_at < shared.end);
        let measured = due >= shared.measured_from;
        match exchange(&mut conn, &shared).await {
            Some(ok) if measured => {
                let us = due.elapsed().as_micros().clamp(1, 3_600_000_000) as u64;
                let _ = shared.latency().record(us);
                mine.ok += u64::from(ok);
                mine.errors += u64::from(!ok);
            }
            Some(_) => {}
            None => mine.errors += u64::from(measured),
        }
    }
}

/// One request on the worker's connection: `Some(status < 400)`, `None` when it failed (the
/// connection is then dropped). A connection the server closed after its last answer (nginx:
/// `keepalive_requests`, `Connection: close`) is replaced before the request goes out, and one
/// the server dropped while it was kept (no byte of an answer came) is replaced and the request
/// sent once more, as wrk does: no request is lost to a reconnect.
async fn exchange(conn: &mut Option<Conn>, shared: &Shared) -> Option<bool> {
    for retry in [false, true] {
        if !conn.as_ref().is_some_and(Conn::usable) {
            *conn = wire::connect(&shared.addr).await.ok();
        }
        let Some(c) = conn.as_mut() else {
            // Refused: count it and pace the retries instead of spinning.
            tokio::time::sleep(Duration::from_millis(10)).await;
            return None;
        };
        match c.exchange(&shared.request).await {
            Ok(ok) => return Some(ok),
            Err(Failure::Stale) if !retry => *conn = None,
            Err(_) => break,
        }
    }
    *conn = None;
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::{Request, header};
    use std::convert::Infallible;

    /// A target answering 200, or 503 on `/fail`.
    async fn target() -> chaos_fault::server::Instance {
        let svc = tower::service_fn(|req: Request<hyper::body::Incoming>| async move {
            let mut res = http::Response::new(http_body_util::Full::new(Bytes::from_static(b"ok")));
            match req.uri().path() {
                "/fail" => *res.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE,
                // As nginx does after `keepalive_requests`: answer, then close.
                "/close" => {
                    res.headers_mut().insert(header::CONNECTION, http::HeaderValue::from_static("close"));
                }
                _ => {}
            }
            Ok::<_, Infallible>(res)
        });
        chaos_fault::server::Instance::bind("t", "127.0.0.1:0".parse().unwrap(), svc).await.unwrap()
    }

    fn load(url: String, rate: Option<f64>) -> HttpLoad {
        HttpLoad {
            url: url.parse().unwrap(),
            connections: 4,
            rate,
            duration: Duration::from_secs(1),
            warmup: Duration::from_millis(200),
        }
    }

    #[tokio::test]
    async fn open_loop_sends_the_scheduled_requests_and_counts_errors() {
        let t = target().await;
        let r = run(&load(format!("{}/x", t.url()), Some(200.0))).await.unwrap();
        // 200/s for 1 s after warm-up: the requests due in [0.2 s, 1.2 s).
        assert_eq!(r.ok + r.errors, 200, "{r:?}");
        assert_eq!(r.errors, 0);
        let f = run(&load(format!("{}/fail", t.url()), Some(100.0))).await.unwrap();
        assert_eq!((f.ok, f.errors), (0, 100));
    }

    #[tokio::test]
    async fn closed_loop_keeps_every_connection_busy_and_a_dead_target_is_all_errors() {
        let t = target().await;
        let r = run(&load(t.url(), None)).await.unwrap();
        assert!(r.ok > 100 && r.errors == 0, "{r:?}");
        let url = t.url();
        t.shutdown().await;
        let dead = run(&HttpLoad { duration: Duration::from_millis(300), ..load(url, Some(100.0)) }).await.unwrap();
        assert_eq!(dead.ok, 0);
        assert!(dead.errors > 0);
    }

    #[tokio::test]
    async fn a_server_closing_after_each_answer_loses_no_request() {
        let t = target().await;
        let r = run(&load(format!("{}/close", t.url()), Some(200.0))).await.unwrap();
        assert_eq!((r.ok, r.errors), (200, 0), "every answered request counts, reconnects are free");
    }

    #[tokio::test]
    async fn a_bad_url_or_zero_connections_is_an_error() {
        assert!(matches!(run(&load("https://x:1/".into(), None)).await, Err(HttpLoadError::Url(_))));
        let zero = HttpLoad { connections: 0, ..load("http://127.0.0.1:1/".into(), None) };
        assert!(matches!(run(&zero).await, Err(HttpLoadError::Invalid(_))));
    }
}
