//! The run's live series (`chaos run --metrics`), read the way Prometheus reads them: over HTTP,
//! while the run goes, and after it.

use chaos_engine::metrics::{MetricsBoard, serve};
use chaos_engine::{RunOptions, parse_str, run};
use chaos_fault::{Fault, Rule, Scope};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use targets::{Platform, PlaybackClient, Topology};

/// A Play run whose license service answers 503 to a third of its calls from 1 s to 2.5 s.
const LICENSE_ERRORS: &str = "\
name: live
seed: 3
load: { rate: 30/s, warmup: 500ms, duration: 4s }
faults:
  - name: license-503
    at: 1s
    for: 1500ms
    target: license
    fault: { error: { status: 503 } }
    scope: { probability: 0.3 }
gates:
  - { kpi: play_success_ratio, during: before, at_least: 0.5 }
";

/// `name{labels}` → value for every sample of an OpenMetrics exposition, which must end in
/// `# EOF` and declare each family once.
fn samples(text: &str) -> BTreeMap<String, f64> {
    assert!(text.ends_with("# EOF\n"), "{text}");
    let mut types = Vec::new();
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.is_empty() && *l != "# EOF") {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let family = rest.split(' ').next().unwrap().to_string();
            assert!(!types.contains(&family), "{family} declared twice");
            types.push(family);
        } else if !line.starts_with('#') {
            let (series, value) = line.rsplit_once(' ').unwrap();
            out.insert(series.to_string(), value.parse().unwrap_or_else(|_| panic!("bad value: {line}")));
        }
    }
    out
}

/// The value of the one series of `name` whose labels contain each of `labels`.
fn value(s: &BTreeMap<String, f64>, name: &str, labels: &[&str]) -> Option<f64> {
    let mut hits =
        s.iter().filter(|(k, _)| k.starts_with(&format!("{name}{{")) && labels.iter().all(|l| k.contains(l)));
    let (_, v) = hits.next()?;
    assert!(hits.next().is_none(), "more than one {name} with {labels:?}");
    Some(*v)
}

/// What Prometheus 2.42 asks a target for: OpenMetrics first.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// Scrapes `url` as Prometheus does: OpenMetrics.
async fn scrape(url: &str) -> String {
    let (content_type, body) = get(url, Some(PROMETHEUS_ACCEPT)).await;
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    body
}

/// (content type, body) of `GET url` with `accept`.
async fn get(url: &str, accept: Option<&str>) -> (String, String) {
    let mut req = reqwest::Client::new().get(url);
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), 200);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_string();
    (content_type, res.text().await.unwrap())
}

