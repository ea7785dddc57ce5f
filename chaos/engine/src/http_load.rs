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
use hdrhistogram::Histogram;
use http::{Request, Uri, header};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
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
        host: authority.to_string(),
        path: url.path_and_query().map_or("/".into(), |p| p.to_string()),
        next: AtomicU64::new(0),
        rate: load.rate,
        start,
        measured_from: start + load.warmup,
        end: start + load.warmup + load.duration,
    });
    let workers: Vec<_> = (0..load.connections).map(|_| tokio::spawn(worker(shared.clone()))).collect();
    let mut report = HttpLoadReport {
        ok: 0,
        errors: 0,
        seconds: load.duration.as_secs_f64(),
        latency_us: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static bounds"),
    };
    for w in workers {
        if let Ok(part) = w.await {
            report.ok += part.ok;
            report.errors += part.errors;
            // Same bounds on both sides: cannot fail.
            let _ = report.latency_us.add(&part.latency_us);
        }
    }
    Ok(report)
}

struct Shared {
    addr: String,
    host: String,
    path: String,
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
    let mut mine = HttpLoadReport {
        ok: 0,
        errors: 0,
        seconds: 0.0,
        latency_us: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static bounds"),
    };
    let mut conn: Option<SendRequest<Empty<Bytes>>> = None;
    loop {
        let due = shared.next_due();
        if due >= shared.end {
            return mine;
        }
        tokio::time::sleep_until(due).await;
        let measured = due >= shared.measured_from;
        let answered = match &mut conn {
            Some(c) => send(c, &shared).await,
            None => match connect(&shared.addr).await {
                Some(mut c) => {
                    let answered = send(&mut c, &shared).await;
                    conn = Some(c);
                    answered
                }
                None => {
                    // Refused: count it and pace the retries instead of spinning.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    None
                }
            },
        };
        match answered {
            Some(ok) => {
                if measured {
                    let us = due.elapsed().as_micros().clamp(1, 3_600_000_000) as u64;
                    let _ = mine.latency_us.record(us);
                    if ok {
                        mine.ok += 1;
                    } else {
                        mine.errors += 1;
                    }
                }
            }
            None => {
                conn = None;
                mine.errors += u64::from(measured);
            }
        }
    }
}

async fn connect(addr: &str) -> Option<SendRequest<Empty<Bytes>>> {
    let stream = TcpStream::connect(addr).await.ok()?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.ok()?;
    tokio::spawn(connection);
    Some(sender)
}

/// One GET, body read to the end: `Some(status < 400)`, `None` when the connection failed.
async fn send(conn: &mut SendRequest<Empty<Bytes>>, shared: &Shared) -> Option<bool> {
    conn.ready().await.ok()?;
    let req = Request::get(shared.path.as_str()).header(header::HOST, shared.host.as_str()).body(Empty::new()).ok()?;
    let res = conn.send_request(req).await.ok()?;
    let ok = res.status().as_u16() < 400;
    res.into_body().collect().await.ok()?;
    Some(ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    /// A target answering 200, or 503 on `/fail`.
    async fn target() -> chaos_fault::server::Instance {
        let svc = tower::service_fn(|req: Request<hyper::body::Incoming>| async move {
            let mut res = http::Response::new(http_body_util::Full::new(Bytes::from_static(b"ok")));
            if req.uri().path() == "/fail" {
                *res.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
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
    async fn a_bad_url_or_zero_connections_is_an_error() {
        assert!(matches!(run(&load("https://x:1/".into(), None)).await, Err(HttpLoadError::Url(_))));
        let zero = HttpLoad { connections: 0, ..load("http://127.0.0.1:1/".into(), None) };
        assert!(matches!(run(&zero).await, Err(HttpLoadError::Invalid(_))));
    }
}
