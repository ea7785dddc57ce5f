//! [`run`]: plain HTTP load against one URL, as wrk (closed loop) or wrk2 (open loop) do — the
//! `chaos load` command, and the yardstick issue 8 holds our generator to.
//!
//! Each of `connections` workers owns one HTTP/1.1 keep-alive connection (hyper's client
//! connection directly: no pool, no lock on the request path). Closed loop: a worker sends its
//! next request when the last one is answered. Open loop: request `i` is due at
//! `start + i / rate`; a free worker takes the next due request, waits for its time and sends it,
//! and its latency counts from when it was *due*, so a target that falls behind shows in the
//! latency instead of slowing the arrivals (wrk2's corrected latency, no coordinated omission).

use bytes::Bytes;
use chaos_fault::Timer;
use hdrhistogram::Histogram;
use http::{Request, Uri, header};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::{Connection, SendRequest};
use hyper_util::rt::TokioIo;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;

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

    fn empty(seconds: f64) -> Self {
        let latency_us = Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static bounds");
        Self { ok: 0, errors: 0, sent: 0, seconds, latency_us }
    }
}

/// Why a load could not run.
#[derive(Debug, thiserror::Error)]
pub enum HttpLoadError {
    /// Not an `http://host:port/...` URL.
    #[error("`{0}`: expected http://HOST:PORT/PATH")]
    Url(String),
    /// Zero connections, or a rate that is not positive.
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
    if load.connections == 0 || load.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        return Err(HttpLoadError::Invalid("connections must be at least 1 and the rate positive".into()));
    }
    let start = Instant::now();
    let shared = Arc::new(Shared {
        addr: format!("{}:{}", authority.host(), authority.port_u16().unwrap_or(80)),
        host: http::HeaderValue::from_str(authority.as_str()).map_err(|_| bad())?,
        path: url.path_and_query().map_or("/", |p| p.as_str()).parse().map_err(|_| bad())?,
        next: AtomicU64::new(0),
        rate: load.rate,
        start,
        measured_from: start + load.warmup,
        end: start + load.warmup + load.duration,
    });
    let workers: Vec<_> = (0..load.connections).map(|_| tokio::spawn(worker(shared.clone()))).collect();
    let mut report = HttpLoadReport::empty(load.duration.as_secs_f64());
    for w in workers {
        if let Ok(part) = w.await {
            report.ok += part.ok;
            report.errors += part.errors;
            report.sent += part.sent;
            // Same bounds on both sides: cannot fail.
            let _ = report.latency_us.add(&part.latency_us);
        }
    }
    Ok(report)
}

struct Shared {
    addr: String,
    /// Made once: cloning these per request is a reference-count bump, not a parse.
    host: http::HeaderValue,
    path: Uri,
    /// Index of the next due request (open loop).
    next: AtomicU64,
    rate: Option<f64>,
    start: Instant,
    measured_from: Instant,
    end: Instant,
}

impl Shared {
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

/// One connection's loop until the end of the run.
async fn worker(shared: Arc<Shared>) -> HttpLoadReport {
    let mut mine = HttpLoadReport::empty(0.0);
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
        // A connection the server closed after its last answer (nginx: `keepalive_requests`) is
        // replaced before the request goes out, as wrk does: no request was lost.
        let usable = match &mut conn {
            Some(c) => !c.sender.is_closed() && c.ready().await,
            None => false,
        };
        if !usable {
            conn = connect(&shared.addr).await;
        }
        let answered = match &mut conn {
            Some(c) => c.get(&shared).await,
            None => {
                // Refused: count it and pace the retries instead of spinning.
                tokio::time::sleep(Duration::from_millis(10)).await;
                None
            }
        };
        match answered {
            Some(ok) if measured => {
                let us = due.elapsed().as_micros().clamp(1, 3_600_000_000) as u64;
                let _ = mine.latency_us.record(us);
                mine.ok += u64::from(ok);
                mine.errors += u64::from(!ok);
            }
            Some(_) => {}
            None => {
                conn = None;
                mine.errors += u64::from(measured);
            }
        }
    }
}

/// One keep-alive connection, driven by the worker's own task (no hand-off to a connection
/// task per request: half the wake-ups).
struct Conn {
    sender: SendRequest<Empty<Bytes>>,
    driver: Pin<Box<Connection<TokioIo<TcpStream>, Empty<Bytes>>>>,
}

async fn connect(addr: &str) -> Option<Conn> {
    let stream = TcpStream::connect(addr).await.ok()?;
    let _ = stream.set_nodelay(true);
    let (sender, driver) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.ok()?;
    Some(Conn { sender, driver: Box::pin(driver) })
}

impl Conn {
    /// Waits until the connection can take a request; false when it closed meanwhile.
    async fn ready(&mut self) -> bool {
        tokio::select! {
            biased;
            ready = self.sender.ready() => ready.is_ok(),
            _ = &mut self.driver => false,
        }
    }

    /// One GET, body read to the end: `Some(status < 400)`, `None` when the connection failed.
    async fn get(&mut self, shared: &Shared) -> Option<bool> {
        let sender = &mut self.sender;
        let exchange = async {
            sender.ready().await.ok()?;
            let mut req = Request::new(Empty::new());
            *req.uri_mut() = shared.path.clone();
            req.headers_mut().insert(header::HOST, shared.host.clone());
            let res = sender.send_request(req).await.ok()?;
            let ok = res.status().as_u16() < 400;
            res.into_body().collect().await.ok()?;
            Some(ok)
        };
        tokio::pin!(exchange);
        tokio::select! {
            biased;
            answered = &mut exchange => answered,
            // The driver ends after a `Connection: close` answer; what it read is already
            // handed over, so the exchange still completes (or fails) on its own.
            _ = &mut self.driver => exchange.await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
