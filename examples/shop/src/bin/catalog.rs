//! `catalog --port P --redis HOST:PORT`: product pages read from Redis, which survive Redis
//! being slow, resetting connections or gone.
//!
//! At start it writes the products to Redis; `GET /product/{id}` then reads one back, giving up
//! after 100 ms, and falls back to the product's name without its price (still a page) when
//! Redis fails — unless `CATALOG_FALLBACK=off`, the mutant of
//! `experiments/systems/redis.yaml`.

use axum::extract::{Path, State};
use axum::{Json, Router, http::StatusCode, routing::get};
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde_json::{Value, json};
use std::time::Duration;

/// How long a page waits for Redis.
const REDIS_TIMEOUT: Duration = Duration::from_millis(100);
/// Products written at start.
const PRODUCTS: u32 = 100;

#[derive(Clone)]
struct Catalog {
    redis: ConnectionManager,
    /// Answer without the price when Redis fails (`CATALOG_FALLBACK=off` turns it off).
    fallback: bool,
}

async fn product(State(mut catalog): State<Catalog>, Path(id): Path<u32>) -> Result<Json<Value>, StatusCode> {
    if id >= PRODUCTS {
        return Err(StatusCode::NOT_FOUND);
    }
    let read = catalog.redis.get::<_, Option<String>>(format!("product:{id}"));
    match tokio::time::timeout(REDIS_TIMEOUT, read).await {
        Ok(Ok(Some(stored))) => serde_json::from_str(&stored).map(Json).map_err(|_| StatusCode::INTERNAL_SERVER_ERROR),
        _ if catalog.fallback => Ok(Json(json!({ "id": id, "name": name(id), "price": null, "source": "fallback" }))),
        _ => Err(StatusCode::SERVICE_UNAVAILABLE),
    }
}

fn name(id: u32) -> String {
    format!("Product {id}")
}

/// Connects (retrying while Redis comes up) and writes every product.
async fn stock_redis(url: &str) -> redis::RedisResult<ConnectionManager> {
    let client = redis::Client::open(url)?;
    // Gives up on one command after 1 s and reconnects with short waits: a page has its own
    // 100 ms timeout, and a connection reset by a fault is replaced at once.
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(Duration::from_secs(1)))
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_millis(100));
    let mut redis = ConnectionManager::new_with_config(client, config).await?;
    for id in 0..PRODUCTS {
        let page = json!({ "id": id, "name": name(id), "price": 5 + id % 20, "source": "redis" });
        let () = redis.set(format!("product:{id}"), page.to_string()).await?;
    }
    Ok(redis)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = shop::arg("--port", "8090").parse().map_err(std::io::Error::other)?;
    let url = format!("redis://{}/", shop::arg("--redis", "127.0.0.1:6379"));
    let redis = stock_redis(&url).await.map_err(|e| std::io::Error::other(format!("{url}: {e}")))?;
    let catalog = Catalog { redis, fallback: std::env::var("CATALOG_FALLBACK").map_or(true, |v| v != "off") };
    let app =
        Router::new().route("/product/{id}", get(product)).route("/health", get(|| async { "ok" })).with_state(catalog);
    let listener = tokio::net::TcpListener::bind(std::net::SocketAddr::from(([127, 0, 0, 1], port))).await?;
    eprintln!("catalog on http://{}, Redis at {url}", listener.local_addr()?);
    axum::serve(listener, app).await
}
