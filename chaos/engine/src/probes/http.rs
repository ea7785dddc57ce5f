//! An HTTP probe's sample: one request, judged by its `expect` (status, body text, JSON
//! pointers).

use super::Reading;
use crate::experiment::probe::{HttpExpect, HttpProbe, JsonExpect};

/// Sends the probe's request and judges the answer.
pub(super) async fn read(p: &HttpProbe, client: &reqwest::Client) -> Reading {
    let method = p.method.as_deref().unwrap_or("GET").to_ascii_uppercase();
    let Ok(method) = reqwest::Method::from_bytes(method.as_bytes()) else {
        return Reading::Error(format!("`{method}` is not an HTTP method"));
    };
    let mut req = client.request(method, &p.url).timeout(p.timeout);
    for (k, v) in &p.headers {
        req = req.header(k, v);
    }
    if let Some(body) = &p.body {
        req = req.body(body.clone());
    }
    let answer = match req.send().await {
        Ok(a) => a,
        Err(e) => return Reading::Error(crate::http_error::plain(&e, p.timeout)),
    };
    let status = answer.status().as_u16();
    match answer.bytes().await {
        Ok(body) => judge(&p.expect, status, &body),
        Err(e) => Reading::Error(crate::http_error::plain(&e, p.timeout)),
    }
}

/// Whether `status` and `body` meet `expect`; the detail says what was seen.
fn judge(expect: &HttpExpect, status: u16, body: &[u8]) -> Reading {
    let accepted =
        if expect.status.is_empty() { (200..400).contains(&status) } else { expect.status.contains(&status) };
    if !accepted {
        return Reading::Judged { pass: false, detail: format!("status {status}") };
    }
    if let Some(text) = &expect.body_contains
        && !String::from_utf8_lossy(body).contains(text.as_str())
    {
        return Reading::Judged { pass: false, detail: format!("status {status}, body without `{text}`") };
    }
    if expect.json.is_empty() {
        return Reading::Judged { pass: true, detail: format!("status {status}") };
    }
    let doc: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Reading::Judged { pass: false, detail: format!("status {status}, body not JSON: {e}") },
    };
    for (pointer, want) in &expect.json {
        let found = doc.pointer(pointer);
        if let Some(why) = json_miss(found, want) {
            return Reading::Judged { pass: false, detail: format!("status {status}, {pointer}: {why}") };
        }
    }
    Reading::Judged { pass: true, detail: format!("status {status}") }
}

/// Why `found` does not meet `want`, if it does not.
fn json_miss(found: Option<&serde_json::Value>, want: &JsonExpect) -> Option<String> {
    let Some(found) = found else { return Some("missing".into()) };
    match want {
        JsonExpect::Equals(v) if found == v => None,
        JsonExpect::Equals(v) => Some(format!("{found}, expected {v}")),
        JsonExpect::Range(r) => {
            let Some(n) = found.as_f64() else { return Some(format!("{found} is not a number")) };
            let low = r.at_least.is_some_and(|b| n < b);
            let high = r.at_most.is_some_and(|b| n > b);
            (low || high).then(|| format!("{n} outside [{}, {}]", bound(r.at_least), bound(r.at_most)))
        }
    }
}

fn bound(b: Option<f64>) -> String {
    b.map_or("…".into(), |b| b.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::probe::JsonRange;
    use serde_json::json;

    fn expect(status: &[u16], json: &[(&str, JsonExpect)]) -> HttpExpect {
        HttpExpect {
            status: status.to_vec(),
            body_contains: None,
            json: json.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        }
    }

    fn passes(r: Reading) -> bool {
        matches!(r, Reading::Judged { pass: true, .. })
    }

    #[test]
    fn status_then_json_pointers_decide() {
        let body = br#"{"status": "up", "checks": [{"latency_ms": 12}]}"#;
        let up = ("/status", JsonExpect::Equals(json!("up")));
        assert!(passes(judge(&expect(&[], std::slice::from_ref(&up)), 200, body)));
        assert!(!passes(judge(&expect(&[200], std::slice::from_ref(&up)), 503, body)));
        let fast = JsonExpect::Range(JsonRange { at_least: None, at_most: Some(10.0) });
        let r = judge(&expect(&[], &[("/checks/0/latency_ms", fast)]), 200, body);
        assert!(matches!(&r, Reading::Judged { pass: false, detail } if detail.contains("12 outside")), "{r:?}");
        let r = judge(&expect(&[], &[("/nope", JsonExpect::Equals(json!(1)))]), 200, body);
        assert!(matches!(&r, Reading::Judged { pass: false, detail } if detail.contains("missing")), "{r:?}");
        assert!(!passes(judge(&expect(&[], &[up]), 200, b"<html>")));
    }
}
