//! [`FaultService`]: the middleware itself.

use super::ContextNames;
use super::envoy;
use super::future::ResponseFuture;
use super::plan::{Draws, Outcome, Request as Seen, plan};
use super::{Applied, BoxError, FaultBody, INJECTED_HEADER_NAME, InjectedFault, Timer};
use crate::FaultTable;
use crate::context::{self, CONTEXT_HEADER_NAME, FaultContext};
use crate::table::ActiveRule;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Service, ServiceExt};

/// Applies the rules of a [`FaultTable`] to each request before (or instead of) calling `inner`.
///
/// Built by [`FaultLayer`](super::FaultLayer); see the `layer` module docs for how rules combine.
#[derive(Clone, Debug)]
pub struct FaultService<S> {
    inner: S,
    table: FaultTable,
    draws: Arc<Draws>,
    pub(crate) context: Option<ContextNames>,
    pub(crate) timer: Timer,
    /// Envoy's `x-envoy-fault-*` headers are honoured.
    pub(crate) envoy: bool,
}

impl<S> FaultService<S> {
    /// Wraps `inner`, reading `table` and drawing from `seed`.
    pub fn new(inner: S, table: FaultTable, seed: u64) -> Self {
        Self { inner, table, draws: Arc::new(Draws::new(seed)), context: None, timer: Timer::Tokio, envoy: false }
    }

    /// The table this service reads.
    pub fn table(&self) -> &FaultTable {
        &self.table
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for FaultService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<FaultBody<ResBody>>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let rules = self.table.load();
        let context = self.context.as_ref().and_then(|names| {
            let ctx = req.headers().get(&CONTEXT_HEADER_NAME).and_then(FaultContext::parse)?;
            Some((names, ctx))
        });
        let envoy = self.envoy && envoy::asked(req.headers());
        if rules.is_empty() && context.is_none() && !envoy {
            return ResponseFuture::passthrough(self.inner.call(req));
        }
        let seen = Seen { method: req.method(), path: req.uri().path(), headers: req.headers() };
        // The request's own faults (Envoy's headers, request-scoped ones) go before the table's.
        let headed = if envoy { envoy::header_rules(req.headers()) } else { Vec::new() };
        let (plan, downstream) = match context {
            None if headed.is_empty() => (plan(&rules, &seen, &self.draws, &self.table), None),
            None => {
                let all: Vec<_> = headed.into_iter().chain(rules.iter().cloned()).collect();
                (plan(&all, &seen, &self.draws, &self.table), None)
            }
            Some((names, ctx)) => {
                let own = ctx.rules_for(&names.service, &names.instance).into_iter().map(ActiveRule::ephemeral);
                let all: Vec<_> = headed.into_iter().chain(own).chain(rules.iter().cloned()).collect();
                let plan = plan(&all, &seen, &self.draws, &self.table);
                let spent: Vec<usize> =
                    plan.slots.iter().filter_map(|s| s.rule_id().strip_prefix("ctx:")?.parse().ok()).collect();
                let next = ctx.after_injecting(&spent);
                (plan, (!next.0.is_empty()).then(|| next.to_header()).flatten())
            }
        };
        drop(rules);
        if plan.is_noop() && downstream.is_none() {
            return ResponseFuture::passthrough(self.inner.call(req));
        }
        // The service that poll_ready prepared goes into the future; a clone stays here.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let timer = self.timer;
        let rules: Vec<crate::RuleId> = plan.slots.iter().map(|s| s.rule_id().into()).collect();
        let applied = Applied(rules.clone());
        ResponseFuture::faulted(
            Box::pin(async move {
                // `slots` (max_active) live until the answer is out, or in the body for body faults.
                let slots = plan.slots;
                timer.sleep(plan.before).await;
                match plan.outcome {
                    Outcome::Pass => {
                        let res = context::scope(downstream, inner.oneshot(req)).await.map_err(Into::into)?;
                        timer.sleep(plan.after).await;
                        let shape = plan.shape;
                        let mut res = res.map(|body| {
                            if shape.is_none() { FaultBody::inner(body) } else { FaultBody::shaped(body, shape, slots) }
                        });
                        if !applied.0.is_empty() {
                            res.extensions_mut().insert(applied);
                        }
                        Ok(res)
                    }
                    Outcome::Error(e, rule) => {
                        let mut res = Response::new(FaultBody::synthetic(e.body));
                        *res.status_mut() = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                        for (name, value) in &e.headers {
                            // Validated when the rule was made; a bad one is skipped, not a panic.
                            if let (Ok(n), Ok(v)) =
                                (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value))
                            {
                                res.headers_mut().insert(n, v);
                            }
                        }
                        Ok(injected(res, &rule, applied))
                    }
                    Outcome::Grpc(g, rule) => {
                        Ok(injected(g.response(FaultBody::synthetic(Bytes::new())), &rule, applied))
                    }
                    Outcome::Reset(rule) => Err(InjectedFault::Reset { rule }.into()),
                    Outcome::Hang(max, rule) => {
                        timer.sleep(max).await;
                        Err(InjectedFault::Hang { rule, max }.into())
                    }
                }
            }),
            rules,
        )
    }
}

/// An answer made here, marked with the rule that made it.
fn injected<B>(mut res: Response<B>, rule: &str, applied: Applied) -> Response<B> {
    if let Ok(v) = HeaderValue::from_str(rule) {
        res.headers_mut().insert(INJECTED_HEADER_NAME, v);
    }
    res.extensions_mut().insert(applied);
    res
}
