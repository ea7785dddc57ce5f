//! The platform's guards observed from the device: fallbacks, retries, failover.

use chaos_fault::{Fault, Rule, Scope};
use targets::{Platform, PlayFailure, PlaybackClient, Topology};
use tokio::time::Instant;

async fn start(topology: Topology) -> (Platform, PlaybackClient) {
    let platform = Platform::start(&topology, 42).await.unwrap();
    let player = PlaybackClient::new(platform.edge_url(), topology.player.clone());
    (platform, player)
}

fn fault_all(platform: &Platform, target: &str, fault: Fault, scope: Scope) {
    for i in platform.resolve(target) {
        i.table.insert(Rule::new("test", fault.clone(), scope.clone()));
    }
}

#[tokio::test]
async fn a_healthy_platform_starts_streams_with_a_first_frame() {
    let (platform, player) = start(Topology::default_platform()).await;
    for n in 0..5 {
        let out = player.session(&format!("u{n}"), "t7", Instant::now()).await;
        assert!(out.home.as_ref().unwrap().ok && !out.home.as_ref().unwrap().degraded, "{out:?}");
        assert!(out.play.as_ref().unwrap().ok, "{out:?}");
        assert!(out.play.as_ref().unwrap().ttff.is_some() && out.play.as_ref().unwrap().failovers == 0);
    }
    let stats = platform.service_stats();
    assert!(stats["cdn"].requests >= 5 && stats["license"].requests >= 5);
    assert_eq!(stats["edge"].errors, 0);
}

#[tokio::test]
async fn failing_recommendations_degrade_home_but_not_play() {
    let (platform, player) = start(Topology::default_platform()).await;
    fault_all(&platform, "recommendations", Fault::error(500), Scope::default());
    let out = player.session("u1", "t3", Instant::now()).await;
    assert!(out.home.as_ref().unwrap().ok && out.home.as_ref().unwrap().degraded, "{out:?}");
    assert!(out.play.as_ref().unwrap().ok, "{out:?}");
    let recs = platform.guard_stats().into_iter().find(|g| g.callee == "recommendations").unwrap();
    assert_eq!(recs.fallbacks, 1);
    assert_eq!(platform.service_stats()["recommendations"].injected, 1);
}

#[tokio::test]
async fn a_call_its_caller_gave_up_on_under_a_latency_fault_still_counts_as_injected() {
    let (platform, player) = start(Topology::default_platform()).await;
    fault_all(&platform, "recommendations", Fault::fixed_latency(std::time::Duration::from_secs(2)), Scope::default());
    let out = player.session("u1", "t3", Instant::now()).await;
    assert!(
        out.home.as_ref().unwrap().ok && out.home.as_ref().unwrap().degraded,
        "the edge's 250 ms timeout and fallback: {out:?}"
    );
    // The edge has closed its connection; the server drops the delayed call when it sees that.
    let mut recs = platform.service_stats()["recommendations"].clone();
    for _ in 0..100 {
        if recs.requests > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        recs = platform.service_stats()["recommendations"].clone();
    }
    assert_eq!((recs.requests, recs.errors, recs.injected), (1, 1, 1), "{recs:?}");
    let waited_ms = recs.latency_us.max() / 1000;
    assert!(
        (250..2_000).contains(&waited_ms),
        "counted when the caller gave up, not at the delay's end: {waited_ms} ms"
    );
}

#[tokio::test]
async fn without_its_fallback_a_recommendations_failure_breaks_home() {
    let mut topology = Topology::default_platform();
    topology.services.get_mut("edge").unwrap().calls.get_mut("recommendations").unwrap().fallback = false;
    let (platform, player) = start(topology).await;
    fault_all(&platform, "recommendations", Fault::error(500), Scope::default());
    let out = player.session("u1", "t3", Instant::now()).await;
    assert!(!out.home.as_ref().unwrap().ok, "{out:?}");
}

#[tokio::test]
async fn license_errors_on_one_instance_are_retried_on_the_other() {
    let (platform, player) = start(Topology::default_platform()).await;
    fault_all(&platform, "license-0", Fault::error(503), Scope::default());
    for n in 0..6 {
        let out = player.session(&format!("u{n}"), "t1", Instant::now()).await;
        assert!(out.play.as_ref().unwrap().ok, "{out:?}");
    }
    let lic = platform.guard_stats().into_iter().find(|g| g.callee == "license").unwrap();
    assert!(lic.retries >= 2, "{lic:?}");
}

