//! Which instances a fault step hits: a service or an instance by name, or a selector by
//! service, zone, count and percentage — the Chaos Monkey (one instance), "N of a service" and
//! Chaos Gorilla (a whole zone) levels.

use rand::seq::SliceRandom;
use rand::{SeedableRng, rngs::SmallRng};
use serde::{Deserialize, Serialize};
use std::fmt;
use targets::InstanceInfo;

/// A fault step's target. In YAML a plain string names a service (all its instances) or one
/// instance (`cdn-1`); a map selects: `{ service: cdn, count: 2 }`, `{ service: cdn, percent: 50 }`,
/// `{ zone: zone-a }`, `{ zone: zone-b, service: license }`; a `service` ending in `*` matches
/// every service with that prefix (`{ service: "mid-*", percent: 10 }`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Target {
    /// A service or instance name (the string form).
    pub name: Option<String>,
    /// Instances of this service (`prefix*`: of every service starting with `prefix`).
    pub service: Option<String>,
    /// Instances in this zone.
    pub zone: Option<String>,
    /// Of the matching instances, this many, chosen by the seeded RNG.
    pub count: Option<u32>,
    /// Of the matching instances, this share (rounded up), chosen by the seeded RNG.
    pub percent: Option<f64>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Selector {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    percent: Option<f64>,
}

impl Target {
    /// A target naming a service or an instance.
    pub fn named(name: impl Into<String>) -> Self {
        Self { name: Some(name.into()), ..Self::default() }
    }

    /// The instances it matches before `count`/`percent` narrow them.
    fn candidates<'a>(&self, all: &'a [InstanceInfo]) -> Vec<&'a InstanceInfo> {
        all.iter()
            .filter(|i| self.name.as_ref().is_none_or(|n| *n == i.name || *n == i.service))
            .filter(|i| self.service.as_ref().is_none_or(|s| service_matches(s, &i.service)))
            .filter(|i| self.zone.as_ref().is_none_or(|z| *z == i.zone))
            .collect()
    }

    /// Checks the target against the topology's instances.
    pub fn validate(&self, all: &[InstanceInfo]) -> Result<(), String> {
        if self.name.is_none() && self.service.is_none() && self.zone.is_none() {
            return Err("a target needs a service, an instance or a zone".into());
        }
        if self.count.is_some() && self.percent.is_some() {
            return Err("a target takes `count` or `percent`, not both".into());
        }
        if let Some(p) = self.percent.filter(|p| !(*p > 0.0 && *p <= 100.0)) {
            return Err(format!("percent {p} is not in (0, 100]"));
        }
        let found = self.candidates(all).len();
        if found == 0 {
            let mut services: Vec<&str> = all.iter().map(|i| i.service.as_str()).collect();
            services.dedup();
            let mut zones: Vec<&str> = all.iter().map(|i| i.zone.as_str()).collect();
            zones.sort();
            zones.dedup();
            return Err(format!(
                "`{self}` matches no instance of the topology (services: {}; zones: {})",
                services.join(", "),
                zones.join(", ")
            ));
        }
        match self.count {
            Some(0) => Err("count must be > 0".into()),
            Some(n) if n as usize > found => Err(format!("count {n} but `{self}` has only {found} instance(s)")),
            _ => Ok(()),
        }
    }

    /// The names of the instances hit, chosen with `seed` when `count`/`percent` ask for a part.
    pub fn resolve(&self, all: &[InstanceInfo], seed: u64) -> Vec<String> {
        let mut hit: Vec<&InstanceInfo> = self.candidates(all);
        let keep = match (self.count, self.percent) {
            (Some(n), _) => n as usize,
            (None, Some(p)) => ((hit.len() as f64) * p / 100.0).ceil() as usize,
            (None, None) => hit.len(),
        };
        if keep < hit.len() {
            hit.shuffle(&mut SmallRng::seed_from_u64(seed));
            hit.truncate(keep);
            hit.sort_by(|a, b| a.name.cmp(&b.name));
        }
        hit.into_iter().map(|i| i.name.clone()).collect()
    }
}

