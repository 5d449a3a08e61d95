//! `hyperfed worker`: serve one HyperCore cluster (real, or `--mock` simulated) as MCP tools
//! and REST, standalone or joined to a hub. Flags override the `--config` TOML file; secrets
//! come from the environment or files.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr as _;
use std::time::Duration;

use anyhow::{Context as _, bail};
use hyperfed_protocol::{Secret, parse_duration};
use hyperfed_worker::config::{FileConfig, read_secret_file};
use hyperfed_worker::{ClusterSource, JoinConfig, WorkerConfig};

use super::credentials;
use super::shutdown::ShutdownSignal;

/// Arguments of `hyperfed worker`.
#[derive(clap::Args)]
pub struct WorkerArgs {
    /// TOML configuration file (see configs/worker.toml); flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// URL of a real cluster, e.g. https://10.0.0.5.
    #[arg(long, value_name = "URL", conflicts_with = "mock")]
    pub hypercore_url: Option<String>,
    /// HyperCore user name.
    #[arg(long, env = "HYPERCORE_USERNAME")]
    pub username: Option<String>,
    /// File holding the HyperCore password (otherwise HYPERCORE_PASSWORD).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Accept the cluster's certificate without verification (self-signed clusters).
    #[arg(long)]
    pub insecure_tls: bool,
    /// PEM file with the cluster's CA or self-signed certificate to trust.
    #[arg(long, value_name = "FILE", conflicts_with = "insecure_tls")]
    pub ca_file: Option<PathBuf>,
    /// Send HTTP Basic auth on every request instead of logging in once.
    #[arg(long)]
    pub basic_auth: bool,

    /// Start a simulated cluster in-process (archetype: edge, datacenter, dr, lab; default: from the seed).
    #[arg(long, value_name = "ARCHETYPE", num_args = 0..=1, default_missing_value = "auto")]
    pub mock: Option<String>,
    /// Seed of the simulated cluster [default: 1].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// With --mock: SMB shares as a directory (smb://host/share/path maps to DIR/host/share/path).
    #[arg(long, value_name = "DIR")]
    pub smb_root: Option<PathBuf>,

    /// Listen address for MCP (/mcp) and REST (default 127.0.0.1:7777).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Also serve GET /metrics without a token on this loopback address, for a local
    /// Prometheus (the main listener's /metrics needs the bearer token when one is set).
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// Serve MCP over stdin/stdout instead of HTTP (logs go to stderr).
    #[arg(long)]
    pub stdio: bool,
    /// Bearer token required on everything but /health and /ready.
    #[arg(long, env = "HYPERFED_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// File whose first line is the bearer token (instead of --token / HYPERFED_TOKEN).
    #[arg(long, value_name = "FILE", conflicts_with = "token")]
    pub token_file: Option<PathBuf>,
    /// Serve HTTPS: PEM certificate chain, leaf first (needs --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Serve HTTPS: PEM private key (PKCS#8, PKCS#1 or SEC1; needs --tls-cert).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Extra Host/Origin name accepted on /mcp and the REST API (repeatable), e.g. worker.example.com.
    #[arg(long = "allowed-host", value_name = "HOST")]
    pub allowed_hosts: Vec<String>,
    /// List and accept only read-only tools.
    #[arg(long)]
    pub read_only: bool,
    /// Let api_request send non-GET requests (each needs a confirmation token).
    #[arg(long)]
    pub allow_raw_writes: bool,
    /// Longest an action waits for its task, e.g. 120s (a bare number is seconds) [default: 120s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub wait_timeout: Option<Duration>,
    /// How long collection reads are reused, e.g. 1s; 0 disables (own actions invalidate) [default: 1s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub read_cache_ttl: Option<Duration>,

    /// Hub URL to join, e.g. http://127.0.0.1:8000 (the hub's /mcp URL works too).
    #[arg(long, value_name = "URL")]
    pub join: Option<String>,
    /// Shared join secret.
    #[arg(long, env = "HYPERFED_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// File holding the shared join secret.
    #[arg(long, value_name = "FILE", conflicts_with = "secret")]
    pub secret_file: Option<PathBuf>,
    /// Alias to register under (default: the cluster name).
    #[arg(long)]
    pub name: Option<String>,
    /// MCP URL the hub should use to reach this worker (default http(s)://<listen>/mcp).
    #[arg(long, value_name = "URL")]
    pub advertise: Option<String>,

