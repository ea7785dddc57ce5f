//! `chaos fault add|list|rm|reset`: a client of the control API.

use super::{EXIT_BAD_INPUT, runtime};
use crate::args::FaultAction;
use chaos_fault::{Fault, Rule, Scope};
use serde_json::Value;
use std::process::ExitCode;
use std::time::Duration;

/// Exit code when the control API cannot be reached.
const EXIT_UNREACHABLE: u8 = 4;

pub fn run(target: Option<String>, token: Option<String>, action: FaultAction) -> anyhow::Result<ExitCode> {
    let Some(base) = target else {
        eprintln!("error: --target URL (or CHAOS_CONTROL) names the control API, e.g. http://127.0.0.1:7474");
        return Ok(ExitCode::from(EXIT_BAD_INPUT));
    };
    let request = match build(&base, &action) {
        Ok(r) => r,
        Err(message) => {
            eprintln!("error: {message}");
            return Ok(ExitCode::from(EXIT_BAD_INPUT));
        }
    };
    runtime()?.block_on(send(request, token, matches!(action, FaultAction::List)))
}

/// One call to the API: method, URL, JSON body.
struct Call {
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
}

fn yaml<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, String> {
    serde_yaml::from_str(text).map_err(|e| format!("--{what}: {e}"))
}

fn build(base: &str, action: &FaultAction) -> Result<Call, String> {
    let base = base.trim_end_matches('/');
    let call = |method, path: String, body| Call { method, url: format!("{base}{path}"), body };
    Ok(match action {
        FaultAction::Add { instance, id, fault, scope, ttl } => {
            let fault: Fault = yaml("fault", fault)?;
            let scope: Scope = scope.as_deref().map(|s| yaml("scope", s)).transpose()?.unwrap_or_default();
            let ttl: Option<Duration> = ttl
                .as_deref()
                .map(|t| humantime::parse_duration(t).map_err(|e| format!("--ttl {t}: {e}")))
                .transpose()?;
            let rule = Rule { id: id.as_str().into(), fault, scope, ttl };
            rule.validate()?;
            let body = serde_json::to_value(&rule).map_err(|e| e.to_string())?;
            call(reqwest::Method::POST, format!("/instances/{instance}/rules"), Some(body))
        }
        FaultAction::List => call(reqwest::Method::GET, "/instances/*/rules".into(), None),
        FaultAction::Rm { instance, id } => {
            call(reqwest::Method::DELETE, format!("/instances/{instance}/rules/{id}"), None)
        }
        FaultAction::Reset => call(reqwest::Method::POST, "/reset".into(), None),
    })
}

async fn send(call: Call, token: Option<String>, list: bool) -> anyhow::Result<ExitCode> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let mut req = http.request(call.method, &call.url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(body) = call.body {
        req = req.json(&body);
    }
    let res = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: control API at {} unreachable: {e}", call.url);
            return Ok(ExitCode::from(EXIT_UNREACHABLE));
        }
    };
    let status = res.status();
    let text = res.text().await.unwrap_or_default();
    if !status.is_success() {
        let detail: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        let field = detail["field"].as_str().map(|f| format!(" (field `{f}`)")).unwrap_or_default();
        eprintln!("error: {status}: {}{field}", detail["error"].as_str().unwrap_or(&detail.to_string()));
        return Ok(ExitCode::from(EXIT_BAD_INPUT));
    }
    if list {
        let all: Value = serde_json::from_str(&text)?;
        for entry in all.as_array().into_iter().flatten() {
            let rules: Vec<String> = entry["rules"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| {
                    format!(
                        "{} ({})",
                        r["id"].as_str().unwrap_or("?"),
                        serde_json::to_string(&r["fault"]).unwrap_or_default()
                    )
                })
                .collect();
            println!(
                "{:<20} {}",
                entry["instance"].as_str().unwrap_or("?"),
                if rules.is_empty() { "-".into() } else { rules.join(", ") }
            );
        }
    } else if !text.is_empty() {
        println!("{text}");
    } else {
        println!("ok");
    }
    Ok(ExitCode::SUCCESS)
}
