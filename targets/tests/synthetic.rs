//! A synthetic mid-tier seen from the device: its calls happen, a failing mid-tier service is
//! absorbed by its caller's fallback, and without that fallback the failure reaches Play.

use chaos_fault::{Fault, Rule, Scope};
use targets::{Platform, PlayFailure, PlaybackClient, SyntheticSpec, Topology};
use tokio::time::Instant;

/// The default platform plus three mid-tier services in one layer, every one called by every
/// leaf on every request.
fn small_graph() -> Topology {
    Topology::synthetic(&SyntheticSpec { services: 12, layers: 1, fanout: 3, calls_per_request: 3 }).unwrap()
}

async fn start(topology: &Topology) -> (Platform, PlaybackClient) {
    let platform = Platform::start(topology, 42).await.unwrap();
    let player = PlaybackClient::new(platform.edge_url(), topology.player.clone());
    (platform, player)
}

#[tokio::test]
async fn every_request_of_a_leaf_walks_into_the_mid_tier() {
    let topology = small_graph();
    let (platform, player) = start(&topology).await;
    let out = player.session("u1", "t7", Instant::now()).await;
    assert!(out.play.as_ref().unwrap().ok, "{out:?}");
    let stats = platform.service_stats();
    let leaf_requests: u64 = ["auth", "license", "playback"].iter().map(|s| stats[*s].requests).sum();
    for mid in ["mid-0-000", "mid-0-001", "mid-0-002"] {
        assert!(stats[mid].requests >= leaf_requests, "{mid}: {} < {leaf_requests}", stats[mid].requests);
    }
}

#[tokio::test]
async fn a_failing_mid_tier_service_is_absorbed_by_its_callers_fallback() {
    let topology = small_graph();
    let (platform, player) = start(&topology).await;
    platform.resolve("mid-0-001")[0].table.insert(Rule::new("down", Fault::error(503), Scope::default()));
    for n in 0..3 {
        let out = player.session(&format!("u{n}"), "t7", Instant::now()).await;
        assert!(out.home.as_ref().unwrap().ok && out.play.as_ref().unwrap().ok, "{out:?}");
    }
    let auth = platform.guard_stats().into_iter().find(|g| g.caller == "auth" && g.callee == "mid-0-001").unwrap();
    assert!(auth.fallbacks >= 3 && auth.retries >= 3, "{auth:?}");
    assert!(platform.service_stats()["mid-0-001"].injected >= 6);
}

#[tokio::test]
async fn without_the_fallback_a_mid_tier_failure_fails_play_at_auth() {
    let mut topology = small_graph();
    topology.switch_off("auth/mid-0-001/fallback").unwrap();
    let (platform, player) = start(&topology).await;
    platform.resolve("mid-0-001")[0].table.insert(Rule::new("down", Fault::error(503), Scope::default()));
    let out = player.session("u1", "t7", Instant::now()).await;
    let play = out.play.unwrap();
    assert!(!play.ok);
    assert_eq!(play.failure, Some(PlayFailure::Edge("auth".into())));
    assert!(platform.service_stats()["auth"].errors >= 1);
}
