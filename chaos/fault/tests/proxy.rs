//! The proxy in front of a real server nobody here wrote (nginx): faults applied and removed live
//! through the control API, observed with a plain HTTP client.

use chaos_fault::FaultTable;
use chaos_fault::control::{ControlConfig, Registry, serve};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// An nginx serving `www/` on a free loopback port; killed on drop.
struct Nginx {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nginx_binary() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/bin/nginx"].into_iter().map(PathBuf::from).find(|p| p.exists())
}

/// A started nginx, or `None` (said on stderr) where it is not installed; under CI it must be.
fn nginx_or_skip() -> Option<Nginx> {
    let Some(bin) = nginx_binary() else {
        assert!(std::env::var_os("CI").is_none(), "CI must install nginx (.ci/run does)");
        // To the process's stderr, not eprintln!: cargo test hides what a passing test prints,
        // and a skipped check must be seen.
        let _ = writeln!(std::io::stderr(), "nginx is not installed here: skipping the proxy test (CI installs it)");
        return None;
    };
    Some(start_nginx(&bin))
}

/// nginx on a port that was free a moment ago. Tests of this file run side by side, and a port
/// found free may be taken by another test's proxy before nginx binds it: then nginx exits, or a
/// connection would reach that proxy. So the port is tried again (a few times), and nginx counts
/// as up only when it serves this instance's own `id.txt`.
fn start_nginx(bin: &Path) -> Nginx {
    let dir = tempfile::tempdir().unwrap();
    let www = dir.path().join("www");
    std::fs::create_dir(&www).unwrap();
    std::fs::write(www.join("hello.txt"), "hello from nginx\n").unwrap();
    std::fs::write(www.join("big.bin"), vec![b'x'; 1 << 20]).unwrap();
    let id = dir.path().display().to_string();
    std::fs::write(www.join("id.txt"), &id).unwrap();
    for _ in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let d = dir.path().display();
        let conf = format!(
            "daemon off; master_process off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log;
             events {{ worker_connections 128; }}
             http {{ access_log off; client_body_temp_path {d}/b; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f;
                    uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;
                    server {{ listen 127.0.0.1:{port}; root {d}/www; }} }}"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let mut child =
            Command::new(bin).arg("-p").arg(dir.path()).arg("-c").arg(dir.path().join("nginx.conf")).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
            if serves(port, &id) {
                return Nginx { child, url: format!("http://127.0.0.1:{port}"), _dir: dir };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = (child.kill(), child.wait());
    }
    panic!("nginx did not start on any of 5 ports");
}

/// Whether 127.0.0.1:`port` answers `GET /id.txt` with `id` (one HTTP/1.0 request).
fn serves(port: u16, id: &str) -> bool {
    use std::io::Read;
    let Ok(mut conn) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(1)));
    let mut answer = String::new();
    conn.write_all(b"GET /id.txt HTTP/1.0\r\n\r\n").is_ok()
        && conn.read_to_string(&mut answer).is_ok()
        && answer.starts_with("HTTP/1.1 200")
        && answer.ends_with(id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_applies_and_removes_faults_live_in_front_of_nginx() {
    let Some(nginx) = nginx_or_skip() else { return };
    let table = FaultTable::new();
    let proxy = chaos_fault::proxy::start("127.0.0.1:0".parse().unwrap(), &nginx.url, table.clone(), 1).await.unwrap();
    let registry = Registry::new();
    registry.register("proxy", table, Some(proxy.clone()));
    let control = serve(registry, ControlConfig::default()).await.unwrap();
    let http = reqwest::Client::new();
    let hello = format!("{}/hello.txt", proxy.url());

    let res = http.get(&hello).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["server"].to_str().unwrap().starts_with("nginx"));
    assert_eq!(res.text().await.unwrap(), "hello from nginx\n");
    assert_eq!(
        http.get(format!("{}/missing", proxy.url())).send().await.unwrap().status(),
        404,
        "nginx's own 404 passes"
    );

    let rules = format!("{}/instances/proxy/rules", control.url());
    let rule = r#"{"id":"down","fault":{"error":{"status":503,"body":"injected"}},"scope":{"route":"/hello"}}"#;
    assert_eq!(http.post(&rules).body(rule).send().await.unwrap().status(), 201);
    let res = http.get(&hello).send().await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.text().await.unwrap(), "injected");

    // Throttled and streamed: the first bytes come long before the last.
    let throttle = r#"{"id":"slow","fault":{"throttle":{"bytes_per_s":1048576}},"scope":{"route":"/big"}}"#;
    assert_eq!(http.post(&rules).body(throttle).send().await.unwrap().status(), 201);
    let start = Instant::now();
    let mut res = http.get(format!("{}/big.bin", proxy.url())).send().await.unwrap();
    let mut first = None;
    let mut total = 0;
    while let Some(chunk) = res.chunk().await.unwrap() {
        first.get_or_insert_with(|| start.elapsed());
        total += chunk.len();
    }
    let all = start.elapsed();
    assert_eq!(total, 1 << 20);
    assert!(all >= Duration::from_millis(950), "1 MiB at 1 MiB/s took {all:?}");
    assert!(first.unwrap() < all / 4, "first bytes after {:?} of {all:?}: the body was buffered", first.unwrap());

    assert_eq!(http.delete(format!("{rules}/down")).send().await.unwrap().status(), 204);
    assert_eq!(http.get(&hello).send().await.unwrap().status(), 200);
    drop(nginx);
    assert_eq!(http.get(&hello).send().await.unwrap().status(), 502, "a dead upstream is a 502 from the proxy");
}

