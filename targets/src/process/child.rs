//! The child side: one instance in this process, until the parent goes away.

use super::{InstanceSpec, STATS_PATH, StatsWire};
use crate::assemble;
use crate::client::http_client;
use chaos_fault::control::{ControlConfig, Registry};
use chaos_fault::server::Instance;
use chaos_fault::{BoxError, Timer};
use http::{Request, Response};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use std::io::Write;
use std::sync::Arc;
use tokio::io::AsyncReadExt;
use tower::ServiceExt;

/// Why a child could not serve.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    /// The spec on stdin is not valid.
    #[error("bad instance spec on stdin: {0}")]
    Spec(String),
    /// A socket or pipe failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Reads an [`InstanceSpec`] line from stdin, serves the instance and its control API, prints
/// `READY <port> <control-port>`, and returns when stdin closes (the parent is gone or done).
pub async fn run_instance() -> Result<(), ChildError> {
    let mut stdin = tokio::io::stdin();
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while stdin.read(&mut byte).await? == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    let spec: InstanceSpec = serde_json::from_slice(&line).map_err(|e| ChildError::Spec(e.to_string()))?;
    die_with_parent(spec.parent_pid)?;

    let http = http_client(&chaos_fault::server::Net::Tcp);
    let (deps, guard_edges) = assemble::clients(&spec.topology, &spec.service, &spec.urls, &http);
    let (stack, table, stats) =
        assemble::instance(&spec.topology, &spec.service, &spec.instance, spec.seed, &deps, &spec.urls, Timer::Precise);
    let guard_edges = Arc::new(guard_edges);
    let svc = tower::service_fn(move |req: Request<Incoming>| {
        let (stack, stats, guards) = (stack.clone(), stats.clone(), guard_edges.clone());
        async move {
            if req.uri().path() == STATS_PATH {
                let guards = guards.iter().map(|(caller, callee, c)| c.snapshot(caller, callee)).collect();
                let wire = StatsWire::from_snapshot(&stats.snapshot(), guards);
                let body = serde_json::to_vec(&wire).unwrap_or_default();
                return Ok::<_, BoxError>(Response::new(Either::Right(Full::new(body.into()))));
            }
            stack.oneshot(req).await
        }
    });
    let server = Instance::bind(spec.instance.clone(), ([127, 0, 0, 1], spec.port).into(), svc).await?;
    let registry = Registry::new();
    registry.register(spec.instance.clone(), table, None);
    let control = chaos_fault::control::serve(registry, ControlConfig::default())
        .await
        .map_err(|e| ChildError::Io(std::io::Error::other(e.to_string())))?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "READY {} {}", server.addr().port(), control.addr().port())?;
        out.flush()?;
    }
    // Serve until the parent closes our stdin (or dies, and the kernel kills us).
    let mut rest = Vec::new();
    let _ = stdin.read_to_end(&mut rest).await;
    server.shutdown().await;
    Ok(())
}

/// Asks the kernel to SIGKILL this process when its parent dies, then checks that the parent is
/// still the one that started us (it may have died before the request).
#[cfg(target_os = "linux")]
fn die_with_parent(parent: u32) -> Result<(), ChildError> {
    use nix::sys::signal::Signal;
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(|e| ChildError::Io(e.into()))?;
    if nix::unistd::getppid().as_raw() as u32 != parent {
        std::process::exit(0);
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_parent: u32) -> Result<(), ChildError> {
    Ok(())
}
