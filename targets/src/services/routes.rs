//! An instance's routes: path patterns matched with `matchit` (the matcher inside axum's
//! router), each answering GET with a handler called straight from the table.
//!
//! Why not axum's `Router`, which the handlers' answers (`Json`, `IntoResponse`) still come from:
//! on the virtual clock a session is ~25 requests, and the router spent ~2,000 instructions on
//! each before a handler ran — a map of path parameters allocated into the request's extensions
//! (even for a route without one), the route's boxed service cloned, the body boxed, the
//! handler's future boxed a second time: 12 % of a session (docs/BENCHMARKS.md, issue 9). These
//! services need one GET handler per pattern and at most one parameter, which this table gives
//! with one lookup and one boxed future, answering what axum answered for the rest: 404 for a
//! path no route matches, 405 (with `Allow`) for a method other than GET or HEAD, 400 for a
//! parameter that is not UTF-8 once percent-decoded, and no body for HEAD.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{Method, Request, StatusCode, header};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// What a handler is given: the request's head and its route's parameter.
pub(crate) struct Call {
    /// The request without its body (these services read none).
    pub parts: Parts,
    /// The route's one parameter (`{title}`, `{*segment}`), percent-decoded; empty for a route
    /// without one.
    pub param: String,
}

impl Call {
    /// The user the request is for (`x-user-id`), or `anonymous`.
    pub fn user(&self) -> &str {
        super::user_of(&self.parts.headers)
    }
}

/// An answer on its way.
pub(crate) type Answer = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

type Handler = Box<dyn Fn(Call) -> Answer + Send + Sync>;

/// Runs before every handler but `/health`'s: an answer given here is the request's answer.
type First = Box<dyn Fn(&Parts) -> Pin<Box<dyn Future<Output = Option<Response>> + Send>> + Send + Sync>;

/// A pattern, the name of its parameter and its handler.
struct Route {
    pattern: &'static str,
    /// Looked up by name: iterating matchit's parameters validates each name as UTF-8 again.
    param: Option<&'static str>,
    handler: Handler,
}

/// The routes of one instance, being built; [`Routes`] serves them.
#[derive(Default)]
pub(crate) struct Table {
    matcher: matchit::Router<Route>,
    first: Option<First>,
}

impl Table {
    /// Answers GET (and HEAD) of `pattern` (matchit's syntax, as axum's) with `handler`, given
    /// `state` and the call. A pattern has one parameter at most: [`Call`] carries one.
    pub fn get<S, H, F, R>(mut self, pattern: &'static str, state: &Arc<S>, handler: H) -> Self
    where
        S: Send + Sync + 'static,
        H: Fn(Arc<S>, Call) -> F + Send + Sync + 'static,
        F: Future<Output = R> + Send + 'static,
        R: IntoResponse,
    {
        assert!(pattern.matches('{').count() <= 1, "a route has one parameter at most: {pattern}");
        let state = state.clone();
        let handler: Handler = Box::new(move |call| Box::pin(Answered { answer: handler(state.clone(), call) }));
        let param =
            pattern.split_once('{').and_then(|(_, p)| p.split_once('}')).map(|(p, _)| p.trim_start_matches('*'));
        let route = Route { pattern, param, handler };
        self.matcher.insert(pattern, route).expect("an instance's routes do not overlap");
        self
    }

    /// Runs `first` before every handler but `/health`'s; when it answers, the handler does not run.
    pub fn first<F, R>(mut self, first: F) -> Self
    where
        F: Fn(&Parts) -> R + Send + Sync + 'static,
        R: Future<Output = Option<Response>> + Send + 'static,
    {
        self.first = Some(Box::new(move |parts| Box::pin(first(parts))));
        self
    }
}

pin_project_lite::pin_project! {
    /// A handler's answer made a response (a named future: an `async` block around the handler's
    /// future is one more copy of it on every request).
    struct Answered<F> {
        #[pin]
        answer: F,
    }
}

impl<F: Future<Output: IntoResponse>> Future for Answered<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().answer.poll(cx).map(|answer| Ok(answer.into_response()))
    }
}

/// The tower service of a [`Table`]; cheap to clone.
#[derive(Clone)]
pub(crate) struct Routes(Arc<Table>);

impl From<Table> for Routes {
    fn from(table: Table) -> Self {
        Self(Arc::new(table))
    }
}

