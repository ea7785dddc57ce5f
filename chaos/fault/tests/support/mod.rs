//! Shared by the accuracy test and bench: a target behind the layer, concurrent probes, and the
//! statistics that judge what a client saw.
#![allow(dead_code)]

use bytes::Bytes;
use chaos_fault::server::{Instance, MemNet, Net};
use chaos_fault::{BoxError, Distribution, FaultLayer, FaultTable};
use http_body_util::{Empty, Full};
use hyper_util::rt::TokioIo;
use statrs::distribution::{ContinuousCDF, LogNormal, Normal, Pareto};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tower::Layer;

/// An instance answering "ok" at once (`/bytes/N`: N bytes), behind the layer, on TCP.
pub async fn target(seed: u64) -> (Instance, FaultTable) {
    target_on(&Net::Tcp, seed).await
}

/// [`target`] on `net`.
pub async fn target_on(net: &Net, seed: u64) -> (Instance, FaultTable) {
    let table = FaultTable::new();
    let svc = FaultLayer::new(table.clone()).seed(seed).layer(tower::service_fn(
        |req: http::Request<hyper::body::Incoming>| {
            let n = req.uri().path().strip_prefix("/bytes/").and_then(|n| n.parse::<usize>().ok());
            async move {
                let body = n.map_or_else(|| Bytes::from_static(b"ok"), |n| Bytes::from(vec![1u8; n]));
                Ok::<_, Infallible>(http::Response::new(Full::new(body)))
            }
        },
    ));
    (Instance::bind_on(net, "acc-0", "127.0.0.1:0".parse().unwrap(), svc).await.unwrap(), table)
}

/// What one request saw.
pub enum Seen {
    Status(u16, Duration),
    Dropped,
}

/// `n` GETs of `url` over TCP, `batch` at a time, after one batch that opens the connections
/// (not counted).
pub async fn probe(url: &str, n: usize, batch: usize) -> Vec<Seen> {
    let http =
        reqwest::Client::builder().timeout(Duration::from_secs(10)).pool_max_idle_per_host(batch).build().unwrap();
    let warm = (0..batch).map(|_| http.get(format!("{url}/warm-up")).send());
    futures_util::future::join_all(warm).await;
    batched(n, batch, || {
        let req = http.get(url).send();
        async move {
            let start = tokio::time::Instant::now();
            match req.await {
                Ok(r) => Seen::Status(r.status().as_u16(), start.elapsed()),
                Err(_) => Seen::Dropped,
            }
        }
    })
    .await
}

/// `n` GETs of the instance at `addr` on the in-memory network, `batch` at a time, each on a
/// connection of its own; times on tokio's clock (paused in the tests).
pub async fn probe_mem(net: &MemNet, addr: SocketAddr, n: usize, batch: usize) -> Vec<Seen> {
    batched(n, batch, || async move {
        let start = tokio::time::Instant::now();
        match get_on(net, addr, "/").await {
            Ok(r) => Seen::Status(r.status().as_u16(), start.elapsed()),
            Err(_) => Seen::Dropped,
        }
    })
    .await
}

/// The body of one GET of `path` at `addr` on the in-memory network.
pub async fn get_mem(net: &MemNet, addr: SocketAddr, path: &str) -> Bytes {
    use http_body_util::BodyExt;
    get_on(net, addr, path).await.unwrap().into_body().collect().await.unwrap().to_bytes()
}

/// One GET of `path` on a new connection to `addr` on the in-memory network.
async fn get_on(net: &MemNet, addr: SocketAddr, path: &str) -> Result<http::Response<hyper::body::Incoming>, BoxError> {
    let stream = net.connect(addr)?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = http::Request::get(path).header("host", "acc").body(Empty::<Bytes>::new())?;
    Ok(send.send_request(req).await?)
}

/// `n` calls of `one`, `batch` at a time.
async fn batched<F: std::future::Future<Output = Seen>>(n: usize, batch: usize, one: impl Fn() -> F) -> Vec<Seen> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let calls = (0..batch.min(n - out.len())).map(|_| one());
        out.extend(futures_util::future::join_all(calls).await);
    }
    out
}

/// Delays seen, in seconds, less the median time of an unfaulted request.
pub fn delays(seen: &[Seen], base: f64) -> Vec<f64> {
    seen.iter().filter_map(|s| if let Seen::Status(_, d) = s { Some(d.as_secs_f64() - base) } else { None }).collect()
}

/// The median round trip without faults, `batch` at a time (as the probes will run).
pub async fn baseline(url: &str, batch: usize) -> f64 {
    let mut d = delays(&probe(url, 10 * batch, batch).await, 0.0);
    d.sort_by(f64::total_cmp);
    d[d.len() / 2]
}

/// The configured distribution's CDF at `x` seconds.
pub fn cdf(dist: &Distribution, x: f64) -> f64 {
    match dist {
        Distribution::Fixed(d) => f64::from(u8::from(x >= d.as_secs_f64())),
        Distribution::Uniform(p) => ((x - p.min.as_secs_f64()) / (p.max - p.min).as_secs_f64()).clamp(0.0, 1.0),
        Distribution::Normal(p) => Normal::new(p.mean.as_secs_f64(), p.stddev.as_secs_f64()).unwrap().cdf(x),
        Distribution::Lognormal(p) => LogNormal::new(p.median.as_secs_f64().ln(), p.sigma).unwrap().cdf(x.max(1e-12)),
        Distribution::Pareto(p) => Pareto::new(p.scale.as_secs_f64(), p.shape).unwrap().cdf(x),
    }
}

/// Kolmogorov–Smirnov distance between the samples and the distribution, allowing each sample
/// to sit up to `slack` seconds late (timer granularity and scheduling: a sleep never ends early).
pub fn ks_distance(samples: &[f64], dist: &Distribution, slack: f64) -> f64 {
    let mut xs = samples.to_vec();
    xs.sort_by(f64::total_cmp);
    let n = xs.len() as f64;
    xs.iter()
        .enumerate()
        .map(|(i, &x)| {
            let below = i as f64 / n;
            let upto = (i + 1) as f64 / n;
            // The true value lies in [x - slack, x]: take the CDF most favourable within it.
            let (lo, hi) = (cdf(dist, x - slack), cdf(dist, x));
            (upto - hi).max(lo - below).max(0.0)
        })
        .fold(0.0, f64::max)
}

/// KS critical value at significance 0.001 for `n` samples.
pub fn ks_critical(n: usize) -> f64 {
    1.949 / (n as f64).sqrt()
}

/// Body bytes per second of one GET of `url`.
pub async fn body_rate(url: &str) -> f64 {
    let start = Instant::now();
    let body = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    body.len() as f64 / start.elapsed().as_secs_f64()
}

/// The 99.9 % two-sided normal-approximation interval of a binomial count.
pub fn binomial_interval(n: usize, p: f64) -> (f64, f64) {
    let (n, z) = (n as f64, 3.2905);
    let sd = (n * p * (1.0 - p)).sqrt();
    (n * p - z * sd, n * p + z * sd)
}
