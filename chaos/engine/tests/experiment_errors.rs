//! Bad experiment files are rejected with file:line:column and what was expected.

use chaos_engine::{ExperimentError, parse_str};
use std::path::Path;

const GOOD: &str = "\
name: t
load: { rate: 10/s, warmup: 1s, duration: 10s }
faults:
  - { at: 2s, for: 3s, target: license, fault: { error: { status: 503 } } }
gates:
  - { kpi: play_success_ratio, during: faults, at_least: 0.9 }
";

fn errors(src: &str) -> Vec<ExperimentError> {
    parse_str(src, "exp.yaml", Path::new(".")).expect_err("must be rejected").0
}

fn one(src: &str) -> ExperimentError {
    let errs = errors(src);
    assert_eq!(errs.len(), 1, "{errs:?}");
    errs.into_iter().next().unwrap()
}

#[test]
fn a_good_file_parses() {
    let (exp, _) = parse_str(GOOD, "exp.yaml", Path::new(".")).unwrap();
    assert_eq!(exp.load.rate.map(|r| r.0), Some(10.0));
    assert_eq!(exp.faults[0].target, chaos_engine::experiment::Target::named("license"));
}

#[test]
fn an_unknown_key_is_named_with_its_place_and_the_nearest_valid_key() {
    let e = one(&GOOD.replace("warmup: 1s", "warmpu: 1s"));
    assert_eq!((e.line, e.file.as_str()), (2, "exp.yaml"));
    assert!(e.column > 0);
    assert!(e.message.contains("unknown field `warmpu`") && e.message.contains("did you mean `warmup`?"), "{e}");
    assert!(e.to_string().starts_with("exp.yaml:2:"), "{e}");
}

#[test]
fn a_wrong_type_is_named_with_its_place() {
    let e = one(&GOOD.replace("status: 503", "status: many"));
    assert_eq!(e.line, 4);
    assert!(e.message.contains("invalid type"), "{e}");
}

#[test]
fn a_negative_duration_is_rejected() {
    let e = one(&GOOD.replace("duration: 10s", "duration: -10s"));
    assert_eq!(e.line, 2);
    assert!(e.message.contains("-10s") || e.message.contains("duration"), "{e}");
}

#[test]
fn durations_and_counts_past_their_bounds_are_errors_at_their_place_not_panics() {
    const MAX: &str = "18446744073709551615s";
    let cases = [
        // `at` + `for` past Duration::MAX: the window's end saturates and is past the run.
        (GOOD.replace("at: 2s, for: 3s", &format!("at: {MAX}, for: {MAX}")), (4, 39), "the fault window ends at"),
        (GOOD.replace("warmup: 1s", &format!("warmup: {MAX}")), (2, 29), "longer than a run's phase may be"),
        (GOOD.replace("duration: 10s", "duration: 31days"), (2, 43), "longer than a run's phase may be"),
        (GOOD.replace("rate: 10/s", "viewers: 4000000000"), (2, 18), "viewers must be at most 100000"),
        (GOOD.replace("{ error: { status: 503 } }", "{ latency: { fixed: 2days } }"), (4, 48), "at most a day"),
    ];
    for (src, place, says) in cases {
        let e = one(&src);
        assert_eq!((e.line, e.column), place, "{e}");
        assert!(e.message.contains(says), "{e}");
    }
}

#[test]
fn a_target_outside_the_topology_is_rejected_at_the_target() {
    let e = one(&GOOD.replace("target: license", "target: lisence"));
    assert_eq!((e.line, e.column), (4, 32));
    assert!(e.message.contains("`lisence` matches no instance"), "{e}");
}

#[test]
fn a_fault_window_past_the_end_of_the_run_is_rejected() {
    let e = one(&GOOD.replace("for: 3s", "for: 30s"));
    assert_eq!(e.line, 4);
    assert!(e.message.contains("ends at 32s") && e.message.contains("10s"), "{e}");
}

