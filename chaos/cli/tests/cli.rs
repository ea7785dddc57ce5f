//! The `chaos` binary, run for real: exit codes, messages, reports.

use assert_cmd::Command;
use predicates::prelude::*;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn chaos() -> Command {
    let mut cmd = Command::cargo_bin("chaos").unwrap();
    cmd.current_dir(root());
    cmd
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The single report directory under `out`.
fn report_dir(out: &Path) -> PathBuf {
    let exp = std::fs::read_dir(out).unwrap().next().unwrap().unwrap().path();
    std::fs::read_dir(exp).unwrap().next().unwrap().unwrap().path()
}

#[test]
fn every_shipped_experiment_validates() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("experiments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.push(root().join("experiments/failing/all-cdn-down.yaml"));
    files.push(root().join("experiments/systems/nginx.yaml"));
    files.push(root().join("experiments/systems/prometheus/license-errors-promql.yaml"));
    assert!(files.len() >= 5);
    chaos()
        .arg("validate")
        .args(&files)
        .assert()
        .success()
        .stdout(predicate::str::contains("ok experiments/").or(predicate::str::contains("ok /")));
}

#[test]
fn a_misspelt_key_exits_2_naming_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "bad.yaml", "name: bad\nload: { rate: 10/s, duraton: 5s }\n");
    for cmd in ["validate", "run"] {
        chaos()
            .arg(cmd)
            .arg(&f)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(format!("{}:2:", f.display())))
            .stderr(predicate::str::contains("did you mean `duration`?"));
    }
}

#[test]
fn a_missing_file_and_a_usage_error_exit_2() {
    chaos()
        .args(["validate", "no/such/file.yaml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no/such/file.yaml"));
    chaos().arg("frobnicate").assert().code(2);
    chaos().args(["run", "--seed", "minus-one", "experiments/baseline.yaml"]).assert().code(2);
}

#[test]
fn an_endless_file_and_an_outsized_topology_exit_2_naming_them_instead_of_filling_memory() {
    chaos()
        .args(["validate", "/dev/zero"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("/dev/zero: larger than 4 MiB"));
    let dir = tempfile::tempdir().unwrap();
    let head = "name: big\nload: { rate: 10/s, duration: 5s }\n";
    let zero = write(dir.path(), "zero.yaml", &format!("{head}system: {{ topology: /dev/zero }}\n"));
    let huge = write(dir.path(), "huge.yaml", &format!("{head}system: {{ topology: \"synthetic:7000000000\" }}\n"));
    for (f, says) in [(zero, "cannot read topology /dev/zero: larger than 4 MiB"), (huge, "at most 5000")] {
        chaos()
            .arg("validate")
            .arg(&f)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(format!("{}:3:", f.display())))
            .stderr(predicate::str::contains(says));
    }
}

#[test]
fn list_shows_the_shipped_experiments_and_the_services() {
    chaos()
        .arg("list")
        .assert()
        .success()
        .stdout(predicate::str::contains("baseline.yaml"))
        .stdout(predicate::str::contains("cdn-replica-kill.yaml"))
        .stdout(predicate::str::contains("cdn              3 replica(s)"))
        .stdout(predicate::str::contains("edge").and(predicate::str::contains("license")));
}

#[test]
fn the_failing_experiment_exits_1_names_the_gate_and_writes_its_report() {
    let out = tempfile::tempdir().unwrap();
    chaos()
        .args(["run", "experiments/failing/all-cdn-down.yaml", "--clock", "virtual", "--out"])
        .arg(out.path())
        .timeout(Duration::from_secs(120))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("gate failed: all-cdn-down: play_success_ratio during faults"))
        .stdout(predicate::str::contains("all-cdn-down: FAILED (exit 1)"));
    let dir = report_dir(&out.path().join(""));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["schema_version"], 3);
    assert_eq!(json["experiment"]["clock"], "virtual");
    assert_eq!(json["status"], "failed");
    assert_eq!(json["seed"], 42);
    assert!(json["services"].as_array().unwrap().iter().any(|s| s["service"] == "cdn"));
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.starts_with("# all-cdn-down\n\n❌ **failed**"), "{md}");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
    junit_hgrm_and_re_rendering(&dir);
}

