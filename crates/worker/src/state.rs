//! The state every MCP session and REST request shares: the cluster (read cache and client),
//! the served catalog, confirmation tokens, the cluster's identity and hub alias, the action
//! lock and the wait bounds; and how a HyperCore failure is told to the caller.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::Value;

use crate::catalog::Catalog;
use crate::cluster::Cluster;
use crate::confirm::Confirmations;
use crate::metrics::WorkerMetrics;

/// The cluster's identity, learned at startup.
#[derive(Debug, Clone, Default)]
pub struct ClusterIdentity {
    /// Cluster uuid.
    pub uuid: String,
    /// clusterName.
    pub name: String,
    /// icosVersion.
    pub icos_version: String,
}

/// Shared state behind every MCP session and REST request.
pub struct WorkerState {
    pub(crate) cluster: Cluster,
    pub(crate) catalog: Catalog,
    pub(crate) confirmations: Confirmations,
    pub(crate) identity: RwLock<ClusterIdentity>,
    pub(crate) alias: Arc<RwLock<Option<String>>>,
    pub(crate) action_lock: Arc<tokio::sync::Mutex<()>>,
    pub(crate) wait_timeout: Duration,
    pub(crate) poll_interval: Duration,
    pub(crate) openapi: tokio::sync::OnceCell<Value>,
    /// The Prometheus series (`GET /metrics`); also the HyperCore client's observer.
    pub(crate) metrics: Arc<WorkerMetrics>,
}

impl WorkerState {
    /// The cluster identity (uuid, name, version) as known now.
    pub fn identity(&self) -> ClusterIdentity {
        self.identity.read().map(|g| g.clone()).unwrap_or_default()
    }

    /// The Prometheus series this worker keeps.
    pub fn metrics(&self) -> &WorkerMetrics {
        &self.metrics
    }

    /// True once the cluster's identity was read.
    pub(crate) fn identity_known(&self) -> bool {
        self.identity.read().is_ok_and(|g| !g.uuid.is_empty())
    }

    /// The alias the hub registered this worker under, while joined over HTTP.
    pub fn hub_alias(&self) -> Option<String> {
        self.alias.read().ok().and_then(|g| g.clone())
    }

    /// How errors name this cluster: the hub alias while joined, else the cluster name.
    pub fn cluster_label(&self) -> String {
        if let Some(alias) = self.alias.read().ok().and_then(|g| g.clone()) {
            return alias;
        }
        let name = self.identity().name;
        if name.is_empty() {
            "this cluster".to_owned()
        } else {
            name
        }
    }

    /// A HyperCore failure as a message that names the cluster.
    pub(crate) fn cluster_err(&self, e: hypercore::Error) -> String {
        let label = self.cluster_label();
        match e {
            hypercore::Error::Transport { .. } | hypercore::Error::Timeout { .. } => {
                format!("cluster '{label}' is unavailable right now ({e}); try again shortly")
            }
            hypercore::Error::Server { status, .. } if status >= 500 => {
                format!(
                    "cluster '{label}' is unavailable right now: it failed to answer ({e}); try again shortly"
                )
            }
            other => format!("cluster '{label}': {other}"),
        }
    }

    /// Re-reads the cluster identity from `/Cluster`.
    pub async fn refresh_identity(&self) -> Result<ClusterIdentity, hypercore::Error> {
        let clusters = self.cluster.list::<hypercore::model::Cluster>().await?;
        let id = clusters
            .first()
            .map(|c| ClusterIdentity {
                uuid: c.uuid.clone(),
                name: c.cluster_name.clone(),
                icos_version: c.icos_version.clone(),
            })
            .unwrap_or_default();
        if let Ok(mut g) = self.identity.write() {
            *g = id.clone();
        }
        Ok(id)
    }
}
