//! What one exchange and one session cost on the virtual clock (issue 9), layer by layer: a
//! direct call to an empty service (the transport), a direct call to a leaf instance's whole
//! stack (metrics, fault layer, router, handler with its modelled service time), the edge's home
//! page (a leaf exchange behind each of its five guarded calls), and a whole playback session.
//!
//! `cargo bench -p targets --bench virtual_exchange [WORD]` prints the CPU time of each (or of
//! those whose name contains WORD), per operation.
//! The runs are on tokio's paused clock, so every modelled delay costs nothing but its timer.

use chaos_fault::server::{DirectBody, Instance, MemNet, Net};
use http::{Request, Response};
use http_body_util::{BodyExt, Empty};
use std::time::{Duration, Instant as WallInstant};
use targets::{Platform, PlaybackClient, Topology, http_client};
use tokio::time::Instant;

// The `chaos` binary's allocator (mimalloc in place of malloc), so that the figures are what a
// run costs.
use mimalloc as _;

const CONCURRENT: usize = 50;

/// Runs `op` `n` times, `CONCURRENT` at a time, and returns the wall time per operation (on the
/// paused clock wall time is CPU time: nothing waits for real).
async fn per_op<F, Fut>(n: usize, op: F) -> Duration
where
    F: Fn(usize) -> Fut + Clone + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let started = WallInstant::now();
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async move {
            let mut workers = Vec::new();
            for w in 0..CONCURRENT {
                let op = op.clone();
                workers.push(tokio::task::spawn_local(async move {
                    for i in (w..n).step_by(CONCURRENT) {
                        op(i).await;
                    }
                }));
            }
            for w in workers {
                w.await.expect("worker");
            }
        })
        .await;
    started.elapsed() / n as u32
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument picks the operations to run.
    let only: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let wanted = move |what: &str| only.as_deref().is_none_or(|w| what.contains(w));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().expect("runtime");
    rt.block_on(async {
        let mem = MemNet::new();
        let net = Net::Mem(mem.clone());
        let empty = tower::service_fn(|_req: Request<DirectBody>| async {
            Ok::<_, std::convert::Infallible>(Response::new(Empty::<bytes::Bytes>::new()))
        });
        let bare = Instance::bind_direct(&mem, "empty-0", "127.0.0.1:0".parse().unwrap(), empty).await.expect("bind");
        let platform = Platform::start_on(&net, &Topology::default_platform(), 42).await.expect("platform");
        let http = http_client(&net);
        let auth = platform.resolve("auth")[0].server.url();
        let edge = platform.edge_url();

        let get = |http: targets::HttpClient, url: String| async move {
            let req = Request::get(url).header(targets::USER_HEADER, "u1").body(Empty::new()).expect("request");
            let res = http.request(req).await.expect("answer");
            res.into_body().collect().await.expect("body");
        };
        let cdn = platform.resolve("cdn")[0].server.url();
        let rows: [(&str, usize, String); 5] = [
            ("direct call, empty service", 200_000, bare.url()),
            ("direct call, auth instance (whole stack)", 100_000, format!("{auth}/validate")),
            ("direct call, CDN segment at 3000 kbit/s (15 KB, 1 frame)", 100_000, format!("{cdn}/segments/t1/3000/0")),
            (
                "direct call, CDN segment at 16000 kbit/s (80 KB, 5 frames)",
                100_000,
                format!("{cdn}/segments/t1/16000/0"),
            ),
            ("edge home page (6 exchanges, 5 guarded calls)", 20_000, format!("{edge}/home")),
        ];
        println!("| operation | per operation (CPU) |");
        println!("|---|---|");
        for (what, n, url) in rows.into_iter().filter(|(what, ..)| wanted(what)) {
            let (http, get) = (http.clone(), get);
            let t = per_op(n, move |_| get(http.clone(), url.clone())).await;
            println!("| {what} | {:.2} µs |", t.as_secs_f64() * 1e6);
        }
        let session = "a whole session (home, play, 15 segments: ~25 exchanges)";
        if !wanted(session) {
            platform.shutdown().await;
            return;
        }
        let player = PlaybackClient::on(&net, edge, platform.topology().player.clone());
        let t = per_op(5_000, move |i| {
            let player = player.clone();
            async move {
                let outcome = player.session(&format!("u{i}"), &format!("t{}", i % 200), Instant::now()).await;
                assert!(outcome.play.is_some_and(|p| p.ok), "a session without faults plays");
            }
        })
        .await;
        println!("| {session} | {:.2} µs |", t.as_secs_f64() * 1e6);
        platform.shutdown().await;
    });
}
