//! An app of the kind `chaos run` tests: two axum services that embed the fault layer
//! ([`chaos_fault::FaultLayer::answering`]) and serve its control API
//! ([`chaos_fault::control::serve_tables`]), so that an experiment can fault them by name.
//!
//! - `inventory` answers `GET /stock/{item}` with a count.
//! - `shop` answers `GET /checkout`: it asks the inventory, giving up after 200 ms, and falls
//!   back to "stock unknown" (still a sale) when the inventory fails — unless `SHOP_FALLBACK=off`,
//!   the mutant its experiment (`examples/shop/experiment.yaml`) must fail with.

use axum::Router;
use chaos_fault::{FaultLayer, FaultTable};
use std::net::SocketAddr;

/// `--flag VALUE` from the command line, or `default`.
pub fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned().unwrap_or_else(|| default.into())
}

/// Serves `app` on `port` behind a fault layer whose control API listens on `control`, both on
/// 127.0.0.1, until the process ends.
pub async fn serve(name: &str, app: Router, port: u16, control: u16) -> std::io::Result<()> {
    let table = FaultTable::new();
    let api = chaos_fault::control::serve_tables(SocketAddr::from(([127, 0, 0, 1], control)), [(name, table.clone())])
        .await
        .map_err(std::io::Error::other)?;
    let app = app.layer(FaultLayer::new(table).seed(7).answering());
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    eprintln!("{name} on http://{}, control API on {}", listener.local_addr()?, api.url());
    axum::serve(listener, app).await
}
