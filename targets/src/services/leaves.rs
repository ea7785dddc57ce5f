//! Services without dependencies that answer small JSON documents: auth, catalog,
//! recommendations, artwork, history and license.

use super::routes::{Call, Table};
use super::{Ctx, numbered, stable_hash};
use crate::topology::Role;
use axum::Json;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Titles in the simulated catalog: `t0` .. `t{TITLES-1}`.
pub(crate) const TITLES: u64 = 200;

pub(super) fn routes(role: Role, ctx: &Arc<Ctx>) -> Table {
    let t = Table::default();
    match role {
        Role::Auth => t.get("/validate", ctx, validate),
        Role::Catalog => t.get("/titles/{id}", ctx, title),
        Role::Recommendations => t.get("/rows", ctx, rows),
        Role::Artwork => t.get("/art", ctx, art),
        Role::History => t.get("/history", ctx, history).get("/position/{title}", ctx, position),
        Role::License => t.get("/license/{title}", ctx, license),
        _ => t,
    }
}

async fn validate(ctx: Arc<Ctx>, req: Call) -> Response {
    ctx.work().await;
    Json(Grant { user: req.user(), grant: "ok", ttl_s: 30 }).into_response()
}

async fn title(ctx: Arc<Ctx>, req: Call) -> Json<Title> {
    ctx.work().await;
    let id = req.param;
    let minutes = 20 + stable_hash(&id) % 100;
    Json(Title { name: ["Title ", &id].concat(), id, duration_s: minutes * 60 })
}

async fn rows(ctx: Arc<Ctx>, req: Call) -> Json<Rows> {
    ctx.work().await;
    let h = stable_hash(req.user());
    let titles = (0..8).map(|i| numbered("t", (h + i * 17) % TITLES)).collect();
    Json(Rows { rows: [Row { name: "Because you watched", titles }] })
}

async fn art(ctx: Arc<Ctx>, req: Call) -> Result<Json<Art>, QueryRejection> {
    let Query(q) = Query::<ArtQuery>::try_from_uri(&req.parts.uri)?;
    ctx.work().await;
    Ok(Json(Art(q.titles)))
}

async fn history(ctx: Arc<Ctx>, req: Call) -> Json<History> {
    ctx.work().await;
    let h = stable_hash(req.user());
    Json(History { continue_watching: [numbered("t", h % TITLES)] })
}

async fn position(ctx: Arc<Ctx>, req: Call) -> Json<Position> {
    ctx.work().await;
    let h = stable_hash(&[req.user(), "/", &req.param].concat());
    Json(Position { position_s: h % 1200 })
}

async fn license(ctx: Arc<Ctx>, req: Call) -> Json<License> {
    ctx.work().await;
    Json(License { license: ["lic-", &req.param, "-", req.user()].concat() })
}

// The answers, as types: serialised straight to bytes, without building a `serde_json::Value`
// tree first (a platform answers millions of these in a virtual-time hour).

#[derive(Serialize)]
struct Grant<'a> {
    user: &'a str,
    grant: &'static str,
    ttl_s: u32,
}

#[derive(Serialize)]
struct Title {
    id: String,
    name: String,
    duration_s: u64,
}

#[derive(Serialize)]
struct Rows {
    rows: [Row; 1],
}

#[derive(Serialize)]
struct Row {
    name: &'static str,
    titles: Vec<String>,
}

#[derive(Deserialize)]
struct ArtQuery {
    #[serde(default)]
    titles: String,
}

/// Artwork of the titles of a comma-separated list: `{"t1": "/img/t1.jpg", ...}`, keys sorted
/// and unique as in a map, written straight from the list.
struct Art(String);

impl Serialize for Art {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut titles: Vec<&str> = self.0.split(',').filter(|t| !t.is_empty()).collect();
        titles.sort_unstable();
        titles.dedup();
        s.collect_map(titles.into_iter().map(|t| (t, ["/img/", t, ".jpg"].concat())))
    }
}

#[derive(Serialize)]
struct History {
    continue_watching: [String; 1],
}

#[derive(Serialize)]
struct Position {
    position_s: u64,
}

#[derive(Serialize)]
struct License {
    license: String,
}
