//! Worker configuration: which cluster to wrap (real or simulated), where to listen, who may
//! call, safety switches and the optional hub to join. Also the TOML file form
//! (`configs/worker.toml`), which the command line overrides field by field.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hyperfed_protocol::Secret;
use serde::Deserialize;

use crate::error::WorkerError;

/// Default MCP/REST listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7777";
/// Default bound on how long an action waits for its task.
pub const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_secs(120);
/// Default lifetime of a confirmation token.
pub const DEFAULT_CONFIRM_TTL: Duration = Duration::from_secs(120);

/// The cluster a worker wraps.
#[derive(Debug, Clone)]
pub enum ClusterSource {
    /// A real HyperCore cluster reached over HTTPS.
    Real(hypercore::ClusterConfig),
    /// A simulated cluster started in-process on an ephemeral loopback port.
    Mock(hypercore_sim::SimConfig),
}

/// How a worker joins a hub.
#[derive(Debug, Clone)]
pub struct JoinConfig {
    /// Base URL of the hub, e.g. `http://127.0.0.1:8000` (a trailing `/mcp` is accepted).
    pub hub_url: String,
    /// The shared join secret (never sent; proves membership by HMAC).
    pub secret: Secret,
    /// Requested alias; defaults to the cluster's name, normalised.
    pub name: Option<String>,
    /// MCP URL the hub should call; defaults to `http(s)://<bound addr>/mcp`.
    pub advertise: Option<String>,
}

pub use hyperfed_http::tls::TlsFiles;

/// Everything `start` needs to run one worker.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The cluster to wrap.
    pub cluster: ClusterSource,
    /// Listen address for MCP (`/mcp`) and REST (port 0 = ephemeral).
    pub listen: SocketAddr,
    /// Bearer token required on everything but `/health`.
    pub token: Option<Secret>,
    /// Extra Host header values accepted (besides loopback names and the bound address).
    pub allowed_hosts: Vec<String>,
    /// Lists and accepts only read-only tools.
    pub read_only: bool,
    /// Lets `api_request` send methods other than GET (destructive, confirmed).
    pub allow_raw_writes: bool,
    /// Optional hub to join.
    pub join: Option<JoinConfig>,
    /// Serve HTTPS with this certificate and key instead of plain HTTP.
    pub tls: Option<TlsFiles>,
    /// Longest an action waits for its task before returning the running task tag.
    pub wait_timeout: Duration,
    /// How often a waiting action polls its task.
    pub poll_interval: Duration,
    /// Lifetime of a confirmation token for destructive actions.
    pub confirm_ttl: Duration,
    /// How long a collection read is reused (zero: never); this worker's own mutations
    /// invalidate it at once.
    pub read_cache_ttl: Duration,
    /// A second, token-free listener serving only `GET /metrics` (loopback addresses only).
    pub metrics_listen: Option<SocketAddr>,
}

impl WorkerConfig {
    /// A worker on a fresh simulated cluster, listening on an ephemeral loopback port, no token.
    pub fn mock(archetype: Option<hypercore_sim::Archetype>, seed: u64) -> Self {
        Self::new(ClusterSource::Mock(hypercore_sim::SimConfig::new(
            archetype, seed,
        )))
    }

    /// A worker on `cluster` with the defaults for everything else (listen on 127.0.0.1:0).
    pub fn new(cluster: ClusterSource) -> Self {
        let poll_interval = match cluster {
            ClusterSource::Real(_) => Duration::from_secs(1),
            ClusterSource::Mock(_) => Duration::from_millis(100),
        };
        WorkerConfig {
            cluster,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: None,
            allowed_hosts: Vec::new(),
            read_only: false,
            allow_raw_writes: false,
            join: None,
            tls: None,
            wait_timeout: DEFAULT_WAIT_TIMEOUT,
            poll_interval,
            confirm_ttl: DEFAULT_CONFIRM_TTL,
            read_cache_ttl: crate::cluster::DEFAULT_READ_CACHE_TTL,
            metrics_listen: None,
        }
    }

