//! `hyperfed`: one MCP endpoint in front of many SCALE Computing HyperCore clusters.
//! The binary only parses the command line and hands over to the library crates.

mod cmd;

/// mimalloc instead of the system allocator: the JSON-heavy request path allocates a lot, and
/// glibc's malloc was a sixth of the hub's and workers' CPU under load.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::{CommandFactory as _, Parser, Subcommand};

/// HyperFed: federate SCALE Computing HyperCore clusters behind one MCP endpoint.
#[derive(Parser)]
#[command(name = "hyperfed", version, about, propagate_version = true)]
struct Cli {
    /// Log filter (also RUST_LOG), e.g. `info`, `debug`, `hyperfed_hub=debug`.
    #[arg(long, global = true, env = "HYPERFED_LOG", default_value = "info")]
    log: String,
    /// Log line format: text, or json (one object per line, for log shippers).
    #[arg(long, global = true, env = "HYPERFED_LOG_FORMAT", value_enum, default_value_t = cmd::logging::LogFormat::Text)]
    log_format: cmd::logging::LogFormat,
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
    /// Ask the hub where a VM fits (ranked table); --dispatch creates it on the best cluster.
    Place(cmd::place::PlaceArgs),
    /// Issue scoped client tokens (read, operate, admin) signed with the hub's key.
    Token(cmd::token::TokenArgs),
    /// Print a shell completion script (bash, zsh or fish) to stdout.
    Completions(cmd::completions::CompletionsArgs),
    /// Write man pages (hyperfed.1 and one per subcommand) into a directory.
    Man(cmd::completions::ManArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Generated from the CLI definition; no runtime and no logging needed.
    let generated = match &cli.command {
        Command::Completions(args) => Some(cmd::completions::completions(args, Cli::command())),
        Command::Man(args) => Some(cmd::completions::man(args, Cli::command())),
        _ => None,
    };
    if let Some(result) = generated {
        return match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        };
    }
    cmd::logging::init(&cli.log, cli.log_format);
    // One rustls crypto provider (ring) for the whole process.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(&anyhow::anyhow!("cannot start the async runtime: {e}")),
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Mock(args) => cmd::mock::run(args).await,
            Command::Worker(args) => cmd::worker::run(*args).await,
            Command::Hub(args) => cmd::hub::run(*args).await,
            Command::Demo(args) => cmd::demo::run(args).await,
            Command::Connect(args) => cmd::connect::run(args).await,
            Command::Audit(args) => cmd::audit::run(args).await,
            Command::Bench(args) => cmd::bench::run(args).await,
            Command::Token(args) => cmd::token::run(args).await,
            Command::Place(args) => cmd::place::run(args).await,
            Command::Completions(_) | Command::Man(_) => Ok(()),
        }
    });
    // Background tasks (open connections, signal handlers) must not hold up the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// A user error is a message and exit code 1, never a backtrace (even with RUST_BACKTRACE=1).
fn fail(e: &anyhow::Error) -> ExitCode {
    eprintln!("error: {e:#}");
    ExitCode::FAILURE
}
