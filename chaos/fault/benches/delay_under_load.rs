//! A fixed 50 ms delay at 5,000 requests/s, as the client sees it (issue 8, target 4: p50 in
//! [50, 51.5] ms, p99 ≤ 53 ms), on tokio's timer and on the precise (timerfd) timer, in one run.
//!
//! `cargo bench -p chaos-fault --features server,precise-timer --bench delay_under_load`
//!
//! Open loop: request `i` is due at `start + i / rate` and its latency counts from then, so a
//! client that falls behind shows it (no coordinated omission). The target answers at once
//! behind the layer; the client and the target share the machine's two cores.

use bytes::Bytes;
use chaos_fault::server::Instance;
use chaos_fault::{Fault, FaultLayer, FaultTable, Rule, Scope, Timer};
use hdrhistogram::Histogram;
use http_body_util::Full;
use std::convert::Infallible;
use std::time::Duration;
use tokio::time::Instant;
use tower::Layer;

const RATE: u64 = 5_000;
const SECONDS: u64 = 6;
const DELAY: Duration = Duration::from_millis(50);

async fn target(timer: Timer) -> Instance {
    let table = FaultTable::new();
    table.insert(Rule::new("fixed-50ms", Fault::fixed_latency(DELAY), Scope::default()));
    let svc = FaultLayer::new(table).timer(timer).layer(tower::service_fn(
        |_req: http::Request<hyper::body::Incoming>| async {
            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"ok"))))
        },
    ));
    Instance::bind("delay-0", "127.0.0.1:0".parse().unwrap(), svc).await.unwrap()
}

/// Latencies (µs) of `RATE × SECONDS` requests sent on schedule; the first second is warm-up.
async fn run(url: &str) -> (Histogram<u64>, u64) {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).pool_max_idle_per_host(1024).build().unwrap();
    let start = Instant::now() + Duration::from_millis(100);
    let mut tasks = Vec::with_capacity((RATE * SECONDS) as usize);
    for i in 0..RATE * SECONDS {
        let due = start + Duration::from_nanos(i * 1_000_000_000 / RATE);
        tokio::time::sleep_until(due).await;
        let req = http.get(url).send();
        tasks.push(tokio::spawn(async move {
            let ok = matches!(req.await, Ok(r) if r.status() == 200);
            (i >= RATE, ok, due.elapsed())
        }));
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    let mut failed = 0;
    for t in tasks {
        let (measured, ok, latency) = t.await.unwrap();
        if measured {
            if ok {
                hist.record(latency.as_micros() as u64).unwrap();
            } else {
                failed += 1;
            }
        }
    }
    (hist, failed)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    println!("| timer | requests | failed | p50 | p90 | p99 | max | goal p50 in [50, 51.5] ms, p99 ≤ 53 ms |");
    println!("|---|---|---|---|---|---|---|---|");
    for (label, timer) in [("tokio (1 ms tick)", Timer::Tokio), ("precise (timerfd)", Timer::Precise)] {
        let instance = target(timer).await;
        let (h, failed) = run(&instance.url()).await;
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        let met = ms(0.5) >= 50.0 && ms(0.5) <= 51.5 && ms(0.99) <= 53.0;
        println!(
            "| {label} | {} | {failed} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {} |",
            h.len(),
            ms(0.5),
            ms(0.9),
            ms(0.99),
            h.max() as f64 / 1000.0,
            if met { "met" } else { "not met" }
        );
        instance.shutdown().await;
    }
}
