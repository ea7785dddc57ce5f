//! Fault accuracy as a client sees it, with more samples than the tests take:
//! `cargo bench -p chaos-fault --features server --bench accuracy`.
//! Prints one row per check: configured, observed, and the statistic that judges them.

#[path = "../tests/support/mod.rs"]
mod support;

use chaos_fault::{
    Distribution, Fault, Latency, LognormalParams, NormalParams, ParetoParams, Rule, Scope, UniformParams, When,
};
use std::time::Duration;
use support::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (inst, table) = target(7).await;
    let url = inst.url();
    println!("| check | configured | observed | judged by |\n|---|---|---|---|");

    let n = 10_000;
    let shares: [(&str, Fault, f64, IsHit); 2] = [
        ("error", Fault::error(503), 0.2, |s| matches!(s, Seen::Status(503, _))),
        ("reset", Fault::Reset, 0.1, |s| matches!(s, Seen::Dropped)),
    ];
    for (label, fault, p, hit) in shares {
        table.insert(Rule::new(label, fault, Scope::probability(p)));
        let hits = probe(&url, n, 100).await.iter().filter(|s| hit(s)).count();
        let (lo, hi) = binomial_interval(n, p);
        println!(
            "| {label} share | {:.0} % | {:.2} % ({hits}/{n}) | 99.9 % interval {lo:.0}..{hi:.0}: {} |",
            p * 100.0,
            hits as f64 * 100.0 / n as f64,
            pass((lo..=hi).contains(&(hits as f64)))
        );
        table.clear();
    }

    // Lateness of one injected delay with nothing else going on: requests one at a time.
    let base1 = baseline(&url, 1).await;
    table.insert(Rule::new("lat", Fault::fixed_latency(ms(40)), Scope::default()));
    let mut late: Vec<f64> = delays(&probe(&url, 200, 1).await, base1).iter().map(|d| (d - 0.040) * 1000.0).collect();
    late.sort_by(f64::total_cmp);
    println!(
        "| lateness of a fixed 40 ms, one request at a time | 0 ms | p50 {:+.2} ms, p99 {:+.2} ms, max {:+.2} ms | tokio's 1 ms timer tick |",
        late[100], late[197], late[199]
    );
    table.clear();

    let base = baseline(&url, 20).await;
    let n = 2000;
    for dist in [
        Distribution::Fixed(ms(40)),
        Distribution::Uniform(UniformParams { min: ms(20), max: ms(120) }),
        Distribution::Normal(NormalParams { mean: ms(80), stddev: ms(15) }),
        Distribution::Lognormal(LognormalParams { median: ms(50), sigma: 0.4 }),
        Distribution::Pareto(ParetoParams { scale: ms(30), shape: 3.0 }),
    ] {
        let fault = Fault::Latency(Latency { distribution: dist.clone(), jitter: Duration::ZERO, when: When::Before });
        table.insert(Rule::new("lat", fault, Scope::default()));
        let samples = delays(&probe(&url, n, 20).await, base);
        let mean = samples.iter().sum::<f64>() / samples.len() as f64 * 1000.0;
        let d0 = ks_distance(&samples, &dist, 0.0);
        let d = ks_distance(&samples, &dist, 0.005);
        println!(
            "| latency {dist:?} | mean {:.1} ms | mean {mean:.1} ms, KS D {d0:.4} (exact), {d:.4} (5 ms slack) | critical {:.4}: {} |",
            dist.mean().map_or(f64::NAN, |m| m.as_secs_f64() * 1000.0),
            ks_critical(n),
            pass(d < ks_critical(n))
        );
    }
    table.clear();

    for (size, rate) in [(1usize << 20, 1u64 << 20), (4 << 20, 4 << 20), (8 << 20, 2 << 20)] {
        table.insert(Rule::new("thr", Fault::Throttle { bytes_per_s: rate }, Scope::default()));
        let got = body_rate(&format!("{url}/bytes/{size}")).await;
        let ratio = got / rate as f64;
        println!(
            "| throttle {} MiB body | {} KiB/s | {:.0} KiB/s (×{ratio:.4}) | within 5 %: {} |",
            size >> 20,
            rate >> 10,
            got / 1024.0,
            pass((0.95..=1.05).contains(&ratio))
        );
    }
}

/// Whether what a client saw is the fault being counted.
type IsHit = fn(&Seen) -> bool;

fn pass(ok: bool) -> &'static str {
    if ok { "pass" } else { "FAIL" }
}
