//! Where a fault step's target is on the cluster: its namespace, how its pods are selected and
//! how many of them a step hits.

use super::Context;
use crate::experiment::Target;
use crate::experiment::kubernetes::{KubeTarget, ZONE_LABEL};
use std::collections::BTreeMap;

/// Label a service's pods carry by convention when the `kubernetes:` section does not say.
const APP_LABEL: &str = "app";

/// A target on the cluster.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Placement {
    /// The service (or instance, or pattern) name the step uses, for names and hosts.
    pub name: String,
    pub namespace: String,
    /// Pod labels.
    pub labels: BTreeMap<String, String>,
    /// One pod by name.
    pub pod: Option<String>,
    /// Node labels.
    pub nodes: BTreeMap<String, String>,
    /// How many of the selected pods.
    pub mode: Mode,
    /// The mapping it came from (port, host, path prefix, container), or the convention's.
    pub mapping: KubeTarget,
}

/// How many of the selected pods a step hits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Mode {
    All,
    /// This many (Chaos Mesh `fixed`).
    Fixed(u32),
    /// This share, in percent (Chaos Mesh `fixed-percent`).
    FixedPercent(f64),
}

impl Placement {
    /// A stand-in for a target that could not be placed (the export fails on it anyway).
    pub fn unplaced(ctx: &Context) -> Self {
        empty(ctx, "")
    }

    /// The host callers use for it (Istio's `hosts`).
    pub fn host(&self) -> String {
        self.mapping.host.clone().unwrap_or_else(|| format!("{}.{}.svc.cluster.local", self.name, self.namespace))
    }

    /// Whether it is one pod, or pods on some nodes, rather than a whole service.
    pub fn is_part_of_service(&self) -> bool {
        self.pod.is_some() || !self.nodes.is_empty() || self.mode != Mode::All
    }
}

/// Places `target` on the cluster; `Err` says why it cannot be.
pub(crate) fn place(ctx: &Context, target: &Target) -> Result<Placement, String> {
    let mode = match (target.count, target.percent) {
        (Some(n), _) => Mode::Fixed(n),
        (None, Some(p)) => Mode::FixedPercent(p),
        (None, None) => Mode::All,
    };
    let named = target.name.as_deref().or(target.service.as_deref());
    let mut placement = match named {
        Some(name) => by_name(ctx, name)?,
        None => empty(ctx, target.zone.as_deref().unwrap_or_default()),
    };
    if let Some(zone) = &target.zone {
        let nodes = match ctx.cluster.targets.get(zone) {
            Some(m) if !m.nodes.is_empty() => m.nodes.clone(),
            _ => BTreeMap::from([(ZONE_LABEL.to_string(), zone.clone())]),
        };
        placement.nodes.extend(nodes);
    }
    placement.mode = mode;
    Ok(placement)
}

/// A service, instance or pattern by the name the step uses.
fn by_name(ctx: &Context, name: &str) -> Result<Placement, String> {
    if let Some(mapping) = ctx.cluster.targets.get(name) {
        let mut p = empty(ctx, name);
        p.namespace = mapping.namespace.clone().unwrap_or(p.namespace);
        p.labels = mapping.selector.clone();
        p.pod = mapping.pod.clone();
        p.nodes = mapping.nodes.clone();
        if p.labels.is_empty() && p.pod.is_none() && p.nodes.is_empty() {
            p.labels.insert(APP_LABEL.into(), name.into());
        }
        p.mapping = mapping.clone();
        return Ok(p);
    }
    if name.ends_with('*') {
        return Err(format!(
            "a service pattern (`{name}`) has no label selector by convention: map it in `kubernetes.targets`"
        ));
    }
    let mut p = empty(ctx, name);
    match ctx.instances.iter().find(|i| i.name == name && i.service != name) {
        Some(_) => p.pod = Some(name.into()),
        None => {
            p.labels.insert(APP_LABEL.into(), name.into());
        }
    }
    Ok(p)
}

fn empty(ctx: &Context, name: &str) -> Placement {
    Placement {
        name: name.into(),
        namespace: ctx.cluster.namespace.clone(),
        labels: BTreeMap::new(),
        pod: None,
        nodes: BTreeMap::new(),
        mode: Mode::All,
        mapping: KubeTarget::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::kubernetes::Kubernetes;

    fn exp() -> crate::Experiment {
        crate::experiment::parse_str("name: t\nload: { rate: 1/s, duration: 1s }\n", "t", std::path::Path::new("."))
            .unwrap()
            .0
    }

    #[test]
    fn services_instances_and_zones_follow_the_convention() {
        let (exp, cluster) = (exp(), Kubernetes::default());
        let ctx =
            Context { exp: &exp, cluster: &cluster, instances: targets::Topology::default_platform().instances() };
        let license = place(&ctx, &Target::named("license")).unwrap();
        assert_eq!((license.labels.get("app").map(String::as_str), license.pod.as_deref()), (Some("license"), None));
        assert_eq!(license.host(), "license.default.svc.cluster.local");
        let cdn0 = place(&ctx, &Target::named("cdn-0")).unwrap();
        assert_eq!((cdn0.labels.len(), cdn0.pod.as_deref()), (0, Some("cdn-0")));
        let zone = place(&ctx, &Target { zone: Some("zone-b".into()), ..Target::default() }).unwrap();
        assert_eq!(zone.nodes.get(ZONE_LABEL).map(String::as_str), Some("zone-b"));
        let two = place(&ctx, &Target { service: Some("cdn".into()), count: Some(2), ..Target::default() }).unwrap();
        assert_eq!(two.mode, Mode::Fixed(2));
        let pattern = Target { service: Some("mid-*".into()), percent: Some(10.0), ..Target::default() };
        assert!(place(&ctx, &pattern).unwrap_err().contains("kubernetes.targets"));
    }

    #[test]
    fn a_mapping_wins_over_the_convention() {
        let cluster: Kubernetes = serde_yaml::from_str(
            "namespace: media\ntargets:\n  cdn-0: { selector: { tier: edge }, namespace: cdn, port: 8080 }\n",
        )
        .unwrap();
        let exp = exp();
        let ctx =
            Context { exp: &exp, cluster: &cluster, instances: targets::Topology::default_platform().instances() };
        let p = place(&ctx, &Target::named("cdn-0")).unwrap();
        assert_eq!((p.namespace.as_str(), p.pod.as_deref(), p.mapping.port), ("cdn", None, Some(8080)));
        assert_eq!(p.labels.get("tier").map(String::as_str), Some("edge"));
        assert_eq!(place(&ctx, &Target::named("license")).unwrap().namespace, "media");
    }
}
