//! The control API (feature `control`): list, add, update and remove rules, see instances and
//! their metrics, kill and restart them, halt everything — JSON over HTTP, as Toxiproxy does.
//!
//! | method and path | does |
//! |---|---|
//! | `GET /instances` | every instance: name, address, up, fault metrics |
//! | `GET /instances/{name}/rules` | the instance's rules |
//! | `POST /instances/{name}/rules` | adds a rule (409 if its id exists) |
//! | `PUT /instances/{name}/rules/{id}` | replaces a rule (404 if missing) |
//! | `DELETE /instances/{name}/rules/{id}` | removes a rule |
//! | `DELETE /instances/{name}/rules` | removes the instance's rules |
//! | `GET /instances/{name}/metrics` | the instance's fault metrics |
//! | `POST /instances/{name}/kill` | kills it; body `{ "restart_after": "5s" }` optional |
//! | `POST /instances/{name}/restart` | brings it back |
//! | `POST /reset` | halt all: removes every rule of every instance |
//!
//! `{name}` may be `*` for every instance. Errors are `{ "error": "...", "field": "..." }` with
//! 400 (invalid rule, naming the field), 401 (token), 404, 405, 409 or 413 (body over the limit).
//! The server binds 127.0.0.1 by default and refuses to bind elsewhere without a bearer token.

mod api;
mod registry;

pub use api::{ControlConfig, ControlError, ControlServer, serve};
pub use registry::Registry;

/// Serves the control API for an app's own fault tables, each under its name, on `addr` (a
/// loopback address; elsewhere use [`serve`] with a token): the one call an app that embeds
/// [`FaultLayer`](crate::FaultLayer) needs so that `chaos fault` and experiments can reach it.
///
/// ```no_run
/// # async fn demo() -> Result<(), chaos_fault::control::ControlError> {
/// let inventory = chaos_fault::FaultTable::new();
/// let api = chaos_fault::control::serve_tables(([127, 0, 0, 1], 7474).into(), [("inventory", inventory.clone())]).await?;
/// println!("control API on {}", api.url());
/// # Ok(()) }
/// ```
pub async fn serve_tables<N: Into<String>>(
    addr: std::net::SocketAddr,
    tables: impl IntoIterator<Item = (N, crate::FaultTable)>,
) -> Result<ControlServer, ControlError> {
    let registry = Registry::new();
    for (name, table) in tables {
        registry.register(name, table, None);
    }
    serve(registry, ControlConfig { addr, ..ControlConfig::default() }).await
}
