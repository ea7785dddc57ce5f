//! A client of one control API (a `chaos proxy`'s, or a fault layer's embedded in an app): the
//! runner's only way to put faults into a system it did not start. Every call says whether it
//! worked, so that a fault which did not reach its target stops the run instead of passing it.

use crate::http_error::plain;
use chaos_fault::{FaultMetrics, Rule};
use reqwest::{Method, StatusCode};
use std::collections::BTreeMap;
use std::time::Duration;

/// The longest a control API may take to answer.
const TIMEOUT: Duration = Duration::from_secs(5);

/// One control API, by its base URL.
#[derive(Clone)]
pub(crate) struct ControlClient {
    base: String,
    http: reqwest::Client,
}

impl ControlClient {
    /// A client of the API at `base` (`http://HOST:PORT`).
    pub fn new(base: &str) -> Self {
        let http = reqwest::Client::builder().timeout(TIMEOUT).build().expect("a plain HTTP client builds");
        Self { base: base.trim_end_matches('/').to_string(), http }
    }

    async fn request(&self, method: Method, path: &str, rule: Option<&Rule>) -> Result<StatusCode, String> {
        let mut req = self.http.request(method.clone(), format!("{}{path}", self.base));
        if let Some(rule) = rule {
            req = req.json(rule);
        }
        let res = req.send().await.map_err(|e| format!("{method} {}{path}: {}", self.base, plain(&e, TIMEOUT)))?;
        Ok(res.status())
    }

    async fn expect_success(&self, method: Method, path: &str, rule: Option<&Rule>) -> Result<(), String> {
        let status = self.request(method.clone(), path, rule).await?;
        if status.is_success() { Ok(()) } else { Err(format!("{method} {}{path} answered {status}", self.base)) }
    }

    /// Whether the API answers: `GET /instances` must be a JSON list of at least one instance.
    pub async fn check(&self) -> Result<(), String> {
        let url = format!("{}/instances", self.base);
        let res = self.http.get(&url).send().await.map_err(|e| format!("{url}: {}", plain(&e, TIMEOUT)))?;
        if !res.status().is_success() {
            return Err(format!("GET {url} answered {}", res.status()));
        }
        let list: serde_json::Value =
            res.json().await.map_err(|e| format!("GET {url} is not a control API's answer: {}", plain(&e, TIMEOUT)))?;
        match list.as_array() {
            Some(l) if !l.is_empty() => Ok(()),
            Some(_) => Err(format!("GET {url}: the control API has no instance")),
            None => Err(format!("GET {url} is not a control API's answer (a JSON list)")),
        }
    }

    /// Adds `rule` to `instance` (`*`: every instance), replacing one of the same id.
    pub async fn put_rule(&self, instance: &str, rule: &Rule) -> Result<(), String> {
        let status = self.request(Method::POST, &format!("/instances/{instance}/rules"), Some(rule)).await?;
        match status {
            s if s.is_success() => Ok(()),
            StatusCode::CONFLICT => {
                self.expect_success(Method::PUT, &format!("/instances/{instance}/rules/{}", rule.id), Some(rule)).await
            }
            s => Err(format!("POST {}/instances/{instance}/rules answered {s}", self.base)),
        }
    }

    /// Removes rule `id` from `instance`; one already gone is not an error.
    pub async fn remove_rule(&self, instance: &str, id: &str) -> Result<(), String> {
        let path = format!("/instances/{instance}/rules/{id}");
        match self.request(Method::DELETE, &path, None).await? {
            s if s.is_success() || s == StatusCode::NOT_FOUND => Ok(()),
            s => Err(format!("DELETE {}{path} answered {s}", self.base)),
        }
    }

    /// Kills `instance`, to come back after `restart_after` if given.
    pub async fn kill(&self, instance: &str, restart_after: Option<Duration>) -> Result<(), String> {
        let path = format!("/instances/{instance}/kill");
        let mut req = self.http.post(format!("{}{path}", self.base));
        if let Some(after) = restart_after {
            req = req.json(&serde_json::json!({ "restart_after": humantime::format_duration(after).to_string() }));
        }
        let res = req.send().await.map_err(|e| format!("POST {}{path}: {}", self.base, plain(&e, TIMEOUT)))?;
        if res.status().is_success() {
            Ok(())
        } else {
            Err(format!("POST {}{path} answered {}", self.base, res.status()))
        }
    }

    /// Brings `instance` back.
    pub async fn restart(&self, instance: &str) -> Result<(), String> {
        self.expect_success(Method::POST, &format!("/instances/{instance}/restart"), None).await
    }

    /// Halt all: removes every rule of every instance.
    pub async fn reset(&self) -> Result<(), String> {
        self.expect_success(Method::POST, "/reset", None).await
    }

    /// Fault metrics of every instance behind the API, by instance name.
    pub async fn metrics(&self) -> BTreeMap<String, FaultMetrics> {
        let url = format!("{}/instances", self.base);
        let list: serde_json::Value = match self.http.get(url).send().await {
            Ok(r) => r.json().await.unwrap_or_default(),
            Err(_) => return BTreeMap::new(),
        };
        let mut out = BTreeMap::new();
        for i in list.as_array().into_iter().flatten() {
            let m: FaultMetrics = serde_json::from_value(i["metrics"].clone()).unwrap_or_default();
            out.insert(i["name"].as_str().unwrap_or("?").to_string(), m);
        }
        out
    }
}