#[test]
fn every_semantic_error_is_reported_at_once() {
    let src = GOOD
        .replace("for: 3s", "for: 30s")
        .replace("target: license", "target: nope")
        .replace("at_least: 0.9", "at_least: 9");
    let errs = errors(&src);
    assert_eq!(errs.len(), 3, "{errs:?}");
    assert!(errs.iter().any(|e| e.line == 6 && e.message.contains("ratio in [0, 1]")), "{errs:?}");
}

#[test]
fn a_gate_with_a_duration_on_a_ratio_kpi_is_rejected() {
    let e = one(&GOOD.replace("at_least: 0.9", "at_least: 900ms"));
    assert_eq!(e.line, 6);
    assert!(e.message.contains("not a duration"), "{e}");
}

#[test]
fn an_invalid_yaml_document_is_rejected_with_its_place() {
    let e = one("name: t\nload: { rate: 10/s\n");
    assert!(e.line >= 2, "{e}");
}

#[test]
fn a_bad_rate_and_a_bad_status_are_rejected() {
    assert!(one(&GOOD.replace("10/s", "ten per second")).message.contains("a rate such as"));
    let e = one(&GOOD.replace("status: 503", "status: 999"));
    assert!(e.message.contains("not an HTTP status"), "{e}");
}

#[test]
fn after_chains_steps_and_rejects_cycles_and_unknown_names() {
    let src = "\
name: t
load: { rate: 10/s, duration: 30s }
faults:
  - { name: a, at: 2s, for: 3s, target: license, fault: reset }
  - { name: b, after: a, at: 1s, for: 4s, target: cdn, fault: reset }
  - { name: c, after: b, for: 2s, target: auth, fault: reset }
";
    let (exp, _) = parse_str(src, "exp.yaml", Path::new(".")).unwrap();
    let starts: Vec<u64> = exp.faults.iter().map(|f| f.start().as_secs()).collect();
    assert_eq!(starts, [2, 6, 10]);
    assert_eq!(exp.fault_window().map(|(s, e)| (s.as_secs(), e.as_secs())), Some((2, 12)));
    let cycle = src.replace("{ name: a, at: 2s", "{ name: a, after: c, at: 2s");
    let e = one(&cycle);
    assert!(e.message.contains("cycle"), "{e}");
    let unknown = src.replace("after: b,", "after: zz,");
    let e = one(&unknown);
    assert!(e.message.contains("`after: zz` names no fault step") && e.line == 6, "{e}");
    let late = src.replace("for: 2s, target: auth", "for: 25s, target: auth");
    assert!(one(&late).message.contains("ends at 35s"));
}

#[test]
fn a_ramp_must_stay_within_probabilities_and_cannot_ramp_a_kill() {
    let e = one(&GOOD.replace(
        "fault: { error: { status: 503 } } }",
        "fault: { error: { status: 503 } }, ramp: { from: 0, to: 2 } }",
    ));
    assert!(e.message.contains("must stay in [0, 1]"), "{e}");
    let e = one(&GOOD.replace("fault: { error: { status: 503 } } }", "fault: kill, ramp: { from: 0, to: 1 } }"));
    assert!(e.message.contains("a kill has no share"), "{e}");
}

#[test]
fn every_structural_error_is_reported_at_once_in_file_order() {
    let src = GOOD
        .replace("warmup: 1s", "warmpu: 1s")
        .replace("status: 503", "status: many")
        .replace("at_least: 0.9", "at_least: 0.9, windw: 5s");
    let errs = errors(&src);
    let places: Vec<usize> = errs.iter().map(|e| e.line).collect();
    assert_eq!(places, [2, 4, 6], "{errs:?}");
    assert!(errs[0].message.contains("did you mean `warmup`?"), "{}", errs[0]);
    assert!(errs[1].message.contains("\"many\""), "{}", errs[1]);
    assert!(errs[2].message.contains("did you mean `window`?"), "{}", errs[2]);
}

