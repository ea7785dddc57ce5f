//! `chaos`: run, validate and list resilience experiments.

mod args;
mod commands;
mod live;
mod printer;

use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: a platform run allocates and frees small objects for every
/// request (headers, futures, frames); on the virtual clock glibc's allocator took a fifth of the
/// run (docs/BENCHMARKS.md, issue 9).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match commands::dispatch(args::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(commands::EXIT_BAD_INPUT)
        }
    }
}
