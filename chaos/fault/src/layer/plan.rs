//! Turning the active rules into what happens to one request.

use crate::table::{ActiveRule, Slot};
use crate::{ErrorFault, Fault, FaultTable, GrpcFault, RuleId, When};
use http::{HeaderMap, Method};
use rand::{RngExt, SeedableRng, rngs::SmallRng};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// What the rules decided for one request.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// Injected delay before the inner service is called.
    pub before: Duration,
    /// Injected delay after it answered, before the response head goes out.
    pub after: Duration,
    /// How the request ends.
    pub outcome: Outcome,
    /// What happens to the response body.
    pub shape: Shape,
    /// `max_active` slots held while the request is faulted.
    pub slots: Vec<Slot>,
}

/// Response-body faults.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Shape {
    /// Bytes per second.
    pub throttle: Option<u64>,
    /// Where the body stops: bytes let through, how long it then stalls, and the rule.
    pub cut: Option<Cut>,
}

/// A body that stops: `truncate` (no stall) or `stall`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Cut {
    /// Bytes still let through.
    pub left: u64,
    /// Silence before the connection drops.
    pub stall: Duration,
    /// The rule that cut.
    pub rule: RuleId,
}

impl Shape {
    pub fn is_none(&self) -> bool {
        self.throttle.is_none() && self.cut.is_none()
    }
}

#[derive(Debug, Default, PartialEq)]
pub(crate) enum Outcome {
    /// Call the inner service.
    #[default]
    Pass,
    /// Answer with an error response.
    Error(ErrorFault, RuleId),
    /// Answer a gRPC call with a status.
    Grpc(GrpcFault, RuleId),
    /// Drop the connection.
    Reset(RuleId),
    /// Wait `max`, then drop the connection.
    Hang(Duration, RuleId),
}

impl Plan {
    /// Nothing to do: call the inner service as if there were no layer.
    pub fn is_noop(&self) -> bool {
        self.before.is_zero() && self.after.is_zero() && self.outcome == Outcome::Pass && self.shape.is_none()
    }
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
        SmallRng::seed_from_u64(crate::seed::mix(self.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
    }
}

/// A rule's route prefix packed for a quick first check: its first eight bytes and a mask.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RouteKey {
    bytes: u64,
    mask: u64,
    len: usize,
}

impl RouteKey {
    /// The key of a route prefix; `None` admits every path.
    pub fn of(route: Option<&str>) -> Self {
        let Some(route) = route else { return Self::default() };
        let n = route.len().min(8);
        let mask = if n == 8 { u64::MAX } else { (1u64 << (8 * n)) - 1 };
        Self { bytes: Self::head(route) & mask, mask, len: route.len() }
    }

    /// The first eight bytes of a path (zero-padded), little-endian.
    pub fn head(path: &str) -> u64 {
        let mut buf = [0u8; 8];
        let n = path.len().min(8);
        buf[..n].copy_from_slice(&path.as_bytes()[..n]);
        u64::from_le_bytes(buf)
    }

    /// False only when the prefix cannot match a path with this head and length.
    pub fn admits(&self, head: u64, len: usize) -> bool {
        len >= self.len && head & self.mask == self.bytes
    }
}

/// The request as the rules see it.
pub(crate) struct Request<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub headers: &'a HeaderMap,
}

