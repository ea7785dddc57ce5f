//! Helpers shared by the tests that run experiments against servers of their own.

use chaos_engine::{Report, RunOptions, parse_str, run};
use std::path::Path;

/// A loopback port that was free a moment ago (a proxy's address must be known up front).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Runs the experiment `src` to its report.
pub async fn run_yaml(src: &str) -> Report {
    let (exp, topology) = parse_str(src, "exp.yaml", Path::new(".")).unwrap_or_else(|e| panic!("{e}"));
    run(&exp, &topology, &RunOptions::default(), std::future::pending()).await.unwrap()
}
