//! The hub's configuration: where it listens, how workers and clients authenticate, how tools
//! are exported and how long fan-outs and calls may take.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use hyperfed_protocol::Secret;
use serde::{Deserialize, Serialize};

/// How worker tools appear on the hub's MCP endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolsMode {
    /// Namespaced while that list fits the tool-list budget, compact beyond it.
    #[default]
    Auto,
    /// Every worker tool as `<alias>__<tool>`, plus routed VM actions and the fleet tools.
    Namespaced,
    /// One tool per operation with a `cluster` argument, plus the fleet tools.
    Compact,
    /// Namespaced and compact together.
    Both,
}

impl ToolsMode {
    /// True when `<alias>__<tool>` names are exported.
    pub fn namespaced(self) -> bool {
        matches!(self, ToolsMode::Namespaced | ToolsMode::Both)
    }

    /// True when one-tool-per-operation names with a `cluster` argument are exported.
    pub fn compact(self) -> bool {
        matches!(self, ToolsMode::Compact | ToolsMode::Both)
    }
}

impl FromStr for ToolsMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(ToolsMode::Auto),
            "namespaced" => Ok(ToolsMode::Namespaced),
            "compact" => Ok(ToolsMode::Compact),
            "both" => Ok(ToolsMode::Both),
            other => Err(format!(
                "invalid tools mode {other:?}: expected auto, namespaced, compact or both"
            )),
        }
    }
}

impl std::fmt::Display for ToolsMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ToolsMode::Auto => "auto",
            ToolsMode::Namespaced => "namespaced",
            ToolsMode::Compact => "compact",
            ToolsMode::Both => "both",
        })
    }
}

/// Everything `hyperfed_hub::start` needs.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Address to listen on (port 0 = ephemeral).
    pub listen: SocketAddr,
    /// Shared secret workers prove they know when joining.
    pub secret: Secret,
    /// Bearer token required on `/mcp` and `/v1/*` (None = no client authentication).
    pub token: Option<Secret>,
    /// Directory of the sled database (None = a temporary database deleted on shutdown).
    pub data_dir: Option<PathBuf>,
    /// How worker tools are exported.
    pub tools_mode: ToolsMode,
    /// Per-cluster deadline of a fan-out read.
    pub fanout_timeout: Duration,
    /// Clusters a fan-out read calls at the same time (the rest wait for a slot).
    pub fanout_concurrency: usize,
    /// Deadline of one tool call forwarded to a worker.
    pub call_timeout: Duration,
    /// Heartbeat interval told to workers; a cluster missing ~3 is marked down.
    pub heartbeat_interval: Duration,
    /// Extra Host header values accepted on `/mcp` (loopback names are always accepted).
    pub allowed_hosts: Vec<String>,
    /// Require a bearer token (static or scoped) even when no static `token` is set.
    pub require_token: bool,
    /// PEM certificate chain and private key: serve HTTPS instead of plain HTTP.
    pub tls: Option<TlsFiles>,
    /// PEM CA bundle trusted for `https://` worker URLs (None: the system roots).
    pub worker_ca: Option<PathBuf>,
    /// Most MCP sessions open on the hub at once (new ones are refused beyond it).
    pub max_sessions: usize,
    /// Most MCP sessions one client subject (token) may hold open.
    pub max_sessions_per_token: usize,
    /// An MCP session idle this long is closed.
    pub session_idle: Duration,
    /// NATS mode: serve the fleet through NATS as one of its replicas (None: HTTP joins).
    pub nats: Option<NatsMode>,
    /// A second, token-free listener serving only `GET /metrics` (loopback addresses only).
    pub metrics_listen: Option<SocketAddr>,
}

/// Where a hub replica finds its fleet on NATS (issue #11).
#[derive(Debug, Clone)]
pub struct NatsMode {
    /// How to connect (servers, credentials, CA).
    pub options: hyperfed_nats::NatsOptions,
    /// The fleet's name.
    pub fleet: hyperfed_nats::FleetName,
}

pub use hyperfed_http::tls::TlsFiles;