#[tokio::test]
async fn a_killed_cdn_replica_is_failed_over() {
    let (platform, player) = start(Topology::default_platform()).await;
    platform.resolve("cdn-0")[0].server.kill(None).await;
    let mut failovers = 0;
    for n in 0..9 {
        let out = player.session(&format!("user-{n}"), "t2", Instant::now()).await;
        assert!(out.play.as_ref().unwrap().ok, "{out:?}");
        failovers += out.play.as_ref().unwrap().failovers;
    }
    assert!(failovers > 0, "no session was steered to the dead replica first");
}

#[tokio::test]
async fn with_every_cdn_replica_dead_no_stream_starts() {
    let (platform, player) = start(Topology::default_platform()).await;
    for i in platform.resolve("cdn") {
        i.server.kill(None).await;
    }
    let out = player.session("u1", "t2", Instant::now()).await;
    assert_eq!(out.play.as_ref().unwrap().failure, Some(PlayFailure::Cdn), "{out:?}");
    // Round the three CDNs twice: five moves after the first attempt.
    assert_eq!(out.play.as_ref().unwrap().failovers, 5, "tried each CDN twice");
}

#[tokio::test]
async fn the_grant_cache_covers_an_auth_outage_for_known_users_only() {
    let (platform, player) = start(Topology::default_platform()).await;
    assert!(player.session("known", "t1", Instant::now()).await.play.unwrap().ok);
    fault_all(&platform, "auth", Fault::error(503), Scope::default());
    assert!(player.session("known", "t1", Instant::now()).await.play.unwrap().ok);
    let out = player.session("stranger", "t1", Instant::now()).await;
    assert_eq!(out.play.as_ref().unwrap().failure, Some(PlayFailure::Edge("auth".into())), "{out:?}");
}

#[tokio::test]
async fn a_request_scoped_fault_fails_only_the_test_users_play_at_license() {
    let context = r#"[{"service":"license","fault":{"error":{"status":503}}}]"#.parse::<http::HeaderValue>().unwrap();
    let mut topology = Topology::default_platform();
    topology.request_faults = true;
    let (platform, player) = start(topology).await;
    let tester = player.clone().with_context(context.clone());
    let out = tester.session("tester", "t1", Instant::now()).await;
    assert_eq!(out.play.as_ref().unwrap().failure, Some(PlayFailure::Edge("license".into())), "{out:?}");
    assert!(out.home.as_ref().unwrap().ok, "home does not call license");
    assert!(player.session("everyone-else", "t1", Instant::now()).await.play.unwrap().ok);
    assert!(platform.service_stats()["license"].injected >= 4, "every try of the tester's license call was faulted");

    // An instance that did not opt in ignores the header.
    let (_platform, player) = start(Topology::default_platform()).await;
    assert!(player.with_context(context).session("tester", "t1", Instant::now()).await.play.unwrap().ok);
}

#[tokio::test]
async fn a_try_that_runs_out_of_time_is_counted_as_a_timeout_and_retried() {
    let (platform, player) = start(Topology::default_platform()).await;
    fault_all(&platform, "license-0", Fault::fixed_latency(std::time::Duration::from_secs(1)), Scope::default());
    for n in 0..4 {
        let out = player.session(&format!("u{n}"), "t1", Instant::now()).await;
        assert!(out.play.unwrap().ok);
    }
    let lic = platform.guard_stats().into_iter().find(|g| g.callee == "license").unwrap();
    assert!(lic.timeouts >= 1 && lic.retries >= lic.timeouts, "{lic:?}");
}

/// GETs `url` as user `u1` over TCP: the answer's head and its whole body.
async fn fetch(url: String) -> (http::response::Parts, bytes::Bytes) {
    use http_body_util::{BodyExt, Empty};
    let http = targets::http_client(&chaos_fault::server::Net::Tcp);
    let req = http::Request::get(url).header(targets::USER_HEADER, "u1").body(Empty::<bytes::Bytes>::new());
    let (head, body) = http.request(req.unwrap()).await.unwrap().into_parts();
    (head, body.collect().await.unwrap().to_bytes())
}

/// GETs `url` as user `u1` and parses the answer as JSON.
async fn json(url: String) -> serde_json::Value {
    serde_json::from_slice(&fetch(url).await.1).unwrap()
}

#[tokio::test]
async fn the_catalog_cache_serves_the_last_good_metadata_of_titles_seen_before() {
    let (platform, _) = start(Topology::default_platform()).await;
    let play = |title: &str| {
        let url = format!("{}/play/{title}", platform.edge_url());
        async move {
            let (head, body) = fetch(url).await;
            let failed = head.headers.get(targets::PLAY_FAILURE_HEADER).map(|v| v.to_str().unwrap().to_string());
            (failed, serde_json::from_slice::<serde_json::Value>(&body).unwrap())
        }
    };
    let (_, fresh) = play("t1").await;
    assert_eq!(fresh["degraded"], serde_json::json!([]), "{fresh}");
    fault_all(&platform, "catalog", Fault::error(503), Scope::default());
    let (_, cached) = play("t1").await;
    assert_eq!(cached["title"], fresh["title"], "the metadata seen before, as it was");
    assert_eq!(cached["degraded"], serde_json::json!(["catalog"]));
    assert_eq!(play("t2").await.0.as_deref(), Some("catalog"), "a title never seen has nothing cached");
}

