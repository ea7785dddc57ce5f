//! An instance on the in-memory network behaves as on TCP: it answers, a kill refuses new
//! connections and ends open ones, a restart answers on the same address again.

use chaos_fault::server::{Instance, MemNet, Net};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

async fn hello() -> (MemNet, Instance) {
    let net = MemNet::new();
    let svc = tower::service_fn(|_req: http::Request<hyper::body::Incoming>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hello")))
    });
    let instance =
        Instance::bind_on(&Net::Mem(net.clone()), "hello-0", "127.0.0.1:0".parse().unwrap(), svc).await.unwrap();
    (net, instance)
}

/// One GET on `conn`; the answer's text, or `None` when the connection ended first.
async fn get(conn: &mut DuplexStream) -> Option<String> {
    conn.write_all(b"GET / HTTP/1.1\r\nHost: hello\r\n\r\n").await.ok()?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 512];
    while !answer.ends_with(b"hello") {
        let n = conn.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        answer.extend_from_slice(&buf[..n]);
    }
    Some(String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test(start_paused = true)]
async fn an_in_memory_instance_answers_dies_and_comes_back_like_a_socket_one() {
    let (net, instance) = hello().await;
    let addr = instance.addr();
    let mut kept = net.connect(addr).unwrap();
    assert!(get(&mut kept).await.unwrap().starts_with("HTTP/1.1 200 OK"));

    instance.kill(Some(Duration::from_secs(5))).await;
    let refused = net.connect(addr).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    assert_eq!(get(&mut kept).await, None, "an open connection ends with the kill");

    // The paused clock jumps to the restart: nothing else can happen before it.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(instance.is_up());
    let mut fresh = net.connect(addr).unwrap();
    assert!(get(&mut fresh).await.unwrap().ends_with("hello"));
    assert!(MemNet::new().connect(addr).is_err(), "another network does not reach it");
}
