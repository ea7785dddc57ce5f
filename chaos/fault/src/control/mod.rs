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