#[test]
fn errors_in_later_list_items_keep_their_own_line_after_an_earlier_item_is_cut() {
    let src = "\
name: t
load: { rate: 10/s, duration: 10s }
faults:
  - { at: 2s, for: 3s, target: license, fault: resett }
  - { at: 2s, for: 3s, target: license, fault: reset }
  - { at: 2s, for: 3s, target: license, fault: { hang: { max: forever } } }
";
    let errs = errors(src);
    assert_eq!(errs.iter().map(|e| e.line).collect::<Vec<_>>(), [4, 6], "{errs:?}");
}

#[test]
fn a_missing_required_section_is_named_and_errors_past_it_are_still_found() {
    let errs = errors("name: t\nfaults:\n  - { at: 2s, for: 3s, target: license, fault: resett }\n");
    assert!(errs.iter().any(|e| e.message.contains("missing field `load`")), "{errs:?}");
    assert!(errs.iter().any(|e| e.line == 3 && e.message.contains("did you mean `reset`?")), "{errs:?}");
}

#[test]
fn the_format_reference_in_docs_is_the_one_the_types_give() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/EXPERIMENT_FORMAT.md");
    let written = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        written == chaos_engine::experiment_reference(),
        "docs/EXPERIMENT_FORMAT.md is out of date: run `cargo run -p chaos-cli -- schema --markdown > docs/EXPERIMENT_FORMAT.md`"
    );
}

