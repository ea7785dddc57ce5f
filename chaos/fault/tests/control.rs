//! The control API, driven over HTTP like a user would, with its effect seen by a plain client.

use bytes::Bytes;
use chaos_fault::control::{ControlConfig, ControlError, Registry, serve};
use chaos_fault::server::Instance;
use chaos_fault::{FaultLayer, FaultTable};
use http_body_util::Full;
use serde_json::{Value, json};
use std::convert::Infallible;
use tower::Layer;

async fn instance(name: &str, registry: &Registry) -> Instance {
    let table = FaultTable::new();
    let svc =
        FaultLayer::new(table.clone()).layer(tower::service_fn(|_req: http::Request<hyper::body::Incoming>| async {
            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"ok"))))
        }));
    let server = Instance::bind(name, "127.0.0.1:0".parse().unwrap(), svc).await.unwrap();
    registry.register(name, table, Some(server.clone()));
    server
}

struct Setup {
    api: String,
    a: Instance,
    b: Instance,
    http: reqwest::Client,
    _server: chaos_fault::control::ControlServer,
}

async fn setup(config: ControlConfig) -> Setup {
    let registry = Registry::new();
    let a = instance("svc-0", &registry).await;
    let b = instance("svc-1", &registry).await;
    let server = serve(registry, config).await.unwrap();
    Setup { api: server.url(), a, b, http: reqwest::Client::new(), _server: server }
}

impl Setup {
    async fn status_of(&self, inst: &Instance) -> u16 {
        self.http.get(inst.url()).send().await.unwrap().status().as_u16()
    }
}

const ERROR_RULE: &str = r#"{"id":"e","fault":{"error":{"status":503}}}"#;

#[tokio::test]
async fn rules_are_added_listed_updated_and_removed_live() {
    let s = setup(ControlConfig::default()).await;
    let rules = format!("{}/instances/svc-0/rules", s.api);
    let res = s.http.post(&rules).body(ERROR_RULE).send().await.unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(s.status_of(&s.a).await, 503);
    assert_eq!(s.status_of(&s.b).await, 200, "only svc-0 got the rule");
    let listed: Value = s.http.get(&rules).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed[0]["id"], "e");
    assert_eq!(s.http.post(&rules).body(ERROR_RULE).send().await.unwrap().status(), 409);
    let updated = json!({"id": "e", "fault": {"error": {"status": 429}}});
    assert_eq!(s.http.put(format!("{rules}/e")).json(&updated).send().await.unwrap().status(), 200);
    assert_eq!(s.status_of(&s.a).await, 429);
    assert_eq!(
        s.http
            .put(format!("{rules}/nope"))
            .json(&json!({"id": "nope", "fault": "reset"}))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(s.http.delete(format!("{rules}/e")).send().await.unwrap().status(), 204);
    assert_eq!(s.http.delete(format!("{rules}/e")).send().await.unwrap().status(), 404);
    assert_eq!(s.status_of(&s.a).await, 200);
}

#[tokio::test]
async fn a_star_reaches_every_instance_and_reset_halts_all() {
    let s = setup(ControlConfig::default()).await;
    s.http.post(format!("{}/instances/*/rules", s.api)).body(ERROR_RULE).send().await.unwrap();
    assert_eq!((s.status_of(&s.a).await, s.status_of(&s.b).await), (503, 503));
    let instances: Value = s.http.get(format!("{}/instances", s.api)).send().await.unwrap().json().await.unwrap();
    assert_eq!(instances.as_array().unwrap().len(), 2);
    assert_eq!(instances[0]["metrics"]["injected"]["error"], 1);
    assert_eq!(s.http.post(format!("{}/reset", s.api)).send().await.unwrap().status(), 204);
    assert_eq!((s.status_of(&s.a).await, s.status_of(&s.b).await), (200, 200));
}

