//! `inventory --port P --control C`: the shop's dependency.

use axum::{Json, Router, extract::Path, routing::get};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = shop::arg("--port", "9001").parse().map_err(std::io::Error::other)?;
    let control = shop::arg("--control", "9002").parse().map_err(std::io::Error::other)?;
    let app = Router::new()
        .route(
            "/stock/{item}",
            get(|Path(item): Path<String>| async move { Json(serde_json::json!({ "item": item, "stock": 42 })) }),
        )
        .route("/health", get(|| async { "ok" }));
    shop::serve("inventory", app, port, control).await
}
