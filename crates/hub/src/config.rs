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
    /// Every worker tool as `<alias>__<tool>`, plus routed VM actions and the fleet tools.
    #[default]
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
            "namespaced" => Ok(ToolsMode::Namespaced),
            "compact" => Ok(ToolsMode::Compact),
            "both" => Ok(ToolsMode::Both),
            other => Err(format!(
                "invalid tools mode {other:?}: expected namespaced, compact or both"
            )),
        }
    }
}

impl std::fmt::Display for ToolsMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
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
    /// Deadline of one tool call forwarded to a worker.
    pub call_timeout: Duration,
    /// Heartbeat interval told to workers; a cluster missing ~3 is marked down.
    pub heartbeat_interval: Duration,
    /// Extra Host header values accepted on `/mcp` (loopback names are always accepted).
    pub allowed_hosts: Vec<String>,
}

impl HubConfig {
    /// A configuration with the documented defaults: namespaced tools, 5 s fan-out timeout,
    /// 120 s call timeout, 2 s heartbeats, no client token, temporary database.
    pub fn new(listen: SocketAddr, secret: Secret) -> Self {
        HubConfig {
            listen,
            secret,
            token: None,
            data_dir: None,
            tools_mode: ToolsMode::Namespaced,
            fanout_timeout: Duration::from_secs(5),
            call_timeout: Duration::from_secs(120),
            heartbeat_interval: Duration::from_secs(2),
            allowed_hosts: Vec::new(),
        }
    }
}
