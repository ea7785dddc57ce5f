//! `chaos export`: every shipped experiment either exports (its manifest kept as a golden file
//! and valid against the engine's published CRD schema, `../shared/k8s/`) or is refused with the
//! fields that cannot be expressed. `UPDATE_GOLDEN=1` rewrites the golden files.

use chaos_engine::export::{Engine, GapKind, export, steps};
use chaos_engine::load_file;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What exporting a shipped experiment to one engine gives.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Outcome {
    /// Everything is expressed.
    Exact,
    /// Exported only with `--lossy`.
    Lossy,
    /// Refused even with `--lossy`, at these paths.
    Refused(&'static [&'static str]),
}
use Outcome::{Exact, Lossy, Refused};

/// Each shipped experiment (relative to `experiments/`) with its outcome for Chaos Mesh and for
/// Istio, and why.
const SHIPPED: &[(&str, Outcome, Outcome)] = &[
    ("auth-outage.yaml", Exact, Exact),
    ("baseline.yaml", Refused(&["faults"]), Refused(&["faults"])),
    ("breaker-slow-recommendations.yaml", Exact, Exact),
    // Istio cannot single out one pod, nor kill one.
    ("cdn-replica-kill.yaml", Exact, Refused(&["faults[0].target", "faults[0].fault"])),
    // Nobody stalls a body but us.
    ("cdn-stall.yaml", Refused(&["faults[0].fault"]), Refused(&["faults[0].fault"])),
    ("cdn-throttle.yaml", Exact, Refused(&["faults[0].target", "faults[0].fault"])),
    ("failing/all-cdn-down.yaml", Exact, Refused(&["faults[0].fault"])),
    // HTTPChaos has no share of requests; Istio's abort no body.
    ("license-errors.yaml", Lossy, Lossy),
    ("license-slow-cohort.yaml", Lossy, Lossy),
    ("recommendations-latency.yaml", Exact, Exact),
    ("retry-storm.yaml", Exact, Exact),
    (
        "scale/synthetic-10.yaml",
        Refused(&["faults[0].target", "faults[1].target"]),
        Refused(&["faults[0].target", "faults[1].target"]),
    ),
    (
        "scale/synthetic-100.yaml",
        Refused(&["faults[0].target", "faults[1].target"]),
        Refused(&["faults[0].target", "faults[1].target"]),
    ),
    (
        "scale/synthetic-700.yaml",
        Refused(&["faults[0].target", "faults[1].target"]),
        Refused(&["faults[0].target", "faults[1].target"]),
    ),
    // Every reset is on one CDN instance.
    (
        "soak/soak.yaml",
        Lossy,
        Refused(&[
            "faults[1].target",
            "faults[1].fault",
            "faults[3].target",
            "faults[3].fault",
            "faults[5].target",
            "faults[5].fault",
            "faults[7].target",
            "faults[7].fault",
            "faults[9].target",
            "faults[9].fault",
            "faults[11].target",
            "faults[11].fault",
            "faults[13].target",
            "faults[13].fault",
            "faults[15].target",
            "faults[15].fault",
            "faults[17].target",
            "faults[17].fault",
            "faults[19].target",
            "faults[19].fault",
        ]),
    ),
    ("streams/origin-kill.yaml", Exact, Refused(&["faults[0].fault"])),
    ("streams/origin-stall.yaml", Refused(&["faults[0].fault"]), Refused(&["faults[0].fault"])),
    ("streams/origin-throttle.yaml", Exact, Refused(&["faults[0].fault"])),
    ("systems/nginx.yaml", Lossy, Refused(&["faults[1].fault"])),
    ("systems/prometheus/license-errors-promql.yaml", Lossy, Lossy),
    (
        "systems/redis.yaml",
        Refused(&["faults[1].fault.toxic.type"]),
        Refused(&["faults[0].fault", "faults[1].fault", "faults[2].fault"]),
    ),
    (
        "virtual/hour.yaml",
        Refused(&["faults[3].fault"]),
        Refused(&["faults[2].target", "faults[2].fault", "faults[3].fault", "faults[4].target", "faults[4].fault"]),
    ),
    ("zone-evacuation.yaml", Exact, Refused(&["faults[0].target", "faults[0].fault"])),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn every_shipped_experiment_is_in_the_table() {
    let mut found = Vec::new();
    walk(&root().join("experiments"), &mut found);
    let listed: Vec<PathBuf> = SHIPPED.iter().map(|(f, ..)| root().join("experiments").join(f)).collect();
    for file in found {
        let text = std::fs::read_to_string(&file).unwrap();
        let is_experiment = text.lines().any(|l| l.starts_with("load:"));
        assert!(!is_experiment || listed.contains(&file), "{} is not in SHIPPED", file.display());
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml") {
            out.push(path);
        }
    }
}

