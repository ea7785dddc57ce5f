//! The platform on the in-memory network: the device's calls and every instance-to-instance
//! call are direct calls to the instances' services, and the process opens no socket for them;
//! the same client also reaches an instance that speaks HTTP/1 over in-memory streams.

use chaos_fault::server::{MemNet, Net};
use http_body_util::{BodyExt, Empty};
use targets::{Platform, PlaybackClient, Topology, http_client};
use tokio::time::Instant;

/// TCP sockets this process has open (Linux: `socket:[INODE]` links in /proc/self/fd whose inode
/// is in /proc/self/net/tcp or tcp6; tokio's own signal socketpair is not TCP).
fn tcp_sockets() -> usize {
    let inodes: std::collections::HashSet<String> = ["/proc/self/net/tcp", "/proc/self/net/tcp6"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .flat_map(|table| {
            table.lines().skip(1).filter_map(|l| l.split_whitespace().nth(9).map(String::from)).collect::<Vec<_>>()
        })
        .collect();
    std::fs::read_dir("/proc/self/fd")
        .map(|fds| {
            fds.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter_map(|target| {
                    target.to_string_lossy().strip_prefix("socket:[")?.strip_suffix(']').map(String::from)
                })
                .filter(|inode| inodes.contains(inode))
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn sessions_through_the_edge_its_dependencies_and_the_cdns_open_no_socket() {
    let before = tcp_sockets();
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
    let master = manifest["manifest"]["hls"].as_str().unwrap_or_default();
    assert!(master.starts_with("#EXTM3U") && master.contains("/segments/t7/235/index.m3u8"), "{manifest}");
    let stats = platform.service_stats();
    for called in ["edge", "auth", "playback", "license", "history"] {
        assert!(stats[called].requests >= 1, "{called} was not called");
    }
    let player = PlaybackClient::on(&net, platform.edge_url(), topology.player.clone());
    for n in 0..3 {
        let out = player.session(&format!("u{n}"), "t3", Instant::now()).await;
        let play = out.play.as_ref().unwrap();
        assert!(out.home.as_ref().unwrap().ok && play.ok && play.qoe.is_some(), "{out:?}");
    }
    assert!(platform.service_stats()["cdn"].requests >= 3);
    if std::path::Path::new("/proc/self/fd").exists() {
        assert_eq!(tcp_sockets(), before, "a TCP socket was opened");
    }
}

/// On tokio's paused clock the runtime's clock only moves when every task waits for a timer:
/// service times, timeouts and the player's buffer then take no wall time.
#[tokio::test(start_paused = true)]
async fn a_session_in_memory_runs_on_a_paused_clock() {
    let net = Net::Mem(MemNet::new());
    let topology = Topology::default_platform();
    let platform = Platform::start_on(&net, &topology, 42).await.unwrap();
    let player = PlaybackClient::on(&net, platform.edge_url(), topology.player.clone());
    let start = Instant::now();
    let out = player.session("u1", "t3", start).await;
    let play = out.play.unwrap();
    assert!(out.home.as_ref().unwrap().ok && play.ok, "{:?}", play);
    assert!(play.qoe.unwrap().played > std::time::Duration::ZERO);
    // The paused clock moves only when every task waits on a timer (here the services' service
    // times): the first frame came after a positive stretch of virtual time.
    let ttff = play.ttff.unwrap();
    assert!(ttff > std::time::Duration::ZERO && start.elapsed() >= ttff, "{ttff:?}");
}

#[tokio::test(start_paused = true)]
async fn one_client_reaches_direct_and_streaming_instances_and_is_refused_where_none_listens() {
    use chaos_fault::server::Instance;
    let mem = MemNet::new();
    let net = Net::Mem(mem.clone());
    let direct = tower::service_fn(|_req: http::Request<chaos_fault::server::DirectBody>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(String::from("direct")))
    });
    let streaming = tower::service_fn(|_req: http::Request<hyper::body::Incoming>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(String::from("over HTTP/1")))
    });
    let any = "127.0.0.1:0".parse().unwrap();
    let a = Instance::bind_direct(&mem, "direct-0", any, direct).await.unwrap();
    let b = Instance::bind_on(&net, "streaming-0", any, streaming).await.unwrap();
    let client = http_client(&net);
    let get = |url: String| {
        let client = client.clone();
        async move {
            let req = http::Request::get(url).body(Empty::<bytes::Bytes>::new()).unwrap();
            let body = client.request(req).await?.into_body().collect().await?.to_bytes();
            Ok::<_, chaos_fault::BoxError>(String::from_utf8_lossy(&body).into_owned())
        }
    };
    assert_eq!(get(a.url()).await.unwrap(), "direct");
    assert_eq!(get(b.url()).await.unwrap(), "over HTTP/1");
    a.kill(None).await;
    let refused = get(a.url()).await.unwrap_err();
    assert_eq!(refused.downcast_ref::<std::io::Error>().map(|e| e.kind()), Some(std::io::ErrorKind::ConnectionRefused));
    assert!(get("http://127.0.0.1:1".into()).await.is_err(), "nothing listens there");
}
