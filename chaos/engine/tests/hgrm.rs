//! The `.hgrm` files against HdrHistogram's own printer (the Java library, Debian's
//! `libhdrhistogram-java`, which `.ci/run` installs): the same histogram, decoded by Java from
//! the report's encoding, must print the same text.

use chaos_engine::report::hgrm::{decode, encode, percentile_distribution};
use rand::{RngExt, SeedableRng, rngs::SmallRng};
use std::io::Write as _;
use std::path::Path;
use std::process::Command;

const JAR: &str = "/usr/share/java/hdrhistogram.jar";

/// HdrHistogram (Java)'s output for the encoded histogram; `None` when Java or the library is
/// missing (an error under CI, where `.ci/run` installs both).
fn java_output(encoded: &str) -> Option<String> {
    let program = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hgrm/PercentileDistribution.java");
    let out = Command::new("java").args(["-cp", JAR]).arg(program).arg(encoded).output();
    match out {
        Ok(o) if o.status.success() && Path::new(JAR).exists() => Some(String::from_utf8(o.stdout).unwrap()),
        other => {
            assert!(std::env::var_os("CI").is_none(), "java with {JAR} is needed under CI: {other:?}");
            // To the process's stderr, not eprintln!: cargo test hides what a passing test prints,
            // and a skipped check must be seen.
            let _ = writeln!(std::io::stderr(), "skipped: java or {JAR} missing");
            None
        }
    }
}

#[test]
fn the_hgrm_text_is_what_hdrhistogram_itself_prints() {
    // Latencies (µs) with a long tail, as TTFF and service latencies have.
    let mut rng = SmallRng::seed_from_u64(7);
    let mut h = targets::latency_histogram();
    for _ in 0..20_000 {
        let base: f64 = rng.random_range(5_000.0..40_000.0);
        let tail = if rng.random_bool(0.02) { rng.random_range(100_000.0..2_000_000.0) } else { 0.0 };
        h.record((base + tail) as u64).unwrap();
    }
    let encoded = encode(&h);
    assert_eq!(decode(&encoded).unwrap().len(), 20_000);
    let Some(reference) = java_output(&encoded) else { return };
    let ours = percentile_distribution(&h);
    let (ours, reference): (Vec<&str>, Vec<&str>) = (ours.lines().collect(), reference.lines().collect());
    assert_eq!(ours.len(), reference.len(), "{ours:#?}\n{reference:#?}");
    for (a, b) in ours.iter().zip(&reference) {
        assert_eq!(a, b);
    }
}
