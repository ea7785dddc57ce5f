//! Turning the active rules into what happens to one request.

use crate::{ErrorFault, Fault, Rule, RuleId};
use rand::{RngExt, SeedableRng, rngs::SmallRng};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What the rules decided for one request.
#[derive(Debug, PartialEq)]
pub(crate) struct Plan {
    /// Total injected delay before the outcome.
    pub delay: Duration,
    /// How the request ends.
    pub outcome: Outcome,
}

#[derive(Debug, PartialEq)]
pub(crate) enum Outcome {
    /// Call the inner service.
    Pass,
    /// Answer with an error response.
    Error(ErrorFault, RuleId),
    /// Drop the connection.
    Reset(RuleId),
    /// Wait `max`, then drop the connection.
    Hang(Duration, RuleId),
}

/// Lock-free, repeatable draws: request `n` of a layer seeded `s` always draws from the same RNG.
#[derive(Debug)]
pub(crate) struct Draws {
    seed: u64,
    counter: AtomicU64,
}

impl Draws {
    pub fn new(seed: u64) -> Self {
        Self { seed, counter: AtomicU64::new(0) }
    }

    pub fn next_rng(&self) -> SmallRng {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        // splitmix64-style mixing so that neighbouring counters give unrelated seeds.
        let mut z = self.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        SmallRng::seed_from_u64(z ^ (z >> 31))
    }
}

/// Walks the rules in order (see the module docs of `layer` for the combination rule).
pub(crate) fn plan(rules: &[Rule], path: &str, rng: &mut SmallRng) -> Plan {
    let mut delay = Duration::ZERO;
    for rule in rules {
        if matches!(rule.fault, Fault::Kill { .. }) || !rule.scope.matches_path(path) {
            continue;
        }
        if rule.scope.probability < 1.0 && !rng.random_bool(rule.scope.probability.clamp(0.0, 1.0)) {
            continue;
        }
        let id = rule.id.clone();
        let outcome = match &rule.fault {
            Fault::Latency(l) => {
                delay += l.sample(rng);
                continue;
            }
            Fault::Error(e) => Outcome::Error(e.clone(), id),
            Fault::Reset => Outcome::Reset(id),
            Fault::Hang { max } => Outcome::Hang(*max, id),
            Fault::Kill { .. } => continue,
        };
        return Plan { delay, outcome };
    }
    Plan { delay, outcome: Outcome::Pass }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Scope;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn latencies_add_up_and_the_first_terminal_fault_wins() {
        let rules = vec![
            Rule::new("slow", Fault::fixed_latency(ms(10)), Scope::default()),
            Rule::new("slower", Fault::fixed_latency(ms(5)), Scope::default()),
            Rule::new("boom", Fault::error(503), Scope::default()),
            Rule::new("reset", Fault::Reset, Scope::default()),
        ];
        let p = plan(&rules, "/x", &mut Draws::new(1).next_rng());
        assert_eq!(p.delay, ms(15));
        assert!(matches!(p.outcome, Outcome::Error(ref e, ref id) if e.status == 503 && &**id == "boom"));
    }

    #[test]
    fn out_of_route_and_kill_rules_are_skipped() {
        let rules = vec![
            Rule::new("k", Fault::Kill { restart_after: None }, Scope::default()),
            Rule::new("r", Fault::Reset, Scope::default().route("/license")),
        ];
        assert_eq!(plan(&rules, "/manifest", &mut Draws::new(1).next_rng()).outcome, Outcome::Pass);
        assert_eq!(plan(&rules, "/license/7", &mut Draws::new(1).next_rng()).outcome, Outcome::Reset("r".into()));
    }

    #[test]
    fn probability_takes_about_its_share_and_repeats_for_a_seed() {
        let rules = vec![Rule::new("e", Fault::error(500), Scope::probability(0.3))];
        let run = |seed| {
            let draws = Draws::new(seed);
            (0..10_000).filter(|_| plan(&rules, "/", &mut draws.next_rng()).outcome != Outcome::Pass).count()
        };
        let hits = run(9);
        // 99.9 % binomial interval for n = 10 000, p = 0.3 is about ±150.
        assert!((2850..=3150).contains(&hits), "{hits}");
        assert_eq!(hits, run(9));
    }
}
