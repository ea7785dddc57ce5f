//! Toxiproxy's HTTP API over [`TcpProxy`]s (feature `toxiproxy`): its routes, JSON shapes, status
//! codes and error bodies, so that Toxiproxy's clients and the tools built on them drive these
//! proxies unchanged (`chaos toxiproxy`).
//!
//! | route | does |
//! |---|---|
//! | `GET /proxies` | every proxy by name, with its toxics |
//! | `POST /proxies` | creates one (`name`, `listen`, `upstream`, `enabled`): 201, 409 when it exists |
//! | `POST /populate` | creates or replaces a list of proxies: 201 `{"proxies": [...]}` |
//! | `GET`, `POST`/`PATCH`, `DELETE` `/proxies/{proxy}` | shows, updates (listen, upstream, enabled), deletes (204) |
//! | `GET`, `POST` `/proxies/{proxy}/toxics` | lists, adds a toxic (409 when its name is taken) |
//! | `GET`, `POST`/`PATCH`, `DELETE` `/proxies/{proxy}/toxics/{toxic}` | shows, updates (the fields given), deletes |
//! | `POST /reset` | every proxy enabled, every toxic removed: 204 |
//! | `GET /version` | `{"version": …}` |
//!
//! Errors are `{"error": "…", "status": N}` as Toxiproxy writes them. A request whose user agent
//! is a browser's is refused (403), as Toxiproxy refuses it: a web page must not drive the proxies.
//! Routed by hand: a dozen routes do not need a router crate in a library meant to stay small.

use super::{TcpProxy, Toxic, ToxicError};
use crate::server::Instance;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::Mutex;

/// The Toxiproxy API version this server speaks.
pub const TOXIPROXY_VERSION: &str = "2.12.0";

/// Largest request body read.
const MAX_BODY: usize = 1024 * 1024;

/// Every proxy the API manages, by name.
#[derive(Debug)]
pub struct Toxiproxy {
    proxies: Mutex<BTreeMap<String, TcpProxy>>,
    seed: u64,
}

/// Serves Toxiproxy's API on `addr`; `seed` seeds every proxy's draws. Stop it by shutting the
/// instance down; the proxies stay until [`Toxiproxy::shutdown`].
pub async fn serve(addr: SocketAddr, seed: u64) -> std::io::Result<(Instance, Arc<Toxiproxy>)> {
    let api = Arc::new(Toxiproxy { proxies: Mutex::default(), seed });
    let handler = api.clone();
    let svc = tower::service_fn(move |req: Request<Incoming>| {
        let api = handler.clone();
        async move { Ok::<_, std::convert::Infallible>(api.handle(req).await) }
    });
    Ok((Instance::bind("toxiproxy", addr, svc).await?, api))
}

/// A proxy as the API reads it.
#[derive(Debug, Deserialize)]
struct ProxyInput {
    #[serde(default)]
    name: String,
    #[serde(default)]
    listen: String,
    #[serde(default)]
    upstream: String,
    #[serde(default = "yes")]
    enabled: bool,
}

fn yes() -> bool {
    true
}

/// A proxy as the API writes it.
#[derive(Debug, Serialize)]
struct ProxyView {
    name: String,
    listen: String,
    upstream: String,
    enabled: bool,
    toxics: Vec<Toxic>,
}

/// An API error: Toxiproxy's message and status.
#[derive(Debug)]
struct ApiError(StatusCode, String);

