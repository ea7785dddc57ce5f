//! The player on real media nobody here encoded by hand: ffmpeg cuts a generated source
//! (`testsrc2`, 60 s, three renditions, 2 s segments) into HLS and three kinds of DASH, nginx
//! serves it twice (two origins), and the player reads and plays each. ffprobe, a reader nobody
//! here wrote, lists the same renditions and duration the player read.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::OnceLock;
use std::time::Duration;
use targets::manifest::{ManifestError, Unsupported};
use targets::{LoadError, PlayFailure, StreamPlayer, StreamSpec, Topology};
use url::Url;

/// The manifests made, relative to the media directory.
const MANIFESTS: [&str; 4] =
    ["hls/master.m3u8", "dash-number/manifest.mpd", "dash-time/manifest.mpd", "dash-list/manifest.mpd"];

/// The test media (experiments/streams/origin/make-media.sh: 60 s, 200/500/1200 kbit/s, 2 s
/// segments), made once under cargo's target directory and kept across runs.
fn media() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("stream-media");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../experiments/streams/origin/make-media.sh");
        let status = Command::new("sh").arg(script).arg(&dir).status().expect("sh runs");
        assert!(status.success(), "make-media.sh failed (ffmpeg must be installed: .ci/run installs it)");
        dir
    })
}

/// An nginx serving the media on a free loopback port; stopped on drop.
struct Origin {
    child: Child,
    url: Url,
    _dir: tempfile::TempDir,
}

impl Drop for Origin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn origin() -> Origin {
    let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"].into_iter().find(|p| Path::new(p).exists());
    let nginx = nginx.expect("nginx must be installed (.ci/run installs it)");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    for _ in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let conf = format!(
            "daemon off; master_process off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log;
             events {{ worker_connections 256; }}
             http {{ access_log off; client_body_temp_path {d}/b; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f;
                    uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;
                    types {{ application/vnd.apple.mpegurl m3u8; application/dash+xml mpd; video/mp2t ts; video/iso.segment m4s; }}
                    server {{ listen 127.0.0.1:{port}; root {}; location = /whoami {{ return 200 '{d}'; }} }} }}",
            media().display()
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let mut child =
            Command::new(nginx).arg("-p").arg(dir.path()).arg("-c").arg(dir.path().join("nginx.conf")).spawn().unwrap();
        for _ in 0..200 {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            if answers(port, &d.to_string()) {
                let url = Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
                return Origin { child, url, _dir: dir };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = (child.kill(), child.wait());
    }
    panic!("nginx did not start on any of 5 ports");
}

/// Whether this nginx (not another test's server that took the port) answers on `port`.
fn answers(port: u16, id: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut conn) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(1)));
    let mut answer = String::new();
    conn.write_all(b"GET /whoami HTTP/1.0\r\n\r\n").is_ok()
        && conn.read_to_string(&mut answer).is_ok()
        && answer.ends_with(id)
}

fn player(manifest: Url, origins: Vec<Url>, watch: Duration) -> StreamPlayer {
    StreamPlayer::new(StreamSpec { manifest, origins, watch }, real_time_player())
}

/// The platform's player with timeouts for real media time (its own are for ×100 scaled media):
/// `load.player`'s segment timeout, and a stall only after 2 s without a byte, so that a loaded CI
/// machine does not make a healthy loopback origin look stalled (at 500 ms it once did).
fn real_time_player() -> targets::PlayerSpec {
    let mut spec = Topology::default_platform().player;
    spec.start_budget = Duration::from_secs(4);
    spec.cdn_timeout = Duration::from_secs(4);
    spec.stall_timeout = Duration::from_secs(2);
    spec.first_frame_segments = 1;
    spec
}

