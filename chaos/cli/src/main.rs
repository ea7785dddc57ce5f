//! `chaos`: run, validate and list resilience experiments.

mod args;
mod commands;
mod live;
mod printer;

use std::process::ExitCode;

fn main() -> ExitCode {
    match commands::dispatch(args::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(commands::EXIT_BAD_INPUT)
        }
    }
}
