//! What each tool does, transport-neutral: MCP and REST both call
//! [`WorkerState::call_tool`]. Reads live in `reads`, power actions in `power`, snapshot /
//! clone / export and the shared confirm-and-wait steps in `actions`, the API discovery
//! tools in `discovery`, and the JSON shaping of HyperCore records in `shape`.

mod actions;
mod discovery;
mod power;
mod reads;
mod shape;

use std::time::Duration;

use rmcp::model::{ProgressNotificationParam, ProgressToken};
use rmcp::service::{Peer, RoleServer};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use crate::args;
use crate::catalog::Catalog;
use crate::cluster::Cluster;
use crate::confirm::Confirmations;
use power::Power;
use shape::{block_row, iso_row, nic_row, s, str_arg, virtual_disk_row, vm_full};

/// A tool failure the model should read (becomes an `isError` result).
pub type ToolResult = Result<Value, String>;

/// Where progress notifications go while an action waits, if the caller asked for them,
/// and the caller's cancellation (a cancelled request stops waiting, not the task).
#[derive(Clone, Default)]
pub struct ProgressSink {
    target: Option<(Peer<RoleServer>, ProgressToken)>,
    cancel: Option<CancellationToken>,
}

impl ProgressSink {
    /// A sink that reports to `peer` under `token`.
    pub fn new(peer: Peer<RoleServer>, token: ProgressToken) -> Self {
        ProgressSink {
            target: Some((peer, token)),
            cancel: None,
        }
    }

    /// Stops waiting when `cancel` fires (the MCP request was cancelled).
    pub fn with_cancel(mut self, cancel: CancellationToken) -> Self {
        self.cancel = Some(cancel);
        self
    }

    /// Sleeps for `d`; false when the caller cancelled meanwhile.
    pub(super) async fn pause(&self, d: Duration) -> bool {
        match &self.cancel {
            Some(c) => tokio::select! {
                _ = c.cancelled() => false,
                _ = tokio::time::sleep(d) => true,
            },
            None => {
                tokio::time::sleep(d).await;
                true
            }
        }
    }

    /// A sink that drops everything (REST, or no progressToken).
    pub fn none() -> Self {
        ProgressSink::default()
    }

    pub(super) async fn report(&self, progress: f64, message: String) {
        if let Some((peer, token)) = &self.target {
            let param = ProgressNotificationParam::new(token.clone(), progress)
                .with_total(100.0)
                .with_message(message);
            // A client that went away must not fail the action itself.
            let _ = peer.notify_progress(param).await;
        }
    }
}

/// Held while one action runs on the cluster (submission until its task ends).
pub(crate) type ActionGuard = tokio::sync::OwnedMutexGuard<()>;

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
    pub(crate) identity: std::sync::RwLock<ClusterIdentity>,
    pub(crate) alias: std::sync::Arc<std::sync::RwLock<Option<String>>>,
    pub(crate) action_lock: std::sync::Arc<tokio::sync::Mutex<()>>,
    pub(crate) wait_timeout: Duration,
    pub(crate) poll_interval: Duration,
    pub(crate) openapi: tokio::sync::OnceCell<Value>,
}

impl WorkerState {
    /// The cluster identity (uuid, name, version) as known now.
    pub fn identity(&self) -> ClusterIdentity {
        self.identity.read().map(|g| g.clone()).unwrap_or_default()
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
        shape::cluster_err(&self.cluster_label(), e)
    }

    /// Re-reads the cluster identity from `/Cluster`.
    pub async fn refresh_identity(&self) -> Result<ClusterIdentity, hypercore::Error> {
        let list = self.cluster.get_all("Cluster").await?;
        let c = list.first().cloned().unwrap_or(Value::Null);
        let id = ClusterIdentity {
            uuid: s(&c, "uuid"),
            name: s(&c, "clusterName"),
            icos_version: s(&c, "icosVersion"),
        };
        if let Ok(mut g) = self.identity.write() {
            *g = id.clone();
        }
        Ok(id)
    }

    /// Validates the arguments and runs tool `name` (which must be in the served catalog).
    pub async fn call_tool(
        &self,
        name: &str,
        args: Map<String, Value>,
        progress: ProgressSink,
    ) -> ToolResult {
        let Some(def) = self.catalog.get(name) else {
            return Err(format!("unknown tool '{name}'"));
        };
        args::validate(name, &def.input, &args)?;
        let known = self.identity.read().is_ok_and(|g| !g.uuid.is_empty());
        if !known {
            // The cluster was unreachable at startup; previews and tokens need its identity.
            let _ = self.refresh_identity().await;
        }
        if def.read_only {
            tracing::debug!(tool = name, "tool call");
        } else {
            tracing::info!(tool = name, "tool call");
        }
        let out = self.dispatch(name, &args, &progress).await;
        if !def.read_only {
            // Whatever this call changed (or may have changed) shows in the very next read.
            self.cluster.invalidate();
        }
        if let Err(msg) = &out {
            tracing::info!(tool = name, error = %msg, "tool call failed");
        }
        out
    }

    async fn dispatch(
        &self,
        name: &str,
        a: &Map<String, Value>,
        progress: &ProgressSink,
    ) -> ToolResult {
        if let Some(p) = Power::from_tool(name) {
            return self.power(p, name, a, progress).await;
        }
        match name {
            "cluster_info" => self.cluster_info().await,
            "node_list" => self.node_list().await,
            "vm_list" => self.vm_list(a).await,
            "vm_get" => {
                let vm = self
                    .resolve_vm(str_arg(a, "vm").unwrap_or_default())
                    .await?;
                Ok(json!({"vm": vm_full(&vm)}))
            }
            "vm_stats" => self.vm_stats(a).await,
            "snapshot_list" => self.snapshot_list(a).await,
            "condition_list" => self.condition_list(a).await,
            "drive_list" => self.drive_list(a).await,
            "virtual_disk_list" => {
                self.simple_list("VirtualDisk", "virtual_disks", virtual_disk_row)
                    .await
            }
            "iso_list" => self.simple_list("ISO", "isos", iso_row).await,
            "user_list" => self.user_list().await,
            "network_device_list" => {
                let (collection, key) = ("VirDomainNetDevice", "network_devices");
                self.device_list(a, collection, "netDevs", key, nic_row)
                    .await
            }
            "block_device_list" => {
                let (collection, key) = ("VirDomainBlockDevice", "block_devices");
                self.device_list(a, collection, "blockDevs", key, block_row)
                    .await
            }
            "task_status" => {
                self.task_status(str_arg(a, "task_tag").unwrap_or_default())
                    .await
            }
            "ping" => self.ping().await,
            "api_search" => self.api_search(a).await,
            "api_request" => self.api_request(a).await,
            "snapshot_create" => self.snapshot_create(a, progress).await,
            "snapshot_delete" => self.snapshot_delete(a, progress).await,
            "vm_clone" => self.vm_clone(a, progress).await,
            "vm_export" => self.vm_export(a, progress).await,
            other => Err(format!("tool '{other}' is not implemented")),
        }
    }
}
