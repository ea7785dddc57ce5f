//! The fault layer in an axum 0.8 app, through `FaultLayer::answering` (axum's `Router::layer`
//! takes no service error): the client sees an injected error as its status and an injected
//! reset as a connection dropped without an answer.

use axum::{Router, routing::get};
use chaos_fault::{Fault, FaultLayer, FaultTable, Rule, Scope};
use std::time::{Duration, Instant};

#[tokio::test]
async fn an_axum_app_answers_injected_errors_and_drops_the_connection_on_a_reset() {
    let table = FaultTable::new();
    let app: Router = Router::new()
        .route("/checkout", get(|| async { "ok" }))
        .route("/other", get(|| async { "other" }))
        .layer(FaultLayer::new(table.clone()).seed(1).answering());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();

    assert_eq!(http.get(format!("{url}/checkout")).send().await.unwrap().text().await.unwrap(), "ok");
    table.insert(Rule::new("down", Fault::error(503), Scope::default().route("/checkout")));
    let res = http.get(format!("{url}/checkout")).send().await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["x-chaos-fault"], "down");
    assert_eq!(http.get(format!("{url}/other")).send().await.unwrap().status(), 200, "out of scope");

    table.insert(Rule::new("cut", Fault::Reset, Scope::default().route("/other")));
    let answer = async { http.get(format!("{url}/other")).send().await?.bytes().await }.await;
    assert!(answer.is_err(), "a reset gives no complete answer: {answer:?}");

    table.clear();
    table.insert(Rule::new("slow", Fault::fixed_latency(Duration::from_millis(200)), Scope::default()));
    let start = Instant::now();
    assert_eq!(http.get(format!("{url}/checkout")).send().await.unwrap().status(), 200);
    assert!(start.elapsed() >= Duration::from_millis(200));
    server.abort();
}
