//! Body faults, request-side timing, scopes, TTL and metrics, observed from the client's side.

use bytes::Bytes;
use chaos_fault::server::Instance;
use chaos_fault::{Cohort, Fault, FaultLayer, FaultTable, Latency, Rule, Scope, When};
use http_body_util::Full;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tower::Layer;

struct Target {
    url: String,
    table: FaultTable,
    calls: Arc<AtomicU64>,
    _instance: Instance,
}

/// Answers `/bytes/N` with N zero bytes, anything else with "ok"; counts calls.
async fn target() -> Target {
    let table = FaultTable::new();
    let calls = Arc::new(AtomicU64::new(0));
    let seen = calls.clone();
    let svc = FaultLayer::new(table.clone()).seed(3).layer(tower::service_fn(
        move |req: http::Request<hyper::body::Incoming>| {
            seen.fetch_add(1, Ordering::SeqCst);
            let n = req.uri().path().strip_prefix("/bytes/").and_then(|n| n.parse::<usize>().ok());
            async move {
                let body = n.map_or_else(|| Bytes::from_static(b"ok"), |n| Bytes::from(vec![7u8; n]));
                Ok::<_, Infallible>(http::Response::new(Full::new(body)))
            }
        },
    ));
    let instance = Instance::bind("t-0", "127.0.0.1:0".parse().unwrap(), svc).await.unwrap();
    Target { url: instance.url(), table, calls, _instance: instance }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap()
}

fn latency(ms: u64, when: When) -> Fault {
    let Fault::Latency(l) = Fault::fixed_latency(Duration::from_millis(ms)) else { unreachable!() };
    Fault::Latency(Latency { when, ..l })
}