impl<B> tower::Service<Request<B>> for Routes {
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Answer {
        let (parts, _body) = req.into_parts();
        let Ok(hit) = self.0.matcher.at(parts.uri.path()) else {
            return answer(StatusCode::NOT_FOUND.into_response());
        };
        if parts.method != Method::GET && parts.method != Method::HEAD {
            return answer((StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "GET,HEAD")]).into_response());
        }
        let Route { pattern, param, handler } = hit.value;
        let param = match param.and_then(|name| hit.params.get(name)) {
            None => String::new(),
            Some(p) if !p.contains('%') => p.to_owned(),
            Some(p) => match percent_encoding::percent_decode_str(p).decode_utf8() {
                Ok(p) => p.into_owned(),
                Err(_) => {
                    let why = "a path parameter that is not UTF-8 once percent-decoded";
                    return answer((StatusCode::BAD_REQUEST, why).into_response());
                }
            },
        };
        let first = self.0.first.as_ref().filter(|_| *pattern != "/health").map(|first| first(&parts));
        let head = parts.method == Method::HEAD;
        let handled = handler(Call { parts, param });
        if first.is_none() && !head {
            return handled;
        }
        Box::pin(async move {
            let res = match first {
                Some(first) => first.await,
                None => None,
            };
            let res = match res {
                Some(res) => res,
                None => handled.await?,
            };
            Ok(if head { res.map(|_| Body::empty()) } else { res })
        })
    }
}

fn answer(res: Response) -> Answer {
    Box::pin(std::future::ready(Ok(res)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    /// A table answering its parameter, with `/health`, and a `first` refusing the user `blocked`.
    fn routes() -> Routes {
        let state = Arc::new(());
        let refuse = |parts: &Parts| {
            let blocked = parts.headers.get(&crate::USER).is_some_and(|u| u == "blocked");
            async move { blocked.then(|| (StatusCode::SERVICE_UNAVAILABLE, "refused first").into_response()) }
        };
        Table::default()
            .get("/titles/{id}", &state, |_, req: Call| async move { req.param })
            .get("/segments/{*rest}", &state, |_, req: Call| async move { req.param })
            .get("/health", &state, |_, _| async { "ok" })
            .first(refuse)
            .into()
    }

    /// The status, `Allow` header and body `method path` gets from [`routes`] for `user`.
    async fn send(method: Method, path: &str, user: &str) -> (u16, Option<String>, String) {
        let req = Request::builder().method(method).uri(path).header(&crate::USER, user).body(()).unwrap();
        let res = routes().oneshot(req).await.unwrap();
        let status = res.status().as_u16();
        let allow = res.headers().get(header::ALLOW).map(|v| v.to_str().unwrap().to_string());
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (status, allow, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn a_route_answers_its_parameter_percent_decoded() {
        assert_eq!(send(Method::GET, "/titles/t1", "u").await, (200, None, "t1".into()));
        assert_eq!(send(Method::GET, "/titles/a%20b", "u").await, (200, None, "a b".into()));
        assert_eq!(send(Method::GET, "/segments/t1/3000/7?x=1", "u").await, (200, None, "t1/3000/7".into()));
    }

    #[tokio::test]
    async fn what_no_route_matches_is_404_as_axum_answers_it() {
        for path in ["/nope", "/titles/", "/titles/a/b", "/titles"] {
            assert_eq!(send(Method::GET, path, "u").await.0, 404, "{path}");
        }
    }

    #[tokio::test]
    async fn another_method_is_405_naming_the_allowed_ones_and_head_has_no_body() {
        assert_eq!(send(Method::POST, "/titles/t1", "u").await, (405, Some("GET,HEAD".into()), String::new()));
        assert_eq!(send(Method::HEAD, "/titles/t1", "u").await, (200, None, String::new()));
    }

    #[tokio::test]
    async fn a_parameter_that_is_not_utf8_is_400() {
        assert_eq!(send(Method::GET, "/titles/%FF", "u").await.0, 400);
    }

    #[test]
    #[should_panic(expected = "one parameter at most")]
    fn a_pattern_with_two_parameters_is_refused_rather_than_one_dropped() {
        let _ = Table::default().get("/segments/{title}/{n}", &Arc::new(()), |_, req: Call| async move { req.param });
    }

    #[tokio::test]
    async fn first_answers_instead_of_the_handler_except_for_health() {
        assert_eq!(send(Method::GET, "/titles/t1", "blocked").await, (503, None, "refused first".into()));
        assert_eq!(send(Method::GET, "/health", "blocked").await, (200, None, "ok".into()));
        assert_eq!(send(Method::HEAD, "/titles/t1", "blocked").await, (503, None, String::new()));
    }
}
