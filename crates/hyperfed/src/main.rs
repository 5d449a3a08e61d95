//! `hyperfed`: one MCP endpoint in front of many SCALE Computing HyperCore clusters.
//! The binary only parses the command line and hands over to the library crates.

mod cmd;

/// mimalloc instead of the system allocator: the JSON-heavy request path allocates a lot, and
/// glibc's malloc was a sixth of the hub's and workers' CPU under load.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// HyperFed: federate SCALE Computing HyperCore clusters behind one MCP endpoint.
#[derive(Parser)]
#[command(name = "hyperfed", version, about, propagate_version = true)]
struct Cli {
    /// Log filter (also RUST_LOG), e.g. `info`, `debug`, `hyperfed_hub=debug`.
    #[arg(long, global = true, env = "HYPERFED_LOG", default_value = "info")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a simulated HyperCore cluster (or print its ground truth / list archetypes).
    Mock(cmd::mock::MockArgs),
    /// Serve one HyperCore cluster as MCP tools and REST, standalone or joined to a hub.
    Worker(Box<cmd::worker::WorkerArgs>),
    /// Run the hub that workers join: one MCP endpoint across all clusters.
    Hub(Box<cmd::hub::HubArgs>),
    /// Start a hub and N simulated clusters in one process, ready to use.
    Demo(cmd::demo::DemoArgs),
    /// Bridge stdio to a hub or worker MCP endpoint (for stdio-only clients like Claude Desktop).
    Connect(cmd::connect::ConnectArgs),
    /// Read the hub's audit log from its data directory.
    Audit(cmd::audit::AuditArgs),
    /// Measure hub overhead, throughput, fan-out and start-up on loopback (see BENCHMARKS.md).
    Bench(cmd::bench::BenchArgs),
    /// Issue scoped client tokens (read, operate, admin) signed with the hub's key.
    Token(cmd::token::TokenArgs),
}

fn init_tracing(filter: &str) {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| filter.to_owned());
    // rmcp logs every request at INFO; keep it quiet unless asked for.
    let filter = if filter.contains("rmcp") {
        filter
    } else {
        format!("{filter},rmcp=warn,sled=warn")
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing(&cli.log);
    // One rustls crypto provider (ring) for the whole process.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Mock(args) => cmd::mock::run(args).await,
            Command::Worker(args) => cmd::worker::run(*args).await,
            Command::Hub(args) => cmd::hub::run(*args).await,
            Command::Demo(args) => cmd::demo::run(args).await,
            Command::Connect(args) => cmd::connect::run(args).await,
            Command::Audit(args) => cmd::audit::run(args).await,
            Command::Bench(args) => cmd::bench::run(args).await,
            Command::Token(args) => cmd::token::run(args).await,
        }
    })
}
