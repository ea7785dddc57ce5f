//! The platform on the in-memory network: every instance-to-instance call goes through
//! `tokio::io::duplex` streams, and the process opens no socket for it.

use chaos_fault::server::{MemNet, Net};
use http_body_util::{BodyExt, Empty};
use targets::{Platform, Topology, http_client};

/// Sockets this process has open (Linux: `socket:[…]` links in /proc/self/fd).
fn sockets() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|fds| {
            fds.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter(|target| target.to_string_lossy().starts_with("socket:"))
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn a_play_through_the_edge_and_its_dependencies_opens_no_socket() {
    let before = sockets();
    let net = Net::Mem(MemNet::new());
    let topology = Topology::default_platform();
    let platform = Platform::start_on(&net, &topology, 42).await.unwrap();
    let client = http_client(&net);
    let play = http::Request::get(format!("{}/play/t7", platform.edge_url()))
        .header(targets::USER_HEADER, "u1")
        .body(Empty::<bytes::Bytes>::new())
        .unwrap();
    let res = client.request(play).await.unwrap();
    assert_eq!(res.status(), 200);
    let manifest: serde_json::Value =
        serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert!(manifest.to_string().contains("cdn"), "{manifest}");
    let stats = platform.service_stats();
    for called in ["edge", "auth", "playback", "license", "history"] {
        assert!(stats[called].requests >= 1, "{called} was not called");
    }
    if std::path::Path::new("/proc/self/fd").exists() {
        assert_eq!(sockets(), before, "a socket was opened");
    }
}
