//! What the hub knows about a joined cluster as plain data: its durable registration
//! (`ClusterRecord`, stored in sled), whether it can take calls (`Health`) and the summary
//! `GET /v1/clusters` shows (`ClusterSummary`).

use rmcp::model::Tool;
use serde::{Deserialize, Serialize};

/// The durable facts about a joined cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterRecord {
    /// Its alias on the hub.
    pub alias: String,
    /// The cluster's uuid (its identity).
    pub cluster_uuid: String,
    /// The cluster's clusterName.
    pub cluster_name: String,
    /// The worker's MCP endpoint.
    pub worker_url: String,
    /// Last heartbeat or join, Unix seconds.
    pub last_seen: u64,
    /// The worker's validated tools (filled when loaded from storage; live entries keep them
    /// once, outside the record).
    pub tools: Vec<Tool>,
}

/// A worker URL as it may be shown (logs, errors, `GET /v1/clusters`): the password in its
/// user info and the values of secret-looking query parameters (`token`, `key`, `secret`,
/// `password`, `sig`, `auth`...) are replaced by `[redacted]`.
pub fn redact_url(url: &str) -> String {
    let url = hyperfed_protocol::redact_uri(url);
    let Some((base, rest)) = url.split_once('?') else {
        return url;
    };
    let (query, fragment) = match rest.split_once('#') {
        Some((q, f)) => (q, Some(f)),
        None => (rest, None),
    };
    let secret = |k: &str| {
        let k = k.to_ascii_lowercase();
        [
            "token", "key", "secret", "pass", "sig", "auth", "cred", "session",
        ]
        .iter()
        .any(|s| k.contains(s))
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if secret(k) => format!("{k}=[redacted]"),
            _ => pair.to_owned(),
        })
        .collect();
    let mut out = format!("{base}?{}", query.join("&"));
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// Whether a cluster can take calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Joined and heartbeating.
    Up,
    /// Missed its heartbeats; calls fail at once until the next heartbeat.
    Down,
    /// Known from before a hub restart; waiting for its worker to re-join.
    Reconnecting,
}

impl Health {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Up => "up",
            Health::Down => "down",
            Health::Reconnecting => "reconnecting",
        }
    }
}

/// A cluster as shown by `GET /v1/clusters`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClusterSummary {
    /// Alias on the hub.
    pub alias: String,
    /// clusterName.
    pub cluster_name: String,
    /// Cluster uuid.
    pub cluster_uuid: String,
    /// Worker MCP endpoint.
    pub worker_url: String,
    /// up, down or reconnecting.
    pub state: Health,
    /// Last heartbeat or join, Unix seconds.
    pub last_seen: u64,
    /// Number of tools the worker offers.
    pub tool_count: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_worker_urls_are_redacted() {
        assert_eq!(
            redact_url("http://h:1/mcp?token=abc&x=1&API_KEY=z#f"),
            "http://h:1/mcp?token=[redacted]&x=1&API_KEY=[redacted]#f"
        );
        assert_eq!(
            redact_url("https://u:pw@h/mcp"),
            "https://u:[redacted]@h/mcp"
        );
        assert_eq!(redact_url("http://h/mcp"), "http://h/mcp");
    }
}