#[test]
fn shipped_experiments_export_as_the_table_says_and_match_their_golden_files() {
    let crds = Crds::load();
    for (file, chaos_mesh, istio) in SHIPPED {
        let (exp, topology) = load_file(&root().join("experiments").join(file)).unwrap();
        for (engine, outcome) in [(Engine::ChaosMesh, chaos_mesh), (Engine::Istio, istio)] {
            let context = format!("{file} → {}", engine.name());
            let strict = export(&exp, &topology, engine, false);
            let lossy = export(&exp, &topology, engine, true);
            match outcome {
                Exact => assert!(strict.as_ref().is_ok_and(|e| e.changes.is_empty()), "{context}: {strict:?}"),
                Lossy => {
                    let gaps = strict.as_ref().expect_err(&context);
                    assert!(gaps.iter().all(|g| g.kind == GapKind::Approximated), "{context}: {gaps:?}");
                    assert!(lossy.as_ref().is_ok_and(|e| !e.changes.is_empty()), "{context}: {lossy:?}");
                }
                Refused(paths) => {
                    let gaps = lossy.as_ref().expect_err(&context);
                    let got: Vec<&str> = gaps.iter().map(|g| g.path.as_str()).collect();
                    assert_eq!(&got, paths, "{context}: {gaps:#?}");
                    continue;
                }
            }
            let manifest = lossy.unwrap();
            golden(&manifest.file_name, &manifest.text);
            // What `chaos run` on a cluster applies: a resource of its own per step.
            let run = steps(&exp, &topology, engine, true).unwrap_or_else(|g| panic!("{context}: steps: {g:#?}"));
            assert_eq!(run.iter().map(|s| s.step).collect::<Vec<_>>(), (0..exp.faults.len()).collect::<Vec<_>>());
            if let Some(crds) = &crds {
                crds.check(&manifest.text, &context);
                for s in &run {
                    crds.check(&s.yaml, &format!("{context}: faults[{}] on its own", s.step));
                }
            }
        }
    }
}

/// Compares `text` with the golden file `name` (or rewrites it under `UPDATE_GOLDEN`).
fn golden(name: &str, text: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/export").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(text, want, "{} differs (UPDATE_GOLDEN=1 rewrites it)", path.display());
}

#[test]
fn the_crd_examples_validate_and_a_broken_manifest_does_not() {
    let Some(crds) = Crds::load() else { return };
    let examples = crds.dir.join("chaos-mesh/examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&examples).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        if crds.has_kind_of(&text) {
            crds.check(&text, &path.display().to_string());
            checked += 1;
        }
    }
    assert!(checked >= 5, "only {checked} examples had a schema here");
    let broken = std::fs::read_to_string(examples.join("pod-kill-example.yaml"))
        .unwrap()
        .replace("mode: one", "mode: sometimes");
    assert!(!crds.errors(&broken).is_empty(), "a PodChaos with mode `sometimes` passed the schema");
}

/// The CRD schemas of `../shared/k8s/`, by (apiVersion, kind).
struct Crds {
    dir: PathBuf,
    schemas: HashMap<(String, String), jsonschema::Validator>,
}