/// The JUnit file parses back with a failed case per failed gate; `chaos report` renders the
/// same files from report.json alone.
fn junit_hgrm_and_re_rendering(dir: &Path) {
    let xml = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    let junit = quick_junit::Report::deserialize_from_str(&xml).unwrap();
    let gates = junit.test_suites.iter().find(|s| s.name.as_str().ends_with("gates")).unwrap();
    assert_eq!((gates.tests, gates.failures), (1, 1), "{xml}");
    assert!(xml.contains("play_success_ratio during faults was"), "{xml}");
    let hgrm = std::fs::read_to_string(dir.join("ttff-run.hgrm")).unwrap();
    assert!(hgrm.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)"), "{hgrm}");
    assert!(dir.join("service-cdn.hgrm").exists());

    let json = dir.join("report.json");
    for (format, file) in [("junit", "junit.xml"), ("md", "report.md")] {
        let out = chaos().arg("report").arg(&json).args(["--format", format]).assert().success();
        assert_eq!(out.get_output().stdout, std::fs::read(dir.join(file)).unwrap(), "{format}");
    }
    let again = tempfile::tempdir().unwrap();
    chaos().arg("report").arg(&json).args(["--format", "all", "--out"]).arg(again.path()).assert().success();
    for file in ["report.md", "report.html", "junit.xml", "ttff-run.hgrm", "service-cdn.hgrm"] {
        assert_eq!(std::fs::read(again.path().join(file)).unwrap(), std::fs::read(dir.join(file)).unwrap(), "{file}");
    }
    chaos()
        .arg("report")
        .arg(&json)
        .args(["--format", "hgrm"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--out"));
    chaos().args(["report", "no/such/report.json"]).assert().code(2);
    in_chromium(&dir.join("report.html"));
}

#[test]
fn ctrl_c_rolls_back_writes_an_aborted_report_and_exits_3() {
    ctrl_c("real", "60s", "50s");
}

#[test]
fn ctrl_c_stops_a_virtual_run_the_same_way() {
    // Ten virtual hours would take minutes of wall clock: the signal comes long before the end.
    ctrl_c("virtual", "600m", "599m");
}

/// Sends SIGINT 4 s into a run of `duration` on `clock` with cdn-0 killed for `window`.
fn ctrl_c(clock: &str, duration: &str, window: &str) {
    let dir = tempfile::tempdir().unwrap();
    let exp = write(
        dir.path(),
        "long.yaml",
        &format!(
            "name: long\nclock: {clock}\nload: {{ rate: 20/s, warmup: 1s, duration: {duration} }}\nfaults:\n  - {{ at: 1s, for: {window}, target: cdn-0, fault: kill }}\n"
        ),
    );
    let out = dir.path().join("out");
    let bin = assert_cmd::cargo::cargo_bin("chaos");
    let child = std::process::Command::new(bin)
        .arg("run")
        .arg(&exp)
        .arg("--out")
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(4));
    let killed = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", String::from_utf8_lossy(&output.stdout));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report_dir(&out).join("report.json")).unwrap()).unwrap();
    assert_eq!(report["status"], "aborted");
    assert_eq!(report["timeline"].as_array().unwrap().last().unwrap()["action"], "rolled_back");
}

const SHORT: &str = "name: short\nseed: ${SEED:-3}\nload: { rate: ${RATE}, warmup: 1s, duration: 2s }\ngates:\n  - { kpi: play_success_ratio, at_least: 0.5 }\n";

#[test]
fn variables_come_from_set_and_a_missing_one_is_named_at_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "short.yaml", SHORT);
    chaos()
        .arg("validate")
        .arg(&f)
        .env_remove("RATE")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(":3:").and(predicate::str::contains("variable `RATE` is not set")));
    chaos().arg("validate").arg(&f).args(["--set", "RATE=10/s"]).assert().success();
    chaos().arg("validate").arg(&f).env("RATE", "10/s").assert().success();
    chaos()
        .args(["run", "--dry-run", "--set", "RATE=10/s", "--set", "SEED=9"])
        .arg(&f)
        .assert()
        .success()
        .stdout(predicate::str::contains("short (seed 9): 10 sessions/s"));
}

