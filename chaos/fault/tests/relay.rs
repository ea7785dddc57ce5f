//! The proxy's HTTP/1 relay (the path taken while no rule is in the table), observed from the
//! client's side: framing of every kind kept, one connection carrying many requests, the
//! request as the upstream sees it, faults applying from the first request after a rule is
//! added, kills and dead upstreams. The upstream is axum on hyper; the client hyper's, or raw
//! bytes where the test is about the bytes (pipelining, `Expect`, an answer ended by the close).

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use chaos_fault::{Fault, FaultTable, Rule, Scope};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Every test's bound: a relay that stalls fails the test instead of hanging it.
const BOUND: Duration = Duration::from_secs(10);

/// A server task stopped when dropped.
struct Upstream {
    addr: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// axum on a free port: `/hello`, `/stream` (chunked), `/empty` (204), `/cached` (304), and
/// `/echo`, which answers the request body with the `host` it came with and the hop-by-hop
/// fields it should not have seen.
async fn axum_upstream() -> Upstream {
    let stream = || async {
        let parts = ["one,", "two,", "three"].map(|p| Ok::<_, std::io::Error>(Frame::data(Bytes::from(p))));
        Body::new(StreamBody::new(futures_util::stream::iter(parts)))
    };
    let echo = |headers: HeaderMap, body: Bytes| async move {
        let hop: Vec<_> = ["connection", "keep-alive", "proxy-authorization", "te", "upgrade"]
            .into_iter()
            .filter(|h| headers.contains_key(*h))
            .collect();
        let host = headers.get("host").map(|h| h.to_str().unwrap_or_default().to_string()).unwrap_or_default();
        ([("x-host", host), ("x-hop", hop.join(","))], body)
    };
    let app = Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route("/stream", get(stream))
        .route("/empty", get(|| async { StatusCode::NO_CONTENT }))
        .route("/cached", get(|| async { StatusCode::NOT_MODIFIED }))
        .route("/echo", post(echo));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Upstream { addr, task }
}

/// A raw upstream that answers each connection's first request with a body ended by the close.
async fn until_close_upstream() -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).await.unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let _ = conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil the close").await;
        }
    });
    Upstream { addr, task }
}

async fn proxy_to(upstream: &str, table: &FaultTable) -> chaos_fault::server::Instance {
    chaos_fault::proxy::start("127.0.0.1:0".parse().unwrap(), &format!("http://{upstream}"), table.clone(), 1)
        .await
        .unwrap()
}

