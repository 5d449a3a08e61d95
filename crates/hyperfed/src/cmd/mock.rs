//! `hyperfed mock`: serve a seeded, simulated HyperCore cluster over HTTP(S) until Ctrl-C,
//! print a cluster's ground truth (`mock truth`), or list the archetypes (`mock archetypes`).
//! Defaults: listen on 127.0.0.1:8443, credentials admin / admin, plain HTTP unless --tls.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::builder::TypedValueParser as _;
use clap::{Args, Subcommand};
use hypercore_sim::{Archetype, Faults, SimConfig, Simulator, generate_with_vm_count};

use super::shutdown::shutdown_signal;

/// Arguments of `hyperfed mock`.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct MockArgs {
    /// `truth` or `archetypes`; without one, serve a simulated cluster.
    #[command(subcommand)]
    pub command: Option<MockCommand>,
    /// Options for serving a simulated cluster.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Subcommands of `hyperfed mock`.
#[derive(Subcommand)]
pub enum MockCommand {
    /// Print the ground truth JSON of a generated cluster on stdout.
    Truth(TruthArgs),
    /// List the cluster archetypes with one-line descriptions.
    Archetypes,
}

/// Arguments of `hyperfed mock truth`.
#[derive(Args)]
pub struct TruthArgs {
    /// Cluster archetype (edge, datacenter, dr, lab); picked from the seed when omitted.
    #[arg(long)]
    pub archetype: Option<Archetype>,
    /// Generation seed (the same default as `hyperfed mock`).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Generate exactly this many VMs instead of the archetype's own count.
    #[arg(long)]
    pub vm_count: Option<usize>,
}

/// Options for serving a simulated cluster.
#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
    /// Cluster archetype (edge, datacenter, dr, lab); picked from the seed when omitted.
    #[arg(long)]
    pub archetype: Option<Archetype>,
    /// Generation seed: the same archetype and seed always give the same cluster.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Serve HTTPS with a freshly generated self-signed certificate.
    #[arg(long)]
    pub tls: bool,
    /// With --tls, write the certificate (PEM) here so clients can trust it.
    #[arg(long, requires = "tls")]
    pub cert_out: Option<PathBuf>,
    /// User name the simulated cluster accepts.
    #[arg(long, default_value = "admin")]
    pub username: String,
    /// Password the simulated cluster accepts.
    #[arg(
        long,
        env = "HYPERFED_MOCK_PASSWORD",
        hide_env_values = true,
        default_value = "admin",
        hide_default_value = true
    )]
    pub password: String,
    /// Milliseconds a task takes from QUEUED to COMPLETE.
    #[arg(long, default_value_t = 1000)]
    pub task_ms: u64,
    /// Milliseconds an ACPI SHUTDOWN takes to reach SHUTOFF.
    #[arg(long, default_value_t = 2000)]
    pub shutdown_ms: u64,
    /// Generate exactly this many VMs instead of the archetype's own count.
    #[arg(long)]
    pub vm_count: Option<usize>,
    /// Fixed latency added to every /rest/v1 answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency: u64,
    /// Extra random latency of up to this many milliseconds.
    #[arg(long, default_value_t = 0)]
    pub jitter: u64,
    /// Fraction (0..1) of /rest/v1 requests answered 500/503.
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Guests ignore ACPI SHUTDOWN (the VM keeps running until STOP), like many Windows VMs.
    #[arg(long)]
    pub ignore_acpi: bool,
    /// Idle session lifetime in milliseconds (sessions never expire by default).
    #[arg(long)]
    pub session_ttl: Option<u64>,
    /// Status for a missing or expired session: 401 (default) or 503 (as the schema says).
    #[arg(long, default_value_t = 401, value_parser = clap::builder::PossibleValuesParser::new(["401", "503"]).map(|s| s.parse::<u16>().unwrap_or(401)))]
    pub session_error_status: u16,
    /// SMB shares as a directory: smb://host/share/path maps to DIR/host/share/path (exports
    /// write a VM definition there, imports read it). Without it, exports write nothing and
    /// imports find nothing.
    #[arg(long, value_name = "DIR")]
    pub smb_root: Option<PathBuf>,
}

/// Runs `hyperfed mock`.
pub async fn run(args: MockArgs) -> anyhow::Result<()> {
    match args.command {
        Some(MockCommand::Archetypes) => {
            let list: String = Archetype::ALL
                .iter()
                .map(|a| format!("{:<11} {}\n", a.name(), a.description()))
                .collect();
            print_stdout(&list)
        }
        Some(MockCommand::Truth(t)) => {
            let archetype = t.archetype.unwrap_or_else(|| Archetype::pick(t.seed));
            let truth = generate_with_vm_count(archetype, t.seed, t.vm_count).truth();
            print_stdout(&(serde_json::to_string_pretty(&truth)? + "\n"))
        }
        None => serve(args.serve).await,
    }
}