#[test]
fn dry_run_prints_the_resolved_timeline_and_starts_nothing() {
    chaos()
        .args(["run", "--dry-run", "experiments/cdn-replica-kill.yaml"])
        .timeout(Duration::from_secs(10))
        .assert()
        .success()
        .stdout(predicate::str::contains("apply  kill-cdn-0").and(predicate::str::contains("on cdn-0")))
        .stdout(predicate::str::contains("coverage   player/failover"));
    chaos()
        .args(["run", "--dry-run", "--mutant", "experiments/cdn-replica-kill.yaml"])
        .assert()
        .success()
        .stdout(predicate::str::contains("guards off: player/failover"));
    chaos()
        .args(["run", "--dry-run", "--mutant", "experiments/baseline.yaml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no `relies_on`"));
}

#[test]
fn on_a_cluster_dry_run_prints_each_kubectl_command_with_its_manifest_and_runs_none() {
    let dir = tempfile::tempdir().unwrap();
    // `kubectl` here would record any call: --dry-run must make none.
    let calls = dir.path().join("calls");
    let kubectl = write(dir.path(), "kubectl", &format!("#!/bin/sh\necho \"$*\" >> {}\nexit 1\n", calls.display()));
    std::fs::set_permissions(&kubectl, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let exp = write(
        dir.path(),
        "shop.yaml",
        "name: shop
system:
  kubernetes: { context: staging, engine: istio, kubectl: ./kubectl }
load:
  rate: 10/s
  duration: 2s
  http: [{ name: home, url: 'http://127.0.0.1:9/' }]
faults:
  - { name: slow, at: 300ms, for: 1s, target: license, fault: { latency: { fixed: 200ms } } }
",
    );
    let line = format!("{} --context staging", kubectl.display());
    chaos()
        .args(["run", "--dry-run"])
        .arg(&exp)
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("{line} apply --dry-run=server --filename - <<'EOF'")))
        .stdout(predicate::str::contains(format!(
            "{line} get pods --namespace default --selector app=license --output name"
        )))
        .stdout(predicate::str::contains(format!(
            "# 300ms after warm-up: apply `slow`\n{line} apply --filename - <<'EOF'\napiVersion: networking.istio.io/v1"
        )))
        .stdout(predicate::str::contains("kind: VirtualService").and(predicate::str::contains("fixedDelay: 200ms")))
        .stdout(predicate::str::contains(format!("# 1s 300ms after warm-up: delete `slow`\n{line} delete")));
    assert!(!calls.exists(), "--dry-run ran kubectl");
    // Run for real, the cluster refuses: exit 2 with kubectl's own words, before any load.
    chaos()
        .args(["run", "--quiet", "--out"])
        .arg(dir.path().join("reports"))
        .arg(&exp)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--dry-run=server --filename -` failed"));
    let made = std::fs::read_to_string(&calls).unwrap();
    assert_eq!(made.lines().count(), 1, "only the check: {made}");
    // A step the engine cannot run is refused at its place, before anything runs.
    let stall = std::fs::read_to_string(&exp)
        .unwrap()
        .replace("{ latency: { fixed: 200ms } }", "{ stall: { after_bytes: 1, max: 1s } }");
    let exp = write(dir.path(), "stall.yaml", &stall);
    chaos()
        .arg("validate")
        .arg(&exp)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("stall.yaml:9:63: faults[0].fault: on Istio"))
        .stderr(predicate::str::contains("on Istio: Istio only delays or aborts requests"));
    // The shipped example for a cluster: valid, and its plan names its resources.
    chaos()
        .args(["run", "--dry-run", "--set", "SHOP_URL=http://shop.staging.example", "examples/shop/cluster.yaml"])
        .assert()
        .success()
        .stdout(predicate::str::contains("kubectl --context staging apply --filename - <<'EOF'"))
        .stdout(
            predicate::str::contains("name: shop-checkout-cluster-inventory-down")
                .and(predicate::str::contains("kind: PodChaos")),
        );
}

#[test]
fn export_writes_a_manifest_or_names_each_field_the_engine_cannot_express() {
    let dir = tempfile::tempdir().unwrap();
    chaos()
        .args(["export", "--to", "chaos-mesh", "experiments/cdn-replica-kill.yaml", "--out"])
        .arg(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("cdn-replica-kill.chaos-mesh.yaml"));
    let text = std::fs::read_to_string(dir.path().join("cdn-replica-kill.chaos-mesh.yaml")).unwrap();
    assert!(text.contains("kind: Workflow") && text.contains("action: pod-failure"), "{text}");
    let at = |path: &str| predicate::str::is_match(format!(r"cdn-replica-kill.yaml:\d+:\d+: {path}: istio: ")).unwrap();
    chaos()
        .args(["export", "--to", "istio", "experiments/cdn-replica-kill.yaml"])
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(at(r"faults\[0\]\.target").and(at(r"faults\[0\]\.fault")));
    chaos()
        .args(["export", "--to", "chaos-mesh", "experiments/license-errors.yaml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("faults[0].scope.probability: chaos-mesh: HTTPChaos has no share"))
        .stderr(predicate::str::contains("(allowed with --lossy)"));
    chaos()
        .args(["export", "--to", "chaos-mesh", "--lossy", "experiments/license-errors.yaml"])
        .assert()
        .success()
        .stdout(predicate::str::contains("# Changed (--lossy): faults[0].scope.probability"))
        .stderr(predicate::str::contains("warning: license-errors.chaos-mesh.yaml: changed for chaos-mesh"));
}

/// Runs SHORT at `rate` on the virtual clock under `dir`; returns the experiment file and its
/// report.json.
fn short_run(dir: &Path, rate: &str) -> (PathBuf, PathBuf) {
    let f = write(dir, "short.yaml", SHORT);
    let out = dir.join("out");
    chaos()
        .args(["run", "--quiet", "--clock", "virtual", "--set", &format!("RATE={rate}"), "--out"])
        .arg(&out)
        .arg(&f)
        .assert()
        .success();
    (f, report_dir(&out).join("report.json"))
}

/// A copy of the report at `path` with `kpi` changed by `change` in every phase, written as `name`.
fn with_kpi(path: &Path, kpi: &str, change: impl Fn(f64) -> f64, name: &str) -> PathBuf {
    let mut report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for phase in report["phases"].as_array_mut().unwrap() {
        let value = phase["kpis"][kpi].as_f64().unwrap();
        phase["kpis"][kpi] = serde_json::json!(change(value));
    }
    write(path.parent().unwrap(), name, &report.to_string())
}

#[test]
fn compare_exits_1_on_a_regression_and_0_without() {
    let dir = tempfile::tempdir().unwrap();
    let (f, base) = short_run(dir.path(), "10/s");
    let worse = with_kpi(&base, "ttff_p99", |p99| p99 * 1.5, "worse.json");
    chaos().arg("compare").arg(&base).arg(&base).assert().success();
    chaos()
        .arg("compare")
        .arg(&base)
        .arg(&worse)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("ttff_p99").and(predicate::str::contains("REGRESSION")));
    chaos().arg("compare").arg(&base).arg(&worse).args(["--max-regression", "p99=60%"]).assert().success();
    chaos().arg("compare").arg(&base).arg(&worse).args(["--max-regression", "p98=1%"]).assert().code(2);
    chaos().arg("compare").arg(&base).arg(&f).assert().code(2).stderr(predicate::str::contains("not a report"));
}

#[test]
fn compare_clocks_exits_1_when_the_clocks_disagree_and_0_when_they_agree() {
    let dir = tempfile::tempdir().unwrap();
    let (_, virt) = short_run(dir.path(), "40/s");
    chaos().args(["compare", "--clocks"]).arg(&virt).arg(&virt).assert().success();
    // Play success 10 points lower on the "real" clock: outside its ±2 points.
    let real = with_kpi(&virt, "play_success_ratio", |ok| ok - 0.1, "real.json");
    chaos()
        .args(["compare", "--clocks"])
        .arg(&real)
        .arg(&virt)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("play_success_ratio").and(predicate::str::contains("DISAGREES")));
    // The same KPIs but another verdict.
    let mut report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&virt).unwrap()).unwrap();
    report["status"] = serde_json::json!("failed");
    let real = write(dir.path(), "real.json", &report.to_string());
    chaos()
        .args(["compare", "--clocks"])
        .arg(&real)
        .arg(&virt)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("verdict"));
}

/// 3 % of license calls fail and the edge does not retry them: whether play success stays above
/// 97 % depends on the seed.
const FLAKY: &str = "name: flaky\nclock: virtual\nload: { rate: 20/s, warmup: 1s, duration: 3s }\nsystem: { guards_off: [edge/license/retries] }\nfaults:\n  - { at: 0s, for: 3s, target: license, fault: { error: { status: 503 } }, scope: { probability: 0.03 } }\ngates:\n  - { kpi: play_success_ratio, during: faults, at_least: 0.97 }\n";

#[test]
fn a_seed_sweep_counts_the_seeds_that_held_its_failing_seeds_replay_exactly_and_shrink() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "flaky.yaml", FLAKY);
    let out = dir.path().join("out");
    let run = chaos().args(["run", "--seeds", "1..6", "--jobs", "2", "--out"]).arg(&out).arg(&f).assert().code(1);
    let stdout = String::from_utf8_lossy(&run.get_output().stdout).to_string();
    let sweep_dir = report_dir(&out);
    let sweep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sweep_dir.join("sweep.json")).unwrap()).unwrap();
    let seeds = sweep["seeds"].as_array().unwrap();
    assert_eq!(seeds.iter().map(|s| s["seed"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6]);
    let held: Vec<u64> =
        seeds.iter().filter(|s| s["status"] == "passed").map(|s| s["seed"].as_u64().unwrap()).collect();
    let failing: Vec<&serde_json::Value> = seeds.iter().filter(|s| s["status"] != "passed").collect();
    assert!(!held.is_empty() && !failing.is_empty(), "the property is flaky over these seeds: {seeds:?}");
    let first = failing[0]["seed"].as_u64().unwrap();
    assert!(stdout.contains(&format!("{}/6 seeds held", held.len())), "{stdout}");
    assert!(stdout.contains(&format!("first failing seed {first} (play_success_ratio faults >= 97.00 %)")), "{stdout}");
    for s in &failing {
        assert!(Path::new(s["report"].as_str().unwrap()).is_file(), "each failing seed keeps its report: {s}");
    }
    // The first failing seed fails again, the same gate; a seed that held holds again.
    chaos()
        .args(["run", "--quiet", "--seed", &first.to_string(), "--out"])
        .arg(dir.path().join("replay"))
        .arg(&f)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("play_success_ratio during faults"));
    chaos()
        .args(["run", "--quiet", "--seed", &held[0].to_string(), "--out"])
        .arg(dir.path().join("replay"))
        .arg(&f)
        .assert()
        .success();
    // The failing seed shrinks to a runnable experiment that fails the same gate.
    let report = Path::new(failing[0]["report"].as_str().unwrap());
    chaos()
        .arg("shrink")
        .arg(report)
        .assert()
        .success()
        .stdout(predicate::str::contains("fails `play_success_ratio faults >= 97.00 %`"));
    let shrunk = report.with_file_name("shrunk.yaml");
    chaos()
        .args(["run", "--quiet", "--out"])
        .arg(dir.path().join("shrunk"))
        .arg(&shrunk)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("play_success_ratio during faults"));
    let passed =
        std::fs::read_dir(dir.path().join("replay/flaky")).unwrap().map(|e| e.unwrap().path().join("report.json"));
    let passed =
        passed.into_iter().find(|p| std::fs::read_to_string(p).unwrap().contains("\"status\": \"passed\"")).unwrap();
    chaos().arg("shrink").arg(&passed).assert().code(2).stderr(predicate::str::contains("passed"));
    chaos().arg("shrink").arg(&f).assert().code(2).stderr(predicate::str::contains("not a report"));
    chaos().args(["run", "--seeds", "5..1"]).arg(&f).assert().code(2).stderr(predicate::str::contains("--seeds"));
    chaos().args(["run", "--seeds", "1..3", "--seed", "4"]).arg(&f).assert().code(2);
}

#[test]
fn the_virtual_clock_refuses_process_mode_with_exit_2_naming_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "procs.yaml",
        "name: procs\nsystem: { processes: true }\nload: { rate: 5/s, duration: 2s }\n",
    );
    chaos()
        .args(["run", "--clock", "virtual"])
        .arg(&f)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("procs.yaml").and(predicate::str::contains("system.processes")));
    chaos().args(["run", "--clock", "sundial"]).arg(&f).assert().code(2);
}

#[test]
fn schema_describes_every_key_the_shipped_experiments_use() {
    let out = chaos().arg("schema").assert().success().get_output().stdout.clone();
    let schema: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let props = schema["properties"].as_object().unwrap();
    assert_eq!(schema["additionalProperties"], false, "unknown keys are refused, as the parser does");
    for entry in std::fs::read_dir(root().join("experiments")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for key in text.lines().filter(|l| !l.starts_with([' ', '#', '-']) && l.contains(':')) {
            let key = key.split(':').next().unwrap();
            assert!(props.contains_key(key), "{}: `{key}` not in the schema", path.display());
        }
    }
    let defs = schema["$defs"].as_object().unwrap();
    for name in ["Fault", "Scope", "Target", "Load", "Check", "Latency"] {
        assert!(defs.contains_key(name), "{name} missing from $defs: {:?}", defs.keys().collect::<Vec<_>>());
    }
}

/// The HTML report in a real browser (Debian's chromium, which `.ci/run` installs): it loads,
/// has its charts with the expected series and fault bands, and its screenshot is not blank.
fn in_chromium(html: &Path) {
    let page = std::fs::read_to_string(html).unwrap();
    assert!(!page.contains("<script") && !page.contains("http://") && !page.contains("https://"), "self-contained");
    let browser = |args: &[&str]| {
        std::process::Command::new("chromium")
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"])
            .args(args)
            .arg(format!("file://{}", html.display()))
            .output()
    };
    let dom = match browser(&["--dump-dom"]) {
        Ok(out) if out.status.success() => String::from_utf8(out.stdout).unwrap(),
        other => {
            assert!(std::env::var_os("CI").is_none(), "chromium is needed under CI: {other:?}");
            // To the process's stderr, not eprintln!: cargo test hides what a passing test prints,
            // and a skipped check must be seen.
            let _ = writeln!(std::io::stderr(), "skipped: no chromium");
            return;
        }
    };
    // One fault step: one band on each of the nine time charts (three of starts, six of QoE).
    assert_eq!(dom.matches("class=\"fault-band\"").count(), 9, "{dom}");
    // SPS and sessions/s, play success, TTFF p50 and p99, one line per QoE KPI, and a percentile
    // curve per phase with starts.
    let series = dom.matches("<polyline class=\"series\"").count();
    assert!((12..=15).contains(&series), "{series} series");
    assert!(dom.contains("data-series=\"rebuffer_ratio\"") && dom.contains("data-series=\"interrupted_ratio\""));
    assert!(dom.contains("id=\"verdict\"") && dom.contains("<td class=\"fail\">FAIL</td>"), "{dom}");
    let shot = html.with_file_name("report.png");
    let out = browser(&["--window-size=900,1400", &format!("--screenshot={}", shot.display())]).unwrap();
    assert!(out.status.success(), "{out:?}");
    // A blank page of that size is about 7 KB; charts and tables make it over 60 KB.
    let size = std::fs::metadata(&shot).unwrap().len();
    assert!(size > 30_000, "screenshot of {size} bytes: is the page blank?");
}

#[test]
fn completions_are_generated_for_each_shell_and_an_unknown_shell_is_a_usage_error() {
    for (shell, marker) in [("bash", "complete -F"), ("zsh", "#compdef chaos"), ("fish", "complete -c chaos")] {
        let out = chaos().args(["completions", shell]).assert().success();
        let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
        assert!(text.contains(marker) && text.contains("validate") && text.contains("mutant"), "{shell}");
    }
    chaos().args(["completions", "cmd.exe"]).assert().code(2);
}

#[test]
fn side_by_side_runs_overlap_print_in_file_order_and_exit_with_the_worst() {
    let dir = tempfile::tempdir().unwrap();
    let slow = write(
        dir.path(),
        "slow.yaml",
        "name: slow\nload: { rate: 10/s, warmup: 1s, duration: 4s }\ngates:\n  - { kpi: play_success_ratio, at_least: 0.5 }\n",
    );
    let doomed = write(
        dir.path(),
        "doomed.yaml",
        "name: doomed\nload: { rate: 10/s, warmup: 1s, duration: 2s }\nfaults:\n  - { at: 0s, for: 2s, target: cdn, fault: kill }\ngates:\n  - { kpi: play_success_ratio, at_least: 0.5 }\n",
    );
    let out = dir.path().join("out");
    let run =
        chaos().args(["run", "--quiet", "--jobs", "2", "--out"]).arg(&out).arg(&slow).arg(&doomed).assert().code(1);
    let stdout = String::from_utf8_lossy(&run.get_output().stdout).to_string();
    let (a, b) = (stdout.find("slow: PASSED").unwrap(), stdout.find("doomed: FAILED").unwrap());
    assert!(a < b, "summaries out of the files' order:\n{stdout}");
    let last = stdout.lines().last().unwrap_or_default();
    assert_eq!(last, "2 experiments: 1 passed, 1 failed, 0 aborted", "the batch's closing tally:\n{stdout}");
    let started = |name: &str| {
        let dir = std::fs::read_dir(out.join(name)).unwrap().next().unwrap().unwrap().path();
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
        humantime::parse_rfc3339(r["run"]["started_at"].as_str().unwrap()).unwrap()
    };
    // One after another, `doomed` would start after `slow`'s 5 s; side by side, together.
    let gap = started("doomed").duration_since(started("slow")).unwrap_or_default();
    assert!(gap < Duration::from_secs(3), "the runs did not overlap: {gap:?} apart");
    chaos().args(["run", "--jobs", "0"]).arg(&slow).assert().code(2);
}

/// `GET url` over a plain TCP connection (no HTTP client in this test crate): the body, or
/// `None` while nothing answers there.
fn http_get(url: &str) -> Option<String> {
    use std::io::Read;
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = std::net::TcpStream::connect(host).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    Some(text.split_once("\r\n\r\n")?.1.to_string())
}

#[test]
fn metrics_serves_the_run_live_and_refuses_side_by_side_runs_and_a_taken_port() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "short.yaml", SHORT);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    // Killed on every path: a failed assertion must not leave the run behind.
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut run = Reap(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("chaos"))
            .args(["run", "--quiet", "--set", "RATE=20/s", "--metrics", &addr, "--out"])
            .arg(dir.path().join("out"))
            .arg(&f)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (url, deadline) = (format!("http://{addr}/metrics"), std::time::Instant::now() + Duration::from_secs(20));
    let mut seen = None;
    while seen.is_none() && std::time::Instant::now() < deadline {
        seen = http_get(&url).filter(|b| b.contains("chaos_experiment_requests_total{"));
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = run.0.wait().unwrap();
    let seen = seen.expect("the run's series on --metrics while it went");
    assert!(seen.contains(r#"experiment="short",workload="play",request="play",result="ok"}"#), "{seen}");
    assert!(seen.contains("chaos_target_requests_total{"), "the platform's series beside the run's: {seen}");
    assert_eq!(status.code(), Some(0));

    chaos()
        .args(["run", "--quiet", "--jobs", "2", "--set", "RATE=20/s", "--metrics", "127.0.0.1:0"])
        .arg(&f)
        .arg(&f)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--metrics serves one run at a time"));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().unwrap().to_string();
    chaos()
        .args(["run", "--quiet", "--set", "RATE=20/s", "--metrics", &taken])
        .arg(&f)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!("--metrics {taken}: cannot listen there")));
}
