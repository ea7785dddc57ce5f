//! `chaos`: run, validate and list resilience experiments.

mod args;
mod commands;
mod live;
mod printer;

use std::process::ExitCode;

/// mimalloc in place of glibc's malloc (its `override` feature defines `malloc`, `free` and the
/// rest): a platform run allocates and frees small objects for every request (headers, futures,
/// frames); on the virtual clock glibc's allocator took a fifth of the run (docs/BENCHMARKS.md,
/// issue 9). Not `#[global_allocator] MiMalloc`: that calls `mi_malloc_aligned` for every
/// allocation, while Rust's default allocator calls `malloc` for the alignments malloc already
/// guarantees — 3 % fewer instructions a session.
use mimalloc as _;

fn main() -> ExitCode {
    match commands::dispatch(args::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(commands::EXIT_BAD_INPUT)
        }
    }
}