impl Crds {
    /// `None` (with a message) where the folder is absent; under `CI` that is a failure.
    fn load() -> Option<Self> {
        let dir = root().join("../shared/k8s");
        if !dir.is_dir() {
            assert!(std::env::var_os("CI").is_none(), "{} is needed under CI", dir.display());
            eprintln!("skipping the schema checks: {} is absent", dir.display());
            return None;
        }
        let mut schemas = HashMap::new();
        for file in [
            "chaos-mesh/workflows.yaml",
            "chaos-mesh/podchaos.yaml",
            "chaos-mesh/httpchaos.yaml",
            "chaos-mesh/networkchaos.yaml",
            "chaos-mesh/statuschecks.yaml",
            "chaos-mesh/schedules.yaml",
            "istio/virtualservices.yaml",
        ] {
            let crd: serde_json::Value =
                serde_yaml::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap();
            let spec = &crd["spec"];
            let (group, kind) = (spec["group"].as_str().unwrap(), spec["names"]["kind"].as_str().unwrap());
            for version in spec["versions"].as_array().unwrap() {
                let schema = &version["schema"]["openAPIV3Schema"];
                let validator = jsonschema::draft4::new(schema).unwrap_or_else(|e| panic!("{file}: {e}"));
                let api = format!("{group}/{}", version["name"].as_str().unwrap());
                schemas.insert((api, kind.to_string()), validator);
            }
        }
        Some(Self { dir, schemas })
    }

    fn documents(text: &str) -> Vec<serde_json::Value> {
        serde_yaml::Deserializer::from_str(text).map(|d| serde_json::Value::deserialize(d).unwrap()).collect()
    }

    fn key(doc: &serde_json::Value) -> (String, String) {
        (doc["apiVersion"].as_str().unwrap_or("").into(), doc["kind"].as_str().unwrap_or("").into())
    }

    fn has_kind_of(&self, text: &str) -> bool {
        Self::documents(text).iter().all(|d| self.schemas.contains_key(&Self::key(d)))
    }

    /// Every schema error of every document of `text`.
    fn errors(&self, text: &str) -> Vec<String> {
        let mut errors = Vec::new();
        for doc in Self::documents(text) {
            match self.schemas.get(&Self::key(&doc)) {
                Some(v) => errors.extend(v.iter_errors(&doc).map(|e| e.to_string())),
                None => errors.push(format!("no schema for {:?}", Self::key(&doc))),
            }
        }
        errors
    }

    fn check(&self, text: &str, context: &str) {
        let errors = self.errors(text);
        assert!(errors.is_empty(), "{context}: {errors:#?}\n{text}");
    }
}

/// Dependent steps, a mapped cluster, a scoped response delay, a share of pods killed with a
/// restart, and an HTTP-probe abort condition.
const MAPPED: &str = "\
name: checkout-path
load: { rate: 10/s, duration: 60s }
kubernetes:
  namespace: shop
  targets:
    license: { selector: { app: license-api }, port: 8080, path_prefix: /api }
    cdn: { namespace: media, selector: { tier: cdn } }
faults:
  - name: slow-license
    at: 2s
    for: 5s
    target: license
    fault: { latency: { fixed: 300ms, when: after } }
    scope: { route: /license, methods: [post], headers: { x-canary: '1' } }
  - { name: license-down, after: slow-license, at: 1s, for: 4s, target: license, fault: { error: { status: 503 } } }
  - { name: cdn-half, after: slow-license, for: 3s, target: { service: cdn, percent: 50 }, fault: { kill: { restart_after: 2s } } }
abort:
  - { probe: { http: { url: 'http://checkout.shop.svc:8080/healthz', expect: { status: [200] } } }, failures: 3, every: 2s }
";

fn template<'a>(workflow: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    let templates = workflow["spec"]["templates"].as_array().unwrap();
    templates.iter().find(|t| t["name"] == name).unwrap_or_else(|| panic!("no template {name}: {templates:#?}"))
}