/// `GET url` as curl asks (no `Accept`): the Prometheus text format, which `promtool check
/// metrics` must pass without a word, and the same samples as the OpenMetrics answer.
async fn check_text_format(url: &str) {
    let (content_type, text) = get(url, None).await;
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert!(!text.contains("# EOF") && !text.contains("# UNIT"), "{text}");
    let lines = |t: &str| t.lines().filter(|l| !l.starts_with('#')).count();
    assert_eq!(lines(&text), lines(&scrape(url).await), "the same samples in either format");
    let Ok(mut promtool) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        let _ = writeln!(std::io::stderr(), "promtool is not installed here: skipping its check (CI installs it)");
        return;
    };
    promtool.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = promtool.wait_with_output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "promtool check metrics on {url}: {said}\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_shows_the_phase_the_fault_window_and_every_request_while_the_run_goes() {
    let (exp, topology) = parse_str(LICENSE_ERRORS, "live.yaml", Path::new(".")).unwrap();
    let board = Arc::new(MetricsBoard::default());
    let endpoint = serve("127.0.0.1:0".parse().unwrap(), board.clone()).await.unwrap();
    let url = format!("{}/metrics", endpoint.url());
    assert_eq!(scrape(&url).await, "# EOF\n", "before any run, an empty exposition");

    let opts = RunOptions { metrics: Some(board.clone()), ..RunOptions::default() };
    let running = tokio::spawn(async move { run(&exp, &topology, &opts, std::future::pending()).await });
    // Scrape every 100 ms through the run (bounded: the run takes 4.5 s), noting each phase
    // seen and whether the fault was in place then.
    let (mut seen, mut scrapes) = (Vec::<(String, f64)>::new(), 0);
    while !running.is_finished() && scrapes < 100 {
        scrapes += 1;
        let text = scrape(&url).await;
        if text == "# EOF\n" {
            // The platform is still starting: the run is not shown yet.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        let s = samples(&text);
        let phase = ["warmup", "before", "faults", "after"]
            .into_iter()
            .find(|p| value(&s, "chaos_experiment_phase", &[&format!("phase=\"{p}\"")]) == Some(1.0));
        let active = ["step=\"license-503\"", "target=\"license\"", "kind=\"error\""];
        let fault = value(&s, "chaos_experiment_fault_active", &active).expect("the step's gauge from the start");
        if let Some(p) = phase {
            seen.push((p.to_string(), fault));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let report = running.await.unwrap().unwrap();
    let phases: Vec<&str> = seen.iter().map(|(p, _)| p.as_str()).fold(Vec::new(), |mut v, p| {
        if v.last() != Some(&p) {
            v.push(p);
        }
        v
    });
    assert_eq!(phases, ["warmup", "before", "faults", "after"], "{seen:?}");
    assert!(seen.iter().filter(|(p, _)| p == "faults").any(|(_, f)| *f == 1.0), "{seen:?}");
    assert!(seen.iter().filter(|(p, _)| p != "faults").all(|(_, f)| *f == 0.0), "{seen:?}");

    // After the run: done, the fault off, and the counts those of the whole load (warm-up too).
    let s = samples(&scrape(&url).await);
    assert_eq!(value(&s, "chaos_experiment_phase", &["phase=\"done\""]), Some(1.0));
    assert_eq!(value(&s, "chaos_experiment_fault_active", &["step=\"license-503\""]), Some(0.0));
    let plays = |result: &str| {
        value(
            &s,
            "chaos_experiment_requests_total",
            &["workload=\"play\"", "request=\"play\"", &format!("result=\"{result}\"")],
        )
        .unwrap_or(0.0)
    };
    assert_eq!(plays("ok") + plays("failed") + plays("dropped"), report.load.sent as f64, "{s:?}");
    let good = value(&s, "chaos_experiment_request_duration_seconds_count", &["request=\"play\""]);
    assert_eq!(good, Some(plays("ok")), "the TTFF histogram holds the good starts");
    // The embedded platform's own series on the same endpoint: the license errors it answered.
    let errors: f64 = s
        .iter()
        .filter(|(k, _)| k.starts_with("chaos_target_errors_total{") && k.contains("service=\"license\""))
        .map(|(_, v)| v)
        .sum();
    assert!(errors > 0.0, "the platform's series are served beside the run's");
    check_text_format(&url).await;
    endpoint.shutdown().await;
}

#[tokio::test]
async fn an_instance_and_the_platform_serve_the_text_format_promtool_passes() {
    let topology = Topology::default_platform();
    let platform = Platform::start(&topology, 5).await.unwrap();
    let player = PlaybackClient::new(platform.edge_url(), topology.player.clone());
    let license = platform.resolve("license-0")[0].clone();
    license.table.insert(Rule::new("license-errors", Fault::error(503), Scope::default()));
    for n in 0..4 {
        player.session(&format!("u{n}"), &format!("t{n}"), tokio::time::Instant::now()).await;
    }
    check_text_format(&format!("{}/metrics", license.server.url())).await;
    let all = platform.serve_metrics("127.0.0.1:0".parse().unwrap()).await.unwrap();
    check_text_format(&format!("{}/metrics", all.url())).await;
    all.shutdown().await;
    platform.shutdown().await;
}

#[tokio::test]
async fn only_get_on_metrics_is_answered() {
    let endpoint = serve("127.0.0.1:0".parse().unwrap(), Arc::default()).await.unwrap();
    let client = reqwest::Client::new();
    let post = client.post(format!("{}/metrics", endpoint.url())).send().await.unwrap();
    assert_eq!(post.status(), 405);
    let other = client.get(format!("{}/", endpoint.url())).send().await.unwrap();
    assert_eq!(other.status(), 404);
    endpoint.shutdown().await;
}

/// The Grafana dashboard shipped in docs/grafana: well formed, and every series and label its
/// queries read is one a run's endpoint serves (a renamed metric would leave a panel empty).
#[test]
fn the_dashboard_reads_only_series_and_labels_the_endpoint_serves() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/grafana/chaos-experiment.json");
    let dashboard: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(dashboard["uid"], "chaos-experiment");
    assert!(dashboard["schemaVersion"].as_u64().unwrap() >= 36, "a dashboard Grafana 9+ imports as it is");
    let variables: Vec<&str> =
        dashboard["templating"]["list"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(variables, ["datasource", "experiment"]);

    let mut queries = vec![dashboard["templating"]["list"][1]["definition"].as_str().unwrap().to_string()];
    let annotations = dashboard["annotations"]["list"].as_array().unwrap();
    let faults = annotations.iter().find(|a| a["name"] == "Fault windows").expect("the fault windows shaded");
    assert!(faults["expr"].as_str().unwrap().contains("chaos_experiment_fault_active"));
    queries.push(faults["expr"].as_str().unwrap().to_string());

    let panels = dashboard["panels"].as_array().unwrap();
    let mut ids = std::collections::BTreeSet::new();
    let mut cells = std::collections::BTreeSet::new();
    for p in panels {
        assert!(ids.insert(p["id"].as_u64().unwrap()), "panel ids are unique");
        assert!(["timeseries", "state-timeline", "stat"].contains(&p["type"].as_str().unwrap()), "{p}");
        let g = &p["gridPos"];
        let [x, y, w, h] = ["x", "y", "w", "h"].map(|k| g[k].as_u64().unwrap());
        assert!(w >= 1 && h >= 1 && x + w <= 24, "a panel fits Grafana's 24 columns: {g}");
        for cell in (x..x + w).flat_map(|c| (y..y + h).map(move |r| (c, r))) {
            assert!(cells.insert(cell), "panel {} overlaps another", p["title"]);
        }
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{} has a query", p["title"]);
        for t in targets {
            assert_eq!(t["datasource"]["uid"], "${datasource}", "the datasource picked on import");
            queries.push(t["expr"].as_str().unwrap().to_string());
        }
    }

    // A run's exposition, the embedded platform's series included (virtual clock: no sockets).
    let (mut exp, topology) = parse_str(LICENSE_ERRORS, "live.yaml", Path::new(".")).unwrap();
    exp.clock = chaos_engine::experiment::Clock::Virtual;
    let board = Arc::new(MetricsBoard::default());
    let opts = RunOptions { metrics: Some(board.clone()), ..RunOptions::default() };
    chaos_engine::run_blocking(&exp, &topology, &opts, std::future::pending()).unwrap();
    let served = board.render();
    let names: std::collections::BTreeSet<&str> =
        served.lines().filter(|l| !l.starts_with('#')).map(|l| &l[..l.find(['{', ' ']).unwrap()]).collect();
    let metric = regex::Regex::new(r"\bchaos_[a-z_]+\b").unwrap();
    let by = regex::Regex::new(r"by \(([a-z_, ]+)\)").unwrap();
    for q in &queries {
        for m in metric.find_iter(q) {
            assert!(names.contains(m.as_str()), "`{}` in `{q}` is not served; served: {names:?}", m.as_str());
        }
        for labels in by.captures_iter(q) {
            for label in labels[1].split(',').map(str::trim).filter(|l| *l != "le") {
                assert!(served.contains(&format!("{label}=\"")), "label `{label}` in `{q}` is not served");
            }
        }
    }
}
