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

/// Whether a cluster can take calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Serialize)]
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