#[test]
fn deeply_nested_input_is_refused_at_the_first_node_too_deep() {
    let src =
        format!("name: deep\nload: {{ rate: 1/s, duration: 1s }}\nx: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let errs = parse_str(&src, "deep.yaml", Path::new(".")).unwrap_err();
    assert_eq!(errs.0.len(), 1, "{errs}");
    let e = &errs.0[0];
    // Where saphyr's scanner, which looks ahead, gives up: inside the brackets of line 3.
    assert_eq!(e.line, 3, "{errs}");
    assert!(e.message.contains("nested more than 64 levels"), "{errs}");
    // Within saphyr's own limit, the first node too deep is named: depth 1 is the document's
    // map, so the 64th bracket is the 65th level.
    let src = format!("name: deep\nload: {{ rate: 1/s, duration: 1s }}\nx: {}{}\n", "[".repeat(70), "]".repeat(70));
    let errs = parse_str(&src, "deep.yaml", Path::new(".")).unwrap_err();
    assert_eq!((errs.0[0].line, errs.0[0].column), (3, 67), "{errs}");
}

const TCP: &str = "\
name: t
system:
  proxies:
    redis-px: { tcp: true, listen: \"127.0.0.1:16379\", upstream: \"127.0.0.1:6379\" }
    web-px: { listen: \"127.0.0.1:18080\", upstream: \"http://127.0.0.1:8080\" }
load:
  rate: 10/s
  duration: 10s
  http: [{ name: get, url: \"http://127.0.0.1:18080/\" }]
faults:
  - { at: 2s, for: 3s, target: redis-px, fault: { toxic: { type: latency, attributes: { latency: 100 } } } }
";

#[test]
fn toxics_go_on_tcp_proxies_and_tcp_proxies_take_only_toxics_and_kill() {
    parse_str(TCP, "exp.yaml", Path::new(".")).unwrap();
    let kill = TCP.replace("fault: { toxic: { type: latency, attributes: { latency: 100 } } }", "fault: kill");
    parse_str(&kill, "exp.yaml", Path::new(".")).unwrap();
    let e = one(&TCP.replace("target: redis-px", "target: web-px"));
    assert!(e.message.contains("`web-px` is not a TCP proxy"), "{e}");
    let e =
        one(&TCP.replace("{ toxic: { type: latency, attributes: { latency: 100 } } }", "{ error: { status: 503 } }"));
    assert!(e.message.contains("`redis-px` is a TCP proxy") && e.message.contains("not `error`"), "{e}");
    let e = one(&TCP.replace("latency: 100 } } } }", "latency: 100 } } }, scope: { probability: 0.5 } }"));
    assert!(e.message.contains("its share is `toxicity`"), "{e}");
    let e = one(&TCP.replace("upstream: \"127.0.0.1:6379\"", "upstream: \"redis://127.0.0.1:6379\""));
    assert!(e.message.contains("must be HOST:PORT"), "{e}");
    let e = one(&TCP.replace("{ latency: 100 }", "{ latncy: 100 }"));
    assert!(e.message.contains("latncy") && e.line == 11, "a misspelt attribute is named at its line: {e}");
    let e = one(&TCP.replace("attributes: { latency: 100 }", "toxicity: 1.5"));
    assert!(e.message.contains("toxicity must be between 0 and 1"), "{e}");
}

const GRPC: &str = "\
name: t
load:
  rate: 10/s
  duration: 10s
  http:
    - name: check
      url: \"http://127.0.0.1:50051\"
      grpc: { method: /grpc.health.v1.Health/Check, message: CgRzaG9w }
      expect: { grpc_status: [ok, NOT_FOUND, 14] }
";

#[test]
fn a_grpc_call_is_checked_at_its_places() {
    let (exp, _) = parse_str(GRPC, "exp.yaml", Path::new(".")).unwrap();
    let codes: Vec<u8> = exp.load.http[0].expect.as_ref().unwrap().grpc_status.iter().map(|c| c.number()).collect();
    assert_eq!(codes, [0, 5, 14], "names in either case and numbers");
    let e = one(&GRPC.replace("method: /grpc.health.v1.Health/Check", "method: Check"));
    assert!(e.message.contains("/package.Service/Method") && (e.line, e.column) == (8, 23), "{e}");
    let e = one(&GRPC.replace("CgRzaG9w", "not-base64!"));
    assert!(e.message.contains("base64") && e.line == 8, "{e}");
    let e = one(&GRPC.replace("[ok, NOT_FOUND, 14]", "[ok, down]"));
    assert!(e.message.contains("`down` is not a gRPC status") && e.line == 9, "{e}");
    let e = one(&GRPC.replace("50051\"", "50051/grpc.health.v1.Health/Check\""));
    assert!(e.message.contains("its path comes from `grpc.method`") && e.line == 7, "{e}");
    let errs = errors(&GRPC.replace("expect: { grpc_status: [ok, NOT_FOUND, 14] }", "method: GET\n      body: x"));
    let lines: Vec<_> = errs.iter().map(|e| e.line).collect();
    assert_eq!(lines, [9, 10], "a GET and a body do not go with a call: {errs:?}");
    let e = one(&GRPC.replace("      grpc: { method: /grpc.health.v1.Health/Check, message: CgRzaG9w }\n", ""));
    assert!(e.message.contains("`grpc_status` judges a `grpc` call"), "{e}");
}

const PLAYER: &str = "\
name: t
system:
  proxies:
    a-px: { listen: \"127.0.0.1:19601\", upstream: \"http://127.0.0.1:19611\" }
load:
  rate: 2/s
  duration: 10s
  player:
    manifest: http://127.0.0.1:19601/hls/master.m3u8
    origins: [http://127.0.0.1:19601, http://127.0.0.1:19602]
    watch: 20s
faults:
  - { at: 2s, for: 3s, target: a-px, fault: { throttle: { bytes_per_s: 100000 } } }
gates:
  - { kpi: rebuffer_ratio, during: faults, at_most: 0.02 }
";

#[test]
fn a_stream_workload_is_checked_at_its_places() {
    let (exp, _) = parse_str(PLAYER, "exp.yaml", Path::new(".")).unwrap();
    let p = exp.load.player.as_ref().unwrap();
    assert_eq!((p.watch.as_secs(), p.start_budget.as_secs(), p.start_kbps), (20, 4, 500), "defaults");
    let e = one(&PLAYER.replace("manifest: http://127.0.0.1:19601/", "manifest: https://127.0.0.1:19601/"));
    assert!(e.message.contains("https is not supported") && e.line == 9, "{e}");
    let e = one(&PLAYER.replace("manifest: http://127.0.0.1:19601/hls/master.m3u8", "manifest: not a url"));
    assert!(e.message.contains("relative URL") && (e.line, e.column) == (9, 15), "a URL the parser refuses: {e}");
    let e = one(&PLAYER.replace("http://127.0.0.1:19602]", "http://127.0.0.1:19602/v]"));
    assert!(e.message.contains("without a path") && e.line == 10, "{e}");
    let e = one(&PLAYER.replace("watch: 20s", "watch: 0s"));
    assert!(e.message.contains("more than 0") && e.line == 11, "{e}");
    let e = one(&PLAYER.replace("kpi: rebuffer_ratio, during: faults, at_most: 0.02", "kpi: home_p99, at_most: 100ms"));
    assert!(e.message.contains("a stream has none") && e.line == 15, "{e}");
    let both = PLAYER.replace("  player:", "  http: [{ name: x, url: \"http://127.0.0.1:1/\" }]\n  player:");
    assert!(errors(&both).iter().any(|e| e.message.contains("not both")), "one workload a run");
    let mutant = |guard: &str| format!("{PLAYER}mutants: [{{ name: m, guards_off: [{guard}] }}]\n");
    assert!(parse_str(&mutant("player/adaptive"), "exp.yaml", Path::new(".")).is_ok(), "the player's guards");
    let e = one(&mutant("edge/license/retries"));
    assert!(e.message.contains("guards belong to the embedded platform"), "{e}");
}

#[test]
fn a_run_on_a_cluster_is_checked_at_its_places() {
    let cluster = "\
name: c
system:
  kubernetes: { context: staging }
load:
  rate: 10/s
  duration: 10s
  http: [{ name: home, url: 'http://127.0.0.1:9/' }]
faults:
  - { at: 2s, for: 3s, target: license, fault: { error: { status: 503 } }, scope: { probability: 0.5 } }
  - { at: 2s, for: 3s, target: cdn, fault: { stall: { after_bytes: 10, max: 1s } } }
";
    // What the engine cannot run is the export's to say (the CLI's loader places it in the file):
    // a share of requests is approximated, allowed with `lossy`; a stall has no equivalent.
    let (exp, topology) = parse_str(cluster, "exp.yaml", Path::new(".")).unwrap();
    let gaps = chaos_engine::export::cluster_problems(&exp, &topology);
    let paths: Vec<&str> = gaps.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, ["faults[0].scope.probability", "faults[1].fault"], "{gaps:?}");
    assert!(gaps[0].1.contains("on Chaos Mesh: HTTPChaos has no share of requests"), "{}", gaps[0].1);
    assert!(gaps[0].1.contains("allowed with `system.kubernetes.lossy: true`"), "{}", gaps[0].1);
    assert!(gaps[1].1.contains("cannot cut or stall") && !gaps[1].1.contains("lossy"), "{}", gaps[1].1);
    let lossy = cluster.replace("context: staging }", "context: staging, lossy: true }");
    let (exp, topology) = parse_str(&lossy, "exp.yaml", Path::new(".")).unwrap();
    assert_eq!(chaos_engine::export::cluster_problems(&exp, &topology).len(), 1);

    let fine = lossy.replace("fault: { stall: { after_bytes: 10, max: 1s } }", "fault: kill");
    let (exp, topology) = parse_str(&fine, "exp.yaml", Path::new(".")).unwrap();
    assert!(chaos_engine::export::cluster_problems(&exp, &topology).is_empty());
    let with_proxy = "kubernetes: { context: staging, lossy: true }\n  proxies: { px: { listen: '127.0.0.1:9', upstream: 'http://127.0.0.1:8' } }";
    let e = one(&fine.replace("kubernetes: { context: staging, lossy: true }", with_proxy));
    assert!(e.message.contains("a cluster goes alone") && e.line == 3, "{e}");
    let e = one(&fine.replace("  http: [{ name: home, url: 'http://127.0.0.1:9/' }]\n", ""));
    assert!(e.message.contains("the embedded platform does not run on a cluster"), "{e}");
    let e = one(&format!("{fine}clock: virtual\n"));
    assert!(e.message.contains("a cluster and its engine"), "{e}");
    let e = one(&fine.replace("lossy: true", "engine: linkerd"));
    assert!(e.message.contains("unknown variant `linkerd`"), "{e}");
}