#[tokio::test]
async fn the_edge_pages_carry_the_leaves_answers() {
    let (platform, _) = start(Topology::default_platform()).await;
    let home = json(format!("{}/home", platform.edge_url())).await;
    let titles: Vec<&str> = home["rows"][0]["titles"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert_eq!(titles.len(), 8, "{home}");
    let art = home["art"].as_object().unwrap();
    let mut unique = titles.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(art.keys().map(String::as_str).collect::<Vec<_>>(), unique, "one picture per title, keys sorted");
    assert!(titles.iter().all(|t| art[*t] == format!("/img/{t}.jpg")), "{home}");

    let play = json(format!("{}/play/t3", platform.edge_url())).await;
    let manifest = &play["manifest"];
    assert_eq!((&manifest["title"], &manifest["time_scale"]), (&"t3".into(), &100.0.into()), "{manifest}");
    let master = match m3u8_rs::parse_playlist_res(manifest["hls"].as_str().unwrap().as_bytes()) {
        Ok(m3u8_rs::Playlist::MasterPlaylist(m)) => m,
        other => panic!("not a master playlist: {other:?}"),
    };
    // Each rendition once per CDN instance, CDN by CDN: redundant variant streams.
    let ladder = Topology::default_platform().media.ladder_kbps;
    let mut cdns: Vec<String> = platform.resolve("cdn").iter().map(|i| i.server.url()).collect();
    assert_eq!(master.variants.len(), ladder.len() * cdns.len());
    let mut listed = Vec::new();
    for block in master.variants.chunks(ladder.len()) {
        let cdn = block[0].uri.split("/segments/").next().unwrap();
        for (v, kbps) in block.iter().zip(&ladder) {
            assert_eq!(v.bandwidth, u64::from(*kbps) * 1000);
            assert_eq!(v.uri, format!("{cdn}/segments/t3/{kbps}/index.m3u8"));
        }
        listed.push(cdn.to_string());
    }
    listed.sort();
    cdns.sort();
    assert_eq!(listed, cdns, "every CDN instance once");
    // The media playlist: VOD, the title's segments of 4 s, each at its number.
    let (_, body) = fetch(master.variants[0].uri.clone()).await;
    let media = match m3u8_rs::parse_playlist_res(&body) {
        Ok(m3u8_rs::Playlist::MediaPlaylist(m)) => m,
        other => panic!("not a media playlist: {other:?}"),
    };
    let spec = Topology::default_platform().media;
    assert!(media.end_list && media.segments.len() == spec.segments as usize, "{media:?}");
    assert!(media.segments.iter().enumerate().all(|(n, s)| s.uri == n.to_string() && s.duration == 4.0));
    let segment = master.variants[0].uri.replace("index.m3u8", "7");
    let (head, body) = fetch(segment).await;
    let kbps = ladder[0];
    assert_eq!(head.headers[http::header::CONTENT_LENGTH], spec.segment_bytes(kbps).to_string().as_str());
    assert_eq!(body.len(), spec.segment_bytes(kbps));
}

#[tokio::test]
async fn a_cdn_serves_the_segments_the_manifest_lists_and_refuses_others() {
    let (platform, _) = start(Topology::default_platform()).await;
    let cdn = platform.resolve("cdn")[0].server.url();
    let get = |path: &str| {
        let url = format!("{cdn}{path}");
        async move {
            let (head, body) = fetch(url).await;
            (head.status.as_u16(), body.len())
        }
    };
    let media = Topology::default_platform().media;
    let kbps = media.ladder_kbps[0];
    assert_eq!(get(&format!("/segments/t1/{kbps}/0")).await, (200, media.segment_bytes(kbps)));
    let last = media.segments - 1;
    assert_eq!(get(&format!("/segments/t1/{kbps}/{last}")).await.0, 200);
    for missing in
        [format!("/segments/t1/{kbps}/{}", media.segments), "/segments/t1/1/0".into(), format!("/segments/t1/{kbps}")]
    {
        assert_eq!(get(&missing).await.0, 404, "{missing}");
    }
    for bad in ["/segments/t1/fast/0".to_string(), format!("/segments/t1/{kbps}/first")] {
        assert_eq!(get(&bad).await.0, 400, "{bad}");
    }
}
