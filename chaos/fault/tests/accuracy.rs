//! The faults do what they say, statistically, as a client sees them: on the in-memory network
//! and tokio's paused clock, so the figures are the layer's and not the machine's load (the same
//! checks against real sockets and the wall clock, with more samples, are
//! `cargo bench -p chaos-fault --features server --bench accuracy`).

mod support;

use chaos_fault::server::{Instance, MemNet, Net};
use chaos_fault::{
    Distribution, Fault, FaultTable, Latency, LognormalParams, NormalParams, ParetoParams, Rule, Scope, UniformParams,
    When,
};
use std::time::Duration;
use support::*;

/// Requests in flight at once.
const BATCH: usize = 20;
/// How late a delay may be seen: tokio's timer ends a sleep on the next 1 ms tick.
const SLACK: f64 = 0.002;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The target on a fresh in-memory network.
async fn target_in_memory(seed: u64) -> (MemNet, Instance, FaultTable) {
    let net = MemNet::new();
    let (inst, table) = target_on(&Net::Mem(net.clone()), seed).await;
    (net, inst, table)
}

#[tokio::test(start_paused = true)]
async fn error_and_reset_shares_lie_in_the_binomial_interval() {
    let (net, inst, table) = target_in_memory(21).await;
    table.insert(Rule::new("err", Fault::error(503), Scope::probability(0.2)));
    table.insert(Rule::new("rst", Fault::Reset, Scope::probability(0.1)));
    let n = 2000;
    let seen = probe_mem(&net, inst.addr(), n, 50).await;
    let errors = seen.iter().filter(|s| matches!(s, Seen::Status(503, _))).count();
    let resets = seen.iter().filter(|s| matches!(s, Seen::Dropped)).count();
    // Rules are walked in order: 20 % errors; of the rest, 10 % resets (8 % of all).
    let (lo, hi) = binomial_interval(n, 0.2);
    assert!((lo..=hi).contains(&(errors as f64)), "{errors} errors of {n}, interval {lo:.0}..{hi:.0}");
    let (lo, hi) = binomial_interval(n, 0.8 * 0.1);
    assert!((lo..=hi).contains(&(resets as f64)), "{resets} resets of {n}, interval {lo:.0}..{hi:.0}");
}

#[tokio::test(start_paused = true)]
async fn latency_distributions_pass_a_kolmogorov_smirnov_test() {
    let cases = [
        Distribution::Fixed(ms(40)),
        Distribution::Uniform(UniformParams { min: ms(20), max: ms(120) }),
        Distribution::Normal(NormalParams { mean: ms(80), stddev: ms(15) }),
        Distribution::Lognormal(LognormalParams { median: ms(50), sigma: 0.4 }),
        Distribution::Pareto(ParetoParams { scale: ms(30), shape: 3.0 }),
    ];
    let (net, inst, table) = target_in_memory(22).await;
    let n = 400;
    for dist in cases {
        let fault = Fault::Latency(Latency { distribution: dist.clone(), jitter: Duration::ZERO, when: When::Before });
        table.insert(Rule::new("lat", fault, Scope::default()));
        // No CPU time passes on the paused clock: what a client sees is the injected delay.
        let samples = delays(&probe_mem(&net, inst.addr(), n, BATCH).await, 0.0);
        let d = ks_distance(&samples, &dist, SLACK);
        eprintln!("{dist:?}: KS D = {d:.4} (critical {:.4})", ks_critical(n));
        assert!(d < ks_critical(n), "{dist:?}: D = {d:.4} ≥ {:.4}", ks_critical(n));
    }
}

#[tokio::test(start_paused = true)]
async fn a_wrong_distribution_fails_the_same_test() {
    // The test has teeth: uniform(20, 120) samples are not normal(80, 15).
    let (net, inst, table) = target_in_memory(23).await;
    let uniform = Distribution::Uniform(UniformParams { min: ms(20), max: ms(120) });
    let fault = Fault::Latency(Latency { distribution: uniform, jitter: Duration::ZERO, when: When::Before });
    table.insert(Rule::new("lat", fault, Scope::default()));
    let samples = delays(&probe_mem(&net, inst.addr(), 400, BATCH).await, 0.0);
    let normal = Distribution::Normal(NormalParams { mean: ms(80), stddev: ms(15) });
    assert!(ks_distance(&samples, &normal, SLACK) > ks_critical(400));
}

#[tokio::test(start_paused = true)]
async fn throttle_streams_a_large_body_at_the_configured_rate() {
    let (net, inst, table) = target_in_memory(24).await;
    let rate = 2 * 1024 * 1024; // 2 MiB/s
    table.insert(Rule::new("thin", Fault::Throttle { bytes_per_s: rate }, Scope::default()));
    let start = tokio::time::Instant::now();
    let body = get_mem(&net, inst.addr(), &format!("/bytes/{}", 2 * 1024 * 1024)).await;
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(body.len(), 2 * 1024 * 1024);
    let measured = body.len() as f64 / secs;
    // Never faster than its schedule; at most a timer tick per chunk slower.
    assert!(measured <= rate as f64 * 1.01, "measured {measured:.0} B/s");
    assert!(measured >= rate as f64 * 0.95, "measured {measured:.0} B/s for {rate} B/s");
}
