//! The TCP proxy's toxics, each observed from a client's side: the bytes it gets, when, and how
//! the connection ends (EOF, reset). Behind the proxy: an echo server, or one that sends a fixed
//! payload and closes. Real sockets on 127.0.0.1 and the real clock: lower bounds on time are
//! exact (a delay cannot come early), upper bounds are loose for a busy machine.

#![cfg(feature = "tcp")]

use chaos_fault::tcp::{
    BandwidthToxic, LatencyToxic, LimitDataToxic, ResetPeerToxic, SlicerToxic, SlowCloseToxic, Stream, TcpProxy,
    TimeoutToxic, Toxic, ToxicError, ToxicKind,
};
use std::io::ErrorKind;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};

/// A server on a free port, aborted when dropped.
struct Server {
    addr: String,
    task: JoinHandle<()>,
    /// The sizes of the reads it made, for the echo server.
    reads: std::sync::Arc<std::sync::Mutex<Vec<usize>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Echoes every byte back, noting the size of each read.
async fn echo() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let reads = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = reads.clone();
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = vec![0; 64 * 1024];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    seen.lock().unwrap().push(n);
                }
            });
        }
    });
    Server { addr, task, reads }
}

/// Sends `len` bytes to each client, then closes.
async fn sender(len: usize) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = s.write_all(&vec![b'x'; len]).await;
                let _ = s.shutdown().await;
            });
        }
    });
    Server { addr, task, reads: Default::default() }
}

async fn proxy_to(server: &Server) -> TcpProxy {
    TcpProxy::start("test", "127.0.0.1:0".parse().unwrap(), &server.addr, 42).await.unwrap()
}

async fn client(proxy: &TcpProxy) -> TcpStream {
    TcpStream::connect(proxy.listen()).await.unwrap()
}

/// Everything until EOF, an error (returned), or 5 s.
async fn read_all(s: &mut TcpStream) -> (Vec<u8>, Option<ErrorKind>) {
    let mut got = Vec::new();
    let mut buf = vec![0; 64 * 1024];
    loop {
        match timeout(Duration::from_secs(5), s.read(&mut buf)).await {
            Err(_) => return (got, Some(ErrorKind::TimedOut)),
            Ok(Ok(0)) => return (got, None),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => return (got, Some(e.kind())),
        }
    }
}

/// Writes `msg` and reads back as many bytes: the round trip's time.
async fn round_trip(s: &mut TcpStream, msg: &[u8]) -> Duration {
    let start = Instant::now();
    s.write_all(msg).await.unwrap();
    let mut back = vec![0; msg.len()];
    timeout(Duration::from_secs(5), s.read_exact(&mut back)).await.unwrap().unwrap();
    assert_eq!(back, msg);
    start.elapsed()
}

fn toxic(stream: Stream, kind: ToxicKind) -> Toxic {
    Toxic::new(stream, kind)
}

#[tokio::test]
async fn without_toxics_a_megabyte_goes_both_ways_intact() {
    let server = echo().await;
    let proxy = proxy_to(&server).await;
    let mut c = client(&proxy).await;
    let msg: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let (mut r, mut w) = c.split();
    let writing = async {
        w.write_all(&msg).await.unwrap();
        w.shutdown().await.unwrap();
    };
    let mut back = Vec::new();
    let reading = r.read_to_end(&mut back);
    let ((), read) = tokio::join!(writing, reading);
    read.unwrap();
    assert_eq!(back, msg);
}

#[tokio::test]
async fn latency_delays_each_direction_and_applies_to_open_connections() {
    let server = echo().await;
    let proxy = proxy_to(&server).await;
    let mut c = client(&proxy).await;
    assert!(round_trip(&mut c, b"ping").await < Duration::from_millis(100));
    let lag = |ms| ToxicKind::Latency(LatencyToxic { latency: ms, jitter: 0 });
    proxy.add_toxic(toxic(Stream::Downstream, lag(150))).unwrap();
    proxy.add_toxic(toxic(Stream::Upstream, lag(100))).unwrap();
    let rtt = round_trip(&mut c, b"ping").await;
    assert!(rtt >= Duration::from_millis(250) && rtt < Duration::from_secs(2), "{rtt:?}");
    proxy.remove_toxic("latency_downstream").unwrap();
    proxy.remove_toxic("latency_upstream").unwrap();
    assert!(round_trip(&mut c, b"ping").await < Duration::from_millis(100));
}

