//! `hyperfed demo`: a hub and N simulated clusters of mixed archetypes in one process, each a
//! real worker that joins the hub over loopback HTTP, so a fresh machine can try the whole
//! federation with one command.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hypercore_sim::Archetype;
use hyperfed_hub::{HubConfig, ToolsMode};
use hyperfed_protocol::Secret;
use hyperfed_worker::{JoinConfig, WorkerConfig};
use rand::RngCore as _;

use super::progress::Progress;
use super::shutdown::shutdown_signal;

/// Arguments of `hyperfed demo`.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// How many simulated clusters to start (archetypes rotate edge, datacenter, dr, lab).
    #[arg(long, default_value_t = 3)]
    pub clusters: usize,
    /// Where the hub listens (MCP at /mcp, REST at /v1).
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub listen: SocketAddr,
    /// Bearer token for clients; a random one is made (and printed) when absent.
    #[arg(long, env = "HYPERFED_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Tool export mode: auto (namespaced within 128 tools and 64 KiB, else compact),
    /// namespaced, compact or both.
    #[arg(long, default_value = "auto")]
    pub tools: String,
    /// Data directory for the hub's registry and audit log (temporary when absent).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// First seed; cluster i uses seed + i, so the demo is the same every time.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Run over NATS (e.g. nats://127.0.0.1:4222): two hub replicas, clusters with no port.
    #[arg(long, value_name = "URL")]
    pub nats: Option<String>,
}

/// `bytes` random bytes as hex.
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `hyperfed demo`.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    if !args.listen.ip().is_loopback() {
        anyhow::bail!(
            "--listen {}: the demo serves only on loopback (127.0.0.1); run `hyperfed hub` for anything else",
            args.listen
        );
    }
    if args.clusters == 0 || args.clusters > 500 {
        anyhow::bail!(
            "--clusters {}: expected a number from 1 to 500",
            args.clusters
        );
    }
    let tools_mode: ToolsMode = args
        .tools
        .parse()
        .map_err(|e| anyhow::anyhow!("--tools {}: {e}", args.tools))?;
    let secret = Secret::new(random_hex(32));
    let token = args.token.clone().unwrap_or_else(|| random_hex(24));
    if let Some(url) = args.nats.clone() {
        return super::demo_nats::run(args, &url, tools_mode, secret, token).await;
    }

    let mut hub_config = HubConfig::new(args.listen, secret.clone());
    hub_config.token = Some(Secret::new(token.clone()));
    hub_config.data_dir = args.data.clone();
    hub_config.tools_mode = tools_mode;
    let hub = hyperfed_hub::start(hub_config)
        .await
        .with_context(|| format!("cannot start the hub on {}", args.listen))?;
    let hub_url = hub.base_url();

    let archetypes = [
        Archetype::Edge,
        Archetype::Datacenter,
        Archetype::Dr,
        Archetype::Lab,
    ];
    let started = Instant::now();
    let mut workers = Vec::with_capacity(args.clusters);
    let starting = Progress::new("hyperfed demo", "clusters started", args.clusters as u64);
    for i in 0..args.clusters {
        let archetype = archetypes[i % archetypes.len()];
        let mut config = WorkerConfig::mock(Some(archetype), args.seed + i as u64);
        config.listen = "127.0.0.1:0".parse()?;
        config.join = Some(JoinConfig {
            hub_url: hub_url.clone(),
            secret: secret.clone(),
            name: Some(format!("{}-{}", archetype.name(), i + 1)),
            advertise: None,
        });
        let worker = hyperfed_worker::start(config)
            .await
            .with_context(|| format!("cannot start simulated cluster {}", i + 1))?;
        workers.push(worker);
        starting.advance(&format!("{}-{}", archetype.name(), i + 1));
    }
    starting.finish();

    // Wait (bounded) until every worker has joined, so the banner is true when printed.
    let joining = Progress::new("hyperfed demo", "clusters joined", args.clusters as u64);
    let deadline = Instant::now() + Duration::from_secs(30);
    while hub.cluster_count() < args.clusters && Instant::now() < deadline {
        joining.set(hub.cluster_count() as u64, "");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let joined = hub.cluster_count();
    joining.set(joined as u64, "");
    joining.finish();

    let mcp = hub.mcp_url();
    println!(
        "HyperFed demo: {joined} of {} simulated clusters joined in {} ms\n",
        args.clusters,
        started.elapsed().as_millis()
    );
    println!("  MCP endpoint   {mcp}");
    println!("  Bearer token   {token}");
    println!("  REST API       {hub_url}/v1\n");
    println!("Try:");
    println!("  export HYPERFED_TOKEN={token}");
    println!("  curl -s {hub_url}/health");
    println!("  curl -s -H \"Authorization: Bearer $HYPERFED_TOKEN\" {hub_url}/v1/status");
    println!(
        "  curl -s -H \"Authorization: Bearer $HYPERFED_TOKEN\" '{hub_url}/v1/vms?state=RUNNING'"
    );
    println!(
        "  curl -s -H \"Authorization: Bearer $HYPERFED_TOKEN\" -X POST {hub_url}/v1/tools/vm_search -H 'Content-Type: application/json' -d '{{\"name\":\"web\"}}'"
    );
    println!(
        "  npx @modelcontextprotocol/inspector   # Streamable HTTP, {mcp}, header Authorization: Bearer <token>"
    );
    println!(
        "  hyperfed connect {mcp}                # stdio bridge for Claude Desktop (HYPERFED_TOKEN set)"
    );
    println!("\nCtrl-C stops everything.");

    let _ = shutdown_signal().await;
    eprintln!("stopping the demo");
    // The hub first, while its workers still answer: it closes its sessions with them
    // cleanly instead of failing to delete sessions on workers that are already gone.
    hub.shutdown().await;
    futures_join_all(workers).await;
    Ok(())
}

/// Shuts every worker down at once.
async fn futures_join_all(workers: Vec<hyperfed_worker::WorkerHandle>) {
    let mut set = tokio::task::JoinSet::new();
    for w in workers {
        set.spawn(w.shutdown());
    }
    while set.join_next().await.is_some() {}
}
