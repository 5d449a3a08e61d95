//! `hyperfed hub`: runs the hub that workers join, serving one MCP endpoint and the REST API
//! until Ctrl-C or SIGTERM. Settings come from flags, environment and an optional TOML file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use hyperfed_hub::config::{FileConfig, read_secret_file};

use super::credentials;
use hyperfed_hub::{HubConfig, TlsFiles, ToolsMode};
use hyperfed_protocol::{Secret, parse_duration};

use super::shutdown::shutdown_signal;

/// Arguments of `hyperfed hub`.
#[derive(clap::Args)]
pub struct HubArgs {
    /// Address to listen on [default: 127.0.0.1:8000]. Non-loopback needs --token or --require-token.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Also serve GET /metrics without a token on this loopback address, for a local
    /// Prometheus (the main listener's /metrics needs the bearer token).
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// Join secret shared with workers.
    #[arg(long, env = "HYPERFED_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// File whose first line is the join secret.
    #[arg(long, conflicts_with = "secret")]
    pub secret_file: Option<PathBuf>,
    /// Bearer token required from MCP clients and REST callers.
    #[arg(long, env = "HYPERFED_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// File whose first line is the client bearer token (instead of --token / HYPERFED_TOKEN).
    #[arg(long, value_name = "FILE", conflicts_with = "token")]
    pub token_file: Option<PathBuf>,
    /// Directory of the hub database (registry and audit); temporary if omitted.
    #[arg(long = "data", value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// How worker tools are exported: auto (namespaced within 128 tools and 64 KiB, else
    /// compact), namespaced, compact or both [default: auto].
    #[arg(long = "tools", value_name = "MODE")]
    pub tools: Option<ToolsMode>,
    /// Per-cluster deadline of fan-out reads, e.g. 500ms, 2s; a bare number is seconds [default: 5s].
    #[arg(long, value_parser = parse_duration)]
    pub fanout_timeout: Option<Duration>,
    /// Clusters one fan-out read calls at the same time, 1 to 4096 [default: 256].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub fanout_concurrency: Option<u16>,
    /// Deadline of one call forwarded to a worker, e.g. 120s [default: 120s].
    #[arg(long, value_parser = parse_duration)]
    pub call_timeout: Option<Duration>,
    /// Heartbeat interval told to workers, e.g. 2s [default: 2s].
    #[arg(long, value_parser = parse_duration)]
    pub heartbeat_interval: Option<Duration>,
    /// Extra Host/Origin name accepted on /mcp and the REST API (repeatable; "*" disables the check).
    #[arg(long = "allowed-host", value_name = "HOST")]
    pub allowed_hosts: Vec<String>,
    /// Require a bearer token (the static --token or a scoped token from `hyperfed token issue`)
    /// even without --token.
    #[arg(long)]
    pub require_token: bool,
    /// PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA bundle trusted for https:// worker URLs [default: the system roots].
    #[arg(long, value_name = "FILE")]
    pub worker_ca: Option<PathBuf>,
    /// TOML configuration file (see configs/hub.toml); flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// NATS mode (issue #11): this hub is a replica serving the fleet through NATS.
    #[command(flatten)]
    pub nats: super::nats_args::NatsArgs,
}

fn duration(
    flag: Option<Duration>,
    file: Option<&str>,
    key: &str,
    default: Duration,
) -> anyhow::Result<Duration> {
    let flag_name = format!("--{}", key.replace('_', "-"));
    let d = match (flag, file) {
        (Some(d), _) => d,
        (None, Some(s)) => {
            parse_duration(s).map_err(|e| anyhow::anyhow!("config key {key}: {e}"))?
        }
        (None, None) => default,
    };
    if d.is_zero() {
        bail!(
            "{flag_name} (config key {key}) must be above zero, e.g. {}",
            humantime_secs(default)
        );
    }
    Ok(d)
}