impl HubConfig {
    /// A configuration with the documented defaults: auto tools mode, 5 s fan-out timeout,
    /// 256 clusters called at once by a fan-out, 120 s call timeout, 2 s heartbeats, no client token, temporary database,
    /// at most 1024 MCP sessions (64 per token), idle sessions closed after 10 minutes.
    pub fn new(listen: SocketAddr, secret: Secret) -> Self {
        HubConfig {
            listen,
            secret,
            token: None,
            data_dir: None,
            tools_mode: ToolsMode::Auto,
            fanout_timeout: Duration::from_secs(5),
            fanout_concurrency: 256,
            call_timeout: Duration::from_secs(120),
            heartbeat_interval: Duration::from_secs(2),
            allowed_hosts: Vec::new(),
            require_token: false,
            tls: None,
            worker_ca: None,
            max_sessions: 1024,
            max_sessions_per_token: 64,
            session_idle: Duration::from_secs(600),
            nats: None,
            metrics_listen: None,
        }
    }
}

/// The `hyperfed hub --config FILE` TOML file; every key is optional and flags override it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `listen = "127.0.0.1:8000"`.
    pub listen: Option<SocketAddr>,
    /// `secret = "..."` (prefer `secret_file` or HYPERFED_SECRET).
    pub secret: Option<Secret>,
    /// `secret_file = "/etc/hyperfed/secret"`: first line is the join secret.
    pub secret_file: Option<PathBuf>,
    /// `token = "..."` (prefer `token_file` or HYPERFED_TOKEN).
    pub token: Option<Secret>,
    /// `token_file = "/etc/hyperfed/token"`: first line is the client bearer token.
    pub token_file: Option<PathBuf>,
    /// `data = "/var/lib/hyperfed"`: sled database directory.
    pub data: Option<PathBuf>,
    /// `tools = "auto" | "namespaced" | "compact" | "both"`.
    pub tools: Option<ToolsMode>,
    /// `fanout_timeout = "5s"`.
    pub fanout_timeout: Option<String>,
    /// `fanout_concurrency = 256`.
    pub fanout_concurrency: Option<usize>,
    /// `call_timeout = "120s"`.
    pub call_timeout: Option<String>,
    /// `heartbeat_interval = "2s"`.
    pub heartbeat_interval: Option<String>,
    /// `allowed_hosts = ["hub.example.com"]`: extra Host values accepted on /mcp.
    pub allowed_hosts: Option<Vec<String>>,
    /// `require_token = true`: clients need a bearer token even without a static `token`.
    pub require_token: Option<bool>,
    /// `tls_cert = "/etc/hyperfed/hub.pem"`: PEM certificate chain (with `tls_key`).
    pub tls_cert: Option<PathBuf>,
    /// `tls_key = "/etc/hyperfed/hub-key.pem"`: PEM private key (with `tls_cert`).
    pub tls_key: Option<PathBuf>,
    /// `worker_ca = "/etc/hyperfed/workers-ca.pem"`: CA bundle for https worker URLs.
    pub worker_ca: Option<PathBuf>,
    /// `metrics_listen = "127.0.0.1:9464"`: token-free `/metrics` listener (loopback only).
    pub metrics_listen: Option<SocketAddr>,
}

impl FileConfig {
    /// Reads and parses a hub TOML configuration file.
    pub fn load(path: &std::path::Path) -> Result<Self, crate::HubError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            crate::HubError::Config(format!("cannot read config file {}: {e}", path.display()))
        })?;
        toml::from_str(&text).map_err(|e| {
            crate::HubError::Config(format!("invalid config file {}: {e}", path.display()))
        })
    }
}

/// Reads the first line of a secret file (trimmed); errors name the file, never its content.
pub fn read_secret_file(path: &std::path::Path) -> Result<Secret, crate::HubError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        crate::HubError::Config(format!("cannot read secret file {}: {e}", path.display()))
    })?;
    let line = text.lines().next().unwrap_or("").trim();
    if line.is_empty() {
        return Err(crate::HubError::Config(format!(
            "secret file {} is empty",
            path.display()
        )));
    }
    Ok(Secret::new(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_file() {
        let text = include_str!("../../../configs/hub.toml");
        let parsed: FileConfig = toml::from_str(text).unwrap();
        assert_eq!(parsed.tools, Some(ToolsMode::Auto));
        assert_eq!(parsed.fanout_timeout.as_deref(), Some("5s"));
        assert!("bogus".parse::<ToolsMode>().is_err());
        assert_eq!("Both".parse::<ToolsMode>(), Ok(ToolsMode::Both));
        assert_eq!("auto".parse::<ToolsMode>(), Ok(ToolsMode::default()));
    }
}
