//! The edge gateway: `/home` fans out with fallbacks, `/play/{title}` gathers what a device
//! needs to start a stream.

use super::routes::{Call, Table};
use super::{Ctx, user_header};
use crate::client::DepClient;
use crate::topology::Role;
use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};
use serde_json::json;
use serde_json::value::RawValue;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Header on a failed play answer naming the step that failed (`auth`, `license`, ...).
pub const PLAY_FAILURE_HEADER: &str = "x-play-failure";

/// How long a validated grant may stand in for auth when auth fails.
const GRANT_TTL: Duration = Duration::from_secs(30);

struct Edge {
    ctx: Arc<Ctx>,
    /// Auth's fallback: when each user's last grant was issued.
    grants: Mutex<HashMap<Arc<str>, Instant>>,
    /// Catalog's fallback: the last good metadata of each title.
    catalog: Mutex<HashMap<String, Raw>>,
}

pub(super) fn routes(ctx: &Arc<Ctx>) -> Table {
    let edge = Arc::new(Edge { ctx: ctx.clone(), grants: Mutex::default(), catalog: Mutex::default() });
    Table::default().get("/home", &edge, home).get("/play/{title}", &edge, play)
}

/// A dependency failed and no fallback covered it.
struct Failed(&'static str);

impl IntoResponse for Failed {
    fn into_response(self) -> Response {
        let body = Json(json!({ "error": format!("{} unavailable", self.0) }));
        (StatusCode::SERVICE_UNAVAILABLE, [(PLAY_FAILURE_HEADER, self.0)], body).into_response()
    }
}

/// Calls `role` and parses its JSON answer as `T`. `Ok(None)`: the call failed (or answered
/// something else) but the fallback may serve (the caller decides what); `Err`: it failed and the
/// fallback is off. A missing dependency (not in the topology) behaves like a failed one with its
/// fallback on.
async fn call<T: DeserializeOwned>(
    ctx: &Ctx,
    role: Role,
    path: String,
    user: &HeaderValue,
) -> Result<Option<T>, Failed> {
    let Some(dep) = ctx.dep(role) else { return Ok(None) };
    match dep.get(path, user).await.ok().and_then(|r| serde_json::from_slice(&r.body).ok()) {
        Some(v) => Ok(Some(v)),
        None if dep.fallback_enabled() => Ok(None),
        None => Err(Failed(role.as_str())),
    }
}

/// JSON passed through as it came (the page embeds what its dependencies answered).
type Raw = Box<RawValue>;

fn raw(json: &str) -> Raw {
    RawValue::from_string(json.to_string()).expect("static JSON")
}

/// Marks that the fallback for `role` was served.
fn served_fallback(ctx: &Ctx, role: Role, degraded: &mut Vec<&'static str>) {
    ctx.dep(role).map(DepClient::fallback_served);
    degraded.push(role.as_str());
}

async fn home(edge: Arc<Edge>, req: Call) -> Result<Json<HomePage>, Failed> {
    let user = user_header(&req.parts.headers);
    let ctx = &*edge.ctx;
    ctx.work().await;
    let mut degraded = Vec::new();
    let (rows, history) = tokio::join!(
        call::<Rows>(ctx, Role::Recommendations, "/rows".into(), &user),
        call::<History>(ctx, Role::History, "/history".into(), &user),
    );
    let rows = rows?.unwrap_or_else(|| {
        served_fallback(ctx, Role::Recommendations, &mut degraded);
        let titles = (1..=8).map(|i| format!("t{i}")).collect();
        Rows { rows: vec![Row { name: "Popular".into(), titles }] }
    });
    let history = history?.unwrap_or_else(|| {
        served_fallback(ctx, Role::History, &mut degraded);
        History { continue_watching: raw("[]") }
    });
    let titles: &[String] = rows.rows.first().map_or(&[], |r| &r.titles);
    let art = call::<Raw>(ctx, Role::Artwork, ["/art?titles=", &titles.join(",")].concat(), &user).await?;
    let art = art.unwrap_or_else(|| {
        served_fallback(ctx, Role::Artwork, &mut degraded);
        let placeholders: BTreeMap<&str, &str> = titles.iter().map(|t| (t.as_str(), "/img/placeholder.jpg")).collect();
        serde_json::value::to_raw_value(&placeholders).expect("a map of strings serialises")
    });
    Ok(Json(HomePage { rows: rows.rows, continue_watching: history.continue_watching, art, degraded }))
}

async fn play(edge: Arc<Edge>, req: Call) -> Result<Json<PlayPage>, Failed> {
    // The user as the grants' key, and as the header the calls below send on.
    let name: Arc<str> = req.user().into();
    let user = user_header(&req.parts.headers);
    let title = req.param;
    let ctx = &*edge.ctx;
    ctx.work().await;
    let mut degraded = Vec::new();

    // Auth first: no stream for an unknown session. Fallback: a grant issued within GRANT_TTL.
    match call::<IgnoredAny>(ctx, Role::Auth, "/validate".into(), &user).await? {
        Some(_) => {
            edge.grants.lock().unwrap_or_else(|p| p.into_inner()).insert(name, Instant::now());
        }
        None => {
            let cached = edge.grants.lock().unwrap_or_else(|p| p.into_inner()).get(&name).copied();
            if ctx.dep(Role::Auth).is_some() && cached.is_none_or(|at| at.elapsed() >= GRANT_TTL) {
                return Err(Failed("auth"));
            }
            served_fallback(ctx, Role::Auth, &mut degraded);
        }
    }

    let (meta, manifest, license, position) = tokio::join!(
        call::<Raw>(ctx, Role::Catalog, ["/titles/", &title].concat(), &user),
        call::<Raw>(ctx, Role::Playback, ["/manifest/", &title].concat(), &user),
        call::<LicenseAnswer>(ctx, Role::License, ["/license/", &title].concat(), &user),
        call::<PositionAnswer>(ctx, Role::History, ["/position/", &title].concat(), &user),
    );
    let meta = match meta? {
        Some(m) => {
            edge.catalog.lock().unwrap_or_else(|p| p.into_inner()).insert(title.clone(), m.clone());
            m
        }
        None => {
            let cached = edge.catalog.lock().unwrap_or_else(|p| p.into_inner()).get(&title).cloned();
            match cached {
                Some(m) => {
                    served_fallback(ctx, Role::Catalog, &mut degraded);
                    m
                }
                None if ctx.dep(Role::Catalog).is_none() => {
                    serde_json::value::to_raw_value(&TitleId { id: &title }).expect("a string serialises")
                }
                None => return Err(Failed("catalog")),
            }
        }
    };
    // Manifest and license have no fallback: retries (inside the client) are their guard.
    let manifest = manifest?.ok_or(Failed("playback"))?;
    let license = license?.ok_or(Failed("license"))?;
    let position = position?.unwrap_or_else(|| {
        served_fallback(ctx, Role::History, &mut degraded);
        PositionAnswer { position_s: Some(raw("0")) }
    });
    Ok(Json(PlayPage { title: meta, manifest, license: license.license, position_s: position.position_s, degraded }))
}

// What the edge reads of its dependencies' answers and what it answers, as types: only the
// fields it uses are parsed; the rest passes through as raw JSON.

#[derive(Deserialize, Serialize)]
struct Row {
    name: String,
    titles: Vec<String>,
}

#[derive(Deserialize)]
struct Rows {
    rows: Vec<Row>,
}

#[derive(Deserialize)]
struct History {
    continue_watching: Raw,
}

#[derive(Deserialize)]
struct LicenseAnswer {
    license: Option<Raw>,
}

#[derive(Deserialize)]
struct PositionAnswer {
    position_s: Option<Raw>,
}

/// The home page: rows, what to continue, artwork, and the rows that were fallbacks.
#[derive(Serialize)]
struct HomePage {
    rows: Vec<Row>,
    continue_watching: Raw,
    art: Raw,
    degraded: Vec<&'static str>,
}

/// What a device needs to start a stream.
#[derive(Serialize)]
struct PlayPage {
    title: Raw,
    manifest: Raw,
    license: Option<Raw>,
    position_s: Option<Raw>,
    degraded: Vec<&'static str>,
}

/// A title's metadata when there is no catalog at all: its id.
#[derive(Serialize)]
struct TitleId<'a> {
    id: &'a str,
}