/// `5s`, `120s`, `500ms`: how a default is suggested.
fn humantime_secs(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

/// Merges flags, environment and the config file into a `HubConfig`.
fn resolve(args: HubArgs) -> anyhow::Result<HubConfig> {
    let file = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let listen = args
        .listen
        .or(file.listen)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8000)));
    let secret = match (args.secret, args.secret_file, file.secret, file.secret_file) {
        (Some(s), _, _, _) => Secret::new(s),
        (None, Some(path), _, _) => read_secret_file(&path)?,
        (None, None, Some(s), _) => s,
        (None, None, None, Some(path)) => read_secret_file(&path)?,
        (None, None, None, None) => match credentials::file(credentials::JOIN_SECRET) {
            Some(path) => read_secret_file(&path)?,
            None => bail!(
                "no join secret: give --secret, --secret-file, HYPERFED_SECRET, secret_file in the config file, or the systemd credential join-secret"
            ),
        },
    };
    if secret.is_empty() {
        bail!("the join secret is empty");
    }
    super::worker::warn_if_short(&secret);
    let token = match (args.token, args.token_file, file.token, file.token_file) {
        (Some(t), _, _, _) => Some(Secret::new(t)),
        (None, Some(path), _, _) => Some(read_secret_file(&path)?),
        (None, None, Some(t), _) => Some(t),
        (None, None, None, Some(path)) => Some(read_secret_file(&path)?),
        (None, None, None, None) => credentials::file(credentials::TOKEN)
            .map(|path| read_secret_file(&path))
            .transpose()?,
    }
    .filter(|t| !t.is_empty());
    let require_token = args.require_token || file.require_token.unwrap_or(false);
    let data_dir = args.data.or(file.data);
    if require_token && token.is_none() && data_dir.is_none() {
        bail!(
            "--require-token without --token needs --data DIR: scoped tokens are signed with DIR/hub.key (issue them with `hyperfed token issue --data DIR`)"
        );
    }
    if token.is_none() && !require_token && !is_loopback(&listen) {
        bail!(
            "refusing to listen on {listen} without client authentication: give --token (or HYPERFED_TOKEN) or --require-token with scoped tokens, or listen on 127.0.0.1"
        );
    }
    let tls = match (
        args.tls_cert.or(file.tls_cert),
        args.tls_key.or(file.tls_key),
    ) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        (None, None) => None,
        _ => bail!("TLS needs both a certificate and a key: give --tls-cert and --tls-key"),
    };
    let mut config = HubConfig::new(listen, secret);
    config.nats = args
        .nats
        .options("hyperfed-hub")?
        .map(|(options, fleet)| hyperfed_hub::NatsMode { options, fleet });
    config.token = token;
    config.require_token = require_token;
    config.tls = tls;
    config.worker_ca = args.worker_ca.or(file.worker_ca);
    config.metrics_listen = args.metrics_listen.or(file.metrics_listen);
    config.data_dir = data_dir;
    config.tools_mode = args.tools.or(file.tools).unwrap_or_default();
    config.fanout_timeout = duration(
        args.fanout_timeout,
        file.fanout_timeout.as_deref(),
        "fanout_timeout",
        config.fanout_timeout,
    )?;
    config.fanout_concurrency = match args
        .fanout_concurrency
        .map(usize::from)
        .or(file.fanout_concurrency)
    {
        Some(n) if (1..=4096).contains(&n) => n,
        Some(n) => bail!("fanout_concurrency must be from 1 to 4096 (got {n})"),
        None => config.fanout_concurrency,
    };
    config.call_timeout = duration(
        args.call_timeout,
        file.call_timeout.as_deref(),
        "call_timeout",
        config.call_timeout,
    )?;
    config.heartbeat_interval = duration(
        args.heartbeat_interval,
        file.heartbeat_interval.as_deref(),
        "heartbeat_interval",
        config.heartbeat_interval,
    )?;
    config.allowed_hosts = if args.allowed_hosts.is_empty() {
        file.allowed_hosts.unwrap_or_default()
    } else {
        args.allowed_hosts
    };
    Ok(config)
}

/// Runs `hyperfed hub`.
pub async fn run(args: HubArgs) -> anyhow::Result<()> {
    let config = resolve(args)?;
    let authed = config.token.is_some() || config.require_token;
    let data = config.data_dir.clone();
    let hub = hyperfed_hub::start(config)
        .await
        .context("the hub could not start")?;
    tracing::info!(
        mcp = %hub.mcp_url(),
        join = %format!("{}/v1/join", hub.base_url()),
        client_token = authed,
        data = %data.as_deref().map(|d| d.display().to_string()).unwrap_or_else(|| "temporary".into()),
        "hub ready; start workers with: hyperfed worker ... --join {} --secret <S>",
        hub.base_url()
    );
    tokio::select! {
        _ = shutdown_signal() => tracing::info!("shutting down"),
        _ = hub.stopped() => {}
    }
    hub.shutdown().await;
    Ok(())
}
