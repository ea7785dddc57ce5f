//! Which requests a rule applies to.

use serde::{Deserialize, Serialize};

/// The requests a [`Rule`](crate::Rule) applies to: those whose path starts with `route` (all
/// when absent), each with the given `probability`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// Share of matching requests that get the fault, in [0, 1]. Default 1.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub probability: f64,
    /// Path prefix, e.g. `/license`. Absent: every path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
}

fn one() -> f64 {
    1.0
}

fn is_one(p: &f64) -> bool {
    *p == 1.0
}

impl Default for Scope {
    fn default() -> Self {
        Self { probability: 1.0, route: None }
    }
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

    /// Whether a request to `path` is in scope, before the probability draw.
    pub fn matches_path(&self, path: &str) -> bool {
        self.route.as_deref().is_none_or(|prefix| path.starts_with(prefix))
    }

    /// Checks the probability range and the route's shape.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.probability) {
            return Err(format!("probability {} is not in [0, 1]", self.probability));
        }
        match &self.route {
            Some(r) if !r.starts_with('/') => Err(format!("route `{r}` must start with `/`")),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_prefix_matches_paths_below_it_only() {
        let s = Scope::default().route("/license");
        assert!(s.matches_path("/license"));
        assert!(s.matches_path("/license/abc"));
        assert!(!s.matches_path("/manifest"));
        assert!(Scope::default().matches_path("/anything"));
    }

    #[test]
    fn out_of_range_probability_and_relative_route_are_invalid() {
        assert!(Scope::probability(1.5).validate().is_err());
        assert!(Scope::default().route("license").validate().is_err());
        assert!(Scope::probability(0.25).route("/x").validate().is_ok());
    }
}
