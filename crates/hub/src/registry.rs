//! The cluster registry: who joined, where their worker is, which tools it offers and whether
//! it is up. Lives in a DashMap; the durable part (`ClusterRecord`) is mirrored to sled.

use std::sync::Arc;
use std::time::Instant;

use rmcp::model::Tool;
use serde::{Deserialize, Serialize};

use crate::upstream::WorkerSession;

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

/// A registered cluster with its live state.
pub(crate) struct ClusterEntry {
    pub record: ClusterRecord,
    pub tools: Arc<Vec<Tool>>,
    pub health: Health,
    pub last_seen: Instant,
    pub session: Option<Arc<WorkerSession>>,
    /// Cancelled when the cluster is marked down, so calls in flight to it end at once (a
    /// fresh token is put in its place for the next up period).
    pub up: tokio_util::sync::CancellationToken,
}

/// What the catalog builder needs to know about one cluster.
#[derive(Clone)]
pub(crate) struct ClusterView {
    pub alias: String,
    pub cluster_name: String,
    pub health: Health,
    pub tools: Arc<Vec<Tool>>,
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

impl ClusterEntry {
    pub(crate) fn view(&self) -> ClusterView {
        ClusterView {
            alias: self.record.alias.clone(),
            cluster_name: self.record.cluster_name.clone(),
            health: self.health,
            tools: self.tools.clone(),
        }
    }

    pub(crate) fn summary(&self) -> ClusterSummary {
        ClusterSummary {
            alias: self.record.alias.clone(),
            cluster_name: self.record.cluster_name.clone(),
            cluster_uuid: self.record.cluster_uuid.clone(),
            worker_url: hyperfed_protocol::redact_uri(&self.record.worker_url),
            state: self.health,
            last_seen: self.record.last_seen,
            tool_count: self.tools.len(),
        }
    }
}
