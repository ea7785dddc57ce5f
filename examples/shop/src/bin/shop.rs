//! `shop --port P --control C --inventory URL`: a checkout that survives its inventory failing.

use axum::{Json, Router, extract::State, http::StatusCode, routing::get};
use serde_json::{Value, json};
use std::time::Duration;

/// How long checkout waits for the inventory.
const INVENTORY_TIMEOUT: Duration = Duration::from_millis(200);

#[derive(Clone)]
struct Shop {
    http: reqwest::Client,
    inventory: String,
    /// Answer "stock unknown" when the inventory fails (`SHOP_FALLBACK=off` turns it off).
    fallback: bool,
}

async fn checkout(State(shop): State<Shop>) -> Result<Json<Value>, StatusCode> {
    let stock = async {
        let res = shop.http.get(format!("{}/stock/book", shop.inventory)).send().await?.error_for_status()?;
        res.json::<Value>().await
    };
    match tokio::time::timeout(INVENTORY_TIMEOUT, stock).await {
        Ok(Ok(stock)) => Ok(Json(json!({ "status": "ok", "stock": stock["stock"] }))),
        _ if shop.fallback => Ok(Json(json!({ "status": "ok", "stock": "unknown" }))),
        _ => Err(StatusCode::SERVICE_UNAVAILABLE),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = shop::arg("--port", "8080").parse().map_err(std::io::Error::other)?;
    let control = shop::arg("--control", "7474").parse().map_err(std::io::Error::other)?;
    let shop = Shop {
        http: reqwest::Client::new(),
        inventory: shop::arg("--inventory", "http://127.0.0.1:9001"),
        fallback: std::env::var("SHOP_FALLBACK").map_or(true, |v| v != "off"),
    };
    let app = Router::new().route("/checkout", get(checkout)).route("/health", get(|| async { "ok" })).with_state(shop);
    shop::serve("shop", app, port, control).await
}
