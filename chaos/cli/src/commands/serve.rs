//! Long-running modes: `chaos proxy` and `chaos targets up`.

use super::{runtime, shutdown_signal};
use anyhow::Context;
use chaos_fault::FaultTable;
use chaos_fault::control::{ControlConfig, Registry};
use std::io::Write;
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

/// `chaos targets up`: the default platform, its control API and its metrics until Ctrl-C.
pub fn targets_up(seed: u64, control: SocketAddr, metrics: SocketAddr) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let stop = shutdown_signal();
        let topology = Topology::default_platform();
        let platform = Platform::start(&topology, seed).await?;
        let api = platform.serve_control(ControlConfig { addr: control, ..ControlConfig::default() }).await?;
        let scrape = platform.serve_metrics(metrics).await.with_context(|| format!("binding {metrics}"))?;
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "edge     {}   (try: curl {}/home -H 'x-user-id: u1')",
            platform.edge_url(),
            platform.edge_url()
        )?;
        writeln!(out, "control  {}   (chaos fault --target {} list)", api.url(), api.url())?;
        writeln!(out, "metrics  {}/metrics   (Prometheus, every instance)", scrape.url())?;
        writeln!(out, "instances ({}), each with its own /metrics:", platform.instances().len())?;
        for i in platform.instances() {
            writeln!(out, "  {:<20} {:<8} {}", i.name, i.zone, i.server.url())?;
        }
        writeln!(out, "Ctrl-C stops the platform.")?;
        out.flush()?;
        drop(out);
        stop.await;
        platform.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}
