//! Prometheus `/metrics`: what a scraper reads after real plays with injected faults.

use chaos_fault::{Fault, Rule, Scope};
use std::collections::BTreeMap;
use std::time::Duration;
use targets::{Platform, PlaybackClient, Topology};
use tokio::time::Instant;

/// `name{labels}` → value, for every sample line; checks the exposition's shape on the way.
fn parse(text: &str) -> BTreeMap<String, f64> {
    assert!(text.ends_with("# EOF\n"), "an OpenMetrics exposition ends with # EOF");
    let mut types = Vec::new();
    let mut samples = BTreeMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let family = rest.split(' ').next().unwrap().to_string();
            assert!(!types.contains(&family), "family {family} declared twice");
            types.push(family);
        } else if !line.starts_with('#') {
            let (series, value) = line.rsplit_once(' ').unwrap();
            samples.insert(series.to_string(), value.parse().unwrap_or_else(|_| panic!("bad value in `{line}`")));
        }
    }
    samples
}

/// The sum of the samples of `name` whose labels contain every one of `labels`.
fn sum(samples: &BTreeMap<String, f64>, name: &str, labels: &[&str]) -> f64 {
    samples
        .iter()
        .filter(|(k, _)| k.starts_with(&format!("{name}{{")) && labels.iter().all(|l| k.contains(l)))
        .map(|(_, v)| v)
        .sum()
}

/// What Prometheus 2.42 asks a target for: OpenMetrics first.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// Scrapes `url` as Prometheus does: (content type, body).
async fn scrape(url: &str) -> (String, String) {
    let client = reqwest::Client::new();
    let res = client.get(format!("{url}/metrics")).header("accept", PROMETHEUS_ACCEPT).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_string();
    (content_type, res.text().await.unwrap())
}

#[tokio::test]
async fn requests_errors_and_latency_are_exported_per_route_and_per_injected_fault() {
    let topology = Topology::default_platform();
    let platform = Platform::start(&topology, 42).await.unwrap();
    let player = PlaybackClient::new(platform.edge_url(), topology.player.clone());
    // Every license call of license-0 fails; every catalog call is slowed by 20 ms.
    let license = platform.resolve("license-0")[0].clone();
    license.table.insert(Rule::new("license-errors", Fault::error(503), Scope::default()));
    let slow = Fault::fixed_latency(Duration::from_millis(20));
    for i in platform.resolve("catalog") {
        i.table.insert(Rule::new("catalog-slow", slow.clone(), Scope::default()));
    }
    for n in 0..6 {
        player.session(&format!("u{n}"), &format!("t{n}"), Instant::now()).await;
    }

    let (content_type, text) = scrape(&license.server.url()).await;
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    let own = parse(&text);
    let this = r#"replica="license-0""#;
    let failed = sum(&own, "chaos_target_requests_total", &[this, r#"code="503""#, r#"fault="license-errors""#]);
    assert!(failed >= 1.0, "license-0 answered no injected 503:\n{text}");
    let errors = sum(&own, "chaos_target_errors_total", &[this, r#"route="/license/{title}""#]);
    assert_eq!(errors, failed, "every injected 503 is an error of its route");
    let hits = sum(&own, "chaos_fault_rule_hits_total", &[this, r#"rule="license-errors""#]);
    assert_eq!(hits, failed, "the layer's rule hits match what the caller saw");
    assert!(own.keys().all(|k| !k.contains(r#"replica="license-1""#)), "an instance serves only its own series");

    let (_, all) = scrape(&platform.serve_metrics("127.0.0.1:0".parse().unwrap()).await.unwrap().url()).await;
    let all = parse(&all);
    let slowed = r#"fault="catalog-slow""#;
    let count = sum(&all, "chaos_target_request_duration_seconds_count", &[r#"service="catalog""#, slowed]);
    let secs = sum(&all, "chaos_target_request_duration_seconds_sum", &[r#"service="catalog""#, slowed]);
    assert!(count >= 6.0, "catalog was called on every home screen, got {count}");
    assert!(secs / count >= 0.020, "an injected 20 ms shows in the latency: mean {:.4} s", secs / count);
    let unfaulted = sum(&all, "chaos_target_requests_total", &[r#"service="edge""#, r#"fault="""#]);
    assert!(unfaulted >= 12.0, "edge served home and play unfaulted, got {unfaulted}");
    assert_eq!(sum(&all, "chaos_fault_rules", &[r#"replica="catalog-0""#]), 1.0);
}

#[tokio::test]
async fn a_fault_on_every_route_does_not_hide_the_metrics() {
    let topology = Topology::default_platform();
    let platform = Platform::start(&topology, 7).await.unwrap();
    let edge = platform.resolve("edge")[0].clone();
    edge.table.insert(Rule::new("everything", Fault::Reset, Scope::default()));
    assert!(reqwest::get(format!("{}/home", edge.server.url())).await.is_err(), "the reset reaches the caller");
    let (_, text) = scrape(&edge.server.url()).await;
    let samples = parse(&text);
    let resets = sum(&samples, "chaos_target_requests_total", &[r#"code="0""#, r#"fault="everything""#]);
    assert_eq!(resets, 1.0, "the reset request is counted with no answer:\n{text}");
    let posted = reqwest::Client::new().post(format!("{}/metrics", edge.server.url())).send().await.unwrap();
    assert_eq!(posted.status(), 405);
}