#[tokio::test]
async fn truncate_cuts_the_body_and_ends_the_connection() {
    let t = target().await;
    t.table.insert(Rule::new("cut", Fault::Truncate { after_bytes: 1000 }, Scope::default()));
    let mut res = client().get(format!("{}/bytes/65536", t.url)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let mut received = 0;
    let err = loop {
        match res.chunk().await {
            Ok(Some(chunk)) => received += chunk.len(),
            Ok(None) => panic!("body completed after {received} bytes"),
            Err(e) => break e,
        }
    };
    assert_eq!(received, 1000, "{err:?}");
    assert!(err.is_body() || err.is_decode() || err.is_request(), "{err:?}");
}

#[tokio::test]
async fn stall_lets_some_bytes_through_then_holds_the_body_still_then_drops_the_connection() {
    let t = target().await;
    let fault: Fault = serde_json::from_str(r#"{"stall":{"after_bytes":3000,"max":"400ms"}}"#).unwrap();
    t.table.insert(Rule::new("still", fault, Scope::default()));
    let mut res = client().get(format!("{}/bytes/65536", t.url)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let mut received = 0;
    let mut last_byte = Instant::now();
    let err = loop {
        match res.chunk().await {
            Ok(Some(chunk)) => {
                received += chunk.len();
                last_byte = Instant::now();
            }
            Ok(None) => panic!("body completed after {received} bytes"),
            Err(e) => break e,
        }
    };
    // The client saw the first 3000 bytes, then silence for the stall, then the connection end.
    assert_eq!(received, 3000, "{err:?}");
    assert!(last_byte.elapsed() >= Duration::from_millis(400), "silence of {:?}", last_byte.elapsed());
    assert!(err.is_body() || err.is_decode() || err.is_request(), "{err:?}");
}

#[tokio::test]
async fn latency_after_lets_the_service_work_on_time_and_delays_the_first_byte() {
    for (when, called_early) in [(When::After, true), (When::Before, false)] {
        let t = target().await;
        t.table.insert(Rule::new("d", latency(600, when), Scope::default()));
        let url = t.url.clone();
        let start = Instant::now();
        let pending = tokio::spawn(async move { client().get(url).send().await.unwrap().status() });
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(t.calls.load(Ordering::SeqCst) == 1, called_early, "{when:?}");
        assert_eq!(pending.await.unwrap(), 200);
        assert!(start.elapsed() >= Duration::from_millis(600), "{when:?}");
    }
}

#[tokio::test]
async fn slow_first_byte_delays_the_head_then_streams_normally() {
    let t = target().await;
    let f: Fault = serde_json::from_str(r#"{"slow_first_byte":{"fixed":"400ms"}}"#).unwrap();
    t.table.insert(Rule::new("sfb", f, Scope::default()));
    let start = Instant::now();
    let res = client().get(format!("{}/bytes/1048576", t.url)).send().await.unwrap();
    let head = start.elapsed();
    let body = res.bytes().await.unwrap();
    assert!(head >= Duration::from_millis(400), "{head:?}");
    assert_eq!(body.len(), 1 << 20);
}

#[tokio::test]
async fn method_header_and_presence_scopes_pick_requests() {
    let t = target().await;
    let scope = Scope {
        methods: vec!["POST".into()],
        headers: [("x-canary".to_string(), "yes".to_string())].into(),
        ..Scope::default()
    };
    t.table.insert(Rule::new("canary", Fault::error(418), scope));
    let c = client();
    assert_eq!(c.post(&t.url).header("x-canary", "yes").send().await.unwrap().status(), 418);
    assert_eq!(c.get(&t.url).header("x-canary", "yes").send().await.unwrap().status(), 200);
    assert_eq!(c.post(&t.url).header("x-canary", "no").send().await.unwrap().status(), 200);
    t.table.insert(Rule::new(
        "canary",
        Fault::error(418),
        Scope { present: vec!["x-debug".into()], ..Scope::default() },
    ));
    assert_eq!(c.get(&t.url).header("x-debug", "").send().await.unwrap().status(), 418);
    assert_eq!(c.get(&t.url).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_cohort_faults_the_same_users_every_time() {
    let t = target().await;
    let cohort = Cohort { share: 0.5, header: "x-user-id".into() };
    t.table.insert(Rule::new("half", Fault::error(503), Scope { cohort: Some(cohort), ..Scope::default() }));
    let c = client();
    let mut faulted = Vec::new();
    for user in 0..40 {
        let status = |u: i32| c.get(&t.url).header("x-user-id", format!("user-{u}")).send();
        let first = status(user).await.unwrap().status();
        let second = status(user).await.unwrap().status();
        assert_eq!(first, second, "user-{user} changed cohort");
        faulted.push(first == 503);
    }
    let n = faulted.iter().filter(|f| **f).count();
    // 99.9 % binomial interval for n = 40, p = 0.5: 10..=30.
    assert!((10..=30).contains(&n), "{n} of 40 users in a 50 % cohort");
}

#[tokio::test]
async fn max_active_limits_how_many_requests_are_faulted_at_once() {
    let t = target().await;
    let scope = Scope { max_active: Some(1), ..Scope::default() };
    t.table.insert(Rule::new("one-at-a-time", latency(800, When::Before), scope));
    let c = client();
    let started = Instant::now();
    let times = futures_util::future::join_all((0..3).map(|_| {
        let req = c.get(&t.url).send();
        async move {
            req.await.unwrap();
            started.elapsed()
        }
    }))
    .await;
    let slow = times.iter().filter(|d| **d >= Duration::from_millis(800)).count();
    assert_eq!(slow, 1, "{times:?}");
    assert_eq!(t.table.metrics().by_rule["one-at-a-time"], 1);
}

#[tokio::test]
async fn a_rule_expires_after_its_ttl_and_metrics_count_what_happened() {
    let t = target().await;
    t.table.insert(Rule::new("brief", Fault::error(500), Scope::default()).with_ttl(Duration::from_millis(400)));
    let c = client();
    assert_eq!(c.get(&t.url).send().await.unwrap().status(), 500);
    let m = t.table.metrics();
    assert_eq!((m.requests_seen, m.injected["error"], m.by_rule["brief"], m.rules), (1, 1, 1, 1));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(c.get(&t.url).send().await.unwrap().status(), 200);
    let m = t.table.metrics();
    assert_eq!((m.requests_seen, m.rules), (2, 0));
}

/// Metrics outside the layer learn which rules acted from the `Applied` response extension:
/// set for a latency rule and an error rule, absent when no rule fired.
#[tokio::test(start_paused = true)]
async fn applied_names_the_rules_that_acted_and_only_when_one_did() {
    use chaos_fault::Applied;
    use tower::ServiceExt;
    let table = FaultTable::new();
    let svc = FaultLayer::new(table.clone()).seed(1).layer(tower::service_fn(|_req: http::Request<()>| async {
        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"ok"))))
    }));
    let call = |path: &'static str| {
        let svc = svc.clone();
        async move { svc.oneshot(http::Request::get(path).body(()).unwrap()).await.unwrap() }
    };
    assert_eq!(call("/a").await.extensions().get::<Applied>(), None);
    table.insert(Rule::new("slow", latency(5, When::Before), Scope::default()));
    table.insert(Rule::new("boom", Fault::error(503), Scope { route: Some("/b".into()), ..Scope::default() }));
    let slow = call("/a").await;
    assert_eq!(slow.extensions().get::<Applied>(), Some(&Applied(vec!["slow".into()])));
    let both = call("/b").await;
    assert_eq!(both.status(), 503);
    assert_eq!(both.extensions().get::<Applied>(), Some(&Applied(vec!["slow".into(), "boom".into()])));
}

/// The no-fault path allocates nothing: no rule, or 100 rules that do not match this request.
#[test]
fn a_request_that_gets_no_fault_allocates_nothing() {
    use futures_util::FutureExt;
    use tower::Service;
    let table = FaultTable::new();
    let mut svc = FaultLayer::new(table.clone()).seed(1).layer(tower::service_fn(|_req: http::Request<()>| {
        std::future::ready(Ok::<_, Infallible>(http::Response::new(())))
    }));
    let req = || http::Request::get("/play/7").body(()).unwrap();
    // A runtime for the faulted call's timer; the no-fault path needs none.
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let _in_runtime = rt.enter();
    let mut call = |req| {
        let mut answered = false;
        let counted = allocation_counter::measure(|| answered = matches!(svc.call(req).now_or_never(), Some(Ok(_))));
        (counted.count_total, answered)
    };
    // arc-swap gives each thread a debt node on its first load: once per thread, not per call.
    call(req());
    assert_eq!(call(req()), (0, true), "empty table");
    for i in 0..100 {
        table.insert(Rule::new(
            format!("r{i}"),
            Fault::error(503),
            Scope { route: Some(format!("/other-{i}")), ..Scope::default() },
        ));
    }
    assert_eq!(call(req()), (0, true), "100 rules that do not match");
    table.insert(Rule::new("hit", Fault::error(503), Scope::default()));
    assert!(call(req()).0 > 0, "the counter sees the faulted path's allocations");
}
