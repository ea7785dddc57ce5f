//! Any text given to the experiment parser and validator gets an `Ok` or located errors, never a
//! panic. Run, seeded with the shipped experiments (see the README): `cd chaos/engine && mkdir -p
//! fuzz/corpus/parse_experiment && RUSTC_BOOTSTRAP=1 cargo fuzz run -s none -a parse_experiment
//! fuzz/corpus/parse_experiment ../../experiments`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = chaos_engine::parse_str(text, "fuzz.yaml", std::path::Path::new("/nonexistent"));
    }
});