/// Walks the rules in table order (see the `layer` module docs for how they combine).
///
/// The walk is the layer's hot path when rules are active: each rule's route is first checked
/// against the path's first eight bytes with one mask and compare ([`RouteKey`]), and the
/// request's RNG is only made once a rule gets past that check, so rules whose routes do not
/// match cost a few nanoseconds each.
pub(crate) fn plan(rules: &[Arc<ActiveRule>], req: &Request<'_>, draws: &Draws, table: &FaultTable) -> Plan {
    let mut plan = Plan::default();
    let mut now = None;
    let mut rng: Option<SmallRng> = None;
    let head = RouteKey::head(req.path);
    for entry in rules {
        if !entry.key.admits(head, req.path.len()) {
            continue;
        }
        let rule = &entry.rule;
        let rng = rng.get_or_insert_with(|| draws.next_rng());
        if rule.fault.is_instance_level()
            || !entry.is_live(|| *now.get_or_insert_with(Instant::now))
            || !rule.scope.matches(req.method, req.path, req.headers)
        {
            continue;
        }
        if rule.scope.probability < 1.0 && !rng.random_bool(rule.scope.probability.clamp(0.0, 1.0)) {
            continue;
        }
        let Some(slot) = entry.enter() else { continue };
        table.count(rule.fault.kind());
        plan.slots.push(slot);
        let id = rule.id.clone();
        plan.outcome = match &rule.fault {
            Fault::Latency(l) if l.when == When::Before => {
                plan.before += l.sample(rng);
                continue;
            }
            Fault::Latency(l) => {
                plan.after += l.sample(rng);
                continue;
            }
            Fault::Throttle { bytes_per_s } => {
                plan.shape.throttle.get_or_insert(*bytes_per_s);
                continue;
            }
            Fault::Truncate { after_bytes } => {
                plan.shape.cut.get_or_insert(Cut { left: *after_bytes, stall: Duration::ZERO, rule: id });
                continue;
            }
            Fault::Stall { after_bytes, max } => {
                plan.shape.cut.get_or_insert(Cut { left: *after_bytes, stall: *max, rule: id });
                continue;
            }
            Fault::Error(e) => Outcome::Error(e.clone(), id),
            Fault::Grpc(g) => Outcome::Grpc(g.clone(), id),
            Fault::Reset => Outcome::Reset(id),
            Fault::Hang { max } => Outcome::Hang(*max, id),
            Fault::Kill { .. } | Fault::Pause | Fault::Toxic(_) => continue,
        };
        break;
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Rule, Scope};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn run(rules: Vec<Rule>, path: &str, seed: u64) -> Plan {
        let table = FaultTable::new();
        rules.into_iter().for_each(|r| table.insert(r));
        let req = Request { method: &Method::GET, path, headers: &HeaderMap::new() };
        plan(&table.load(), &req, &Draws::new(seed), &table)
    }

    #[test]
    fn the_route_key_never_rejects_a_path_its_prefix_matches() {
        let routes = ["/", "/l", "/license", "/license/", "/licenses", "/segments/t1/3000", "/play/7", "/pl"];
        let paths = ["/", "/l", "/license", "/license/t1", "/licensed", "/segments/t1/3000/4", "/play/7", "/play", ""];
        for route in routes {
            let key = RouteKey::of(Some(route));
            for path in paths {
                let admitted = key.admits(RouteKey::head(path), path.len());
                if path.starts_with(route) {
                    assert!(admitted, "{route} must admit {path}");
                }
                if route.len() <= 8 {
                    assert_eq!(admitted, path.starts_with(route), "{route} vs {path}: exact within 8 bytes");
                }
            }
        }
        assert!(RouteKey::of(None).admits(RouteKey::head("/anything"), 9));
    }

    #[test]
    fn latencies_add_up_body_faults_stack_and_the_first_terminal_fault_wins() {
        let after = Fault::Latency(crate::Latency {
            when: When::After,
            ..match Fault::fixed_latency(ms(7)) {
                Fault::Latency(l) => l,
                _ => unreachable!(),
            }
        });
        let p = run(
            vec![
                Rule::new("slow", Fault::fixed_latency(ms(10)), Scope::default()),
                Rule::new("slower", Fault::fixed_latency(ms(5)), Scope::default()),
                Rule::new("late-head", after, Scope::default()),
                Rule::new("thin", Fault::Throttle { bytes_per_s: 100 }, Scope::default()),
                Rule::new("boom", Fault::error(503), Scope::default()),
                Rule::new("reset", Fault::Reset, Scope::default()),
            ],
            "/x",
            1,
        );
        assert_eq!((p.before, p.after), (ms(15), ms(7)));
        assert_eq!(p.shape.throttle, Some(100));
        assert!(matches!(p.outcome, Outcome::Error(ref e, ref id) if e.status == 503 && &**id == "boom"));
    }

    #[test]
    fn out_of_route_and_kill_rules_are_skipped() {
        let rules = || {
            vec![
                Rule::new("k", Fault::Kill { restart_after: None }, Scope::default()),
                Rule::new("r", Fault::Reset, Scope::default().route("/license")),
            ]
        };
        assert!(run(rules(), "/manifest", 1).is_noop());
        assert_eq!(run(rules(), "/license/7", 1).outcome, Outcome::Reset("r".into()));
    }

    #[test]
    fn probability_takes_about_its_share_and_repeats_for_a_seed() {
        let hits = |seed| {
            let table = FaultTable::new();
            table.insert(Rule::new("e", Fault::error(500), Scope::probability(0.3)));
            let draws = Draws::new(seed);
            let req = Request { method: &Method::GET, path: "/", headers: &HeaderMap::new() };
            (0..10_000).filter(|_| !plan(&table.load(), &req, &draws, &table).is_noop()).count()
        };
        let n = hits(9);
        // 99.9 % binomial interval for n = 10 000, p = 0.3 is about ±150.
        assert!((2850..=3150).contains(&n), "{n}");
        assert_eq!(n, hits(9));
    }
}
