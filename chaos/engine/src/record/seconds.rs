//! One-second buckets of a run that keep a long run's memory flat.
//!
//! A bucket's two histograms take ~40 KiB while it is open; a 10-minute soak would grow the
//! runner by 24 MiB, an hour by 140 MiB. A bucket that no session can still land in (older than
//! [`SEAL_LAG`]) is sealed: its histograms are kept in HdrHistogram's V2 encoding, a few hundred
//! bytes for a second of sessions, and decoded when a window reads it. A session that does land
//! in a sealed second (one slower than the lag) opens it, is added, and seals it again.

use crate::kpi::{PhaseStats, compact_histogram, stub_histogram};
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};

/// Seconds behind the newest bucket after which a bucket is sealed: longer than any session
/// (edge timeouts, start budget, failovers) takes to be recorded.
pub(super) const SEAL_LAG: usize = 30;

/// Per-second figures, the old ones sealed.
#[derive(Default)]
pub(super) struct Seconds {
    slots: Vec<Slot>,
    /// Every slot below this one is sealed.
    sealed_below: usize,
}

enum Slot {
    Open(PhaseStats),
    /// The figures with stand-in histograms, and the real ones encoded.
    Sealed {
        stats: PhaseStats,
        ttff: Vec<u8>,
        home: Vec<u8>,
        /// The HTTP workload's histograms, in `HttpStats::histograms_mut`'s order.
        http: Vec<Vec<u8>>,
    },
}

impl Seconds {
    /// Adds to second `second`, then seals what is now old enough. An open second is added to
    /// in place (nothing allocated per session); a sealed one is decoded, added to and sealed.
    pub fn add(&mut self, second: usize, record: impl Fn(&mut PhaseStats)) {
        if self.slots.len() <= second {
            self.slots.resize_with(second + 1, || Slot::Open(PhaseStats::compact()));
        }
        let slot = &mut self.slots[second];
        match slot {
            Slot::Open(stats) => record(stats),
            Slot::Sealed { stats, ttff, home, http } => {
                let mut full = decoded(stats, ttff, home, http);
                record(&mut full);
                *slot = Slot::seal(full);
            }
        }
        while self.sealed_below + SEAL_LAG < self.slots.len() {
            let old = &mut self.slots[self.sealed_below];
            if let Slot::Open(stats) = old {
                let stats = std::mem::replace(stats, PhaseStats::stub());
                *old = Slot::seal(stats);
            }
            self.sealed_below += 1;
        }
    }

    /// The figures of seconds `[from, to)`, merged.
    pub fn merged(&self, from: usize, to: usize) -> PhaseStats {
        let mut out = PhaseStats::compact();
        for s in self.slots.iter().take(to).skip(from) {
            s.with(|stats| out.merge(stats));
        }
        out
    }

    /// `f` of every second's figures, in order.
    pub fn map<T>(&self, mut f: impl FnMut(&PhaseStats) -> T) -> Vec<T> {
        self.slots.iter().map(|s| s.with(&mut f)).collect()
    }

    /// Bytes the buckets' histograms take (open ones counted at their full size).
    #[cfg(test)]
    pub fn histogram_bytes(&self) -> usize {
        let open = |h: &Histogram<u64>| h.distinct_values() * 8;
        self.slots
            .iter()
            .map(|s| match s {
                Slot::Open(p) => open(&p.ttff_us) + open(&p.home_us),
                Slot::Sealed { ttff, home, http, .. } => {
                    ttff.len() + home.len() + http.iter().map(Vec::len).sum::<usize>()
                }
            })
            .sum()
    }
}

impl Slot {
    /// Seals figures: their histograms encoded, stand-ins of a few bytes in their place.
    fn seal(mut stats: PhaseStats) -> Slot {
        let ttff = encode(&std::mem::replace(&mut stats.ttff_us, stub_histogram()));
        let home = encode(&std::mem::replace(&mut stats.home_us, stub_histogram()));
        let http = stats.http.iter_mut().flat_map(|h| h.histograms_mut());
        let http = http.map(|r| encode(&std::mem::replace(&mut r.latency_us, stub_histogram()))).collect();
        Slot::Sealed { stats, ttff, home, http }
    }

    /// `f` of the figures, decoded for the call when sealed.
    fn with<T>(&self, f: impl FnOnce(&PhaseStats) -> T) -> T {
        match self {
            Slot::Open(stats) => f(stats),
            Slot::Sealed { stats, ttff, home, http } => f(&decoded(stats, ttff, home, http)),
        }
    }
}

/// Sealed figures made whole again.
fn decoded(stats: &PhaseStats, ttff: &[u8], home: &[u8], http: &[Vec<u8>]) -> PhaseStats {
    let mut full = PhaseStats { ttff_us: decode(ttff), home_us: decode(home), ..stats.clone() };
    for (r, bytes) in full.http.iter_mut().flat_map(|h| h.histograms_mut()).zip(http) {
        r.latency_us = decode(bytes);
    }
    full
}

fn encode(h: &Histogram<u64>) -> Vec<u8> {
    let mut bytes = Vec::new();
    // Serializing into a Vec cannot fail for a histogram of these bounds.
    let _ = V2Serializer::new().serialize(h, &mut bytes);
    bytes
}

fn decode(bytes: &[u8]) -> Histogram<u64> {
    Deserializer::new().deserialize(&mut &bytes[..]).unwrap_or_else(|_| compact_histogram())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(p: &mut PhaseStats, n: u64) {
        for i in 0..n {
            p.sessions += 1;
            p.play_ok += 1;
            let _ = p.ttff_us.record(10_000 + i * 37);
        }
    }

    fn add_sessions(seconds: &mut Seconds, second: usize, n: u64) {
        seconds.add(second, |p| fill(p, n));
    }

    #[test]
    fn sealed_seconds_read_back_as_they_were_recorded() {
        let mut sealed = Seconds::default();
        let mut open = Vec::new();
        for s in 0..100 {
            add_sessions(&mut sealed, s, 1000);
            let mut p = PhaseStats::compact();
            fill(&mut p, 1000);
            open.push(p);
        }
        assert_eq!(sealed.sealed_below, 100 - SEAL_LAG);
        let merged = sealed.merged(10, 20);
        let mut expected = PhaseStats::compact();
        open[10..20].iter().for_each(|p| expected.merge(p));
        assert_eq!(merged.sessions, expected.sessions);
        assert_eq!(merged.ttff_us, expected.ttff_us);
        assert_eq!(
            sealed.map(|p| p.ttff_us.value_at_quantile(0.99)),
            open.iter().map(|p| p.ttff_us.value_at_quantile(0.99)).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_late_session_lands_in_its_sealed_second_and_the_second_stays_sealed() {
        let mut seconds = Seconds::default();
        for s in 0..50 {
            add_sessions(&mut seconds, s, 10);
        }
        add_sessions(&mut seconds, 3, 5);
        assert_eq!(seconds.merged(3, 4).sessions, 15);
        assert!(matches!(seconds.slots[3], Slot::Sealed { .. }));
    }

    #[test]
    fn a_long_run_keeps_its_histograms_small() {
        let mut seconds = Seconds::default();
        let mut bytes_at = Vec::new();
        for s in 0..600 {
            add_sessions(&mut seconds, s, 1000);
            bytes_at.push(seconds.histogram_bytes());
        }
        // An open second holds 2 × 20 KiB; past the lag, each more second adds a sealed one.
        let per_second = (bytes_at[599] - bytes_at[99]) / 500;
        assert!(per_second < 1_000, "{per_second} bytes a second");
    }
}