type Client = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// One hyper client connection: every request sent on it goes over the same TCP connection.
async fn connection(addr: std::net::SocketAddr) -> Client {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (client, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.unwrap();
    tokio::spawn(conn);
    client
}

/// Sends `method path` with `body` on `client`; the status, headers and whole body.
async fn send(client: &mut Client, method: &str, path: &str, body: &[u8]) -> (u16, HeaderMap, Bytes) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "the-proxy")
        .header("keep-alive", "timeout=5")
        .header("proxy-authorization", "Basic eDp5")
        .body(Full::new(Bytes::copy_from_slice(body)))
        .unwrap();
    client.ready().await.unwrap();
    let res = client.send_request(req).await.unwrap();
    let (parts, body) = res.into_parts();
    (parts.status.as_u16(), parts.headers, body.collect().await.unwrap().to_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relayed_answers_keep_their_framing_on_one_connection() {
    let upstream = axum_upstream().await;
    let table = FaultTable::new();
    let proxy = proxy_to(&upstream.addr, &table).await;
    tokio::time::timeout(BOUND, async {
        let mut c = connection(proxy.addr()).await;
        let (status, _, body) = send(&mut c, "GET", "/hello", b"").await;
        assert_eq!((status, &body[..]), (200, &b"hello"[..]));
        let (status, headers, body) = send(&mut c, "GET", "/stream", b"").await;
        assert_eq!((status, &body[..]), (200, &b"one,two,three"[..]));
        assert_eq!(headers["transfer-encoding"], "chunked", "a chunked answer stays chunked");
        let (status, headers, body) = send(&mut c, "HEAD", "/hello", b"").await;
        assert_eq!((status, &headers["content-length"], body.len()), (200, &"5".parse().unwrap(), 0));
        assert_eq!(send(&mut c, "GET", "/empty", b"").await.0, 204);
        assert_eq!(send(&mut c, "GET", "/cached", b"").await.0, 304);
        // Larger than a read buffer, so it streams through in pieces.
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let (status, headers, body) = send(&mut c, "POST", "/echo", &big).await;
        assert_eq!((status, body.len()), (200, big.len()));
        assert!(body[..] == big[..], "the request body arrives intact");
        assert_eq!(headers["x-host"].to_str().unwrap(), upstream.addr, "the upstream sees its own host");
        assert_eq!(headers["x-hop"], "", "no hop-by-hop field goes upstream");
        assert!(!headers.contains_key("keep-alive"));
    })
    .await
    .expect("the relay answered within the bound");
    // 6 requests, counted though the layer never saw them; no fault.
    let metrics = table.metrics();
    assert_eq!((metrics.requests_seen, metrics.injected.len()), (6, 0));
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_request_body_streams_upstream() {
    let upstream = axum_upstream().await;
    let proxy = proxy_to(&upstream.addr, &FaultTable::new()).await;
    tokio::time::timeout(BOUND, async {
        let mut tcp = TcpStream::connect(proxy.addr()).await.unwrap();
        let head = "POST /echo HTTP/1.1\r\nhost: p\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n";
        tcp.write_all(head.as_bytes()).await.unwrap();
        // The rest of the body later, split inside a size line.
        tokio::time::sleep(Duration::from_millis(50)).await;
        tcp.write_all(b"7\r\n, world\r\n").await.unwrap();
        tcp.write_all(b"0\r\n\r\n").await.unwrap();
        let answer = read_answer(&mut tcp).await;
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.ends_with("\r\n\r\nhello, world"), "{answer}");
    })
    .await
    .expect("the relay answered within the bound");
    proxy.shutdown().await;
}

/// Reads one answer with a `content-length` from a raw connection, head and body.
async fn read_answer(tcp: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        assert_eq!(tcp.read(&mut byte).await.unwrap(), 1, "the connection ended mid-head: {got:?}");
        got.push(byte[0]);
    }
    let head = String::from_utf8(got.clone()).unwrap();
    let length = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(|n| n.parse::<usize>().unwrap()))
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    tcp.read_exact(&mut body).await.unwrap();
    got.extend_from_slice(&body);
    String::from_utf8(got).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_and_expect_continue_are_answered_in_order() {
    let upstream = axum_upstream().await;
    let proxy = proxy_to(&upstream.addr, &FaultTable::new()).await;
    tokio::time::timeout(BOUND, async {
        let mut tcp = TcpStream::connect(proxy.addr()).await.unwrap();
        let two =
            "GET /hello HTTP/1.1\r\nhost: p\r\n\r\nPOST /echo HTTP/1.1\r\nhost: p\r\ncontent-length: 4\r\n\r\npong";
        tcp.write_all(two.as_bytes()).await.unwrap();
        assert!(read_answer(&mut tcp).await.ends_with("\r\n\r\nhello"));
        assert!(read_answer(&mut tcp).await.ends_with("\r\n\r\npong"));

        // The body goes only once the upstream asked for it.
        let expect = "POST /echo HTTP/1.1\r\nhost: p\r\ncontent-length: 5\r\nexpect: 100-continue\r\n\r\n";
        tcp.write_all(expect.as_bytes()).await.unwrap();
        assert!(read_answer(&mut tcp).await.starts_with("HTTP/1.1 100 Continue\r\n"));
        tcp.write_all(b"later").await.unwrap();
        assert!(read_answer(&mut tcp).await.ends_with("\r\n\r\nlater"));

        // HTTP/1.0 goes through the full path, on the same connection.
        tcp.write_all(b"GET /hello HTTP/1.0\r\n\r\n").await.unwrap();
        let old = read_answer(&mut tcp).await;
        assert!(old.starts_with("HTTP/1.0 200 OK\r\n") && old.ends_with("hello"), "{old}");
    })
    .await
    .expect("the relay answered within the bound");
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_ended_by_the_close_ends_the_downstream_connection() {
    let upstream = until_close_upstream().await;
    let proxy = proxy_to(&upstream.addr, &FaultTable::new()).await;
    tokio::time::timeout(BOUND, async {
        let mut tcp = TcpStream::connect(proxy.addr()).await.unwrap();
        tcp.write_all(b"GET / HTTP/1.1\r\nhost: p\r\n\r\n").await.unwrap();
        let mut all = String::new();
        tcp.read_to_string(&mut all).await.unwrap();
        assert!(all.starts_with("HTTP/1.1 200 OK\r\n"), "{all}");
        assert!(all.contains("\r\nconnection: close\r\n"), "the client is told: {all}");
        assert!(all.ends_with("\r\n\r\nuntil the close"), "{all}");
    })
    .await
    .expect("the relay answered within the bound");
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_added_mid_connection_faults_the_next_request_on_it() {
    let upstream = axum_upstream().await;
    let table = FaultTable::new();
    let proxy = proxy_to(&upstream.addr, &table).await;
    tokio::time::timeout(BOUND, async {
        let mut c = connection(proxy.addr()).await;
        assert_eq!(send(&mut c, "GET", "/hello", b"").await.0, 200);
        table.insert(Rule::new("down", Fault::error(503), Scope::default()));
        let (status, _, _) = send(&mut c, "GET", "/hello", b"").await;
        assert_eq!(status, 503, "the connection that was relayed is faulted now");
        let mut other = connection(proxy.addr()).await;
        assert_eq!(send(&mut other, "GET", "/hello", b"").await.0, 503, "and so is a new one");
        table.remove("down");
        assert_eq!(send(&mut c, "GET", "/hello", b"").await.0, 200);
        let mut fresh = connection(proxy.addr()).await;
        assert_eq!(send(&mut fresh, "GET", "/hello", b"").await.0, 200);
    })
    .await
    .expect("the proxy answered within the bound");
    let metrics = table.metrics();
    assert_eq!((metrics.requests_seen, metrics.injected.get("error").copied()), (5, Some(2)));
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_proxy_drops_relayed_connections() {
    let upstream = axum_upstream().await;
    let proxy = proxy_to(&upstream.addr, &FaultTable::new()).await;
    tokio::time::timeout(BOUND, async {
        let mut tcp = TcpStream::connect(proxy.addr()).await.unwrap();
        tcp.write_all(b"GET /hello HTTP/1.1\r\nhost: p\r\n\r\n").await.unwrap();
        assert!(read_answer(&mut tcp).await.ends_with("hello"));
        proxy.kill(None).await;
        let mut rest = Vec::new();
        let ended = tcp.read_to_end(&mut rest).await;
        assert!(ended.is_err() || rest.is_empty(), "the idle connection ends: {ended:?} {rest:?}");
        assert!(TcpStream::connect(proxy.addr()).await.is_err(), "and new ones are refused");
    })
    .await
    .expect("the kill was seen within the bound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_upstream_is_a_502() {
    let free = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().to_string();
    let proxy = proxy_to(&free, &FaultTable::new()).await;
    tokio::time::timeout(BOUND, async {
        let mut tcp = TcpStream::connect(proxy.addr()).await.unwrap();
        tcp.write_all(b"GET /hello HTTP/1.1\r\nhost: p\r\n\r\n").await.unwrap();
        let answer = read_answer(&mut tcp).await;
        assert!(answer.starts_with("HTTP/1.1 502 Bad Gateway\r\n"), "{answer}");
        assert!(answer.contains("upstream unreachable: "), "{answer}");
    })
    .await
    .expect("the proxy answered within the bound");
    proxy.shutdown().await;
}
