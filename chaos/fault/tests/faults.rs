//! Each fault observed from the client's side, through a real socket.

use bytes::Bytes;
use chaos_fault::server::Instance;
use chaos_fault::{Distribution, Fault, FaultLayer, FaultTable, INJECTED_HEADER, Latency, Rule, Scope, When};
use http_body_util::Full;
use std::convert::Infallible;
use std::time::{Duration, Instant};
use tower::Layer;

/// An instance that answers 200 "ok" (`/slow`: after 2 s), behind the fault layer.
async fn instance(seed: u64) -> (Instance, FaultTable) {
    let table = FaultTable::new();
    let svc = FaultLayer::new(table.clone()).seed(seed).layer(tower::service_fn(
        |req: http::Request<hyper::body::Incoming>| async move {
            if req.uri().path() == "/slow" {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"ok"))))
        },
    ));
    let instance = Instance::bind("test-0", "127.0.0.1:0".parse().unwrap(), svc).await.unwrap();
    (instance, table)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap()
}

async fn get(url: &str) -> reqwest::Result<reqwest::Response> {
    client().get(url).send().await
}

#[tokio::test]
async fn without_rules_the_service_answers() {
    let (inst, _t) = instance(1).await;
    let res = get(&inst.url()).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "ok");
}

#[tokio::test]
async fn an_error_fault_answers_its_status_body_and_rule_header() {
    let (inst, table) = instance(1).await;
    let headers = [("retry-after".to_string(), "7".to_string())].into();
    let fault = Fault::Error(chaos_fault::ErrorFault { status: 503, body: "injected".into(), headers });
    table.insert(Rule::new("e1", fault, Scope::default()));
    let res = get(&inst.url()).await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()[INJECTED_HEADER], "e1");
    assert_eq!(res.headers()["retry-after"], "7");
    assert_eq!(res.text().await.unwrap(), "injected");
}

#[tokio::test]
async fn a_latency_fault_delays_the_answer_by_at_least_its_delay() {
    let (inst, table) = instance(1).await;
    let base = Instant::now();
    get(&inst.url()).await.unwrap();
    let unfaulted = base.elapsed();
    table.insert(Rule::new("slow", Fault::fixed_latency(Duration::from_millis(300)), Scope::default()));
    let start = Instant::now();
    let res = get(&inst.url()).await.unwrap();
    let took = start.elapsed();
    assert_eq!(res.status(), 200);
    assert!(took >= Duration::from_millis(300), "took {took:?}");
    assert!(took > unfaulted + Duration::from_millis(250), "took {took:?}, unfaulted {unfaulted:?}");
}

#[tokio::test]
async fn a_uniform_latency_stays_within_its_bounds() {
    let (inst, table) = instance(1).await;
    let dist = Distribution::Uniform(chaos_fault::UniformParams {
        min: Duration::from_millis(100),
        max: Duration::from_millis(150),
    });
    table.insert(Rule::new(
        "u",
        Fault::Latency(Latency { distribution: dist, jitter: Duration::ZERO, when: When::Before }),
        Scope::default(),
    ));
    for _ in 0..5 {
        let start = Instant::now();
        get(&inst.url()).await.unwrap();
        assert!(start.elapsed() >= Duration::from_millis(100), "{:?}", start.elapsed());
    }
}

#[tokio::test]
async fn a_reset_fault_drops_the_connection_without_a_response() {
    let (inst, table) = instance(1).await;
    table.insert(Rule::new("r", Fault::Reset, Scope::default()));
    let err = get(&inst.url()).await.unwrap_err();
    assert!(!err.is_timeout() && err.status().is_none(), "{err:?}");
    assert!(err.is_request() || err.is_connect() || err.is_body(), "{err:?}");
}

#[tokio::test]
async fn a_hang_fault_answers_nothing_until_the_client_gives_up() {
    let (inst, table) = instance(1).await;
    table.insert(Rule::new("h", Fault::Hang { max: Duration::from_secs(30) }, Scope::default()));
    let c = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
    let start = Instant::now();
    let err = c.get(inst.url()).send().await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(start.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn route_scope_faults_only_paths_under_the_prefix() {
    let (inst, table) = instance(1).await;
    table.insert(Rule::new("lic", Fault::error(500), Scope::default().route("/license")));
    assert_eq!(get(&format!("{}/license/1", inst.url())).await.unwrap().status(), 500);
    assert_eq!(get(&format!("{}/manifest/1", inst.url())).await.unwrap().status(), 200);
}

#[tokio::test]
async fn probability_faults_a_share_and_the_same_seed_repeats_it() {
    async fn statuses(seed: u64) -> Vec<u16> {
        let (inst, table) = instance(seed).await;
        table.insert(Rule::new("p", Fault::error(503), Scope::probability(0.5)));
        let c = client();
        let mut out = Vec::new();
        for _ in 0..60 {
            out.push(c.get(inst.url()).send().await.unwrap().status().as_u16());
        }
        out
    }
    let a = statuses(11).await;
    let errors = a.iter().filter(|s| **s == 503).count();
    // 99.9 % binomial interval for n = 60, p = 0.5 is 17..=43.
    assert!((17..=43).contains(&errors), "{errors} of 60");
    assert_eq!(a, statuses(11).await);
    assert_ne!(a, statuses(12).await);
}

#[tokio::test]
async fn removing_a_rule_heals_the_service() {
    let (inst, table) = instance(1).await;
    table.insert(Rule::new("e", Fault::error(500), Scope::default()));
    assert_eq!(get(&inst.url()).await.unwrap().status(), 500);
    assert!(table.remove("e"));
    assert_eq!(get(&inst.url()).await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_killed_instance_refuses_connections_and_returns_after_restart_after() {
    let (inst, _t) = instance(1).await;
    let url = inst.url();
    assert_eq!(get(&url).await.unwrap().status(), 200);
    inst.kill(Some(Duration::from_millis(500))).await;
    assert!(!inst.is_up());
    let err = get(&url).await.unwrap_err();
    assert!(err.is_connect(), "expected connection refused, got {err:?}");
    // Bounded wait for the restart on the same port.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(res) = get(&url).await {
            assert_eq!(res.status(), 200);
            break;
        }
        assert!(Instant::now() < deadline, "instance did not come back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(inst.is_up());
    assert_eq!(inst.kills(), 1);
}

#[tokio::test]
async fn a_kill_drops_requests_in_flight() {
    let (inst, _t) = instance(1).await;
    let url = format!("{}/slow", inst.url());
    let pending = tokio::spawn(async move { get(&url).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    inst.kill(None).await;
    let err = pending.await.unwrap().unwrap_err();
    assert!(!err.is_timeout(), "{err:?}");
    assert!(get(&inst.url()).await.unwrap_err().is_connect());
}
