//! Any text given to the experiment parser and validator gets an `Ok` or located errors, never a
//! panic. Run: `cd chaos/engine && cargo fuzz run parse_experiment` (see the README).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = chaos_engine::parse_str(text, "fuzz.yaml", std::path::Path::new("/nonexistent"));
    }
});