impl ApiError {
    fn bad_body(e: impl std::fmt::Display) -> Self {
        Self(StatusCode::BAD_REQUEST, format!("bad request body: {e}"))
    }
    fn missing(field: &str) -> Self {
        Self(StatusCode::BAD_REQUEST, format!("missing required field: {field}"))
    }
    fn proxy_not_found() -> Self {
        Self(StatusCode::NOT_FOUND, "proxy not found".into())
    }
    fn internal(e: impl std::fmt::Display) -> Self {
        Self(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

impl From<ToxicError> for ApiError {
    fn from(e: ToxicError) -> Self {
        match e {
            ToxicError::Exists(_) => Self(StatusCode::CONFLICT, "toxic already exists".into()),
            ToxicError::NotFound(_) => Self(StatusCode::NOT_FOUND, "toxic not found".into()),
            other => Self(StatusCode::BAD_REQUEST, other.to_string()),
        }
    }
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, body: &impl Serialize) -> Reply {
    let mut bytes = serde_json::to_vec(body).unwrap_or_default();
    bytes.push(b'\n');
    let mut res = Response::new(Full::new(Bytes::from(bytes)));
    *res.status_mut() = status;
    res.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    res
}

fn no_content() -> Reply {
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = StatusCode::NO_CONTENT;
    res
}

fn view(p: &TcpProxy) -> ProxyView {
    ProxyView {
        name: p.name().to_string(),
        listen: p.listen().to_string(),
        upstream: p.upstream(),
        enabled: p.enabled(),
        toxics: p.toxics(),
    }
}

/// `host:port` to a socket address; an empty one is 127.0.0.1 on a free port.
async fn listen_addr(listen: &str) -> Result<SocketAddr, ApiError> {
    if listen.is_empty() {
        return Ok(([127, 0, 0, 1], 0).into());
    }
    let found = tokio::net::lookup_host(listen).await.ok().and_then(|mut a| a.next());
    found.ok_or_else(|| ApiError(StatusCode::BAD_REQUEST, format!("listen address `{listen}` is not host:port")))
}

impl Toxiproxy {
    async fn handle(&self, req: Request<Incoming>) -> Reply {
        let browser = req.headers().get(header::USER_AGENT).and_then(|u| u.to_str().ok());
        if browser.is_some_and(|u| u.starts_with("Mozilla/")) {
            let mut res = Response::new(Full::new(Bytes::from_static(b"User agent not allowed\n")));
            *res.status_mut() = StatusCode::FORBIDDEN;
            return res;
        }
        let (method, path) = (req.method().clone(), req.uri().path().to_string());
        let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                return reply(
                    StatusCode::BAD_REQUEST,
                    &json!({ "error": format!("bad request body: {e}"), "status": 400 }),
                );
            }
        };
        match self.route(&method, &path, &body).await {
            Ok(res) => res,
            Err(ApiError(status, error)) => reply(status, &json!({ "error": error, "status": status.as_u16() })),
        }
    }

    async fn route(&self, method: &Method, path: &str, body: &[u8]) -> Result<Reply, ApiError> {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let update = method == Method::POST || method == Method::PATCH;
        match (method, parts.as_slice()) {
            (&Method::GET, ["version"]) => Ok(reply(StatusCode::OK, &json!({ "version": TOXIPROXY_VERSION }))),
            (&Method::POST, ["reset"]) => self.reset().await,
            (&Method::GET, ["proxies"]) => {
                let proxies = self.proxies.lock().await;
                let all: BTreeMap<&String, ProxyView> = proxies.iter().map(|(n, p)| (n, view(p))).collect();
                Ok(reply(StatusCode::OK, &all))
            }
            (&Method::POST, ["proxies"]) => {
                let input: ProxyInput = serde_json::from_slice(body).map_err(ApiError::bad_body)?;
                let proxy = self.create(input).await?;
                Ok(reply(StatusCode::CREATED, &view(&proxy)))
            }
            (&Method::POST, ["populate"]) => self.populate(body).await,
            (&Method::GET, ["proxies", name]) => Ok(reply(StatusCode::OK, &view(&self.get(name).await?))),
            (_, ["proxies", name]) if update => self.update_proxy(name, body).await,
            (&Method::DELETE, ["proxies", name]) => {
                let proxy = self.proxies.lock().await.remove(*name).ok_or_else(ApiError::proxy_not_found)?;
                proxy.shutdown().await;
                Ok(no_content())
            }
            (&Method::GET, ["proxies", name, "toxics"]) => Ok(reply(StatusCode::OK, &self.get(name).await?.toxics())),
            (&Method::POST, ["proxies", name, "toxics"]) => {
                let proxy = self.get(name).await?;
                let toxic: Toxic = serde_json::from_slice(body).map_err(ApiError::bad_body)?;
                Ok(reply(StatusCode::OK, &proxy.add_toxic(toxic)?))
            }
            (&Method::GET, ["proxies", name, "toxics", toxic]) => {
                let found = self.get(name).await?.toxics().into_iter().find(|t| t.name == *toxic);
                Ok(reply(StatusCode::OK, &found.ok_or(ToxicError::NotFound(toxic.to_string()))?))
            }
            (_, ["proxies", name, "toxics", toxic]) if update => {
                let proxy = self.get(name).await?;
                let old = proxy.toxics().into_iter().find(|t| t.name == *toxic);
                let old = old.ok_or(ToxicError::NotFound(toxic.to_string()))?;
                let new = merged(&old, body)?;
                Ok(reply(StatusCode::OK, &proxy.update_toxic(toxic, new)?))
            }
            (&Method::DELETE, ["proxies", name, "toxics", toxic]) => {
                self.get(name).await?.remove_toxic(toxic)?;
                Ok(no_content())
            }
            _ => Err(ApiError(StatusCode::NOT_FOUND, "404 page not found".into())),
        }
    }

    async fn get(&self, name: &str) -> Result<TcpProxy, ApiError> {
        self.proxies.lock().await.get(name).cloned().ok_or_else(ApiError::proxy_not_found)
    }

    /// Starts a proxy (409 when the name is taken).
    async fn create(&self, input: ProxyInput) -> Result<TcpProxy, ApiError> {
        if input.name.is_empty() {
            return Err(ApiError::missing("name"));
        }
        if input.upstream.is_empty() {
            return Err(ApiError::missing("upstream"));
        }
        let mut proxies = self.proxies.lock().await;
        if proxies.contains_key(&input.name) {
            return Err(ApiError(StatusCode::CONFLICT, "proxy already exists".into()));
        }
        let proxy = self.start(&input).await?;
        proxies.insert(input.name.clone(), proxy.clone());
        Ok(proxy)
    }

    async fn start(&self, input: &ProxyInput) -> Result<TcpProxy, ApiError> {
        let addr = listen_addr(&input.listen).await?;
        let seed = crate::derive_seed(self.seed, &input.name);
        let proxy = TcpProxy::start(&input.name, addr, &input.upstream, seed).await;
        let proxy = proxy.map_err(|e| ApiError::internal(format!("listen tcp {addr}: {e}")))?;
        if !input.enabled {
            let _ = proxy.set_enabled(false).await;
        }
        Ok(proxy)
    }

    /// `POST /populate`: 201 with every proxy made, or the first error with those made before it.
    async fn populate(&self, body: &[u8]) -> Result<Reply, ApiError> {
        let inputs: Vec<ProxyInput> = serde_json::from_slice(body).map_err(ApiError::bad_body)?;
        let (made, failed) = self.populate_list(inputs).await;
        Ok(match failed {
            None => reply(StatusCode::CREATED, &json!({ "proxies": made })),
            Some(ApiError(status, error)) => {
                reply(status, &json!({ "error": error, "status": status.as_u16(), "proxies": made }))
            }
        })
    }

    /// Creates the proxies of a JSON list, as `POST /populate` and Toxiproxy's `-config` file
    /// do: how many were made, or why one could not be.
    pub async fn populate_json(&self, json: &[u8]) -> Result<usize, String> {
        let inputs: Vec<ProxyInput> = serde_json::from_slice(json).map_err(|e| format!("bad request body: {e}"))?;
        match self.populate_list(inputs).await {
            (made, None) => Ok(made.len()),
            (_, Some(ApiError(_, error))) => Err(error),
        }
    }

    /// Creates each proxy, replacing one of the same name whose address or upstream differs,
    /// until the first error.
    async fn populate_list(&self, inputs: Vec<ProxyInput>) -> (Vec<ProxyView>, Option<ApiError>) {
        let mut made = Vec::new();
        for input in inputs {
            let existing = self.proxies.lock().await.get(&input.name).cloned();
            let same = existing.as_ref().is_some_and(|p| {
                p.upstream() == input.upstream && (input.listen.is_empty() || p.listen().to_string() == input.listen)
            });
            let proxy = match (existing, same) {
                (Some(p), true) => match p.set_enabled(input.enabled).await {
                    Ok(()) => Ok(p),
                    Err(e) => Err(ApiError::internal(e)),
                },
                (existing, _) => {
                    if let Some(old) = existing {
                        self.proxies.lock().await.remove(&input.name);
                        old.shutdown().await;
                    }
                    self.create(input).await
                }
            };
            match proxy {
                Ok(p) => made.push(view(&p)),
                Err(e) => return (made, Some(e)),
            }
        }
        (made, None)
    }

    /// Changes a proxy's listen address, upstream or state; the fields not given stay.
    async fn update_proxy(&self, name: &str, body: &[u8]) -> Result<Reply, ApiError> {
        let proxy = self.get(name).await?;
        let given: Value = serde_json::from_slice(body).map_err(ApiError::bad_body)?;
        let field = |k: &str| given.get(k).and_then(Value::as_str).map(str::to_string);
        let enabled = given.get("enabled").and_then(Value::as_bool).unwrap_or(proxy.enabled());
        if let Some(upstream) = field("upstream") {
            proxy.set_upstream(&upstream);
        }
        let proxy = match field("listen") {
            Some(listen) if listen_addr(&listen).await? != proxy.listen() => {
                // A new address: a new listener, with the same toxics.
                let input = ProxyInput { name: name.to_string(), listen, upstream: proxy.upstream(), enabled };
                let moved = self.start(&input).await?;
                for t in proxy.toxics() {
                    moved.add_toxic(t)?;
                }
                proxy.shutdown().await;
                self.proxies.lock().await.insert(name.to_string(), moved.clone());
                moved
            }
            _ => proxy,
        };
        proxy.set_enabled(enabled).await.map_err(ApiError::internal)?;
        Ok(reply(StatusCode::OK, &view(&proxy)))
    }

    /// Every proxy enabled, every toxic gone.
    async fn reset(&self) -> Result<Reply, ApiError> {
        for proxy in self.proxies.lock().await.values() {
            proxy.clear_toxics();
            proxy.set_enabled(true).await.map_err(ApiError::internal)?;
        }
        Ok(no_content())
    }

    /// Stops every proxy.
    pub async fn shutdown(&self) {
        for proxy in std::mem::take(&mut *self.proxies.lock().await).into_values() {
            proxy.shutdown().await;
        }
    }
}

/// `old` with the fields `body` gives: `stream`, `toxicity`, and attributes one by one (the type
/// and name stay), as Toxiproxy updates a toxic.
fn merged(old: &Toxic, body: &[u8]) -> Result<Toxic, ApiError> {
    let given: Value = serde_json::from_slice(body).map_err(ApiError::bad_body)?;
    let mut value = serde_json::to_value(old).map_err(ApiError::bad_body)?;
    for key in ["stream", "toxicity"] {
        if let Some(v) = given.get(key) {
            value[key] = v.clone();
        }
    }
    if let (Some(Value::Object(new)), Some(Value::Object(attrs))) =
        (given.get("attributes"), value.get_mut("attributes"))
    {
        attrs.extend(new.clone());
    }
    serde_json::from_value(value).map_err(ApiError::bad_body)
}
