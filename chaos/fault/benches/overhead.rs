//! What the fault layer costs a request that gets no fault: the bare service, the layer with an
//! empty table, and the layer with 100 rules whose routes do not match (issue 8, target 1:
//! ≤ 25 ns and ≤ 150 ns over the bare service).
//!
//! `cargo bench -p chaos-fault --bench overhead`
//!
//! The inner service answers at once, so the figures are the layer's own work: the table load,
//! the scope checks, the future's wrapper. Futures are polled once with no runtime (they are
//! ready at once when no fault applies).

use chaos_fault::{Fault, FaultLayer, FaultTable, Rule, Scope};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use futures_util::FutureExt;
use http::{Request, Response};
use std::convert::Infallible;
use std::hint::black_box;
use tower::{Layer, Service, service_fn};

type Answer = std::future::Ready<Result<Response<()>, Infallible>>;

fn answer(_req: Request<()>) -> Answer {
    std::future::ready(Ok(Response::new(())))
}

/// A service that answers at once.
fn bare() -> tower::util::ServiceFn<fn(Request<()>) -> Answer> {
    service_fn(answer as fn(Request<()>) -> Answer)
}

/// A table of `n` rules, none of which matches `/play/7`.
fn table(n: usize) -> FaultTable {
    let table = FaultTable::new();
    for i in 0..n {
        let scope = Scope { route: Some(format!("/other-{i}")), ..Scope::default() };
        table.insert(Rule::new(format!("r{i}"), Fault::error(503), scope));
    }
    table
}

fn overhead(c: &mut Criterion) {
    let mut group = c.benchmark_group("no-fault path");
    let mut svc = bare();
    group.bench_function("bare service", |b| {
        b.iter(|| black_box(svc.call(black_box(Request::get("/play/7").body(()).unwrap())).now_or_never()))
    });
    for rules in [0, 1, 10, 100] {
        let mut svc = FaultLayer::new(table(rules)).seed(1).layer(bare());
        group.bench_with_input(BenchmarkId::new("layer, rules not matching", rules), &rules, |b, _| {
            b.iter(|| black_box(svc.call(black_box(Request::get("/play/7").body(()).unwrap())).now_or_never()))
        });
    }
    group.finish();
}

criterion_group!(benches, overhead);
criterion_main!(benches);
