//! Which requests a rule applies to.
//!
//! A request is in scope when every condition that is set holds, checked in this order (cheap
//! first): `route` prefix, `path` pattern, `methods`, `headers` equal, `present` headers, `cohort`;
//! then the `probability` draw, then a free `max_active` slot. Unset conditions match everything.

use http::{HeaderMap, Method};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The requests a [`Rule`](crate::Rule) applies to.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// Share of matching requests that get the fault, in [0, 1]. Default 1.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub probability: f64,
    /// Path prefix, e.g. `/license`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// Path pattern: `*` matches one segment, a final `**` the rest (`/segments/*/0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// HTTP methods (any when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// Headers that must be present with exactly these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Headers that must be present, with any value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub present: Vec<String>,
    /// A stable share of users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cohort: Option<Cohort>,
    /// At most this many requests under this rule at once (the rest pass untouched).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_active: Option<usize>,
}

/// A share of users chosen by a stable hash of a user-id header: a user is always in or always
/// out, across requests, instances and runs (so one user's whole session is affected, as in
/// Netflix's ChAP). Requests without the header are out.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cohort {
    /// Share of users in the cohort, in [0, 1].
    pub share: f64,
    /// The header carrying the user id (default `x-user-id`).
    #[serde(default = "user_header")]
    pub header: String,
}

fn user_header() -> String {
    "x-user-id".into()
}

fn one() -> f64 {
    1.0
}

fn is_one(p: &f64) -> bool {
    *p == 1.0
}

impl Default for Scope {
    fn default() -> Self {
        Self {
            probability: 1.0,
            route: None,
            path: None,
            methods: Vec::new(),
            headers: BTreeMap::new(),
            present: Vec::new(),
            cohort: None,
            max_active: None,
        }
    }
}

/// Where a user falls in [0, 1): stable for a user id, the same for every rule and instance.
pub fn cohort_position(user: &str) -> f64 {
    (crate::derive_seed(0x00c0_4047, user) >> 11) as f64 / (1u64 << 53) as f64
}

impl Scope {
    /// A scope that takes this share of all requests.
    pub fn probability(probability: f64) -> Self {
        Self { probability, ..Self::default() }
    }

    /// Limits the scope to paths starting with `prefix`.
    pub fn route(mut self, prefix: impl Into<String>) -> Self {
        self.route = Some(prefix.into());
        self
    }

    /// Whether a request to `path` is in scope as far as the route prefix and pattern go.
    pub fn matches_path(&self, path: &str) -> bool {
        self.route.as_deref().is_none_or(|prefix| path.starts_with(prefix))
            && self.path.as_deref().is_none_or(|pattern| path_matches(pattern, path))
    }

    /// Whether a request is in scope, before the probability draw and `max_active`.
    pub fn matches(&self, method: &Method, path: &str, headers: &HeaderMap) -> bool {
        self.matches_path(path)
            && (self.methods.is_empty() || self.methods.iter().any(|m| m.eq_ignore_ascii_case(method.as_str())))
            && self.headers.iter().all(|(k, v)| headers.get(k).is_some_and(|h| h.as_bytes() == v.as_bytes()))
            && self.present.iter().all(|k| headers.contains_key(k.as_str()))
            && self.cohort.as_ref().is_none_or(|c| {
                let user = headers.get(c.header.as_str()).and_then(|v| v.to_str().ok());
                user.is_some_and(|u| cohort_position(u) < c.share)
            })
    }

    /// Checks ranges, the route's shape and header names.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.probability) {
            return Err(format!("probability {} is not in [0, 1]", self.probability));
        }
        for (field, value) in [("route", &self.route), ("path", &self.path)] {
            if let Some(r) = value.as_deref().filter(|r| !r.starts_with('/')) {
                return Err(format!("{field} `{r}` must start with `/`"));
            }
        }
        if let Some(m) = self.methods.iter().find(|m| Method::from_bytes(m.as_bytes()).is_err()) {
            return Err(format!("`{m}` is not an HTTP method"));
        }
        let names = self.headers.keys().chain(&self.present).chain(self.cohort.as_ref().map(|c| &c.header));
        if let Some(bad) = names.into_iter().find(|n| http::HeaderName::from_bytes(n.as_bytes()).is_err()) {
            return Err(format!("`{bad}` is not a valid header name"));
        }
        if let Some(c) = self.cohort.as_ref().filter(|c| !(0.0..=1.0).contains(&c.share)) {
            return Err(format!("cohort share {} is not in [0, 1]", c.share));
        }
        if self.max_active == Some(0) {
            return Err("max_active must be > 0".into());
        }
        Ok(())
    }
}