/// Writes to stdout; a closed pipe (e.g. `| head`) is not an error.
fn print_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing to stdout"),
        _ => Ok(()),
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = SimConfig::new(args.archetype, args.seed);
    let default_credentials = args.username == "admin" && args.password == "admin";
    config.username = args.username;
    config.password = args.password;
    config.tls = args.tls;
    config.task_duration = Duration::from_millis(args.task_ms);
    config.shutdown_duration = Duration::from_millis(args.shutdown_ms);
    config.vm_count = args.vm_count;
    config.session_error_status = args.session_error_status;
    config.smb_root = args.smb_root;
    config.faults = Faults {
        latency_ms: args.latency,
        jitter_ms: args.jitter,
        error_rate: args.error_rate,
        session_ttl_ms: args.session_ttl,
        ignore_acpi: args.ignore_acpi,
        ..Faults::default()
    };
    let username = config.username.clone();
    let smb_root = config.smb_root.clone();
    let sim = Simulator::start(config, args.listen)
        .await
        .with_context(|| format!("starting the simulator on --listen {}", args.listen))?;
    if let (Some(path), Some(pem)) = (&args.cert_out, sim.cert_pem()) {
        std::fs::write(path, pem)
            .with_context(|| format!("writing --cert-out {}", path.display()))?;
    }
    let truth = sim.truth();
    eprintln!(
        "HyperCore simulator: {} ({} archetype, seed {}, {} nodes, {} VMs)",
        truth["cluster"]["name"].as_str().unwrap_or_default(),
        sim.archetype(),
        args.seed,
        truth["totals"]["nodes"],
        truth["totals"]["vms"],
    );
    eprintln!("  REST API:  {}/rest/v1", sim.base_url());
    if default_credentials {
        eprintln!("  log in:    admin / admin");
    } else {
        eprintln!("  log in:    user {username:?} with the password given by --password");
    }
    if sim.cert_pem().is_some() {
        match &args.cert_out {
            Some(path) => eprintln!(
                "  TLS:       self-signed certificate written to {}",
                path.display()
            ),
            None => {
                eprintln!("  TLS:       self-signed certificate (use --cert-out FILE to save it)")
            }
        }
    }
    eprintln!(
        "  control:   {}/_sim/truth, {}/_sim/faults",
        sim.base_url(),
        sim.base_url()
    );
    if let Some(dir) = &smb_root {
        eprintln!(
            "  SMB:       smb://HOST/SHARE/PATH is {}/HOST/SHARE/PATH",
            dir.display()
        );
    }
    eprintln!("Press Ctrl-C to stop.");
    shutdown_signal().await.context("waiting for Ctrl-C")?;
    sim.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Top,
    }

    #[derive(Subcommand)]
    enum Top {
        Mock(MockArgs),
    }

    fn parse(args: &[&str]) -> Result<MockArgs, clap::Error> {
        let mut argv = vec!["hyperfed", "mock"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).map(|cli| match cli.command {
            Top::Mock(m) => m,
        })
    }

    #[test]
    fn serve_defaults() {
        let args = parse(&[]).unwrap();
        assert!(args.command.is_none());
        let s = args.serve;
        assert_eq!(s.listen, "127.0.0.1:8443".parse().unwrap());
        assert_eq!((s.seed, s.tls, s.username.as_str()), (0, false, "admin"));
        assert_eq!(
            (s.task_ms, s.shutdown_ms, s.session_error_status),
            (1000, 2000, 401)
        );
        assert!(s.archetype.is_none());
    }

    #[test]
    fn serve_flags() {
        let args = parse(&[
            "--listen",
            "127.0.0.1:0",
            "--archetype",
            "dr",
            "--seed",
            "5",
            "--tls",
            "--cert-out",
            "/tmp/c.pem",
            "--username",
            "ops",
            "--password",
            "pw",
            "--latency",
            "20",
            "--error-rate",
            "0.1",
            "--session-ttl",
            "500",
            "--session-error-status",
            "503",
            "--vm-count",
            "2000",
            "--ignore-acpi",
            "--smb-root",
            "/srv/smb",
        ])
        .unwrap();
        let s = args.serve;
        assert_eq!(s.archetype, Some(Archetype::Dr));
        assert_eq!(
            (s.seed, s.tls, s.latency, s.session_ttl),
            (5, true, 20, Some(500))
        );
        assert_eq!((s.username.as_str(), s.password.as_str()), ("ops", "pw"));
        assert_eq!((s.session_error_status, s.vm_count), (503, Some(2000)));
        assert!(s.ignore_acpi);
        assert_eq!(s.smb_root, Some(PathBuf::from("/srv/smb")));
    }

    #[test]
    fn subcommands() {
        match parse(&["truth", "--archetype", "lab", "--seed", "3"])
            .unwrap()
            .command
        {
            Some(MockCommand::Truth(t)) => {
                assert_eq!((t.archetype, t.seed), (Some(Archetype::Lab), 3));
            }
            _ => panic!("expected truth"),
        }
        assert!(matches!(
            parse(&["archetypes"]).unwrap().command,
            Some(MockCommand::Archetypes)
        ));
    }

    #[test]
    fn bad_arguments_are_refused() {
        for bad in [
            &["--seed", "3", "truth", "--seed", "4"][..],
            &["--archetype", "cloud"],
            &["--session-error-status", "404"],
            &["--cert-out", "/tmp/c.pem"],
            &["--listen", "localhost"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} must be refused");
        }
        // `truth` defaults its seed like `hyperfed mock` does.
        assert!(parse(&["truth"]).is_ok());
    }
}
