//! The load generator must see a stall that a closed-loop tool hides: a server that freezes for
//! 200 ms every 2 s has a true mean latency near 10 ms and a p99 near 180 ms (DESIGN.md).

use axum::Router;
use axum::routing::get;
use chaos_engine::load::{Schedule, Sessions, drive};
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// Serves "ok", except that a request arriving in the last 200 ms of every 2 s waits until the
/// end of that window, as if the process were frozen (a GC pause, a stop-the-world).
async fn stalling_server() -> String {
    let epoch = Instant::now();
    let app = Router::new().route(
        "/",
        get(move || async move {
            let phase = epoch.elapsed().as_millis() as u64 % 2000;
            if phase >= 1800 {
                tokio::time::sleep(Duration::from_millis(2000 - phase)).await;
            }
            "ok"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[derive(Clone)]
struct Get {
    http: reqwest::Client,
    url: String,
}

impl Sessions for Get {
    fn start(&self, _i: u64, _intended: Instant) -> impl Future<Output = ()> + Send + 'static {
        let req = self.http.get(&self.url).timeout(Duration::from_secs(5)).send();
        async move {
            let _ = req.await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reported_p99_shows_a_periodic_stall_that_closed_loop_tools_hide() {
    let url = stalling_server().await;
    let get = Get { http: reqwest::Client::new(), url };
    // Two stall windows: 1.8–2.0 s and 3.8–4.0 s after the server's epoch.
    let schedule = Schedule::constant(400.0, Instant::now(), Duration::from_millis(4200), 2000);
    let stats = drive(schedule, &get, std::future::pending()).await;
    assert_eq!(stats.completed, stats.sent);
    let ms = |q: f64| stats.latency_us.value_at_quantile(q) as f64 / 1000.0;
    let mean = stats.latency_us.mean() / 1000.0;
    eprintln!(
        "p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, mean {mean:.1} ms, max {:.1} ms",
        ms(0.5),
        ms(0.9),
        ms(0.99),
        ms(1.0)
    );
    // About 9.5 % of arrivals land in a stall and wait 100 ms on average: the p99 sits deep in it.
    assert!(ms(0.99) >= 150.0, "p99 {:.1} ms hides the stall", ms(0.99));
    assert!(ms(1.0) >= 180.0, "max {:.1} ms", ms(1.0));
    assert!(ms(0.5) < 50.0, "p50 {:.1} ms: the server is fast outside the stalls", ms(0.5));
    assert!((4.0..40.0).contains(&mean), "mean {mean:.1} ms, expected near 10 ms");
}
