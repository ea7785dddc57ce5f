//! Long-running modes: `chaos proxy` and `chaos targets up`.

use super::{runtime, shutdown_signal};
use anyhow::Context;
use chaos_fault::FaultLayer;
use chaos_fault::control::{ControlConfig, Registry};
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use targets::{Platform, Topology};

/// `chaos proxy`: `layer` in front of `upstream`, its table managed through the control API.
pub fn proxy(
    listen: SocketAddr,
    upstream: &str,
    control: SocketAddr,
    token: Option<String>,
    layer: FaultLayer,
) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let stop = shutdown_signal();
        let table = layer.table().clone();
        let proxy = chaos_fault::proxy::start_layered(listen, upstream, layer).await?;
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

/// `chaos proxy --tcp`: one TCP proxy, its toxics managed through Toxiproxy's API on `control`.
pub fn tcp_proxy(listen: SocketAddr, upstream: &str, control: SocketAddr, seed: u64) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        control.ip().is_loopback(),
        "--control {control}: Toxiproxy's API has no authentication, so with --tcp it listens on loopback only"
    );
    anyhow::ensure!(
        chaos_fault::tcp::is_host_port(upstream),
        "--upstream {upstream}: with --tcp, give host:port (no scheme)"
    );
    runtime()?.block_on(async {
        let stop = shutdown_signal();
        let (server, api) =
            chaos_fault::tcp::api::serve(control, seed).await.with_context(|| format!("cannot listen on {control}"))?;
        let proxy = serde_json::json!([{ "name": "proxy", "listen": listen.to_string(), "upstream": upstream }]);
        api.populate_json(proxy.to_string().as_bytes()).await.map_err(|e| anyhow::anyhow!("--listen {listen}: {e}"))?;
        println!("proxy   tcp://{listen} → {upstream}");
        println!("control {}  (Toxiproxy's API; the proxy's name: proxy)", server.url());
        stop.await;
        server.shutdown().await;
        api.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}

/// `chaos toxiproxy`: Toxiproxy's API on HOST:PORT, with the proxies of `config` made first.
pub fn toxiproxy(host: &str, port: u16, config: Option<&std::path::Path>, seed: u64) -> anyhow::Result<ExitCode> {
    let populate = config
        .map(|path| std::fs::read(path).map(|json| (path.display().to_string(), json)))
        .transpose()
        .context("reading --config")?;
    runtime()?.block_on(async {
        let stop = shutdown_signal();
        let addr = tokio::net::lookup_host((host, port))
            .await
            .ok()
            .and_then(|mut a| a.next())
            .with_context(|| format!("--host {host}: not an address"))?;
        let (server, api) =
            chaos_fault::tcp::api::serve(addr, seed).await.with_context(|| format!("cannot listen on {addr}"))?;
        if let Some((path, json)) = populate {
            let made = api.populate_json(&json).await.map_err(|e| anyhow::anyhow!("--config {path}: {e}"))?;
            println!("populated {made} proxies from {path}");
        }
        println!("toxiproxy API {}  (Toxiproxy {})", server.url(), chaos_fault::tcp::api::TOXIPROXY_VERSION);
        stop.await;
        server.shutdown().await;
        api.shutdown().await;
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
