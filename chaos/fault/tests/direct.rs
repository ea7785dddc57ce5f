//! Direct calls on the in-memory network behave as the socket they stand for, seen from the
//! caller: an answer and its body frames as sent; a kill refuses new calls, fails the ones in
//! flight and cuts bodies being read; a restart answers again; a caller that gives up does not
//! cancel the instance's work; injected resets and truncations arrive as errors; a service that
//! is not ready at once is waited for.

use bytes::Bytes;
use chaos_fault::server::{Closed, DirectBody, Instance, MemNet};
use chaos_fault::{Fault, FaultLayer, FaultTable, Rule, Scope};
use http::{Request, Response};
use http_body_util::{BodyExt, StreamBody};
use std::convert::Infallible;
use std::io::ErrorKind;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tower::Layer;

type Answer =
    Response<StreamBody<futures_util::stream::BoxStream<'static, Result<http_body::Frame<Bytes>, Infallible>>>>;

/// `/slow` finishes its work after 1 s and counts it; anything else answers three 4-byte frames,
/// 100 ms apart.
async fn handle(done: Arc<AtomicU32>, req: Request<DirectBody>) -> Result<Answer, Infallible> {
    if req.uri().path() == "/slow" {
        tokio::time::sleep(Duration::from_secs(1)).await;
        done.fetch_add(1, Ordering::SeqCst);
    }
    let frames = futures_util::stream::unfold(0u8, |i| async move {
        (i < 3).then_some(())?;
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Some((Ok(http_body::Frame::data(Bytes::from(vec![b'a' + i; 4]))), i + 1))
    });
    Ok(Response::new(StreamBody::new(Box::pin(frames) as _)))
}

async fn start(table: FaultTable) -> (MemNet, Instance, Arc<AtomicU32>) {
    let net = MemNet::new();
    let done = Arc::new(AtomicU32::new(0));
    let counter = done.clone();
    let svc = tower::service_fn(move |req| handle(counter.clone(), req));
    let svc = FaultLayer::new(table).layer(svc);
    let instance = Instance::bind_direct(&net, "direct-0", "127.0.0.1:0".parse().unwrap(), svc).await.unwrap();
    (net, instance, done)
}

async fn call(net: &MemNet, instance: &Instance, path: &str) -> Result<Response<DirectBody>, chaos_fault::BoxError> {
    let req = Request::get(format!("{}{path}", instance.url())).body(DirectBody::default()).unwrap();
    net.direct(instance.addr()).expect("a direct instance")?.call(req).await
}

#[tokio::test(start_paused = true)]
async fn a_direct_instance_answers_dies_and_comes_back_like_a_socket_one() {
    let (net, instance, _) = start(FaultTable::new()).await;
    let addr = instance.addr();
    let whole = call(&net, &instance, "/").await.unwrap().into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&whole[..], b"aaaabbbbcccc");
    assert_eq!(net.connect(addr).unwrap_err().kind(), ErrorKind::Unsupported, "no HTTP/1 bytes to dial");

    let mut reading = call(&net, &instance, "/").await.unwrap().into_body();
    assert_eq!(reading.frame().await.unwrap().unwrap().into_data().unwrap(), "aaaa");
    instance.kill(Some(Duration::from_secs(5))).await;
    let cut = reading.frame().await.unwrap().unwrap_err();
    assert!(cut.is::<Closed>(), "a body being read ends with the kill: {cut}");
    let refused = call(&net, &instance, "/").await.unwrap_err();
    assert_eq!(refused.downcast_ref::<std::io::Error>().map(|e| e.kind()), Some(ErrorKind::ConnectionRefused));

    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(instance.is_up());
    assert_eq!(call(&net, &instance, "/").await.unwrap().into_body().collect().await.unwrap().to_bytes().len(), 12);
    assert!(MemNet::new().direct(addr).unwrap().is_err(), "another network does not reach it");
}

#[tokio::test(start_paused = true)]
async fn an_abandoned_call_keeps_its_work_and_a_kill_drops_the_work_in_flight() {
    let (net, instance, done) = start(FaultTable::new()).await;
    let gave_up = tokio::time::timeout(Duration::from_millis(100), call(&net, &instance, "/slow")).await;
    assert!(gave_up.is_err());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(done.load(Ordering::SeqCst), 1, "the instance finished what the caller gave up on");

    let net2 = net.clone();
    let instance2 = instance.clone();
    let pending = tokio::spawn(async move { call(&net2, &instance2, "/slow").await.map(drop) });
    tokio::time::sleep(Duration::from_millis(500)).await;
    instance.kill(None).await;
    let failed = pending.await.unwrap().unwrap_err();
    assert!(failed.is::<Closed>(), "the call in flight fails with the kill: {failed}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(done.load(Ordering::SeqCst), 1, "the killed instance's work was dropped");
}

#[tokio::test(start_paused = true)]
async fn injected_resets_and_truncations_arrive_as_errors() {
    let table = FaultTable::new();
    table.insert(Rule::new("reset", Fault::Reset, Scope::default().route("/reset")));
    table.insert(Rule::new("cut", Fault::Truncate { after_bytes: 6 }, Scope::default().route("/cut")));
    let (net, instance, _) = start(table).await;
    let reset = call(&net, &instance, "/reset").await.unwrap_err();
    assert!(reset.to_string().contains("reset"), "{reset}");

    let mut body = call(&net, &instance, "/cut").await.unwrap().into_body();
    let mut got = Vec::new();
    let err = loop {
        match body.frame().await {
            Some(Ok(frame)) => got.extend_from_slice(&frame.into_data().unwrap()),
            Some(Err(e)) => break e,
            None => panic!("a truncated body must not end cleanly"),
        }
    };
    assert_eq!(got, b"aaaabb", "the bytes before the cut arrive");
    assert!(err.to_string().contains("truncat"), "{err}");
}

/// A service ready only once its gate is open (the gate shared by its clones), as a concurrency
/// limit or a load shedder is; it answers `ok`.
#[derive(Clone, Default)]
struct Gated {
    open: Arc<AtomicBool>,
    waiting: Arc<std::sync::Mutex<Vec<Waker>>>,
}

impl Gated {
    fn open(&self) {
        self.open.store(true, Ordering::SeqCst);
        self.waiting.lock().unwrap().drain(..).for_each(Waker::wake);
    }
}

impl tower::Service<Request<DirectBody>> for Gated {
    type Response = Response<http_body_util::Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        if self.open.load(Ordering::SeqCst) {
            return Poll::Ready(Ok(()));
        }
        self.waiting.lock().unwrap().push(cx.waker().clone());
        Poll::Pending
    }

    fn call(&mut self, _: Request<DirectBody>) -> Self::Future {
        std::future::ready(Ok(Response::new(http_body_util::Full::new(Bytes::from_static(b"ok")))))
    }
}

#[tokio::test(start_paused = true)]
async fn a_service_not_ready_at_once_is_waited_for_and_then_answers() {
    let net = MemNet::new();
    let gate = Gated::default();
    let instance = Instance::bind_direct(&net, "gated-0", "127.0.0.1:0".parse().unwrap(), gate.clone()).await.unwrap();
    let mut answer = Box::pin(call(&net, &instance, "/"));
    tokio::select! {
        biased;
        _ = &mut answer => panic!("answered before the service was ready"),
        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
    }
    gate.open();
    let body = answer.await.unwrap().into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"ok");
    // Ready at once now: called in place.
    assert_eq!(&call(&net, &instance, "/").await.unwrap().into_body().collect().await.unwrap().to_bytes()[..], b"ok");
}