    /// NATS mode (issue #11): connect out to NATS and serve there; no port without --listen.
    #[command(flatten)]
    pub nats: super::nats_args::NatsArgs,
    /// Simulate K clusters in this process (needs --mock; aliases NAME-0001...).
    #[arg(long, value_name = "K")]
    pub count: Option<usize>,
}

fn parse_archetype(name: &str) -> anyhow::Result<Option<hypercore_sim::Archetype>> {
    if name.is_empty() || name == "auto" {
        return Ok(None);
    }
    hypercore_sim::Archetype::from_str(name)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("--mock {name:?}: {e}"))
}

/// Builds the worker configuration from the file (if any) and the flags.
pub fn build_config(args: &WorkerArgs) -> anyhow::Result<WorkerConfig> {
    let file = match &args.config {
        Some(p) => FileConfig::load(p)?,
        None => FileConfig::default(),
    };
    let fc = file.cluster.clone().unwrap_or_default();
    let real_url = args.hypercore_url.clone().or(fc.url.clone());
    if args.hypercore_url.is_none()
        && args.mock.is_none()
        && fc.url.is_some()
        && file.mock.is_some()
    {
        bail!("the config file has both [cluster] url and [mock]: keep one");
    }
    let file_mock = file.mock.clone().unwrap_or_default();
    let mut cluster = if let Some(archetype) = &args.mock {
        ClusterSource::Mock(hypercore_sim::SimConfig::new(
            parse_archetype(archetype)?,
            args.seed.or(file_mock.seed).unwrap_or(1),
        ))
    } else if let Some(url) = &real_url {
        let username = args.username.clone().or(fc.username.clone()).context(
            "a real cluster needs --username (or HYPERCORE_USERNAME, or [cluster] username)",
        )?;
        let password = match args.password_file.clone().or(fc.password_file.clone()) {
            Some(p) => read_secret_file(&p, "password")?,
            None => match std::env::var("HYPERCORE_PASSWORD") {
                Ok(p) if !p.is_empty() => Secret::new(p),
                _ => match credentials::file(credentials::HYPERCORE_PASSWORD) {
                    Some(p) => read_secret_file(&p, "password")?,
                    None => bail!(
                        "a real cluster needs a password: set HYPERCORE_PASSWORD or --password-file (or the systemd credential hypercore-password)"
                    ),
                },
            },
        };
        let mut c = hypercore::ClusterConfig::new(
            url.clone(),
            hypercore::Credentials::new(username, password),
        );
        if args.insecure_tls || fc.insecure_tls.unwrap_or(false) {
            c = c.with_tls(hypercore::TlsMode::Insecure);
        } else if let Some(ca) = args.ca_file.clone().or(fc.ca_file.clone()) {
            c = c.with_tls(hypercore::TlsMode::CaFile(ca));
        }
        if args.basic_auth || fc.basic_auth.unwrap_or(false) {
            c = c.with_auth_mode(hypercore::AuthMode::Basic);
        }
        ClusterSource::Real(c)
    } else if file.mock.is_some() {
        ClusterSource::Mock(hypercore_sim::SimConfig::new(
            parse_archetype(file_mock.archetype.as_deref().unwrap_or(""))?,
            args.seed.or(file_mock.seed).unwrap_or(1),
        ))
    } else {
        bail!(
            "no cluster given: use --hypercore-url URL --username U (password from HYPERCORE_PASSWORD or --password-file), or --mock [ARCHETYPE] --seed N"
        )
    };
    if let ClusterSource::Mock(sim) = &mut cluster {
        sim.smb_root = args.smb_root.clone();
    } else if args.smb_root.is_some() {
        bail!("--smb-root only applies to a simulated cluster (--mock)");
    }

    let mut config = WorkerConfig::new(cluster);
    config.listen = match (args.listen, &file.listen) {
        (Some(l), _) => l,
        (None, Some(l)) => l.parse().with_context(|| {
            format!("config file: listen {l:?} is not an address like 127.0.0.1:7777")
        })?,
        (None, None) => hyperfed_worker::config::DEFAULT_LISTEN
            .parse()
            .context("default listen address")?,
    };
    config.token = match (
        &args.token,
        args.token_file.as_ref().or(file.token_file.as_ref()),
    ) {
        (Some(t), _) => Some(Secret::new(t.clone())),
        (None, Some(p)) => Some(read_secret_file(p, "token")?),
        (None, None) => credentials::file(credentials::TOKEN)
            .map(|p| read_secret_file(&p, "token"))
            .transpose()?,
    };
    config.tls = match (
        args.tls_cert.clone().or(file.tls_cert.clone()),
        args.tls_key.clone().or(file.tls_key.clone()),
    ) {
        (Some(cert), Some(key)) => Some(hyperfed_worker::TlsFiles { cert, key }),
        (None, None) => None,
        (Some(_), None) => bail!("tls_cert is set but tls_key is not: HTTPS needs both"),
        (None, Some(_)) => bail!("tls_key is set but tls_cert is not: HTTPS needs both"),
    };
    config.allowed_hosts = file.allowed_hosts.clone();
    config
        .allowed_hosts
        .extend(args.allowed_hosts.iter().cloned());
    config.metrics_listen = args.metrics_listen.or(file.metrics_listen);
    config.read_only = args.read_only || file.read_only.unwrap_or(false);
    config.allow_raw_writes = args.allow_raw_writes || file.allow_raw_writes.unwrap_or(false);
    config.wait_timeout = match (args.wait_timeout, &file.wait_timeout) {
        (Some(d), _) => d,
        (None, Some(s)) => {
            parse_duration(s).map_err(|e| anyhow::anyhow!("config file: wait_timeout: {e}"))?
        }
        (None, None) => config.wait_timeout,
    };
    config.read_cache_ttl = match (args.read_cache_ttl, &file.read_cache_ttl) {
        (Some(d), _) => d,
        (None, Some(s)) => {
            parse_duration(s).map_err(|e| anyhow::anyhow!("config file: read_cache_ttl: {e}"))?
        }
        (None, None) => config.read_cache_ttl,
    };

    let fj = file.join.clone().unwrap_or_default();
    if let Some(hub) = args.join.clone().or(fj.hub.clone()) {
        let secret = match (
            &args.secret,
            args.secret_file.clone().or(fj.secret_file.clone()),
        ) {
            (Some(s), _) => Secret::new(s.clone()),
            (None, Some(p)) => read_secret_file(&p, "join secret")?,
            (None, None) => match credentials::file(credentials::JOIN_SECRET) {
                Some(p) => read_secret_file(&p, "join secret")?,
                None => bail!(
                    "--join needs the shared secret: --secret, HYPERFED_SECRET, --secret-file or the systemd credential join-secret"
                ),
            },
        };
        warn_if_short(&secret);
        config.join = Some(JoinConfig {
            hub_url: hub,
            secret,
            name: args.name.clone().or(fj.name.clone()),
            advertise: args.advertise.clone().or(fj.advertise.clone()),
        });
    }
    config.validate()?;
    Ok(config)
}