#[tokio::test]
async fn every_format_plays_end_to_end_from_nginx() {
    let a = origin();
    for manifest in MANIFESTS {
        let url = a.url.join(manifest).unwrap();
        let p = player(url, vec![], Duration::from_secs(8));
        let out = p.play().await;
        assert!(out.ok, "{manifest}: {out:?}");
        let qoe = out.qoe.as_ref().unwrap();
        assert_eq!(qoe.delivered, Duration::from_secs(8), "{manifest}: four 2 s segments");
        assert_eq!((qoe.rebuffers, qoe.interrupted, out.failovers), (0, false, 0), "{manifest}: {out:?}");
        let avg = qoe.kbps_seconds / qoe.delivered.as_secs_f64();
        assert!((200.0..=1330.0).contains(&avg), "{manifest}: average {avg} kbit/s outside the ladder");
    }
}

#[tokio::test]
async fn the_player_reads_what_ffprobe_reads() {
    let a = origin();
    for manifest in MANIFESTS {
        let url = a.url.join(manifest).unwrap();
        let read = player(url.clone(), vec![], Duration::from_secs(8)).load().await.unwrap();
        let (bitrates, duration) = ffprobe(&url);
        let ours: Vec<u32> = read.renditions.iter().map(|r| r.kbps).collect();
        assert_eq!(ours, bitrates, "{manifest}: renditions");
        assert!(
            (read.duration().as_secs_f64() - duration).abs() < 0.1,
            "{manifest}: {:?} vs {duration}",
            read.duration()
        );
        assert!(read.durations.iter().all(|d| *d <= Duration::from_millis(2100)), "{manifest}: {:?}", read.durations);
    }
}

/// ffprobe's variant bitrates (kbit/s, ascending) and duration (s) of the stream at `url`.
fn ffprobe(url: &Url) -> (Vec<u32>, f64) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream_tags=variant_bitrate",
            "-of",
            "json",
            url.as_str(),
        ])
        .output()
        .expect("ffprobe must be installed (.ci/run installs ffmpeg)");
    assert!(out.status.success(), "ffprobe {url}: {}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut rates: Vec<u32> = json["streams"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["tags"]["variant_bitrate"].as_str()?.parse::<u32>().ok())
        .map(|bps| bps.div_ceil(1000))
        .collect();
    rates.sort_unstable();
    rates.dedup();
    (rates, json["format"]["duration"].as_str().unwrap().parse().unwrap())
}

#[tokio::test]
async fn a_dead_origin_fails_over_to_the_next() {
    let b = origin();
    let dead = Url::parse(&format!("http://{}/", free_addr())).unwrap();
    for manifest in ["hls/master.m3u8", "dash-number/manifest.mpd"] {
        let url = dead.join(manifest).unwrap();
        let out = player(url, vec![dead.clone(), b.url.clone()], Duration::from_secs(6)).play().await;
        assert!(out.ok, "{manifest}: {out:?}");
        assert!(out.failovers >= 1, "{manifest}: the first segment was asked of the dead origin first: {out:?}");
        let out = player(dead.join(manifest).unwrap(), vec![dead.clone()], Duration::from_secs(6)).play().await;
        assert_eq!(out.failure, Some(PlayFailure::Manifest), "{manifest}: no origin has it");
    }
}

#[tokio::test]
async fn what_cannot_be_played_says_why() {
    let a = origin();
    let not_a_manifest = a.url.join("hls/0/s000.ts").unwrap();
    let err = player(not_a_manifest, vec![], Duration::from_secs(4)).load().await.unwrap_err();
    assert!(matches!(err, LoadError::Manifest(ManifestError::UnknownFormat { .. })), "{err}");
    let media_playlist = a.url.join("hls/0/index.m3u8").unwrap();
    let err = player(media_playlist, vec![], Duration::from_secs(4)).load().await.unwrap_err();
    assert!(
        matches!(err, LoadError::Manifest(ManifestError::Unsupported { feature: Unsupported::MediaPlaylistOnly, .. })),
        "{err}"
    );
    let missing = a.url.join("nothing.m3u8").unwrap();
    let err = player(missing, vec![], Duration::from_secs(4)).load().await.unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
}

/// An address nothing listens on (bound, then closed).
fn free_addr() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}
