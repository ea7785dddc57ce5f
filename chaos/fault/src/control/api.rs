//! The control API's HTTP server and routes (hyper directly: six routes do not need a router
//! crate in a library meant to stay small).

use super::Registry;
use crate::Rule;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Where and how the control API listens.
#[derive(Clone, Debug)]
pub struct ControlConfig {
    /// Address to bind (default 127.0.0.1:0).
    pub addr: SocketAddr,
    /// Bearer token; required when `addr` is not a loopback address.
    pub token: Option<String>,
    /// Largest request body accepted (default 64 KiB).
    pub max_body: usize,
}

impl Default for ControlConfig {
    fn default() -> Self {
        Self { addr: ([127, 0, 0, 1], 0).into(), token: None, max_body: 64 * 1024 }
    }
}

/// Why the control API could not start.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Bound beyond loopback without a token.
    #[error("the control API binds {0}, which is not loopback: a bearer token is required")]
    TokenRequired(SocketAddr),
    /// The address could not be bound.
    #[error("cannot bind the control API on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The socket error.
        source: std::io::Error,
    },
}

/// A running control API; stops when dropped.
#[derive(Debug)]
pub struct ControlServer {
    addr: SocketAddr,
    _stop: watch::Sender<()>,
}

impl ControlServer {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Starts the control API over `registry`.
pub async fn serve(registry: Registry, config: ControlConfig) -> Result<ControlServer, ControlError> {
    if !config.addr.ip().is_loopback() && config.token.as_deref().is_none_or(str::is_empty) {
        return Err(ControlError::TokenRequired(config.addr));
    }
    let listener =
        TcpListener::bind(config.addr).await.map_err(|source| ControlError::Bind { addr: config.addr, source })?;
    let addr = listener.local_addr().map_err(|source| ControlError::Bind { addr: config.addr, source })?;
    let (stop, mut stopped) = watch::channel(());
    let api = Arc::new(Api { registry, config });
    tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                biased;
                _ = stopped.changed() => return,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        continue;
                    }
                },
            };
            let api = api.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let api = api.clone();
                    async move { Ok::<_, std::convert::Infallible>(api.handle(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    });
    Ok(ControlServer { addr, _stop: stop })
}

struct Api {
    registry: Registry,
    config: ControlConfig,
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, body: &impl Serialize) -> Reply {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut res = Response::new(Full::new(Bytes::from(bytes)));
    *res.status_mut() = status;
    res.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    res
}

fn error(status: StatusCode, message: impl Into<String>, field: Option<String>) -> Reply {
    reply(status, &json!({ "error": message.into(), "field": field }))
}