/// Envoy's header-controlled faults, as a test written against Envoy's fault filter sends them,
/// through a proxy that opted in — and ignored by one that did not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_fault_headers_are_honoured_when_the_proxy_opts_in() {
    let Some(nginx) = nginx_or_skip() else { return };
    let any = "127.0.0.1:0".parse().unwrap();
    let layer = chaos_fault::FaultLayer::new(FaultTable::new()).seed(9).envoy_headers(true);
    let envoy = chaos_fault::proxy::start_layered(any, &nginx.url, layer).await.unwrap();
    let plain = chaos_fault::proxy::start(any, &nginx.url, FaultTable::new(), 9).await.unwrap();
    let http = reqwest::Client::new();
    let get = |base: String, path: &str, headers: &[(&'static str, &str)]| {
        let mut req = http.get(format!("{base}{path}"));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        req.send()
    };

    let res = get(envoy.url(), "/hello.txt", &[("x-envoy-fault-abort-request", "503")]).await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.text().await.unwrap(), "fault filter abort");
    let res = get(plain.url(), "/hello.txt", &[("x-envoy-fault-abort-request", "503")]).await.unwrap();
    assert_eq!(res.status(), 200, "a proxy that did not opt in ignores the header");

    let res = get(envoy.url(), "/hello.txt", &[("x-envoy-fault-abort-grpc-request", "14")]).await.unwrap();
    assert_eq!((res.status().as_u16(), res.headers()["grpc-status"].to_str().unwrap()), (200, "14"));

    let start = Instant::now();
    let res = get(envoy.url(), "/hello.txt", &[("x-envoy-fault-delay-request", "300")]).await.unwrap();
    assert_eq!(res.text().await.unwrap(), "hello from nginx\n");
    assert!(start.elapsed() >= Duration::from_millis(300), "{:?}", start.elapsed());

    // 1 MiB at 512 KiB/s: about two seconds, never under one.
    let start = Instant::now();
    let res = get(envoy.url(), "/big.bin", &[("x-envoy-fault-throughput-response", "512")]).await.unwrap();
    assert_eq!(res.bytes().await.unwrap().len(), 1 << 20);
    assert!(start.elapsed() >= Duration::from_secs(1), "{:?}", start.elapsed());

    // 30 % of 200 requests, drawn from the proxy's seed.
    let mut aborted = 0;
    for _ in 0..200 {
        let headers = [("x-envoy-fault-abort-request", "503"), ("x-envoy-fault-abort-request-percentage", "30")];
        aborted += usize::from(get(envoy.url(), "/hello.txt", &headers).await.unwrap().status() == 503);
    }
    assert!((40..=80).contains(&aborted), "{aborted} of 200 aborted at 30 %");
    envoy.shutdown().await;
    plain.shutdown().await;
}

/// A raw HTTP/1.1 upstream answering `ok` to each GET; with `close_each`, it closes every
/// connection after one answer, saying nothing (no `connection: close`), as a server whose
/// keep-alive timed out does. Counts the connections it accepted; stops when the task is aborted.
async fn raw_upstream(close_each: bool) -> (String, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    let server = tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                // Bounded: a test sends fewer than 100 requests on a connection.
                for _ in 0..100 {
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                    buf.drain(..end);
                    if conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await.is_err() || close_each {
                        return;
                    }
                }
            });
        }
    });
    (url, accepted, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_connections_are_kept_and_those_the_upstream_closed_are_not_used_again() {
    let http = reqwest::Client::new();
    for close_each in [false, true] {
        let (url, accepted, server) = raw_upstream(close_each).await;
        let proxy =
            chaos_fault::proxy::start("127.0.0.1:0".parse().unwrap(), &url, FaultTable::new(), 1).await.unwrap();
        for i in 0..20 {
            let res = http.get(format!("{}/{i}", proxy.url())).send().await.unwrap();
            assert_eq!((res.status().as_u16(), res.text().await.unwrap()), (200, "ok".into()), "request {i}");
            if close_each {
                // Time for the proxy to read the close before the next request.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let expected = if close_each { 20 } else { 1 };
        assert_eq!(accepted.load(Ordering::SeqCst), expected, "close_each: {close_each}");
        proxy.shutdown().await;
        server.abort();
    }
}