    /// Checks the combination of settings before anything is started.
    pub fn validate(&self) -> Result<(), WorkerError> {
        if let Some(addr) = self.metrics_listen {
            hyperfed_http::metrics::check_loopback(addr).map_err(WorkerError::Config)?;
        }
        if let Some(t) = &self.token
            && t.is_empty()
        {
            return Err(WorkerError::Config(
                "the bearer token is empty: give a non-empty --token / HYPERFED_TOKEN or none"
                    .into(),
            ));
        }
        if self.token.is_none() && self.join.is_none() && !self.listen.ip().is_loopback() {
            return Err(WorkerError::Config(format!(
                "refusing to listen on non-loopback address {} without authentication: \
                 set --token (or HYPERFED_TOKEN), or listen on 127.0.0.1",
                self.listen
            )));
        }
        if let Some(j) = &self.join {
            if j.secret.is_empty() {
                return Err(WorkerError::Config(
                    "--join needs a non-empty secret (--secret, HYPERFED_SECRET or --secret-file)"
                        .into(),
                ));
            }
            if !(j.hub_url.starts_with("http://") || j.hub_url.starts_with("https://")) {
                return Err(WorkerError::Config(format!(
                    "--join URL {:?} must start with http:// or https://",
                    j.hub_url
                )));
            }
        }
        if self.wait_timeout.is_zero() {
            return Err(WorkerError::Config(
                "--wait-timeout must be above zero".into(),
            ));
        }
        Ok(())
    }
}

/// The TOML configuration file; every field is optional and command-line flags override it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Listen address, e.g. `127.0.0.1:7777`.
    pub listen: Option<String>,
    /// File holding the bearer token (the token itself never goes in this file).
    pub token_file: Option<PathBuf>,
    /// Extra allowed Host header values.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Read-only mode.
    pub read_only: Option<bool>,
    /// Allow raw non-GET requests through `api_request`.
    pub allow_raw_writes: Option<bool>,
    /// Bound on waiting for an action's task, e.g. `120s`.
    pub wait_timeout: Option<String>,
    /// How long collection reads are reused, e.g. `1s` (`0` disables the cache).
    pub read_cache_ttl: Option<String>,
    /// Token-free `/metrics` listener, e.g. `127.0.0.1:9465` (loopback only).
    pub metrics_listen: Option<SocketAddr>,
    /// PEM certificate chain for HTTPS (needs `tls_key`).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS (needs `tls_cert`).
    pub tls_key: Option<PathBuf>,
    /// A real cluster.
    pub cluster: Option<FileCluster>,
    /// A simulated cluster.
    pub mock: Option<FileMock>,
    /// Hub to join.
    pub join: Option<FileJoin>,
}

/// `[cluster]`: a real HyperCore cluster.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileCluster {
    /// Base URL, e.g. `https://10.0.0.5`.
    pub url: Option<String>,
    /// Login user name.
    pub username: Option<String>,
    /// File holding the password (or set HYPERCORE_PASSWORD).
    pub password_file: Option<PathBuf>,
    /// Skip TLS certificate verification.
    pub insecure_tls: Option<bool>,
    /// PEM file with the CA (or the self-signed certificate) to trust.
    pub ca_file: Option<PathBuf>,
    /// Send HTTP Basic auth on every request instead of a session cookie.
    pub basic_auth: Option<bool>,
}

/// `[mock]`: a simulated cluster.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileMock {
    /// Archetype name (`edge`, `datacenter`, `dr`, `lab`); chosen from the seed when absent.
    pub archetype: Option<String>,
    /// Generator seed.
    pub seed: Option<u64>,
}

/// `[join]`: the hub to join.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileJoin {
    /// Hub base URL.
    pub hub: Option<String>,
    /// File holding the join secret (or set HYPERFED_SECRET).
    pub secret_file: Option<PathBuf>,
    /// Requested alias.
    pub name: Option<String>,
    /// MCP URL the hub should use to reach this worker.
    pub advertise: Option<String>,
}

impl FileConfig {
    /// Reads and parses a TOML configuration file.
    pub fn load(path: &Path) -> Result<Self, WorkerError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            WorkerError::Config(format!("cannot read config file {}: {e}", path.display()))
        })?;
        Self::parse(&text)
            .map_err(|e| WorkerError::Config(format!("config file {}: {e}", path.display())))
    }

    /// Parses the TOML text of a configuration file.
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }
}

/// Reads a secret from a file, trimming the trailing newline.
pub fn read_secret_file(path: &Path, what: &str) -> Result<Secret, WorkerError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        WorkerError::Config(format!("cannot read {what} file {}: {e}", path.display()))
    })?;
    let value = text.trim_end_matches(['\r', '\n']).to_owned();
    if value.is_empty() {
        return Err(WorkerError::Config(format!(
            "{what} file {} is empty",
            path.display()
        )));
    }
    Ok(Secret::new(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses() {
        let text = include_str!("../../../configs/worker.toml");
        let cfg = FileConfig::parse(text).unwrap();
        assert!(cfg.listen.is_some());
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = FileConfig::parse("lisen = \"x\"").unwrap_err();
        assert!(err.contains("lisen"), "{err}");
    }
}
