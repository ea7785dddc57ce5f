//! Services without dependencies that answer small JSON documents: auth, catalog,
//! recommendations, artwork, history and license.

use super::{Ctx, User, stable_hash};
use crate::topology::Role;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
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

async fn validate(State(ctx): Shared, User(user): User) -> Json<Grant> {
    ctx.work().await;
    Json(Grant { user, grant: "ok", ttl_s: 30 })
}

async fn title(State(ctx): Shared, Path(id): Path<String>) -> Json<Title> {
    ctx.work().await;
    let minutes = 20 + stable_hash(&id) % 100;
    Json(Title { name: format!("Title {id}"), id, duration_s: minutes * 60 })
}

async fn rows(State(ctx): Shared, User(user): User) -> Json<Rows> {
    ctx.work().await;
    let h = stable_hash(&user);
    let titles = (0..8).map(|i| format!("t{}", (h + i * 17) % TITLES)).collect();
    Json(Rows { rows: [Row { name: "Because you watched", titles }] })
}

async fn art(State(ctx): Shared, Query(q): Query<ArtQuery>) -> Json<Art> {
    ctx.work().await;
    Json(Art(q.titles))
}

async fn history(State(ctx): Shared, User(user): User) -> Json<History> {
    ctx.work().await;
    let h = stable_hash(&user);
    Json(History { continue_watching: [format!("t{}", h % TITLES)] })
}

async fn position(State(ctx): Shared, User(user): User, Path(title): Path<String>) -> Json<Position> {
    ctx.work().await;
    let h = stable_hash(&format!("{}/{title}", user));
    Json(Position { position_s: h % 1200 })
}

async fn license(State(ctx): Shared, User(user): User, Path(title): Path<String>) -> Json<License> {
    ctx.work().await;
    Json(License { license: format!("lic-{title}-{}", user) })
}

// The answers, as types: serialised straight to bytes, without building a `serde_json::Value`
// tree first (a platform answers millions of these in a virtual-time hour).

#[derive(Serialize)]
struct Grant {
    user: Arc<str>,
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
