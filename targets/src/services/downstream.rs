//! The mid-tier of a synthetic graph: internal services answer `/work`, and any service with
//! internal dependencies calls some of them before its handler runs.
//!
//! Which ones: `per_request` consecutive dependencies from a start drawn from the request's user
//! and the service, so one user always takes the same path down the graph (as a real request
//! touches the same slice of an estate) while users spread over all of it. The calls go out
//! together, each through its caller's guards. A failure whose fallback is on degrades the
//! answer (counted as a fallback served); one whose fallback is off fails the request with 503.

use super::routes::Table;
use super::{Ctx, user_header};
use axum::http::{HeaderValue, StatusCode};
use axum::response::IntoResponse;
use futures_util::future::join_all;
use std::sync::Arc;

/// The routes of an internal service: `/work` spends the service time.
pub(super) fn work_routes(ctx: &Arc<Ctx>) -> Table {
    Table::default().get("/work", ctx, |ctx, _| async move {
        ctx.work().await;
        "ok"
    })
}

/// `table` with its internal dependencies called before every request but `/health`.
pub(super) fn wrap(table: Table, ctx: Arc<Ctx>) -> Table {
    table.first(move |parts| {
        let (ctx, user) = (ctx.clone(), user_header(&parts.headers));
        async move {
            let callee = call_internal(&ctx, user).await.err()?;
            Some((StatusCode::SERVICE_UNAVAILABLE, format!("{callee} unavailable")).into_response())
        }
    })
}

/// Calls this request's share of the internal dependencies; `Err` names one that failed with
/// its fallback off.
async fn call_internal(ctx: &Ctx, user: HeaderValue) -> Result<(), String> {
    let deps = &ctx.deps.internal;
    // `user_header` gives a value that reads as text.
    let start =
        (chaos_fault::derive_seed(ctx.deps.salt, user.to_str().unwrap_or_default()) % deps.len() as u64) as usize;
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
