//! The mid-tier of a synthetic graph: internal services answer `/work`, and any service with
//! internal dependencies calls some of them before its handler runs.
//!
//! Which ones: `per_request` consecutive dependencies from a start drawn from the request's user
//! and the service, so one user always takes the same path down the graph (as a real request
//! touches the same slice of an estate) while users spread over all of it. The calls go out
//! together, each through its caller's guards. A failure whose fallback is on degrades the
//! answer (counted as a fallback served); one whose fallback is off fails the request with 503.

use super::{Ctx, user_of};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::future::join_all;
use std::sync::Arc;

/// The router of an internal service: `/work` spends the service time.
pub(super) fn work_router(ctx: Arc<Ctx>) -> Router {
    Router::new()
        .route(
            "/work",
            get(|State(ctx): State<Arc<Ctx>>| async move {
                ctx.work().await;
                "ok"
            }),
        )
        .with_state(ctx)
}

/// `router` with its internal dependencies called before every request but `/health`.
pub(super) fn wrap(router: Router, ctx: Arc<Ctx>) -> Router {
    router.layer(middleware::from_fn_with_state(ctx, call_first))
}

async fn call_first(State(ctx): State<Arc<Ctx>>, req: Request, next: Next) -> Response {
    if req.uri().path() == "/health" {
        return next.run(req).await;
    }
    match call_internal(&ctx, req.headers()).await {
        Ok(()) => next.run(req).await,
        Err(callee) => (StatusCode::SERVICE_UNAVAILABLE, format!("{callee} unavailable")).into_response(),
    }
}

/// Calls this request's share of the internal dependencies; `Err` names one that failed with
/// its fallback off.
async fn call_internal(ctx: &Ctx, headers: &http::HeaderMap) -> Result<(), String> {
    let deps = &ctx.deps.internal;
    let user = user_of(headers);
    let start = (chaos_fault::derive_seed(ctx.deps.salt, &user) % deps.len() as u64) as usize;
    let chosen = deps.iter().cycle().skip(start).take(ctx.deps.per_request);
    let results = join_all(chosen.map(|dep| {
        let user = user.clone();
        async move { (dep, dep.get("/work".into(), &user).await.is_ok()) }
    }))
    .await;
    for (dep, ok) in results {
        match (ok, dep.fallback_enabled()) {
            (true, _) => {}
            (false, true) => dep.fallback_served(),
            (false, false) => return Err(dep.callee().to_string()),
        }
    }
    Ok(())
}