#[tokio::test]
async fn jitter_varies_the_delay_within_its_bounds() {
    let server = echo().await;
    let proxy = proxy_to(&server).await;
    proxy.add_toxic(toxic(Stream::Downstream, ToxicKind::Latency(LatencyToxic { latency: 60, jitter: 40 }))).unwrap();
    let mut c = client(&proxy).await;
    let mut rtts = Vec::new();
    for _ in 0..8 {
        rtts.push(round_trip(&mut c, b"x").await);
    }
    assert!(rtts.iter().all(|r| *r >= Duration::from_millis(20)), "{rtts:?}");
    let spread = rtts.iter().max().unwrap().saturating_sub(*rtts.iter().min().unwrap());
    assert!(spread >= Duration::from_millis(10), "jitter drawn per chunk: {rtts:?}");
}

#[tokio::test]
async fn bandwidth_paces_the_data() {
    let server = sender(100_000).await;
    let proxy = proxy_to(&server).await;
    proxy.add_toxic(toxic(Stream::Downstream, ToxicKind::Bandwidth(BandwidthToxic { rate: 200 }))).unwrap();
    let mut c = client(&proxy).await;
    let start = Instant::now();
    let (got, err) = read_all(&mut c).await;
    let took = start.elapsed();
    assert_eq!((got.len(), err), (100_000, None));
    // 100 KB at 200 KB/s: half a second.
    assert!(took >= Duration::from_millis(450) && took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn slicer_hands_the_server_small_pieces() {
    let server = echo().await;
    let proxy = proxy_to(&server).await;
    let slicer = SlicerToxic { average_size: 10, size_variation: 5, delay: 2_000 };
    proxy.add_toxic(toxic(Stream::Upstream, ToxicKind::Slicer(slicer))).unwrap();
    let mut c = client(&proxy).await;
    let msg = vec![b'y'; 200];
    let rtt = round_trip(&mut c, &msg).await;
    let reads = server.reads.lock().unwrap().clone();
    assert_eq!(reads.iter().sum::<usize>(), 200);
    assert!(reads.len() >= 10 && reads.iter().all(|n| *n <= 15), "{reads:?}");
    // At least 13 pieces of at most 15 bytes, 2 ms apart.
    assert!(rtt >= Duration::from_millis(24), "{rtt:?}");
}

#[tokio::test]
async fn limit_data_closes_the_connection_after_so_many_bytes() {
    let server = sender(50_000).await;
    let proxy = proxy_to(&server).await;
    proxy.add_toxic(toxic(Stream::Downstream, ToxicKind::LimitData(LimitDataToxic { bytes: 1234 }))).unwrap();
    let mut c = client(&proxy).await;
    let (got, err) = read_all(&mut c).await;
    assert_eq!((got.len(), err), (1234, None), "exactly the limit, then EOF");
}

#[tokio::test]
async fn reset_peer_resets_the_connection_at_the_first_data() {
    let server = echo().await;
    let proxy = proxy_to(&server).await;
    proxy.add_toxic(toxic(Stream::Upstream, ToxicKind::ResetPeer(ResetPeerToxic { timeout: 100 }))).unwrap();
    let mut c = client(&proxy).await;
    let start = Instant::now();
    c.write_all(b"hello").await.unwrap();
    let (got, err) = read_all(&mut c).await;
    assert!(got.is_empty(), "the data that came is dropped");
    assert_eq!(err, Some(ErrorKind::ConnectionReset), "a reset, not a close");
    assert!(start.elapsed() >= Duration::from_millis(100), "{:?}", start.elapsed());
}

#[tokio::test]
async fn timeout_stops_the_data_then_closes_and_zero_never_closes() {
    let server = echo().await;
    let proxy = proxy_to(&server).await;
    proxy.add_toxic(toxic(Stream::Upstream, ToxicKind::Timeout(TimeoutToxic { timeout: 300 }))).unwrap();
    let mut c = client(&proxy).await;
    let start = Instant::now();
    c.write_all(b"lost").await.unwrap();
    let (got, err) = read_all(&mut c).await;
    assert_eq!((got.len(), err), (0, None), "nothing, then a close");
    assert!(start.elapsed() >= Duration::from_millis(280), "{:?}", start.elapsed());

    proxy
        .update_toxic("timeout_upstream", toxic(Stream::Upstream, ToxicKind::Timeout(TimeoutToxic { timeout: 0 })))
        .unwrap();
    let mut c = client(&proxy).await;
    c.write_all(b"dropped").await.unwrap();
    let mut buf = [0; 16];
    assert!(timeout(Duration::from_millis(400), c.read(&mut buf)).await.is_err(), "neither data nor a close");
    proxy.remove_toxic("timeout_upstream").unwrap();
    assert!(round_trip(&mut c, b"flows again").await < Duration::from_secs(1));
}

#[tokio::test]
async fn slow_close_holds_the_close_back() {
    let server = sender(10).await;
    let proxy = proxy_to(&server).await;
    proxy.add_toxic(toxic(Stream::Downstream, ToxicKind::SlowClose(SlowCloseToxic { delay: 300 }))).unwrap();
    let mut c = client(&proxy).await;
    let start = Instant::now();
    let (got, err) = read_all(&mut c).await;
    assert_eq!((got.len(), err), (10, None));
    assert!(start.elapsed() >= Duration::from_millis(290), "{:?}", start.elapsed());
}

#[tokio::test]
async fn toxicity_picks_a_seeded_share_of_the_connections() {
    let server = echo().await;
    let proxy = proxy_to(&server).await;
    let mut lag = toxic(Stream::Downstream, ToxicKind::Latency(LatencyToxic { latency: 200, jitter: 0 }));
    lag.toxicity = 0.5;
    proxy.add_toxic(lag).unwrap();
    let mut slow = 0;
    for _ in 0..20 {
        let mut c = client(&proxy).await;
        slow += usize::from(round_trip(&mut c, b"?").await >= Duration::from_millis(200));
    }
    assert!((4..=16).contains(&slow), "about half of 20 connections: {slow}");
}

#[tokio::test]
async fn names_are_unique_and_a_disabled_proxy_refuses_then_serves_again() {
    let server = echo().await;
    let proxy = proxy_to(&server).await;
    let lag = toxic(Stream::Downstream, ToxicKind::Latency(LatencyToxic { latency: 1, jitter: 0 }));
    proxy.add_toxic(lag.clone()).unwrap();
    assert_eq!(proxy.add_toxic(lag), Err(ToxicError::Exists("latency_downstream".into())));
    assert_eq!(proxy.remove_toxic("nope"), Err(ToxicError::NotFound("nope".into())));

    let mut open = client(&proxy).await;
    proxy.set_enabled(false).await.unwrap();
    let (_, err) = read_all(&mut open).await;
    assert_ne!(err, Some(ErrorKind::TimedOut), "open connections are closed");
    assert!(TcpStream::connect(proxy.listen()).await.is_err(), "the listener is closed");
    proxy.set_enabled(true).await.unwrap();
    let mut c = client(&proxy).await;
    round_trip(&mut c, b"back").await;
    // Back to back, as Toxiproxy clients' `down()` does: the address is free again at once.
    for _ in 0..20 {
        proxy.set_enabled(false).await.unwrap();
        proxy.set_enabled(true).await.unwrap();
    }
    let mut c = client(&proxy).await;
    round_trip(&mut c, b"still there").await;
}

/// A connection the proxy accepted but had not yet connected upstream when it was disabled is
/// closed with the rest: let through, one kept-alive connection would serve its client for the
/// whole of a "kill". The upstream here never completes a handshake: its accept queue is full.
#[tokio::test]
async fn disabling_closes_a_connection_still_waiting_for_its_upstream() {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let full = socket.listen(0).unwrap();
    let upstream = full.local_addr().unwrap();
    let mut queued = Vec::new();
    for _ in 0..8 {
        match timeout(Duration::from_millis(200), TcpStream::connect(upstream)).await {
            Ok(Ok(s)) => queued.push(s),
            _ => break,
        }
    }
    assert!(queued.len() < 8, "the upstream's accept queue never filled");
    let proxy = TcpProxy::start("test", "127.0.0.1:0".parse().unwrap(), &upstream.to_string(), 42).await.unwrap();
    let mut c = client(&proxy).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(proxy.metrics().connections, 0, "still connecting upstream");
    proxy.set_enabled(false).await.unwrap();
    let (got, err) = read_all(&mut c).await;
    assert!(got.is_empty() && err != Some(ErrorKind::TimedOut), "{got:?} {err:?}");
}

#[tokio::test]
async fn a_timeout_removed_and_added_again_counts_from_its_return() {
    let server = echo().await;
    let proxy = proxy_to(&server).await;
    let stall = || toxic(Stream::Downstream, ToxicKind::Timeout(TimeoutToxic { timeout: 400 }));
    let mut c = client(&proxy).await;
    round_trip(&mut c, b"warm").await;
    proxy.add_toxic(stall()).unwrap();
    c.write_all(b"a").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.remove_toxic("timeout_downstream").unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let start = Instant::now();
    proxy.add_toxic(stall()).unwrap();
    let (_, err) = read_all(&mut c).await;
    assert_eq!(err, None, "closed by the timeout");
    assert!(
        start.elapsed() >= Duration::from_millis(380),
        "a fresh 400 ms, not the first one's rest: {:?}",
        start.elapsed()
    );
}

/// Debian's `redis-server` on a free port (nothing saved), killed when dropped; `None` when it
/// is not installed.
struct Redis {
    child: std::process::Child,
    port: u16,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn redis() -> Option<Redis> {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let spawned = std::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .spawn();
    let Ok(child) = spawned else {
        assert!(std::env::var_os("CI").is_none(), "CI must install redis-server (.ci/run does)");
        let _ = std::io::Write::write_all(&mut std::io::stderr(), b"redis-server is not installed: skipping\n");
        return None;
    };
    let redis = Redis { child, port };
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Some(redis);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("redis-server did not listen on {port}");
}

/// Runs a Redis tool (a blocking program) against the proxy: (exit success, stdout + stderr).
async fn redis_tool(program: &str, args: Vec<String>) -> (bool, String) {
    let program = program.to_string();
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(&program).args(&args).output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    })
    .await
    .unwrap()
}

/// `redis-benchmark`'s PING_INLINE requests per second through `port`, one connection, `n`
/// requests.
async fn pings_per_second(port: u16, n: u32) -> f64 {
    let args =
        ["-h", "127.0.0.1", "-p", &port.to_string(), "-c", "1", "-n", &n.to_string(), "-t", "ping_inline", "--csv"];
    let (ok, out) = redis_tool("redis-benchmark", args.map(String::from).to_vec()).await;
    assert!(ok, "{out}");
    let row = out.lines().find(|l| l.starts_with("\"PING_INLINE\"")).unwrap_or_else(|| panic!("{out}"));
    row.split(',').nth(1).unwrap().trim_matches('"').parse().unwrap()
}

/// Redis and its own tools, which nobody here wrote, through the proxy: the latency toxic shows
/// in redis-benchmark's rate, limit_data and reset_peer as redis-cli's errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_tools_see_latency_in_their_numbers_and_cut_or_reset_connections_as_errors() {
    let Some(redis) = redis().await else { return };
    let upstream = format!("127.0.0.1:{}", redis.port);
    let proxy = TcpProxy::start("redis", "127.0.0.1:0".parse().unwrap(), &upstream, 3).await.unwrap();
    let port = proxy.listen().port();
    let clean = pings_per_second(port, 200).await;
    assert!(clean > 200.0, "{clean} pings/s without toxics");
    proxy.add_toxic(toxic(Stream::Downstream, ToxicKind::Latency(LatencyToxic { latency: 20, jitter: 0 }))).unwrap();
    let slowed = pings_per_second(port, 20).await;
    assert!(slowed <= 50.0, "one connection, 20 ms a reply: at most 50 pings/s, got {slowed}");
    proxy.clear_toxics();

    let cli = |extra: &[&str]| {
        let mut args = vec!["-h".to_string(), "127.0.0.1".into(), "-p".into(), port.to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        redis_tool("redis-cli", args)
    };
    let (_, pong) = cli(&["ping"]).await;
    assert_eq!(pong.trim(), "PONG");
    // "+PONG\r\n" cut after 3 bytes: the reply never ends, the connection closes.
    proxy.add_toxic(toxic(Stream::Downstream, ToxicKind::LimitData(LimitDataToxic { bytes: 3 }))).unwrap();
    let (_, cut) = cli(&["ping"]).await;
    assert!(!cut.contains("PONG") && cut.to_lowercase().contains("closed"), "{cut}");
    proxy.clear_toxics();
    proxy.add_toxic(toxic(Stream::Upstream, ToxicKind::ResetPeer(ResetPeerToxic { timeout: 0 }))).unwrap();
    let (_, reset) = cli(&["ping"]).await;
    assert!(reset.to_lowercase().contains("reset"), "{reset}");
    proxy.shutdown().await;
}
