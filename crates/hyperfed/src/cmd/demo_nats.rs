//! `hyperfed demo --nats URL`: the demo over NATS. Two hub replicas (on `--listen` and the next
//! port) serve one fleet; the simulated clusters open no port, they dial NATS and register there,
//! sharing one connection. Either replica's MCP URL serves the same tools.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use hypercore_sim::Archetype;
use hyperfed_hub::{HubConfig, NatsMode, ToolsMode};
use hyperfed_nats::{FleetName, NatsConnection, NatsOptions, RegistryConfig};
use hyperfed_protocol::Secret;
use hyperfed_worker::WorkerConfig;
use hyperfed_worker::nats::{HeadlessWorker, attach};

use super::demo::DemoArgs;
use super::shutdown::shutdown_signal;

/// Runs the demo on the NATS server(s) at `url` (already validated arguments).
pub async fn run(
    args: DemoArgs,
    url: &str,
    tools_mode: ToolsMode,
    secret: Secret,
    token: String,
) -> anyhow::Result<()> {
    let options = NatsOptions::new(url.split(',').map(str::trim))
        .with_env_credentials()
        .with_client_name("hyperfed-demo");
    let fleet = FleetName::new(&format!("demo-{}", &super::demo::random_hex(4)))?;
    let mut hubs = Vec::new();
    for i in 0..2u16 {
        let mut listen = args.listen;
        if listen.port() != 0 {
            listen.set_port(listen.port() + i);
        }
        let mut c = HubConfig::new(listen, secret.clone());
        c.token = Some(Secret::new(token.clone()));
        c.tools_mode = tools_mode;
        c.nats = Some(NatsMode {
            options: options.clone(),
            fleet: fleet.clone(),
        });
        let hub = hyperfed_hub::start(c)
            .await
            .with_context(|| format!("cannot start hub replica {} on {listen}", i + 1))?;
        hubs.push(hub);
    }
    let conn = NatsConnection::connect(&options)
        .await
        .context("connecting to NATS")?;
    let archetypes = [
        Archetype::Edge,
        Archetype::Datacenter,
        Archetype::Dr,
        Archetype::Lab,
    ];
    let started = Instant::now();
    let mut workers = Vec::with_capacity(args.clusters);
    for i in 0..args.clusters {
        let archetype = archetypes[i % archetypes.len()];
        let config = WorkerConfig::mock(Some(archetype), args.seed + i as u64);
        let worker = HeadlessWorker::start(&config)
            .await
            .with_context(|| format!("cannot start simulated cluster {}", i + 1))?;
        let alias = format!("{}-{}", archetype.name(), i + 1);
        let attached = attach(
            &conn,
            &fleet,
            &secret,
            &alias,
            worker.state(),
            RegistryConfig::default(),
        )
        .await
        .with_context(|| format!("cannot register {alias} on NATS"))?;
        workers.push((worker, attached));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while hubs.iter().any(|h| h.cluster_count() < args.clusters) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "HyperFed demo over NATS ({url}, fleet {fleet}): {} clusters, listed by both replicas in {} ms\n",
        args.clusters,
        started.elapsed().as_millis()
    );
    for (i, hub) in hubs.iter().enumerate() {
        println!(
            "  replica {}   MCP {}   ({} clusters)",
            i + 1,
            hub.mcp_url(),
            hub.cluster_count()
        );
    }
    println!("  Bearer token {token}\n");
    println!("Try:");
    println!("  export HYPERFED_TOKEN={token}");
    for hub in &hubs {
        println!(
            "  curl -s -H \"Authorization: Bearer $HYPERFED_TOKEN\" {}/v1/status",
            hub.base_url()
        );
    }
    println!("\nThe clusters open no port. Ctrl-C stops everything.");
    let _ = shutdown_signal().await;
    eprintln!("stopping the demo");
    for (worker, attached) in workers {
        attached.leave().await;
        worker.shutdown().await;
    }
    for hub in hubs {
        hub.shutdown().await;
    }
    Ok(())
}