#[test]
fn a_mapped_timeline_becomes_serial_parallel_and_suspend_templates_with_a_status_check() {
    let (exp, topology) = chaos_engine::parse_str(MAPPED, "mapped.yaml", Path::new(".")).unwrap();
    let manifest = export(&exp, &topology, Engine::ChaosMesh, false).unwrap();
    if let Some(crds) = Crds::load() {
        crds.check(&manifest.text, "mapped → chaos-mesh");
    }
    let wf = &Crds::documents(&manifest.text)[0];
    assert_eq!(wf["metadata"]["namespace"], "shop");
    let entry = template(wf, "checkout-path");
    assert_eq!((&entry["templateType"], &entry["deadline"]), (&"Parallel".into(), &"12s".into()));
    assert_eq!(entry["children"], serde_json::json!(["slow-license-chain", "abort-0"]));
    let chain = template(wf, "slow-license-chain");
    assert_eq!(chain["children"], serde_json::json!(["slow-license-wait", "slow-license", "slow-license-then"]));
    assert_eq!(template(wf, "slow-license-wait")["deadline"], "2s");
    assert_eq!(
        template(wf, "slow-license-then")["children"],
        serde_json::json!(["license-down-chain", "cdn-half-chain"])
    );
    assert_eq!(
        template(wf, "license-down-chain")["children"],
        serde_json::json!(["license-down-wait", "license-down"])
    );
    let slow = &template(wf, "slow-license")["httpChaos"];
    assert_eq!(
        (&slow["target"], &slow["delay"], &slow["path"], &slow["method"], &slow["port"]),
        (&"Response".into(), &"300ms".into(), &"/api/license*".into(), &"POST".into(), &8080.into())
    );
    assert_eq!(slow["request_headers"]["x-canary"], "1");
    assert_eq!(slow["selector"]["labelSelectors"]["app"], "license-api");
    let half = template(wf, "cdn-half");
    assert_eq!((&half["deadline"], &template(wf, "cdn-half-rest")["deadline"]), (&"2s".into(), &"1s".into()));
    let pods = &half["podChaos"];
    assert_eq!(
        (&pods["action"], &pods["mode"], &pods["value"]),
        (&"pod-failure".into(), &"fixed-percent".into(), &"50".into())
    );
    assert_eq!(pods["selector"]["namespaces"], serde_json::json!(["media"]));
    let check = template(wf, "abort-0");
    assert_eq!(check["abortWithStatusCheck"], true);
    let sc = &check["statusCheck"];
    assert_eq!((&sc["failureThreshold"], &sc["intervalSeconds"]), (&3.into(), &2.into()));
    assert_eq!(sc["http"]["criteria"]["statusCode"], "200");
}

#[test]
fn istio_gets_a_virtual_service_per_step_and_refuses_what_a_host_route_cannot_do() {
    let (exp, topology) = chaos_engine::parse_str(MAPPED, "mapped.yaml", Path::new(".")).unwrap();
    let gaps = export(&exp, &topology, Engine::Istio, true).unwrap_err();
    let paths: Vec<&str> = gaps.iter().map(|g| g.path.as_str()).collect();
    assert_eq!(paths, ["faults[2].target", "faults[2].fault"], "{gaps:#?}");

    let two_steps: String = MAPPED.split_inclusive('\n').filter(|l| !l.contains("cdn")).collect();
    let (exp, topology) = chaos_engine::parse_str(&two_steps, "mapped.yaml", Path::new(".")).unwrap();
    let strict = export(&exp, &topology, Engine::Istio, false).unwrap_err();
    let approximated: Vec<&str> = strict.iter().map(|g| g.path.as_str()).collect();
    assert_eq!(approximated, ["abort[0]", "faults[0].fault.latency.when"]);
    let manifest = export(&exp, &topology, Engine::Istio, true).unwrap();
    if let Some(crds) = Crds::load() {
        crds.check(&manifest.text, "mapped → istio");
    }
    let docs = Crds::documents(&manifest.text);
    assert_eq!(docs.len(), 2);
    let slow = &docs[0];
    assert_eq!(slow["metadata"]["annotations"]["chaos.testbed/start"], "2s");
    assert_eq!(slow["spec"]["hosts"], serde_json::json!(["license.shop.svc.cluster.local"]));
    let route = &slow["spec"]["http"][0];
    assert_eq!(
        route["match"],
        serde_json::json!([{ "uri": { "prefix": "/api/license" }, "method": { "exact": "POST" }, "headers": { "x-canary": { "exact": "1" } } }])
    );
    assert_eq!(route["fault"]["delay"], serde_json::json!({ "fixedDelay": "300ms", "percentage": { "value": 100.0 } }));
    assert!(slow["spec"]["http"][1]["match"].is_null(), "the other requests keep a plain route");
    let down = &docs[1];
    assert_eq!(down["metadata"]["annotations"]["chaos.testbed/start"], "8s");
    assert_eq!(down["spec"]["http"][0]["fault"]["abort"]["httpStatus"], 503);

    let overlapping = two_steps.replace("after: slow-license, at: 1s", "at: 3s");
    let (exp, topology) = chaos_engine::parse_str(&overlapping, "mapped.yaml", Path::new(".")).unwrap();
    let gaps = export(&exp, &topology, Engine::Istio, true).unwrap_err();
    assert!(gaps.len() == 1 && gaps[0].message.contains("overlaps `slow-license`"), "{gaps:#?}");
}

