//! Services without dependencies that answer small JSON documents: auth, catalog,
//! recommendations, artwork, history and license.

use super::{Ctx, stable_hash, user_of};
use crate::topology::Role;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use http::HeaderMap;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// Titles in the simulated catalog: `t0` .. `t{TITLES-1}`.
pub(crate) const TITLES: u64 = 200;

type Shared = State<Arc<Ctx>>;

pub(super) fn router(role: Role, ctx: Arc<Ctx>) -> Router {
    let r = Router::new();
    let r = match role {
        Role::Auth => r.route("/validate", get(validate)),
        Role::Catalog => r.route("/titles/{id}", get(title)),
        Role::Recommendations => r.route("/rows", get(rows)),
        Role::Artwork => r.route("/art", get(art)),
        Role::History => r.route("/history", get(history)).route("/position/{title}", get(position)),
        Role::License => r.route("/license/{title}", get(license)),
        _ => r,
    };
    r.with_state(ctx)
}

async fn validate(State(ctx): Shared, headers: HeaderMap) -> Json<Value> {
    ctx.work().await;
    Json(json!({ "user": &*user_of(&headers), "grant": "ok", "ttl_s": 30 }))
}

async fn title(State(ctx): Shared, Path(id): Path<String>) -> Json<Value> {
    ctx.work().await;
    let minutes = 20 + stable_hash(&id) % 100;
    Json(json!({ "id": id, "name": format!("Title {id}"), "duration_s": minutes * 60 }))
}

async fn rows(State(ctx): Shared, headers: HeaderMap) -> Json<Value> {
    ctx.work().await;
    let h = stable_hash(&user_of(&headers));
    let titles: Vec<String> = (0..8).map(|i| format!("t{}", (h + i * 17) % TITLES)).collect();
    Json(json!({ "rows": [{ "name": "Because you watched", "titles": titles }] }))
}

async fn art(State(ctx): Shared, Query(q): Query<HashMap<String, String>>) -> Json<Value> {
    ctx.work().await;
    let titles = q.get("titles").map(String::as_str).unwrap_or_default();
    let images: serde_json::Map<String, Value> =
        titles.split(',').filter(|t| !t.is_empty()).map(|t| (t.to_string(), json!(format!("/img/{t}.jpg")))).collect();
    Json(Value::Object(images))
}

async fn history(State(ctx): Shared, headers: HeaderMap) -> Json<Value> {
    ctx.work().await;
    let h = stable_hash(&user_of(&headers));
    Json(json!({ "continue_watching": [format!("t{}", h % TITLES)] }))
}

async fn position(State(ctx): Shared, headers: HeaderMap, Path(title): Path<String>) -> Json<Value> {
    ctx.work().await;
    let h = stable_hash(&format!("{}/{title}", user_of(&headers)));
    Json(json!({ "position_s": h % 1200 }))
}

async fn license(State(ctx): Shared, headers: HeaderMap, Path(title): Path<String>) -> Json<Value> {
    ctx.work().await;
    Json(json!({ "license": format!("lic-{title}-{}", user_of(&headers)) }))
}