#[tokio::test]
async fn an_invalid_rule_gets_400_naming_the_field() {
    let s = setup(ControlConfig::default()).await;
    let rules = format!("{}/instances/svc-0/rules", s.api);
    let res =
        s.http.post(&rules).body(r#"{"id":"x","fault":{"error":{"status":"five hundred"}}}"#).send().await.unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["field"], "fault.error.status", "{body}");
    let res = s.http.post(&rules).body(r#"{"id":"x","fault":{"error":{"status":999}}}"#).send().await.unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("not an HTTP status"), "{body}");
    let forever = r#"{"id":"x","fault":{"latency":{"fixed":"18446744073709551615s"}}}"#;
    let res = s.http.post(&rules).body(forever).send().await.unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("fixed is 18446744073709551615s; at most a day"), "{body}");
    let res =
        s.http.post(&rules).body(r#"{"id":"x","fault":"reset","scope":{"probabilty":0.5}}"#).send().await.unwrap();
    let body: Value = res.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("unknown field `probabilty`"), "{body}");
    assert_eq!(s.http.post(&rules).body("not json").send().await.unwrap().status(), 400);
    assert_eq!(s.http.get(format!("{}/instances/ghost/rules", s.api)).send().await.unwrap().status(), 404);
    assert_eq!(s.http.patch(&rules).send().await.unwrap().status(), 405);
}

#[tokio::test]
async fn request_bodies_are_size_limited() {
    let s = setup(ControlConfig { max_body: 1024, ..ControlConfig::default() }).await;
    let big = format!(r#"{{"id":"x","fault":{{"error":{{"status":500,"body":"{}"}}}}}}"#, "a".repeat(4096));
    let res = s.http.post(format!("{}/instances/svc-0/rules", s.api)).body(big).send().await.unwrap();
    assert_eq!(res.status(), 413);
}

#[tokio::test]
async fn a_token_is_required_beyond_loopback_and_checked_when_set() {
    let registry = Registry::new();
    let open = ControlConfig { addr: "0.0.0.0:0".parse().unwrap(), ..ControlConfig::default() };
    assert!(matches!(serve(registry.clone(), open).await, Err(ControlError::TokenRequired(_))));
    let s = setup(ControlConfig { token: Some("s3cret".into()), ..ControlConfig::default() }).await;
    let url = format!("{}/instances", s.api);
    assert_eq!(s.http.get(&url).send().await.unwrap().status(), 401);
    assert_eq!(s.http.get(&url).bearer_auth("wrong").send().await.unwrap().status(), 401);
    assert_eq!(s.http.get(&url).bearer_auth("s3cret").send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn instances_are_killed_and_restarted_through_the_api() {
    let s = setup(ControlConfig::default()).await;
    let kill = s.http.post(format!("{}/instances/svc-1/kill", s.api)).send().await.unwrap();
    assert_eq!(kill.status(), 204);
    assert!(s.http.get(s.b.url()).send().await.unwrap_err().is_connect());
    let instances: Value = s.http.get(format!("{}/instances", s.api)).send().await.unwrap().json().await.unwrap();
    assert_eq!(instances[1]["up"], false);
    assert_eq!(s.http.post(format!("{}/instances/svc-1/restart", s.api)).send().await.unwrap().status(), 204);
    assert_eq!(s.status_of(&s.b).await, 200);
}

#[tokio::test]
async fn star_lists_rules_per_instance_even_for_a_registry_of_one() {
    // A proxy's or an app's control API has one instance: `*` must still answer one entry per
    // instance (it answered a bare list, which `chaos fault list` printed as `?   -`).
    let registry = Registry::new();
    let table = chaos_fault::FaultTable::new();
    registry.register("proxy", table.clone(), None);
    let server = serve(registry, ControlConfig::default()).await.unwrap();
    let http = reqwest::Client::new();
    http.post(format!("{}/instances/*/rules", server.url())).body(ERROR_RULE).send().await.unwrap();
    let all: Value =
        http.get(format!("{}/instances/*/rules", server.url())).send().await.unwrap().json().await.unwrap();
    assert_eq!(all[0]["instance"], "proxy");
    assert_eq!(all[0]["rules"][0]["id"], "e");
    let one: Value =
        http.get(format!("{}/instances/proxy/rules", server.url())).send().await.unwrap().json().await.unwrap();
    assert_eq!(one[0]["id"], "e", "one instance by name: its rules");
}