/// Shortest join secret accepted without a warning.
pub const MIN_SECRET_LEN: usize = 16;

/// Warns about a join secret too short to resist guessing.
pub fn warn_if_short(secret: &Secret) {
    let n = secret.expose().chars().count();
    if n < MIN_SECRET_LEN {
        tracing::warn!(
            "the join secret is only {n} character{}: use at least {MIN_SECRET_LEN} random characters, e.g. `openssl rand -hex 32`",
            if n == 1 { "" } else { "s" }
        );
    }
}

/// Runs `hyperfed worker`.
pub async fn run(args: WorkerArgs) -> anyhow::Result<()> {
    let config = build_config(&args)?;
    if args.stdio {
        if config.join.is_some() {
            bail!(
                "--stdio serves one local client and has no HTTP endpoint for a hub: drop --join or --stdio"
            );
        }
        return hyperfed_worker::serve_stdio(config)
            .await
            .map_err(Into::into);
    }
    if args.nats.nats.is_some() || args.count.is_some_and(|k| k > 1) {
        return super::worker_nats::run(args, config).await;
    }
    let signal = ShutdownSignal::install();
    let worker = hyperfed_worker::start(config).await?;
    eprintln!("hyperfed worker: MCP at {}", worker.mcp_url());
    eprintln!(
        "hyperfed worker: REST at {}/v1 (health: {}/health)",
        worker.base_url(),
        worker.base_url()
    );
    if let Some(sim) = worker.sim() {
        eprintln!("hyperfed worker: simulated cluster at {}", sim.base_url());
    }
    let _ = signal.wait().await;
    eprintln!("hyperfed worker: shutting down");
    worker.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: WorkerArgs,
    }

    fn parse(argv: &[&str]) -> WorkerArgs {
        let mut full = vec!["worker"];
        full.extend_from_slice(argv);
        Cli::try_parse_from(full).expect("arguments parse").args
    }

    #[test]
    fn mock_flags_build_a_mock_config() {
        let c = build_config(&parse(&[
            "--mock",
            "datacenter",
            "--seed",
            "7",
            "--listen",
            "127.0.0.1:0",
            "--token",
            "T",
        ]))
        .unwrap();
        match &c.cluster {
            ClusterSource::Mock(sim) => {
                assert_eq!(sim.seed, 7);
                assert_eq!(sim.archetype, Some(hypercore_sim::Archetype::Datacenter));
            }
            ClusterSource::Real(_) => panic!("expected a mock"),
        }
        assert!(c.token.as_ref().is_some_and(|t| t.matches("T")));
        let smb = build_config(&parse(&["--mock", "--smb-root", "/srv/smb"])).unwrap();
        assert!(
            matches!(&smb.cluster, ClusterSource::Mock(s) if s.smb_root.as_deref() == Some(std::path::Path::new("/srv/smb")))
        );
        let bare = build_config(&parse(&["--mock", "--seed", "3"])).unwrap();
        assert!(matches!(&bare.cluster, ClusterSource::Mock(s) if s.archetype.is_none()));
    }

    #[test]
    fn tls_flags_need_each_other() {
        let c = build_config(&parse(&[
            "--mock",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
        ]))
        .unwrap();
        let tls = c.tls.expect("tls configured");
        assert_eq!(tls.cert, PathBuf::from("c.pem"));
        assert_eq!(tls.key, PathBuf::from("k.pem"));
        let mut argv = vec!["worker", "--mock", "--tls-cert", "c.pem"];
        assert!(Cli::try_parse_from(argv.clone()).is_err());
        argv.truncate(2);
        assert!(build_config(&parse(&argv[1..])).unwrap().tls.is_none());
    }

    #[test]
    fn flags_override_the_file() {
        let dir = std::env::temp_dir().join(format!("hyperfed-worker-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("worker.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:7001\"\nread_only = true\nwait_timeout = \"5s\"\nread_cache_ttl = \"250ms\"\n[mock]\narchetype = \"edge\"\nseed = 9\n",
        )
        .unwrap();
        let path = file.to_str().unwrap();
        let from_file = build_config(&parse(&["--config", path])).unwrap();
        assert_eq!(from_file.listen.port(), 7001);
        assert!(from_file.read_only);
        assert_eq!(from_file.wait_timeout, Duration::from_secs(5));
        assert_eq!(from_file.read_cache_ttl, Duration::from_millis(250));
        assert!(matches!(&from_file.cluster, ClusterSource::Mock(s) if s.seed == 9));
        let overridden = build_config(&parse(&[
            "--config",
            path,
            "--listen",
            "127.0.0.1:7002",
            "--seed",
            "11",
            "--wait-timeout",
            "2s",
            "--read-cache-ttl",
            "0",
        ]))
        .unwrap();
        assert_eq!(overridden.listen.port(), 7002);
        assert_eq!(overridden.wait_timeout, Duration::from_secs(2));
        assert_eq!(overridden.read_cache_ttl, Duration::ZERO);
        assert!(matches!(&overridden.cluster, ClusterSource::Mock(s) if s.seed == 11));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn token_file_flag_reads_the_token() {
        let file = std::env::temp_dir().join(format!("hyperfed-token-{}", std::process::id()));
        std::fs::write(&file, "from-file\n").unwrap();
        let c = build_config(&parse(&["--mock", "--token-file", file.to_str().unwrap()])).unwrap();
        assert!(c.token.as_ref().is_some_and(|t| t.matches("from-file")));
        std::fs::remove_file(&file).ok();
    }

    #[test]
    fn specific_errors() {
        let none = build_config(&parse(&[])).unwrap_err().to_string();
        assert!(none.contains("no cluster given"), "{none}");
        let bad = build_config(&parse(&["--mock", "moon"]))
            .unwrap_err()
            .to_string();
        assert!(bad.contains("moon"), "{bad}");
        let open = build_config(&parse(&["--mock", "--listen", "0.0.0.0:7777"]));
        if std::env::var("HYPERFED_TOKEN").is_err() {
            let e = open.unwrap_err().to_string();
            assert!(e.contains("non-loopback"), "{e}");
        }
        let real = build_config(&parse(&["--hypercore-url", "https://10.0.0.5"]));
        if std::env::var("HYPERCORE_USERNAME").is_err() {
            let e = real.unwrap_err().to_string();
            assert!(e.contains("--username"), "{e}");
        }
        let join = build_config(&parse(&["--mock", "--join", "http://127.0.0.1:7700"]));
        if std::env::var("HYPERFED_SECRET").is_err() {
            let e = join.unwrap_err().to_string();
            assert!(e.contains("secret"), "{e}");
        }
    }
}