/// `*` matches one segment, a final `**` any rest (also none); other segments match literally.
fn path_matches(pattern: &str, path: &str) -> bool {
    let mut want = pattern.trim_start_matches('/').split('/');
    let mut got = path.trim_start_matches('/').split('/');
    loop {
        match (want.next(), got.next()) {
            (Some("**"), _) => return true,
            (None, None) => return true,
            (Some("*"), Some(_)) => {}
            (Some(w), Some(g)) if w == g => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (http::HeaderName::from_static(k), http::HeaderValue::from_static(v))).collect()
    }

    #[test]
    fn route_prefix_matches_paths_below_it_only() {
        let s = Scope::default().route("/license");
        assert!(s.matches_path("/license"));
        assert!(s.matches_path("/license/abc"));
        assert!(!s.matches_path("/manifest"));
        assert!(Scope::default().matches_path("/anything"));
    }

    #[test]
    fn path_patterns_match_segments() {
        assert!(path_matches("/segments/*/0", "/segments/t1/0"));
        assert!(!path_matches("/segments/*/0", "/segments/t1/1"));
        assert!(!path_matches("/segments/*", "/segments/t1/0"));
        assert!(path_matches("/segments/**", "/segments/t1/0"));
        assert!(path_matches("/segments/**", "/segments"));
    }

    #[test]
    fn methods_headers_and_presence_narrow_the_scope() {
        let s = Scope {
            methods: vec!["post".into()],
            headers: BTreeMap::from([("x-canary".into(), "1".into())]),
            present: vec!["x-trace".into()],
            ..Scope::default()
        };
        let ok = headers(&[("x-canary", "1"), ("x-trace", "a")]);
        assert!(s.matches(&Method::POST, "/", &ok));
        assert!(!s.matches(&Method::GET, "/", &ok));
        assert!(!s.matches(&Method::POST, "/", &headers(&[("x-canary", "2"), ("x-trace", "a")])));
        assert!(!s.matches(&Method::POST, "/", &headers(&[("x-canary", "1")])));
    }

    #[test]
    fn a_cohort_takes_a_stable_share_of_users() {
        let s = Scope { cohort: Some(Cohort { share: 0.2, header: user_header() }), ..Scope::default() };
        let ids: Vec<String> = (0..10_000).map(|i| format!("user-{i}")).collect();
        let inside = |ids: &[String]| -> Vec<bool> {
            ids.iter()
                .map(|id| {
                    let mut h = HeaderMap::new();
                    h.insert("x-user-id", id.parse().unwrap());
                    s.matches(&Method::GET, "/", &h)
                })
                .collect()
        };
        let first = inside(&ids);
        assert_eq!(first, inside(&ids), "the same users are in on every request");
        let share = first.iter().filter(|b| **b).count();
        // 99.9 % binomial interval for n = 10 000, p = 0.2 is about ±131.
        assert!((1869..=2131).contains(&share), "{share}");
        assert!(!s.matches(&Method::GET, "/", &HeaderMap::new()), "no user id: out");
    }

    #[test]
    fn out_of_range_values_and_bad_names_are_invalid() {
        assert!(Scope::probability(1.5).validate().is_err());
        assert!(Scope::default().route("license").validate().is_err());
        assert!(Scope { methods: vec!["GE T".into()], ..Scope::default() }.validate().is_err());
        assert!(Scope { present: vec!["bad header".into()], ..Scope::default() }.validate().is_err());
        assert!(Scope { max_active: Some(0), ..Scope::default() }.validate().is_err());
        assert!(Scope::probability(0.25).route("/x").validate().is_ok());
    }
}
