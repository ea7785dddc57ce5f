//! Long-running modes: `chaos proxy` and `chaos targets up`.

use super::{runtime, shutdown_signal};
use anyhow::Context;
use chaos_fault::FaultTable;
use chaos_fault::control::{ControlConfig, Registry};
use std::net::SocketAddr;
use std::process::ExitCode;
use targets::{Platform, Topology};

/// `chaos proxy`: the fault layer in front of `upstream`, managed through the control API.
pub fn proxy(
    listen: SocketAddr,
    upstream: &str,
    control: SocketAddr,
    token: Option<String>,
    seed: u64,
) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let stop = shutdown_signal();
        let table = FaultTable::new();
        let proxy = chaos_fault::proxy::start(listen, upstream, table.clone(), seed).await?;
        let registry = Registry::new();
        registry.register("proxy", table, Some(proxy.clone()));
        let api =
            chaos_fault::control::serve(registry, ControlConfig { addr: control, token, ..ControlConfig::default() })
                .await
                .context("starting the control API")?;
        println!("proxy   {} → {upstream}", proxy.url());
        println!("control {}  (instance name: proxy)", api.url());
        stop.await;
        proxy.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}

/// `chaos targets up`: the default platform and its control API until Ctrl-C.
pub fn targets_up(seed: u64, control: SocketAddr) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let stop = shutdown_signal();
        let topology = Topology::default_platform();
        let platform = Platform::start(&topology, seed).await?;
        let api = platform.serve_control(ControlConfig { addr: control, ..ControlConfig::default() }).await?;
        println!("edge    {}", platform.edge_url());
        println!("control {}", api.url());
        for i in platform.instances() {
            println!("  {:<20} {:<8} {}", i.name, i.zone, i.server.url());
        }
        stop.await;
        platform.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}
