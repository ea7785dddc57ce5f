//! Probes in steady state, gates and abort conditions, each made to pass and to fail: an HTTP
//! probe against a health endpoint behind a faulted proxy, a Prometheus probe against a server
//! speaking the Prometheus HTTP API, a command probe running a real program.

use bytes::Bytes;
use chaos_engine::kpi::Phase;
use chaos_engine::verdict::{FindingKind, Outcome, Status};
use chaos_engine::{Report, RunError, RunOptions, parse_str, run};
use chaos_fault::server::Instance;
use std::convert::Infallible;
use std::path::Path;

type Body = http_body_util::Full<Bytes>;

fn answer(status: u16, body: &str) -> http::Response<Body> {
    let mut res = http::Response::new(Body::from(Bytes::from(body.to_string())));
    *res.status_mut() = http::StatusCode::from_u16(status).unwrap();
    res
}

/// `/health` answers `{"status":"up","load":3}`; anything else `ok`.
async fn service() -> Instance {
    let svc = tower::service_fn(|req: http::Request<hyper::body::Incoming>| async move {
        let body = if req.uri().path() == "/health" { r#"{"status":"up","load":3}"# } else { "ok" };
        Ok::<_, Infallible>(answer(200, body))
    });
    Instance::bind("svc", "127.0.0.1:0".parse().unwrap(), svc).await.unwrap()
}

/// The Prometheus HTTP API's `/api/v1/query`, answering by the query: `up` 1, `errors` two
/// series (2 and 7), `absent` no series, anything else a `bad_data` error as Prometheus gives.
async fn prometheus() -> Instance {
    let svc = tower::service_fn(|req: http::Request<hyper::body::Incoming>| async move {
        let query = req.uri().query().unwrap_or_default().to_string();
        let vector = |values: &[&str]| {
            let series: Vec<String> = values
                .iter()
                .map(|v| format!(r#"{{"metric":{{"service":"s{v}"}},"value":[1700000000.0,"{v}"]}}"#))
                .collect();
            format!(r#"{{"status":"success","data":{{"resultType":"vector","result":[{}]}}}}"#, series.join(","))
        };
        let res = if query.contains("query=vector") || query.contains("query=up") {
            answer(200, &vector(&["1"]))
        } else if query.contains("query=errors") {
            answer(200, &vector(&["2", "7"]))
        } else if query.contains("query=absent") {
            answer(200, &vector(&[]))
        } else {
            answer(
                400,
                r#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected end of input"}"#,
            )
        };
        Ok::<_, Infallible>(res)
    });
    Instance::bind("prometheus", "127.0.0.1:0".parse().unwrap(), svc).await.unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn run_yaml(src: &str) -> Result<Report, RunError> {
    let (exp, topology) = parse_str(src, "probes.yaml", Path::new(".")).unwrap_or_else(|e| panic!("{e}"));
    run(&exp, &topology, &RunOptions::default(), std::future::pending()).await
}

/// An HTTP workload through proxy `px` to `svc`, 503s on the proxy from 1 s to 2 s, and `checks`.
fn experiment(svc: &Instance, port: u16, checks: &str) -> String {
    format!(
        "name: probes
system:
  proxies:
    px: {{ listen: \"127.0.0.1:{port}\", upstream: \"{up}\" }}
load:
  rate: 20/s
  warmup: 200ms
  duration: 3s
  http:
    - {{ name: get, url: \"http://127.0.0.1:{port}/\" }}
faults:
  - {{ name: errors, at: 1s, for: 1s, target: px, fault: {{ error: {{ status: 503 }} }} }}
{checks}",
        up = svc.url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_probe_holds_outside_the_fault_and_fails_inside_it() {
    let svc = service().await;
    let port = free_port();
    let health = format!(
        "{{ http: {{ url: \"http://127.0.0.1:{port}/health\", timeout: 500ms, \
         expect: {{ status: [200], json: {{ /status: up, /load: {{ at_most: 5 }} }} }} }} }}"
    );
    let checks = format!(
        "steady_state:
  - {{ name: healthy, probe: {health}, every: 250ms }}
gates:
  - {{ name: healthy-in-faults, during: faults, probe: {health}, every: 250ms }}
"
    );
    let report = run_yaml(&experiment(&svc, port, &checks)).await.unwrap();
    let probe = |name: &str, phase| report.probes.iter().find(|p| p.name == name && p.phase == phase).unwrap();
    for phase in [Phase::Before, Phase::After] {
        let p = probe("healthy", phase);
        assert_eq!(p.outcome, Outcome::Pass, "{p:?}");
        assert!(p.samples.len() >= 3 && p.samples.iter().all(|s| s.pass), "{p:?}");
    }
    let p = probe("healthy-in-faults", Phase::Faults);
    assert_eq!(p.outcome, Outcome::Fail);
    assert!(p.samples.len() >= 3 && p.samples.iter().all(|s| !s.pass && s.detail == "status 503"), "{p:?}");
    assert_eq!(report.status, Status::Failed);
    let finding = report.findings.iter().find(|f| f.kind == FindingKind::Probe).expect("the probe is named");
    assert_eq!(finding.name, "healthy-in-faults");
    assert!(finding.detail.contains("0 of") && finding.detail.contains("status 503"), "{finding:?}");
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prometheus_probe_is_held_to_its_bounds_series_by_series() {
    let (svc, prom) = (service().await, prometheus().await);
    let port = free_port();
    let q = |query: &str, extra: &str| {
        format!("{{ prometheus: {{ url: \"{}\", query: '{query}'{extra} }} }}", prom.url().trim_end_matches('/'))
    };
    let checks = format!(
        "gates:
  - {{ name: up, probe: {}, every: 500ms, at_least: 1 }}
  - {{ name: error-budget, probe: {}, every: 500ms, at_most: 5 }}
  - {{ name: absent-passes, probe: {}, every: 500ms, equals: 0 }}
  - {{ name: absent-fails, probe: {}, every: 500ms, equals: 0 }}
  - {{ name: broken-query, probe: {}, every: 500ms, at_most: 1 }}
",
        q("up", ""),
        q("errors", ""),
        q("absent", ", on_empty: pass"),
        q("absent", ""),
        q("rate(", "")
    );
    let report = run_yaml(&experiment(&svc, port, &checks)).await.unwrap();
    let probe = |name: &str| report.probes.iter().find(|p| p.name == name).unwrap();
    assert_eq!(probe("up").outcome, Outcome::Pass);
    assert!(probe("up").samples.iter().all(|s| s.value == Some(1.0)));
    let budget = probe("error-budget");
    assert_eq!(budget.outcome, Outcome::Fail);
    assert!(budget.samples.iter().all(|s| s.value == Some(7.0)), "the worst of two series counts: {budget:?}");
    assert_eq!(probe("absent-passes").outcome, Outcome::Pass);
    assert_eq!(probe("absent-fails").outcome, Outcome::Fail, "no series is inconclusive: a failed sample");
    let broken = probe("broken-query");
    assert_eq!(broken.outcome, Outcome::Fail);
    assert!(broken.samples[0].detail.contains("parse error"), "the server's message: {broken:?}");
    let failed: Vec<&str> = report.findings.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(failed, ["error-budget", "absent-fails", "broken-query"]);

    // A Prometheus server that is not there refuses the run before the load starts.
    let gone = format!(
        "gates:\n  - {{ probe: {{ prometheus: {{ url: \"http://127.0.0.1:{}\", query: up }} }}, at_least: 1 }}\n",
        free_port()
    );
    match run_yaml(&experiment(&svc, port, &gone)).await {
        Err(RunError::TargetMissing(why)) => assert!(why.contains("Prometheus at"), "{why}"),
        other => panic!("expected a refusal, got {:?}", other.map(|r| r.status)),
    }
    svc.shutdown().await;
    prom.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_probe_judges_exit_code_and_output_and_can_abort_the_run() {
    let svc = service().await;
    let port = free_port();
    let checks = "gates:
  - { name: says-ready, probe: { command: { run: [echo, ready 42], expect: { stdout_matches: 'ready \\d+' } } }, every: 500ms }
  - { name: exits-1, probe: { command: { run: [\"false\"] } }, every: 500ms }
  - { name: too-slow, probe: { command: { run: [sleep, \"5\"], timeout: 200ms } }, every: 1s }
";
    let report = run_yaml(&experiment(&svc, port, checks)).await.unwrap();
    let probe = |name: &str| report.probes.iter().find(|p| p.name == name).unwrap();
    assert_eq!(probe("says-ready").outcome, Outcome::Pass, "{:?}", probe("says-ready"));
    assert_eq!(probe("exits-1").outcome, Outcome::Fail);
    assert_eq!(probe("exits-1").samples[0].detail, "exit code 1, expected 0");
    assert!(probe("too-slow").samples[0].detail.contains("killed"), "{:?}", probe("too-slow"));

    // `false` failing twice in a row fires the abort condition: rolled back, exit 3.
    let abort =
        "abort:\n  - { probe: { command: { run: [\"false\"] } }, failures: 2, every: 300ms, recovery: 200ms }\n";
    let report = run_yaml(&experiment(&svc, port, abort)).await.unwrap();
    assert_eq!(report.status, Status::Aborted);
    let fired = report.abort.clone().expect("the probe's condition fired");
    assert!(fired.condition.contains("command probe `false`") && fired.condition.contains("2 time(s)"), "{fired:?}");
    assert!((0.2..2.0).contains(&fired.at_s), "the second failure, ~0.3 s after warm-up: {fired:?}");
    assert!(report.abort_reason.as_deref().unwrap().contains("exit code 1"), "{:?}", report.abort_reason);
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_can_hold_the_steady_state_or_break_it_and_fire_an_abort() {
    let (svc, prom) = (service().await, prometheus().await);
    let port = free_port();
    let prom_url = prom.url().trim_end_matches('/').to_string();
    let q = |query: &str| format!("{{ prometheus: {{ url: \"{prom_url}\", query: {query} }} }}");
    let health = format!("{{ http: {{ url: \"http://127.0.0.1:{port}/health\", timeout: 500ms }} }}");

    // Held: a Prometheus value and a command, before and after the faults.
    let steady = format!(
        "steady_state:\n  - {{ name: up, probe: {}, at_least: 1, every: 400ms }}\n  - {{ name: ready, probe: {{ command: {{ run: [\"true\"] }} }}, every: 400ms }}\n",
        q("up")
    );
    let report = run_yaml(&experiment(&svc, port, &steady)).await.unwrap();
    assert_eq!(report.status, Status::Passed, "{:?}", report.findings);
    let held: Vec<_> = report.probes.iter().map(|p| (p.name.as_str(), p.phase, p.outcome)).collect();
    assert_eq!(
        held,
        [
            ("up", Phase::Before, Outcome::Pass),
            ("up", Phase::After, Outcome::Pass),
            ("ready", Phase::Before, Outcome::Pass),
            ("ready", Phase::After, Outcome::Pass)
        ]
    );

    // Broken before the faults: no fault goes in, the run is aborted.
    let unsteady = format!("steady_state:\n  - {{ name: budget, probe: {}, at_most: 5, every: 300ms }}\n", q("errors"));
    let report = run_yaml(&experiment(&svc, port, &unsteady)).await.unwrap();
    assert_eq!(report.status, Status::Aborted);
    assert!(report.abort_reason.as_deref().unwrap().contains("budget"), "{:?}", report.abort_reason);
    assert!(report.timeline.iter().all(|e| e.action != chaos_engine::timeline::Action::Applied));

    // An HTTP probe failing twice in a row inside the 503 window, then a Prometheus value above
    // its bound at the first sample: each fires its abort condition.
    let abort = format!("abort:\n  - {{ probe: {health}, failures: 2, every: 200ms, recovery: 200ms }}\n");
    let report = run_yaml(&experiment(&svc, port, &abort)).await.unwrap();
    assert_eq!(report.status, Status::Aborted);
    let fired = report.abort.clone().unwrap();
    assert!((1.0..2.0).contains(&fired.at_s) && fired.detail.as_deref() == Some("status 503"), "{fired:?}");
    let abort = format!("abort:\n  - {{ probe: {}, above: 5, recovery: 200ms }}\n", q("errors"));
    let report = run_yaml(&experiment(&svc, port, &abort)).await.unwrap();
    let fired = report.abort.clone().unwrap();
    assert_eq!((fired.observed, report.status), (Some(7.0), Status::Aborted), "{fired:?}");
    assert!(fired.at_s < 1.0, "{fired:?}");
    svc.shutdown().await;
    prom.shutdown().await;
}

/// Debian's `prometheus` on a free port, scraping itself every 500 ms, with its store in a
/// temporary folder; killed when dropped, on every path. `None` when it is not installed.
struct RealPrometheus {
    child: std::process::Child,
    url: String,
    _store: tempfile::TempDir,
}

impl Drop for RealPrometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RealPrometheus {
    async fn start() -> Option<Self> {
        use std::io::Write as _;
        let store = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = store.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global: {{ scrape_interval: 500ms, scrape_timeout: 500ms }}\n\
                 scrape_configs:\n  - job_name: self\n    static_configs: [{{ targets: [\"127.0.0.1:{port}\"] }}]\n"
            ),
        )
        .unwrap();
        let spawned = std::process::Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", store.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=error")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        let Ok(child) = spawned else {
            let _ = writeln!(std::io::stderr(), "prometheus is not installed here: skipping (CI installs it)");
            return None;
        };
        let me = Self { child, url: format!("http://127.0.0.1:{port}"), _store: store };
        // Its first scrape of itself lands within a few seconds (scrape loops start up to 5 s
        // after it is ready): wait for `up` to have a value, 30 s at most.
        let query = format!("{}/api/v1/query?query=up", me.url);
        for _ in 0..150 {
            let body = match reqwest::get(&query).await {
                Ok(r) => r.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if body.contains(r#""job":"self""#) {
                return Some(me);
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        panic!("prometheus on {} did not scrape itself within 30 s", me.url);
    }
}

/// The probe against Prometheus itself (2.42, Debian's), not a stand-in: instant and range
/// queries, a bound that holds and one that does not, no series, and the server's own parse error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prometheus_probe_reads_a_real_prometheus() {
    let Some(prom) = RealPrometheus::start().await else { return };
    let svc = service().await;
    let port = free_port();
    let q =
        |query: &str, extra: &str| format!("{{ prometheus: {{ url: \"{}\", query: '{query}'{extra} }} }}", prom.url);
    let checks = format!(
        "steady_state:
  - {{ name: scraped, probe: {}, every: 500ms, equals: 1 }}
gates:
  - {{ name: head-series, probe: {}, every: 1s, at_least: 1 }}
  - {{ name: not-down, probe: {}, every: 1s, equals: 0 }}
  - {{ name: nothing-there, probe: {}, every: 1s, at_most: 1 }}
  - {{ name: broken, probe: {}, every: 1s, at_most: 1 }}
",
        q(r#"up{job="self"}"#, ""),
        q("prometheus_tsdb_head_series", ", range: 3s, step: 500ms, reduce: max"),
        q(r#"up{job="self"}"#, ""),
        q("no_such_metric_anywhere", ""),
        q("sum(", ""),
    );
    let report = run_yaml(&experiment(&svc, port, &checks)).await.unwrap();
    let probe = |name: &str| report.probes.iter().find(|p| p.name == name).unwrap();
    let scraped = probe("scraped");
    assert_eq!(scraped.outcome, Outcome::Pass, "{scraped:?}");
    assert!(scraped.samples.iter().all(|s| s.value == Some(1.0)), "{scraped:?}");
    let head = probe("head-series");
    assert_eq!(head.outcome, Outcome::Pass, "a range query reduced by max: {head:?}");
    assert!(head.samples.iter().all(|s| s.value.is_some_and(|v| v >= 1.0)), "{head:?}");
    let not_down = probe("not-down");
    assert_eq!(not_down.outcome, Outcome::Fail, "up is 1, not 0: {not_down:?}");
    assert!(not_down.samples.iter().all(|s| s.value == Some(1.0)));
    let nothing = probe("nothing-there");
    assert_eq!(nothing.outcome, Outcome::Fail);
    assert!(nothing.samples.iter().all(|s| s.detail == "no series"), "{nothing:?}");
    let broken = probe("broken");
    assert_eq!(broken.outcome, Outcome::Fail);
    assert!(broken.samples[0].detail.contains("parse error"), "Prometheus' own message: {broken:?}");
    let failed: Vec<&str> = report.findings.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(failed, ["not-down", "nothing-there", "broken"]);
    svc.shutdown().await;
}