/// `pattern` names `service`, or ends in `*` and prefixes it.
fn service_matches(pattern: &str, service: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => service.starts_with(prefix),
        None => pattern == service,
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let (Some(name), None, None, None, None) = (&self.name, &self.service, &self.zone, self.count, self.percent)
        {
            return f.write_str(name);
        }
        let mut parts = Vec::new();
        parts.extend(self.name.iter().cloned());
        parts.extend(self.service.iter().map(|s| format!("service={s}")));
        parts.extend(self.zone.iter().map(|z| format!("zone={z}")));
        parts.extend(self.count.iter().map(|c| format!("count={c}")));
        parts.extend(self.percent.iter().map(|p| format!("percent={p}")));
        f.write_str(&parts.join(" "))
    }
}

impl Serialize for Target {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.name {
            Some(name) => s.serialize_str(name),
            None => Selector {
                service: self.service.clone(),
                zone: self.zone.clone(),
                count: self.count,
                percent: self.percent,
            }
            .serialize(s),
        }
    }
}

impl schemars::JsonSchema for Target {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Target".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A service or instance name, or a selector.",
            "oneOf": [
                { "type": "string" },
                {
                    "type": "object",
                    "properties": {
                        "service": { "type": "string" },
                        "zone": { "type": "string" },
                        "count": { "type": "integer", "minimum": 1 },
                        "percent": { "type": "number", "exclusiveMinimum": 0, "maximum": 100 }
                    },
                    "additionalProperties": false
                }
            ]
        })
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Target;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a service or instance name, or a map of service, zone, count, percent")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Target, E> {
                Ok(Target::named(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Target, A::Error> {
                let s = Selector::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(Target { name: None, service: s.service, zone: s.zone, count: s.count, percent: s.percent })
            }
        }
        de.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use targets::Topology;

    #[test]
    fn selectors_pick_services_instances_zones_and_seeded_parts() {
        let all = Topology::default_platform().instances();
        assert_eq!(Target::named("cdn").resolve(&all, 1), ["cdn-0", "cdn-1", "cdn-2"]);
        assert_eq!(Target::named("cdn-1").resolve(&all, 1), ["cdn-1"]);
        let zone_a = Target { zone: Some("zone-a".into()), ..Target::default() }.resolve(&all, 1);
        assert!(zone_a.contains(&"cdn-0".to_string()) && zone_a.contains(&"edge-0".to_string()));
        assert!(!zone_a.contains(&"cdn-1".to_string()));
        let two = Target { service: Some("cdn".into()), count: Some(2), ..Target::default() };
        assert_eq!(two.resolve(&all, 5).len(), 2);
        assert_eq!(two.resolve(&all, 5), two.resolve(&all, 5), "the same seed picks the same instances");
        let some_seed_differs = (0..20).any(|s| two.resolve(&all, s) != two.resolve(&all, 5));
        assert!(some_seed_differs);
        let half = Target { service: Some("cdn".into()), percent: Some(50.0), ..Target::default() };
        assert_eq!(half.resolve(&all, 5).len(), 2, "50 % of 3 rounds up");
    }

    #[test]
    fn a_service_prefix_selects_a_seeded_share_of_a_synthetic_mid_tier() {
        let all = Topology::synthetic(&targets::SyntheticSpec::new(700)).unwrap().instances();
        let tenth = Target { service: Some("mid-*".into()), percent: Some(10.0), ..Target::default() };
        let hit = tenth.resolve(&all, 42);
        assert_eq!(hit.len(), 70, "10 % of 691 mid-tier instances, rounded up");
        assert!(hit.iter().all(|i| i.starts_with("mid-")));
        assert!(Target { service: Some("mid".into()), ..Target::default() }.validate(&all).is_err());
    }

    #[test]
    fn impossible_selectors_are_rejected() {
        let all = Topology::default_platform().instances();
        assert!(Target::named("nope").validate(&all).unwrap_err().contains("matches no instance"));
        let too_many = Target { service: Some("cdn".into()), count: Some(4), ..Target::default() };
        assert!(too_many.validate(&all).unwrap_err().contains("only 3"));
        let both = Target { service: Some("cdn".into()), count: Some(1), percent: Some(5.0), ..Target::default() };
        assert!(both.validate(&all).is_err());
        assert!(Target { zone: Some("zone-z".into()), ..Target::default() }.validate(&all).is_err());
    }
}