fn empty(status: StatusCode) -> Reply {
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = status;
    res
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct KillBody {
    #[serde(default, with = "humantime_serde")]
    restart_after: Option<Duration>,
}

impl Api {
    async fn handle(&self, req: Request<Incoming>) -> Reply {
        if let Some(token) = self.config.token.as_deref().filter(|t| !t.is_empty()) {
            let given = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
            if given != Some(&format!("Bearer {token}")) {
                return error(StatusCode::UNAUTHORIZED, "a bearer token is required", None);
            }
        }
        let method = req.method().clone();
        let path: Vec<String> = req.uri().path().split('/').filter(|s| !s.is_empty()).map(String::from).collect();
        let body = match Limited::new(req.into_body(), self.config.max_body).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return error(StatusCode::PAYLOAD_TOO_LARGE, format!("body over {} bytes", self.config.max_body), None);
            }
        };
        let segments: Vec<&str> = path.iter().map(String::as_str).collect();
        match (&method, segments.as_slice()) {
            (&Method::GET, ["instances"]) => self.instances(),
            (&Method::POST, ["reset"]) => {
                self.registry.halt_all();
                empty(StatusCode::NO_CONTENT)
            }
            (_, ["instances", name, rest @ ..]) => {
                let selected = self.registry.select(name);
                if selected.is_empty() {
                    return error(StatusCode::NOT_FOUND, format!("no instance `{name}`"), None);
                }
                self.instance(&method, (*name == "*", &selected), rest, &body).await
            }
            _ => error(StatusCode::NOT_FOUND, format!("no route {method} {}", path.join("/")), None),
        }
    }

    fn instances(&self) -> Reply {
        let list: Vec<Value> = self
            .registry
            .select("*")
            .into_iter()
            .map(|(name, e)| {
                json!({
                    "name": name,
                    "addr": e.server.as_ref().map(|s| s.addr().to_string()),
                    "up": e.server.as_ref().map(|s| s.is_up()),
                    "metrics": e.table.metrics(),
                })
            })
            .collect();
        reply(StatusCode::OK, &list)
    }

    /// A call on the instances `selected` (`all`: by `*`).
    async fn instance(
        &self,
        method: &Method,
        (all, selected): (bool, &[(String, super::registry::Entry)]),
        rest: &[&str],
        body: &Bytes,
    ) -> Reply {
        let tables = selected.iter().map(|(_, e)| &e.table);
        match (method, rest) {
            (&Method::GET, ["rules"]) => {
                // One instance by name: its rules; `*`: one entry per instance, however many there
                // are (a registry of one, as a proxy's, answers in the same shape as any other).
                if let ([(_, e)], false) = (selected, all) {
                    return reply(StatusCode::OK, &e.table.rules());
                }
                let rules: Vec<Value> =
                    selected.iter().map(|(n, e)| json!({ "instance": n, "rules": e.table.rules() })).collect();
                reply(StatusCode::OK, &rules)
            }
            (&Method::GET, ["metrics"]) => {
                let m: serde_json::Map<String, Value> =
                    selected.iter().map(|(n, e)| (n.clone(), json!(e.table.metrics()))).collect();
                reply(StatusCode::OK, &m)
            }
            (&Method::POST, ["rules"]) => match parse_rule(body) {
                Err(e) => *e,
                Ok(rule) if selected.iter().any(|(_, e)| e.table.get(&rule.id).is_some()) => error(
                    StatusCode::CONFLICT,
                    format!("rule `{}` exists; PUT replaces it", rule.id),
                    Some("id".into()),
                ),
                Ok(rule) => {
                    tables.for_each(|t| t.insert(rule.clone()));
                    reply(StatusCode::CREATED, &rule)
                }
            },
            (&Method::PUT, ["rules", id]) => match parse_rule(body) {
                Err(e) => *e,
                Ok(rule) if &*rule.id != *id => error(
                    StatusCode::BAD_REQUEST,
                    format!("body id `{}` differs from path id `{id}`", rule.id),
                    Some("id".into()),
                ),
                Ok(_) if selected.iter().all(|(_, e)| e.table.get(id).is_none()) => {
                    error(StatusCode::NOT_FOUND, format!("no rule `{id}`"), None)
                }
                Ok(rule) => {
                    tables.for_each(|t| t.insert(rule.clone()));
                    reply(StatusCode::OK, &rule)
                }
            },
            (&Method::DELETE, ["rules", id]) => {
                let removed = tables.map(|t| t.remove(id)).fold(false, |a, b| a | b);
                if removed {
                    empty(StatusCode::NO_CONTENT)
                } else {
                    error(StatusCode::NOT_FOUND, format!("no rule `{id}`"), None)
                }
            }
            (&Method::DELETE, ["rules"]) => {
                tables.for_each(|t| t.clear());
                empty(StatusCode::NO_CONTENT)
            }
            (&Method::POST, ["kill"]) => {
                let kill: KillBody = if body.is_empty() {
                    KillBody::default()
                } else {
                    match serde_json::from_slice(body) {
                        Ok(k) => k,
                        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string(), Some("restart_after".into())),
                    }
                };
                self.each_server(selected, |s| async move { s.kill(kill.restart_after).await }).await
            }
            (&Method::POST, ["restart"]) => {
                self.each_server(selected, |s| async move {
                    let _ = s.restart().await;
                })
                .await
            }
            (_, ["rules"] | ["rules", _] | ["metrics"] | ["kill"] | ["restart"]) => {
                error(StatusCode::METHOD_NOT_ALLOWED, format!("{method} is not allowed here"), None)
            }
            _ => error(StatusCode::NOT_FOUND, format!("no route {}", rest.join("/")), None),
        }
    }

    async fn each_server<F, Fut>(&self, selected: &[(String, super::registry::Entry)], f: F) -> Reply
    where
        F: Fn(crate::server::Instance) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let servers: Vec<_> = selected.iter().filter_map(|(_, e)| e.server.clone()).collect();
        if servers.is_empty() {
            return error(StatusCode::CONFLICT, "no killable server behind this instance", None);
        }
        for s in servers {
            f(s).await;
        }
        empty(StatusCode::NO_CONTENT)
    }
}

/// A rule from a JSON body: a parse error names the field (`fault.error.status`), a semantic
/// error says why.
fn parse_rule(body: &[u8]) -> Result<Rule, Box<Reply>> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let rule: Rule = serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        Box::new(error(StatusCode::BAD_REQUEST, e.into_inner().to_string(), (field != ".").then_some(field)))
    })?;
    rule.validate().map_err(|e| Box::new(error(StatusCode::BAD_REQUEST, e, None)))?;
    Ok(rule)
}