#[test]
fn a_kubernetes_section_naming_no_target_is_refused_at_its_place() {
    let typo = MAPPED.replace("    cdn: {", "    cnd: {");
    let errors = chaos_engine::parse_str(&typo, "mapped.yaml", Path::new(".")).unwrap_err();
    let e = &errors.0[0];
    assert!(e.line == 7 && e.message.contains("no fault step targets `cnd`"), "{errors}");
    let bad_ns = MAPPED.replace("namespace: shop", "namespace: Shop_1");
    let errors = chaos_engine::parse_str(&bad_ns, "mapped.yaml", Path::new(".")).unwrap_err();
    assert!(errors.0[0].message.contains("not a Kubernetes namespace name"), "{errors}");
}

#[test]
fn a_grpc_status_goes_to_istio_and_is_refused_by_chaos_mesh() {
    let src = "\
name: grpc-outage
load: { rate: 10/s, duration: 30s }
faults:
  - name: recs-unavailable
    at: 1s
    for: 5s
    target: recommendations
    fault: { grpc: { code: unavailable } }
    scope: { path: /recs.Recommendations/*, present: [x-canary], probability: 0.25 }
";
    let (exp, topology) = chaos_engine::parse_str(src, "grpc.yaml", Path::new(".")).unwrap();
    let gaps = export(&exp, &topology, Engine::ChaosMesh, true).unwrap_err();
    assert_eq!(gaps.iter().map(|g| g.path.as_str()).collect::<Vec<_>>(), ["faults[0].fault"], "{gaps:#?}");
    let manifest = export(&exp, &topology, Engine::Istio, false).unwrap();
    if let Some(crds) = Crds::load() {
        crds.check(&manifest.text, "grpc → istio");
    }
    let route = &Crds::documents(&manifest.text)[0]["spec"]["http"][0];
    assert_eq!(
        route["fault"]["abort"],
        serde_json::json!({ "grpcStatus": "UNAVAILABLE", "percentage": { "value": 25.0 } })
    );
    let matched = &route["match"][0];
    assert_eq!(matched["uri"]["regex"], "/recs\\.Recommendations/[^/]*");
    assert_eq!(matched["headers"]["x-canary"], serde_json::json!({}));
}

#[test]
fn a_path_outside_its_route_is_refused_by_both_engines() {
    let src = "name: t\nload: { rate: 1/s, duration: 10s }\nfaults:\n  \
        - { at: 1s, for: 2s, target: license, fault: { error: { status: 503 } }, scope: { route: /license, path: /play/* } }\n";
    let (exp, topology) = chaos_engine::parse_str(src, "t.yaml", Path::new(".")).unwrap();
    for engine in [Engine::ChaosMesh, Engine::Istio] {
        let gaps = export(&exp, &topology, engine, true).unwrap_err();
        assert_eq!(gaps.iter().map(|g| g.path.as_str()).collect::<Vec<_>>(), ["faults[0].scope.path"], "{gaps:#?}");
        assert!(gaps[0].message.contains("must begin with `route`"), "{gaps:#?}");
    }
}
