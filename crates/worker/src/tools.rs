//! What each tool does: reads shaped into compact JSON for a model, power and snapshot
//! actions with state checks, confirmation and bounded waiting, and the API discovery tools.
//! Transport-neutral: MCP and REST both call [`WorkerState::call_tool`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hyperfed_protocol::redact_uri;
use rmcp::model::{ProgressNotificationParam, ProgressToken};
use rmcp::service::{Peer, RoleServer};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use crate::args;
use crate::catalog::Catalog;
use crate::cluster::{Cluster, Method};
use crate::confirm::{Binding, Confirmations};
use hypercore::{CloneSpec, ExportSpec, VmAction};

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
    async fn pause(&self, d: Duration) -> bool {
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

    async fn report(&self, progress: f64, message: String) {
        if let Some((peer, token)) = &self.target {
            let param = ProgressNotificationParam::new(token.clone(), progress)
                .with_total(100.0)
                .with_message(message);
            // A client that went away must not fail the action itself.
            let _ = peer.notify_progress(param).await;
        }
    }
}

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
    pub(crate) wait_timeout: Duration,
    pub(crate) poll_interval: Duration,
    pub(crate) openapi: tokio::sync::OnceCell<Value>,
}

// ---------- small JSON helpers over HyperCore records ----------

fn s(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(x)) => x.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn n(v: &Value, key: &str) -> i64 {
    v.get(key)
        .and_then(|x| x.as_i64().or_else(|| x.as_f64().map(|f| f as i64)))
        .unwrap_or(0)
}

fn f(v: &Value, key: &str) -> f64 {
    v.get(key).and_then(Value::as_f64).unwrap_or(0.0)
}

fn b(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn tags_of(vm: &Value) -> Vec<String> {
    match vm.get("tags") {
        Some(Value::String(t)) => t
            .split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn arr_len(v: &Value, key: &str) -> usize {
    v.get(key).and_then(Value::as_array).map_or(0, Vec::len)
}

fn str_arg<'a>(args: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    args.get(key).and_then(Value::as_str)
}

/// True when `s` is a canonical hyphenated uuid.
fn is_uuid(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::parse_str(s).is_ok()
}

/// True when `s` looks like an attempt at a uuid (hex and dashes, uuid-ish length).
fn looks_like_uuid(s: &str) -> bool {
    s.len() >= 30
        && s.matches('-').count() >= 3
        && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
        || (s.len() == 36 && s.matches('-').count() == 4)
}

fn severity_rank(sev: &str) -> usize {
    const ORDER: [&str; 8] = [
        "EMERGENCY",
        "ALERT",
        "CRITICAL",
        "ERROR",
        "WARNING",
        "NOTICE",
        "INFO",
        "DEBUG",
    ];
    ORDER.iter().position(|x| *x == sev).unwrap_or(ORDER.len())
}

fn vm_row(vm: &Value, details: bool) -> Value {
    let mut row = json!({
        "uuid": s(vm, "uuid"),
        "name": s(vm, "name"),
        "state": s(vm, "state"),
        "node_uuid": s(vm, "nodeUUID"),
        "tags": tags_of(vm),
        "vcpus": n(vm, "numVCPU"),
        "mem_bytes": n(vm, "mem"),
    });
    if details {
        row["description"] = json!(s(vm, "description"));
        row["operating_system"] = json!(s(vm, "operatingSystem"));
        row["machine_type"] = json!(s(vm, "machineType"));
        row["disks"] = json!(arr_len(vm, "blockDevs"));
        row["nics"] = json!(arr_len(vm, "netDevs"));
        row["snapshots"] = json!(arr_len(vm, "snapUUIDs"));
        row["replication_target"] = json!(!s(vm, "sourceVirDomainUUID").is_empty());
    }
    row
}

fn vm_brief(vm: &Value) -> Value {
    json!({
        "uuid": s(vm, "uuid"),
        "name": s(vm, "name"),
        "state": s(vm, "state"),
        "node_uuid": s(vm, "nodeUUID"),
    })
}

fn vm_full(vm: &Value) -> Value {
    let disks: Vec<Value> = vm
        .get("blockDevs")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(block_row).collect())
        .unwrap_or_default();
    let nics: Vec<Value> = vm
        .get("netDevs")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(nic_row).collect())
        .unwrap_or_default();
    json!({
        "uuid": s(vm, "uuid"),
        "name": s(vm, "name"),
        "description": s(vm, "description"),
        "state": s(vm, "state"),
        "ui_state": s(vm, "uiState"),
        "node_uuid": s(vm, "nodeUUID"),
        "last_node_uuid": s(vm, "lastSeenRunningOnNodeUUID"),
        "tags": tags_of(vm),
        "vcpus": n(vm, "numVCPU"),
        "mem_bytes": n(vm, "mem"),
        "operating_system": s(vm, "operatingSystem"),
        "machine_type": s(vm, "machineType"),
        "guest_agent_state": s(vm, "guestAgentState"),
        "disks": disks,
        "nics": nics,
        "snapshot_uuids": vm.get("snapUUIDs").cloned().unwrap_or_else(|| json!([])),
        "snapshot_schedule_uuid": s(vm, "snapshotScheduleUUID"),
        "replication_target": !s(vm, "sourceVirDomainUUID").is_empty(),
        "source_vm_uuid": s(vm, "sourceVirDomainUUID"),
        "created": n(vm, "created"),
    })
}

fn block_row(d: &Value) -> Value {
    json!({
        "uuid": s(d, "uuid"),
        "vm_uuid": s(d, "virDomainUUID"),
        "type": s(d, "type"),
        "name": s(d, "name"),
        "capacity_bytes": n(d, "capacity"),
        "allocation_bytes": n(d, "allocation"),
        "cache_mode": s(d, "cacheMode"),
        "slot": n(d, "slot"),
        "path": s(d, "path"),
        "read_only": b(d, "readOnly"),
    })
}

fn nic_row(d: &Value) -> Value {
    json!({
        "uuid": s(d, "uuid"),
        "vm_uuid": s(d, "virDomainUUID"),
        "type": s(d, "type"),
        "mac_address": s(d, "macAddress"),
        "vlan": n(d, "vlan"),
        "connected": d.get("connected").and_then(Value::as_bool).unwrap_or(true),
        "ipv4_addresses": d.get("ipv4Addresses").cloned().unwrap_or_else(|| json!([])),
    })
}

fn cluster_err(e: hypercore::Error) -> String {
    match e {
        hypercore::Error::Transport { .. } | hypercore::Error::Timeout { .. } => {
            format!("the cluster is unavailable right now ({e}); try again shortly")
        }
        other => other.to_string(),
    }
}

/// A power action and its HyperCore `actionType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Power {
    Start,
    Shutdown,
    Stop,
    Reboot,
    Reset,
    Migrate,
    Pause,
    Nmi,
}

impl Power {
    fn from_tool(name: &str) -> Option<Self> {
        Some(match name {
            "vm_start" => Power::Start,
            "vm_shutdown" => Power::Shutdown,
            "vm_stop" => Power::Stop,
            "vm_reboot" => Power::Reboot,
            "vm_reset" => Power::Reset,
            "vm_migrate" => Power::Migrate,
            "vm_pause" => Power::Pause,
            "vm_nmi" => Power::Nmi,
            _ => return None,
        })
    }

    fn action_type(self) -> &'static str {
        match self {
            Power::Start => "START",
            Power::Shutdown => "SHUTDOWN",
            Power::Stop => "STOP",
            Power::Reboot => "REBOOT",
            Power::Reset => "RESET",
            Power::Migrate => "LIVEMIGRATE",
            Power::Pause => "PAUSE",
            Power::Nmi => "NMI",
        }
    }

    fn effect(self) -> &'static str {
        match self {
            Power::Start => "power the VM on (or resume it if paused)",
            Power::Shutdown => "ask the guest OS to shut down cleanly (ACPI)",
            Power::Stop => {
                "cut the VM's power immediately, like pulling the plug; unsaved data in the guest is lost"
            }
            Power::Reboot => "ask the guest OS to reboot cleanly (ACPI)",
            Power::Reset => {
                "hard-reset the VM, like pressing its reset button; unsaved data in the guest is lost"
            }
            Power::Migrate => "live-migrate the VM to another node",
            Power::Pause => "freeze the VM in memory",
            Power::Nmi => {
                "send a non-maskable interrupt to the guest (usually makes it crash-dump and may halt or reboot it)"
            }
        }
    }

    /// The state a successful action leads to, if it has a stable one.
    fn target_state(self) -> Option<&'static str> {
        match self {
            Power::Start | Power::Reboot | Power::Reset | Power::Migrate | Power::Nmi => {
                Some("RUNNING")
            }
            Power::Shutdown | Power::Stop => Some("SHUTOFF"),
            Power::Pause => Some("PAUSED"),
        }
    }

    /// Explains plainly why the action makes no sense for a VM in `state`, if it does not.
    fn refuse(self, vm: &Value) -> Option<String> {
        let name = s(vm, "name");
        let state = s(vm, "state");
        let st = state.as_str();
        let running = matches!(st, "RUNNING" | "BLOCKED");
        let msg = match self {
            Power::Start => {
                if !s(vm, "sourceVirDomainUUID").is_empty() {
                    format!(
                        "VM '{name}' is a replication target (a copy kept in sync from another cluster); HyperCore cannot start it. Clone it first with vm_clone and start the clone."
                    )
                } else if running {
                    format!("VM '{name}' is already running (state {st}); nothing to start.")
                } else if st == "SHUTDOWN" {
                    format!(
                        "VM '{name}' is shutting down right now (state SHUTDOWN); wait until it is SHUTOFF, or power it off with vm_stop, then start it."
                    )
                } else {
                    return None;
                }
            }
            Power::Shutdown => match st {
                "RUNNING" | "BLOCKED" => return None,
                "SHUTOFF" => {
                    format!("VM '{name}' is already off (state SHUTOFF); nothing to shut down.")
                }
                "SHUTDOWN" => format!(
                    "VM '{name}' is already shutting down (state SHUTDOWN); a second ACPI request is refused by HyperCore. If the guest ignores it, power it off with vm_stop."
                ),
                "PAUSED" => format!(
                    "VM '{name}' is paused, so its guest cannot react to an ACPI shutdown; resume it with vm_start first, or power it off with vm_stop."
                ),
                _ => format!(
                    "VM '{name}' is in state {st}; an ACPI shutdown needs a RUNNING guest. Use vm_stop to power it off."
                ),
            },
            Power::Stop => match st {
                "RUNNING" | "BLOCKED" | "SHUTDOWN" | "PAUSED" => return None,
                "SHUTOFF" => {
                    format!("VM '{name}' is already off (state SHUTOFF); nothing to stop.")
                }
                _ => format!(
                    "VM '{name}' is in state {st}, which cannot be powered off; it is not running."
                ),
            },
            Power::Reset => match st {
                "RUNNING" | "BLOCKED" | "SHUTDOWN" => return None,
                "SHUTOFF" => format!(
                    "VM '{name}' is off (state SHUTOFF); a reset only applies to a running VM. Use vm_start to power it on."
                ),
                _ => format!("VM '{name}' is in state {st}; a reset needs a RUNNING VM."),
            },
            Power::Reboot | Power::Nmi | Power::Pause | Power::Migrate => {
                if running {
                    return None;
                }
                let what = match self {
                    Power::Reboot => "a reboot",
                    Power::Nmi => "an NMI",
                    Power::Pause => "pausing",
                    _ => "live migration",
                };
                match st {
                    "SHUTOFF" => format!(
                        "VM '{name}' is off (state SHUTOFF); {what} only applies to a running VM. Use vm_start to power it on."
                    ),
                    "PAUSED" if self == Power::Pause => {
                        format!("VM '{name}' is already paused; resume it with vm_start.")
                    }
                    "PAUSED" => format!(
                        "VM '{name}' is paused; {what} needs a RUNNING VM. Resume it with vm_start first."
                    ),
                    _ => format!("VM '{name}' is in state {st}; {what} needs a RUNNING VM."),
                }
            }
        };
        Some(msg)
    }
}

impl WorkerState {
    /// The cluster identity (uuid, name, version) as known now.
    pub fn identity(&self) -> ClusterIdentity {
        self.identity.read().map(|g| g.clone()).unwrap_or_default()
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
        if def.read_only {
            tracing::debug!(tool = name, "tool call");
        } else {
            tracing::info!(tool = name, "tool call");
        }
        let out = self.dispatch(name, &args, &progress).await;
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
                let vm = self.resolve_vm(str_arg(a, "vm").unwrap_or_default()).await?;
                Ok(json!({"vm": vm_full(&vm)}))
            }
            "vm_stats" => self.vm_stats(a).await,
            "snapshot_list" => self.snapshot_list(a).await,
            "condition_list" => self.condition_list(a).await,
            "drive_list" => self.drive_list(a).await,
            "virtual_disk_list" => self.simple_list("VirtualDisk", "virtual_disks", |d| {
                json!({"uuid": s(d, "uuid"), "name": s(d, "name"), "capacity_bytes": n(d, "capacityBytes"), "allocation_bytes": n(d, "totalAllocationBytes")})
            }).await,
            "iso_list" => self.simple_list("ISO", "isos", |d| {
                json!({"uuid": s(d, "uuid"), "name": s(d, "name"), "size_bytes": n(d, "size"), "ready_for_insert": b(d, "readyForInsert"), "path": s(d, "path"), "mounts": d.get("mounts").cloned().unwrap_or_else(|| json!([]))})
            }).await,
            "user_list" => self.user_list().await,
            "network_device_list" => self.device_list(a, "VirDomainNetDevice", "netDevs", "network_devices", nic_row).await,
            "block_device_list" => self.device_list(a, "VirDomainBlockDevice", "blockDevs", "block_devices", block_row).await,
            "task_status" => self.task_status(str_arg(a, "task_tag").unwrap_or_default()).await,
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

    // ---------- reads ----------

    /// The `cluster_info` summary (also `GET /v1/status` and `hypercore://cluster/status`).
    pub async fn cluster_info(&self) -> ToolResult {
        let (cl, nodes, vms, conds, drives) = futures::join!(
            self.cluster.get_all("Cluster"),
            self.cluster.get_all("Node"),
            self.cluster.get_all("VirDomain"),
            self.cluster.get_all("Condition"),
            self.cluster.get_all("Drive"),
        );
        let cl = cl.map_err(cluster_err)?;
        let nodes = nodes.map_err(cluster_err)?;
        let vms = vms.map_err(cluster_err)?;
        let conds = conds.map_err(cluster_err)?;
        let drives = drives.unwrap_or_default();
        let c = cl.first().cloned().unwrap_or(Value::Null);
        let online = nodes
            .iter()
            .filter(|x| s(x, "networkStatus") == "ONLINE")
            .count();
        let running = vms.iter().filter(|x| s(x, "state") == "RUNNING").count();
        let (total_bytes, used_bytes) = if drives.is_empty() {
            (nodes.iter().map(|x| n(x, "capacity")).sum::<i64>(), 0)
        } else {
            (
                drives.iter().map(|d| n(d, "capacityBytes")).sum::<i64>(),
                drives.iter().map(|d| n(d, "usedBytes")).sum::<i64>(),
            )
        };
        let mut by_sev: std::collections::BTreeMap<String, u64> = Default::default();
        let mut raised = 0;
        let mut worst = usize::MAX;
        for x in conds.iter().filter(|x| b(x, "value")) {
            raised += 1;
            let sev = s(x, "severity");
            worst = worst.min(severity_rank(&sev));
            *by_sev.entry(sev).or_default() += 1;
        }
        let health = if online < nodes.len() || worst <= severity_rank("ERROR") {
            "critical"
        } else if worst <= severity_rank("WARNING") {
            "warning"
        } else {
            "ok"
        };
        Ok(json!({
            "cluster": {"uuid": s(&c, "uuid"), "name": s(&c, "clusterName"), "icos_version": s(&c, "icosVersion")},
            "nodes": {"total": nodes.len(), "online": online},
            "vms": {"total": vms.len(), "running": running},
            "storage": {"total_bytes": total_bytes, "used_bytes": used_bytes},
            "conditions": {"raised": raised, "by_severity": by_sev},
            "health": health,
        }))
    }

    async fn node_list(&self) -> ToolResult {
        let (nodes, vms) = futures::join!(
            self.cluster.get_all("Node"),
            self.cluster.get_all("VirDomain")
        );
        let nodes = nodes.map_err(cluster_err)?;
        let vms = vms.map_err(cluster_err)?;
        let rows: Vec<Value> = nodes
            .iter()
            .map(|x| {
                let uuid = s(x, "uuid");
                let vm_count = vms.iter().filter(|v| s(v, "nodeUUID") == uuid && s(v, "state") != "SHUTOFF").count();
                json!({
                    "uuid": uuid,
                    "peer_id": n(x, "peerID"),
                    "lan_ip": s(x, "lanIP"),
                    "backplane_ip": s(x, "backplaneIP"),
                    "network_status": s(x, "networkStatus"),
                    "online": s(x, "networkStatus") == "ONLINE",
                    "allow_running_vms": x.get("allowRunningVMs").and_then(Value::as_bool).unwrap_or(true),
                    "disposition": s(x, "currentDisposition"),
                    "cpu_usage_percent": f(x, "cpuUsage"),
                    "mem_bytes": n(x, "memSize"),
                    "mem_usage_percent": f(x, "memUsagePercentage"),
                    "capacity_bytes": n(x, "capacity"),
                    "cpu_threads": n(x, "numThreads"),
                    "running_vms": vm_count,
                })
            })
            .collect();
        Ok(json!({"count": rows.len(), "nodes": rows}))
    }

    /// The `vm_list` result (also `GET /v1/vms` and `hypercore://vms`).
    pub async fn vm_list(&self, a: &Map<String, Value>) -> ToolResult {
        let vms = self
            .cluster
            .get_all("VirDomain")
            .await
            .map_err(cluster_err)?;
        let state = str_arg(a, "state").map(str::to_ascii_uppercase);
        let name = str_arg(a, "name").map(str::to_lowercase);
        let tag = str_arg(a, "tag").map(str::to_lowercase);
        let details = a.get("details").and_then(Value::as_bool).unwrap_or(false);
        let rows: Vec<Value> = vms
            .iter()
            .filter(|v| state.as_deref().is_none_or(|st| s(v, "state") == st))
            .filter(|v| {
                name.as_deref()
                    .is_none_or(|q| s(v, "name").to_lowercase().contains(q))
            })
            .filter(|v| {
                tag.as_deref()
                    .is_none_or(|t| tags_of(v).iter().any(|x| x.to_lowercase() == t))
            })
            .map(|v| vm_row(v, details))
            .collect();
        Ok(json!({"count": rows.len(), "vms": rows}))
    }

    /// Finds a VM by uuid or exact name; the error names the problem precisely.
    pub(crate) async fn resolve_vm(&self, key: &str) -> Result<Value, String> {
        let key = key.trim();
        if key.is_empty() {
            return Err("argument 'vm' is empty: give a VM uuid or its exact name".into());
        }
        if is_uuid(key) {
            return match self
                .cluster
                .get_one("VirDomain", key)
                .await
                .map_err(cluster_err)?
            {
                Some(vm) => Ok(vm),
                None => Err(format!(
                    "no VM with uuid {key} on this cluster (see vm_list)"
                )),
            };
        }
        if looks_like_uuid(key) {
            return Err(format!(
                "'{key}' is not a valid uuid (expected 8-4-4-4-12 hex digits) and no VM is named like that"
            ));
        }
        let vms = self
            .cluster
            .get_all("VirDomain")
            .await
            .map_err(cluster_err)?;
        let matches: Vec<&Value> = vms.iter().filter(|v| s(v, "name") == key).collect();
        match matches.len() {
            1 => Ok(matches[0].clone()),
            0 => {
                let lower = key.to_lowercase();
                let similar: Vec<String> = vms
                    .iter()
                    .map(|v| s(v, "name"))
                    .filter(|nm| nm.to_lowercase().contains(&lower))
                    .take(5)
                    .collect();
                Err(if similar.is_empty() {
                    format!(
                        "no VM named '{key}' on this cluster (names are exact and case-sensitive; see vm_list)"
                    )
                } else {
                    format!(
                        "no VM named exactly '{key}'; similar names: {}",
                        similar.join(", ")
                    )
                })
            }
            _ => {
                let cands: Vec<String> = matches
                    .iter()
                    .map(|v| {
                        format!(
                            "{} ({}, node {})",
                            s(v, "uuid"),
                            s(v, "state"),
                            s(v, "nodeUUID")
                        )
                    })
                    .collect();
                Err(format!(
                    "VM name '{key}' is ambiguous: {} VMs have it; pass the uuid instead. Candidates: {}",
                    matches.len(),
                    cands.join("; ")
                ))
            }
        }
    }

    async fn vm_stats(&self, a: &Map<String, Value>) -> ToolResult {
        let vms = self
            .cluster
            .get_all("VirDomain")
            .await
            .map_err(cluster_err)?;
        let names: HashMap<String, String> =
            vms.iter().map(|v| (s(v, "uuid"), s(v, "name"))).collect();
        let mut stats = match str_arg(a, "vm") {
            Some(key) => {
                let vm = self.resolve_vm(key).await?;
                let uuid = s(&vm, "uuid");
                self.cluster
                    .get_one("VirDomainStats", &uuid)
                    .await
                    .map_err(cluster_err)?
                    .into_iter()
                    .collect::<Vec<_>>()
            }
            None => self
                .cluster
                .get_all("VirDomainStats")
                .await
                .map_err(cluster_err)?,
        };
        stats.sort_by(|x, y| f(y, "cpuUsage").total_cmp(&f(x, "cpuUsage")));
        let limit = a.get("limit").and_then(Value::as_u64).unwrap_or(50) as usize;
        let rows: Vec<Value> = stats
            .iter()
            .take(limit)
            .map(|st| {
                let uuid = s(st, "uuid");
                let disks: Vec<Value> = st
                    .get("vsdStats")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .map(|d| {
                                let r = d
                                    .get("rates")
                                    .and_then(|r| r.get(0))
                                    .cloned()
                                    .unwrap_or(Value::Null);
                                json!({
                                    "uuid": s(d, "uuid"),
                                    "read_iops": n(&r, "millireadsPerSecond") as f64 / 1000.0,
                                    "write_iops": n(&r, "milliwritesPerSecond") as f64 / 1000.0,
                                    "read_kib_per_s": n(&r, "readKibibytesPerSecond"),
                                    "write_kib_per_s": n(&r, "writeKibibytesPerSecond"),
                                    "read_latency_us": n(&r, "meanReadLatencyMicroseconds"),
                                    "write_latency_us": n(&r, "meanWriteLatencyMicroseconds"),
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                json!({
                    "uuid": uuid,
                    "name": names.get(&uuid).cloned().unwrap_or_default(),
                    "cpu_usage_percent": f(st, "cpuUsage"),
                    "rx_bit_rate": n(st, "rxBitRate"),
                    "tx_bit_rate": n(st, "txBitRate"),
                    "disks": disks,
                })
            })
            .collect();
        Ok(json!({"count": rows.len(), "stats": rows}))
    }

    async fn snapshot_list(&self, a: &Map<String, Value>) -> ToolResult {
        let vm = match str_arg(a, "vm") {
            Some(k) => Some(self.resolve_vm(k).await?),
            None => None,
        };
        let (snaps, vms) = futures::join!(
            self.cluster.get_all("VirDomainSnapshot"),
            self.cluster.get_all("VirDomain")
        );
        let mut snaps = snaps.map_err(cluster_err)?;
        let vms = vms.map_err(cluster_err)?;
        let names: HashMap<String, String> =
            vms.iter().map(|v| (s(v, "uuid"), s(v, "name"))).collect();
        if let Some(vm) = &vm {
            let uuid = s(vm, "uuid");
            snaps.retain(|x| s(x, "domainUUID") == uuid);
        }
        snaps.sort_by(|x, y| f(y, "timestamp").total_cmp(&f(x, "timestamp")));
        let rows: Vec<Value> = snaps
            .iter()
            .map(|x| {
                let vm_uuid = s(x, "domainUUID");
                let vm_name = names
                    .get(&vm_uuid)
                    .cloned()
                    .or_else(|| x.get("domain").map(|d| s(d, "name")))
                    .unwrap_or_default();
                json!({
                    "uuid": s(x, "uuid"),
                    "vm_uuid": vm_uuid,
                    "vm_name": vm_name,
                    "label": s(x, "label"),
                    "type": s(x, "type"),
                    "state": s(x, "state"),
                    "timestamp": n(x, "timestamp"),
                })
            })
            .collect();
        Ok(json!({"count": rows.len(), "snapshots": rows}))
    }

    /// The `condition_list` result (also `hypercore://conditions`).
    pub async fn condition_list(&self, a: &Map<String, Value>) -> ToolResult {
        let conds = self
            .cluster
            .get_all("Condition")
            .await
            .map_err(cluster_err)?;
        let all = a.get("all").and_then(Value::as_bool).unwrap_or(false);
        let min = str_arg(a, "severity").map(severity_rank);
        let mut rows: Vec<Value> = conds
            .iter()
            .filter(|x| all || b(x, "value"))
            .filter(|x| min.is_none_or(|m| severity_rank(&s(x, "severity")) <= m))
            .map(|x| {
                json!({
                    "name": s(x, "name"),
                    "description": s(x, "description"),
                    "severity": s(x, "severity"),
                    "raised": b(x, "value"),
                    "is_ok": b(x, "isOK"),
                    "node_uuid": s(x, "nodeUUID"),
                    "node_lan_ip": s(x, "nodeLANIP"),
                    "last_set_ms": n(x, "lastSetTime"),
                    "tags": x.get("tags").cloned().unwrap_or_else(|| json!([])),
                })
            })
            .collect();
        rows.sort_by_key(|r| severity_rank(r["severity"].as_str().unwrap_or("")));
        Ok(json!({"count": rows.len(), "conditions": rows}))
    }

    async fn drive_list(&self, a: &Map<String, Value>) -> ToolResult {
        let drives = self.cluster.get_all("Drive").await.map_err(cluster_err)?;
        let node = str_arg(a, "node");
        let unhealthy = a.get("unhealthy").and_then(Value::as_bool).unwrap_or(false);
        let rows: Vec<Value> = drives
            .iter()
            .filter(|d| node.is_none_or(|nd| s(d, "nodeUUID") == nd))
            .filter(|d| !unhealthy || !d.get("isHealthy").and_then(Value::as_bool).unwrap_or(true))
            .map(|d| {
                json!({
                    "uuid": s(d, "uuid"),
                    "node_uuid": s(d, "nodeUUID"),
                    "slot": n(d, "slot"),
                    "serial_number": s(d, "serialNumber"),
                    "type": s(d, "type"),
                    "capacity_bytes": n(d, "capacityBytes"),
                    "used_bytes": n(d, "usedBytes"),
                    "healthy": d.get("isHealthy").and_then(Value::as_bool).unwrap_or(true),
                    "error_count": n(d, "errorCount"),
                    "reallocated_sectors": n(d, "reallocatedSectors"),
                    "temperature": n(d, "temperature"),
                    "disposition": s(d, "currentDisposition"),
                })
            })
            .collect();
        Ok(json!({"count": rows.len(), "drives": rows}))
    }

    async fn simple_list(
        &self,
        collection: &str,
        key: &str,
        row: fn(&Value) -> Value,
    ) -> ToolResult {
        let items = self
            .cluster
            .get_all(collection)
            .await
            .map_err(cluster_err)?;
        let rows: Vec<Value> = items.iter().map(row).collect();
        Ok(json!({"count": rows.len(), key: rows}))
    }

    async fn user_list(&self) -> ToolResult {
        let (users, roles) =
            futures::join!(self.cluster.get_all("User"), self.cluster.get_all("Role"));
        let users = users.map_err(cluster_err)?;
        let roles = roles.unwrap_or_default();
        let role_names: HashMap<String, String> =
            roles.iter().map(|r| (s(r, "uuid"), s(r, "name"))).collect();
        let rows: Vec<Value> = users
            .iter()
            .map(|u| {
                let role_uuids: Vec<String> = u
                    .get("roleUUIDs")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                let role_list: Vec<String> = role_uuids
                    .iter()
                    .map(|r| role_names.get(r).cloned().unwrap_or_else(|| r.clone()))
                    .collect();
                json!({
                    "uuid": s(u, "uuid"),
                    "username": s(u, "username"),
                    "full_name": s(u, "fullName"),
                    "roles": role_list,
                    "session_limit": n(u, "sessionLimit"),
                })
            })
            .collect();
        Ok(json!({"count": rows.len(), "users": rows}))
    }

    async fn device_list(
        &self,
        a: &Map<String, Value>,
        collection: &str,
        embedded: &str,
        key: &str,
        row: fn(&Value) -> Value,
    ) -> ToolResult {
        let rows: Vec<Value> = match str_arg(a, "vm") {
            Some(k) => {
                let vm = self.resolve_vm(k).await?;
                let uuid = s(&vm, "uuid");
                vm.get(embedded)
                    .and_then(Value::as_array)
                    .map(|arr| {
                        arr.iter()
                            .map(|d| {
                                let mut r = row(d);
                                r["vm_uuid"] = json!(uuid);
                                r
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            }
            None => {
                let items = self
                    .cluster
                    .get_all(collection)
                    .await
                    .map_err(cluster_err)?;
                items.iter().map(row).collect()
            }
        };
        Ok(json!({"count": rows.len(), key: rows}))
    }

    async fn task_status(&self, tag: &str) -> ToolResult {
        let tag = tag.trim();
        if tag.contains('/') || tag.contains("..") {
            return Err(format!(
                "'{tag}' is not a task tag (expected something like \"1234\")"
            ));
        }
        match self
            .cluster
            .get_one("TaskTag", tag)
            .await
            .map_err(cluster_err)?
        {
            None => Ok(
                json!({"task_tag": tag, "found": false, "state": "UNKNOWN", "message": "no such task (it may have expired from the cluster's task list)"}),
            ),
            Some(t) => Ok(json!({
                "task_tag": tag,
                "found": true,
                "state": s(&t, "state"),
                "progress_percent": n(&t, "progressPercent"),
                "description": fill(&s(&t, "formattedDescription"), t.get("descriptionParameters")),
                "message": fill(&s(&t, "formattedMessage"), t.get("messageParameters")),
                "object_uuid": s(&t, "objectUUID"),
            })),
        }
    }

    async fn ping(&self) -> ToolResult {
        let start = Instant::now();
        match self.cluster.raw(Method::Get, "/ping", None).await {
            Ok((status, body)) if status < 300 => Ok(json!({
                "status": if body.get("status").is_some() { s(&body, "status") } else { "ok".to_owned() },
                "cluster_reachable": true,
                "latency_ms": start.elapsed().as_millis() as u64,
            })),
            Ok((status, _)) => Err(format!("the cluster answered /ping with HTTP {status}")),
            Err(e) => Err(cluster_err(e)),
        }
    }

    async fn api_search(&self, a: &Map<String, Value>) -> ToolResult {
        let doc = self
            .openapi
            .get_or_try_init(|| async { self.cluster.openapi().await.map_err(cluster_err) })
            .await?;
        let query = str_arg(a, "query").unwrap_or_default().to_lowercase();
        let terms: Vec<&str> = query
            .split(|c: char| !c.is_alphanumeric())
            .filter(|t| !t.is_empty())
            .collect();
        if terms.is_empty() {
            return Err("api_search: 'query' has no searchable words".into());
        }
        let limit = a.get("limit").and_then(Value::as_u64).unwrap_or(10) as usize;
        let mut hits: Vec<(usize, Value)> = Vec::new();
        if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
            for (path, ops) in paths {
                let Some(ops) = ops.as_object() else { continue };
                for (method, op) in ops {
                    if !matches!(method.as_str(), "get" | "post" | "put" | "patch" | "delete") {
                        continue;
                    }
                    let summary = s(op, "summary");
                    let hay = format!(
                        "{} {} {} {} {}",
                        path.to_lowercase(),
                        summary.to_lowercase(),
                        s(op, "description").to_lowercase(),
                        s(op, "operationId").to_lowercase(),
                        op.get("tags")
                            .map(|t| t.to_string().to_lowercase())
                            .unwrap_or_default()
                    );
                    let path_l = path.to_lowercase();
                    let score: usize = terms
                        .iter()
                        .map(|t| {
                            if path_l.contains(t) {
                                3
                            } else if hay.contains(t) {
                                1
                            } else {
                                0
                            }
                        })
                        .sum();
                    let all_match = terms.iter().all(|t| hay.contains(t));
                    if score > 0 {
                        hits.push((
                            score + if all_match { 10 } else { 0 },
                            json!({"method": method.to_uppercase(), "path": path, "summary": summary}),
                        ));
                    }
                }
            }
        } else {
            return Err("the cluster's OpenAPI document has no 'paths' section".into());
        }
        hits.sort_by(|x, y| {
            y.0.cmp(&x.0)
                .then_with(|| x.1["path"].as_str().cmp(&y.1["path"].as_str()))
        });
        let rows: Vec<Value> = hits.into_iter().take(limit).map(|(_, v)| v).collect();
        Ok(json!({"count": rows.len(), "results": rows}))
    }

    async fn api_request(&self, a: &Map<String, Value>) -> ToolResult {
        let method_s = str_arg(a, "method").unwrap_or("GET").to_ascii_uppercase();
        let method = match method_s.as_str() {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PATCH" => Method::Patch,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            other => return Err(format!("api_request: method '{other}' is not supported")),
        };
        let path = str_arg(a, "path").unwrap_or_default().trim();
        let path = path.strip_prefix("/rest/v1").unwrap_or(path);
        if !path.starts_with('/')
            || path.contains("..")
            || path.contains("://")
            || path.contains(['\r', '\n', ' ', '#'])
        {
            return Err(format!(
                "api_request: path '{path}' must be a plain path under /rest/v1 starting with '/', e.g. /VirDomain"
            ));
        }
        if matches!(path.trim_end_matches('/'), "/login" | "/logout") {
            return Err("api_request: /login and /logout are managed by the worker".into());
        }
        let body = a.get("body").cloned();
        if method != Method::Get {
            let def = self.catalog.get("api_request");
            if !def.is_some_and(|d| d.destructive) {
                return Err("api_request: only GET is allowed; this worker was started without --allow-raw-writes".into());
            }
            let id = self.identity();
            let binding = Binding::new(&id.uuid, "api_request", &format!("{method_s} {path}"), a);
            if let Some(resp) = self.confirm_gate(a, binding, || {
                json!({
                    "cluster": {"uuid": id.uuid, "name": id.name},
                    "tool": "api_request",
                    "request": {"method": method_s, "path": path, "body": body.as_ref().map(hyperfed_protocol::redact_json)},
                    "effect": "send this raw write to the HyperCore REST API; it is not checked by the worker",
                })
            })? {
                return Ok(resp);
            }
        } else if body.is_some() {
            return Err("api_request: a GET request takes no body".into());
        }
        let (status, resp) = self
            .cluster
            .raw(method, path, body)
            .await
            .map_err(cluster_err)?;
        Ok(json!({
            "status": status,
            "method": method_s,
            "path": path,
            "body": hyperfed_protocol::redact_json(&resp),
        }))
    }

    // ---------- actions ----------

    /// Without a token: issues one and returns the preview. With one: redeems it or refuses.
    fn confirm_gate(
        &self,
        a: &Map<String, Value>,
        binding: Binding,
        preview: impl FnOnce() -> Value,
    ) -> Result<Option<Value>, String> {
        match str_arg(a, "confirm_token") {
            Some(token) => {
                self.confirmations
                    .redeem(token, &binding)
                    .map_err(|e| e.to_string())?;
                Ok(None)
            }
            None => {
                let token = self.confirmations.issue(binding);
                Ok(Some(json!({
                    "confirmation_required": true,
                    "confirm_token": token,
                    "expires_in_s": self.confirmations.ttl().as_secs(),
                    "preview": preview(),
                    "message": "Nothing was changed. This action is destructive: repeat the same call with confirm_token to execute it.",
                })))
            }
        }
    }

    async fn power(
        &self,
        p: Power,
        tool: &str,
        a: &Map<String, Value>,
        progress: &ProgressSink,
    ) -> ToolResult {
        let vm = self
            .resolve_vm(str_arg(a, "vm").unwrap_or_default())
            .await?;
        if let Some(why) = p.refuse(&vm) {
            return Err(why);
        }
        let vm_uuid = s(&vm, "uuid");
        let mut node_uuid = None;
        if p == Power::Migrate {
            let target = str_arg(a, "node").unwrap_or_default().trim().to_owned();
            let nodes = self.cluster.get_all("Node").await.map_err(cluster_err)?;
            let Some(node) = nodes.iter().find(|x| s(x, "uuid") == target) else {
                let known: Vec<String> = nodes
                    .iter()
                    .map(|x| format!("{} ({})", s(x, "uuid"), s(x, "lanIP")))
                    .collect();
                return Err(format!(
                    "no node with uuid '{target}' on this cluster; nodes: {}",
                    known.join(", ")
                ));
            };
            if s(&vm, "nodeUUID") == target {
                return Err(format!(
                    "VM '{}' already runs on node {target} ({}); pick another node to migrate to (see node_list)",
                    s(&vm, "name"),
                    s(node, "lanIP")
                ));
            }
            if s(node, "networkStatus") != "ONLINE" {
                return Err(format!(
                    "node {target} ({}) is {}; it cannot receive a VM",
                    s(node, "lanIP"),
                    s(node, "networkStatus")
                ));
            }
            if node.get("allowRunningVMs").and_then(Value::as_bool) == Some(false) {
                return Err(format!(
                    "node {target} ({}) is in maintenance mode (not accepting VMs)",
                    s(node, "lanIP")
                ));
            }
            node_uuid = Some(target);
        }
        let def_destructive = self.catalog.get(tool).is_some_and(|d| d.destructive);
        if def_destructive {
            let id = self.identity();
            let binding = Binding::new(&id.uuid, tool, &vm_uuid, a);
            if let Some(resp) = self.confirm_gate(a, binding, || {
                json!({
                    "cluster": {"uuid": id.uuid, "name": id.name},
                    "tool": tool,
                    "vm": vm_brief(&vm),
                    "current_state": s(&vm, "state"),
                    "action": p.action_type(),
                    "effect": format!("will {}", p.effect()),
                })
            })? {
                return Ok(resp);
            }
        }
        let action = match p {
            Power::Start => VmAction::Start,
            Power::Shutdown => VmAction::Shutdown,
            Power::Stop => VmAction::Stop,
            Power::Reboot => VmAction::Reboot,
            Power::Reset => VmAction::Reset,
            Power::Migrate => VmAction::LiveMigrate {
                node_uuid: node_uuid.clone().unwrap_or_default(),
            },
            Power::Pause => VmAction::Pause,
            Power::Nmi => VmAction::Nmi,
        };
        let started = Instant::now();
        let task = match self.cluster.client().vm_action(&vm_uuid, action).await {
            Ok(t) => t,
            Err(hypercore::Error::InvalidState { message }) => {
                return Err(format!(
                    "HyperCore refused {} on VM '{}' in its current state {} ({message}); re-read it with vm_get and pick an action that fits that state",
                    p.action_type(),
                    s(&vm, "name"),
                    s(&vm, "state")
                ));
            }
            Err(e) => return Err(cluster_err(e)),
        };
        tracing::info!(tool, vm = %vm_uuid, task = %task.task_tag, "action submitted");
        let mut out = self.finish(&task.task_tag, a, progress, started).await?;
        // Task COMPLETE does not mean the VM reached its final state (ACPI shutdown, reboot).
        let mut expected = None;
        if wants_wait(a)
            && out["state"] == "COMPLETE"
            && let Some(target) = p.target_state()
        {
            self.wait_vm_state(&vm_uuid, target, started, progress)
                .await;
            expected = Some(target);
        }
        let after = self
            .cluster
            .get_one("VirDomain", &vm_uuid)
            .await
            .ok()
            .flatten()
            .unwrap_or(vm);
        if let Some(target) = expected
            && s(&after, "state") != target
        {
            out["note"] = json!(format!(
                "the task completed but the VM is {} rather than {target} after {} s{}",
                s(&after, "state"),
                self.wait_timeout.as_secs(),
                if p == Power::Shutdown {
                    "; the guest may be ignoring the ACPI request: use vm_stop to force it off"
                } else {
                    "; check again with vm_get"
                }
            ));
        }
        out["vm"] = vm_brief(&after);
        out["action"] = json!(p.action_type());
        out["waited_ms"] = json!(if wants_wait(a) {
            started.elapsed().as_millis() as u64
        } else {
            0
        });
        Ok(out)
    }

    async fn wait_vm_state(
        &self,
        uuid: &str,
        target: &str,
        started: Instant,
        progress: &ProgressSink,
    ) {
        while started.elapsed() < self.wait_timeout {
            match self.cluster.get_one("VirDomain", uuid).await {
                Ok(Some(vm)) if s(&vm, "state") == target => return,
                Ok(Some(_)) => {}
                _ => return,
            }
            if !progress.pause(self.poll_interval).await {
                return;
            }
        }
    }

    /// Waits for a task (unless `wait` is false) and shapes the common action result.
    async fn finish(
        &self,
        tag: &str,
        a: &Map<String, Value>,
        progress: &ProgressSink,
        started: Instant,
    ) -> ToolResult {
        if tag.is_empty() {
            return Ok(json!({"task_tag": "", "state": "COMPLETE"}));
        }
        if !wants_wait(a) {
            return Ok(
                json!({"task_tag": tag, "state": "QUEUED", "message": "not waiting; poll task_status with this task_tag"}),
            );
        }
        let mut last_pct = -1.0;
        loop {
            let t = self
                .cluster
                .get_one("TaskTag", tag)
                .await
                .map_err(cluster_err)?;
            let Some(t) = t else {
                // An unknown tag counts as done (HyperCore forgets finished tasks).
                return Ok(json!({"task_tag": tag, "state": "COMPLETE"}));
            };
            let state = s(&t, "state");
            let pct = n(&t, "progressPercent") as f64;
            match state.as_str() {
                "COMPLETE" => {
                    progress.report(100.0, "COMPLETE".into()).await;
                    return Ok(json!({"task_tag": tag, "state": "COMPLETE"}));
                }
                "ERROR" | "UNINITIALIZED" => {
                    let msg = fill(&s(&t, "formattedMessage"), t.get("messageParameters"));
                    return Err(format!(
                        "HyperCore task {tag} ended in {state}: {}",
                        if msg.is_empty() {
                            "no message given".to_owned()
                        } else {
                            redact_words(&msg)
                        }
                    ));
                }
                _ => {}
            }
            if pct > last_pct {
                last_pct = pct;
                progress
                    .report(pct.min(99.0), format!("task {tag} {state} {pct:.0}%"))
                    .await;
            }
            if started.elapsed() >= self.wait_timeout {
                return Ok(json!({
                    "task_tag": tag,
                    "state": state,
                    "timed_out": true,
                    "message": format!("still {state} after {} s; poll task_status with this task_tag", self.wait_timeout.as_secs()),
                }));
            }
            if !progress.pause(self.poll_interval).await {
                return Ok(json!({
                    "task_tag": tag,
                    "state": state,
                    "message": "the request was cancelled; the task continues on the cluster (see task_status)",
                }));
            }
        }
    }

    async fn snapshot_create(&self, a: &Map<String, Value>, progress: &ProgressSink) -> ToolResult {
        let vm = self
            .resolve_vm(str_arg(a, "vm").unwrap_or_default())
            .await?;
        let label = str_arg(a, "label").unwrap_or_default();
        let started = Instant::now();
        let task = self
            .cluster
            .client()
            .create_snapshot(&s(&vm, "uuid"), label)
            .await
            .map_err(cluster_err)?;
        let mut out = self.finish(&task.task_tag, a, progress, started).await?;
        out["created_uuid"] = json!(task.created_uuid);
        out["snapshot"] = json!({"uuid": task.created_uuid, "label": label});
        out["vm"] = vm_brief(&vm);
        out["waited_ms"] = json!(started.elapsed().as_millis() as u64);
        Ok(out)
    }

    async fn snapshot_delete(&self, a: &Map<String, Value>, progress: &ProgressSink) -> ToolResult {
        let snap_id = str_arg(a, "snapshot").unwrap_or_default().trim();
        if !is_uuid(snap_id) {
            return Err(format!(
                "'{snap_id}' is not a valid snapshot uuid (expected 8-4-4-4-12 hex digits; see snapshot_list)"
            ));
        }
        let Some(snap) = self
            .cluster
            .get_one("VirDomainSnapshot", snap_id)
            .await
            .map_err(cluster_err)?
        else {
            return Err(format!(
                "no snapshot with uuid {snap_id} on this cluster (see snapshot_list)"
            ));
        };
        let vm_uuid = s(&snap, "domainUUID");
        let vm = self
            .cluster
            .get_one("VirDomain", &vm_uuid)
            .await
            .ok()
            .flatten();
        let id = self.identity();
        let binding = Binding::new(&id.uuid, "snapshot_delete", snap_id, a);
        if let Some(resp) = self.confirm_gate(a, binding, || {
            json!({
                "cluster": {"uuid": id.uuid, "name": id.name},
                "tool": "snapshot_delete",
                "snapshot": {"uuid": snap_id, "label": s(&snap, "label"), "type": s(&snap, "type"), "timestamp": n(&snap, "timestamp")},
                "vm": vm.as_ref().map(vm_brief).unwrap_or_else(|| json!({"uuid": vm_uuid})),
                "effect": "will permanently delete this snapshot; it cannot be restored afterwards",
            })
        })? {
            return Ok(resp);
        }
        let started = Instant::now();
        let task = self
            .cluster
            .client()
            .delete_snapshot(snap_id)
            .await
            .map_err(cluster_err)?;
        let mut out = self.finish(&task.task_tag, a, progress, started).await?;
        out["snapshot"] = json!({"uuid": snap_id, "label": s(&snap, "label")});
        if let Some(vm) = &vm {
            out["vm"] = vm_brief(vm);
        }
        out["waited_ms"] = json!(started.elapsed().as_millis() as u64);
        Ok(out)
    }

    async fn snapshot_of(&self, vm: &Value, snap: Option<&str>) -> Result<Option<String>, String> {
        let Some(snap) = snap.map(str::trim).filter(|x| !x.is_empty()) else {
            return Ok(None);
        };
        if !is_uuid(snap) {
            return Err(format!(
                "'{snap}' is not a valid snapshot uuid (see snapshot_list)"
            ));
        }
        match self
            .cluster
            .get_one("VirDomainSnapshot", snap)
            .await
            .map_err(cluster_err)?
        {
            None => Err(format!(
                "no snapshot with uuid {snap} on this cluster (see snapshot_list)"
            )),
            Some(x) if s(&x, "domainUUID") != s(vm, "uuid") => Err(format!(
                "snapshot {snap} belongs to another VM ({}), not to '{}'",
                s(&x, "domainUUID"),
                s(vm, "name")
            )),
            Some(_) => Ok(Some(snap.to_owned())),
        }
    }

    async fn vm_clone(&self, a: &Map<String, Value>, progress: &ProgressSink) -> ToolResult {
        let vm = self
            .resolve_vm(str_arg(a, "vm").unwrap_or_default())
            .await?;
        let name = str_arg(a, "name").unwrap_or_default().trim().to_owned();
        let mut snap = self.snapshot_of(&vm, str_arg(a, "snapshot")).await?;
        if snap.is_none() && !s(&vm, "sourceVirDomainUUID").is_empty() {
            // A replication target is cloned from its latest replicated snapshot.
            snap = vm
                .get("snapUUIDs")
                .and_then(Value::as_array)
                .and_then(|x| x.last())
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
        let spec = CloneSpec {
            name: name.clone(),
            snap_uuid: snap,
            ..CloneSpec::default()
        };
        let started = Instant::now();
        let task = self
            .cluster
            .client()
            .clone_vm(&s(&vm, "uuid"), spec)
            .await
            .map_err(cluster_err)?;
        let mut out = self.finish(&task.task_tag, a, progress, started).await?;
        out["created_uuid"] = json!(task.created_uuid);
        out["clone"] = json!({"uuid": task.created_uuid, "name": name});
        out["vm"] = vm_brief(&vm);
        out["waited_ms"] = json!(started.elapsed().as_millis() as u64);
        Ok(out)
    }

    async fn vm_export(&self, a: &Map<String, Value>, progress: &ProgressSink) -> ToolResult {
        let vm = self
            .resolve_vm(str_arg(a, "vm").unwrap_or_default())
            .await?;
        let uri = str_arg(a, "uri").unwrap_or_default().trim().to_owned();
        let shown = redact_uri(&uri);
        if !uri.to_ascii_lowercase().starts_with("smb://") {
            return Err(format!(
                "uri '{shown}' must be an smb:// URI, e.g. smb://DOMAIN;user:password@server/share/folder"
            ));
        }
        let after = &uri["smb://".len()..];
        let host_path = after.rsplit_once('@').map_or(after, |(_, hp)| hp);
        if !host_path.contains('/') || host_path.starts_with('/') {
            return Err(format!(
                "uri '{shown}' needs a server and a share path, e.g. smb://user:pass@server/share/folder"
            ));
        }
        let snap = self.snapshot_of(&vm, str_arg(a, "snapshot")).await?;
        let spec = ExportSpec {
            target_uri: hyperfed_protocol::Secret::new(uri.clone()),
            snap_uuid: snap,
            ..ExportSpec::default()
        };
        let started = Instant::now();
        let task = self
            .cluster
            .client()
            .export_vm(&s(&vm, "uuid"), spec)
            .await
            .map_err(|e| redact_words(&cluster_err(e)).replace(&uri, &shown))?;
        let mut out = self
            .finish(&task.task_tag, a, progress, started)
            .await
            .map_err(|e| redact_words(&e).replace(&uri, &shown))?;
        out["uri"] = json!(shown);
        out["vm"] = vm_brief(&vm);
        out["waited_ms"] = json!(started.elapsed().as_millis() as u64);
        Ok(out)
    }
}

fn wants_wait(a: &Map<String, Value>) -> bool {
    a.get("wait").and_then(Value::as_bool).unwrap_or(true)
}

/// Fills `%@` placeholders of a HyperCore formatted text with its parameters.
fn fill(template: &str, params: Option<&Value>) -> String {
    let params: Vec<String> = params
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut out = String::new();
    let mut it = params.iter();
    let mut rest = template;
    while let Some(i) = rest.find("%@") {
        out.push_str(&rest[..i]);
        out.push_str(it.next().map(String::as_str).unwrap_or("?"));
        rest = &rest[i + 2..];
    }
    out.push_str(rest);
    redact_words(&out)
}

/// Redacts credentials in any URI-looking word of a message.
fn redact_words(text: &str) -> String {
    text.split(' ')
        .map(|w| {
            if w.contains("://") && w.contains('@') {
                redact_uri(w)
            } else {
                w.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_explain_state() {
        let vm = |state: &str, src: &str| json!({"name": "web", "state": state, "sourceVirDomainUUID": src});
        assert!(
            Power::Reset
                .refuse(&vm("SHUTOFF", ""))
                .unwrap()
                .contains("off")
        );
        assert!(
            Power::Start
                .refuse(&vm("SHUTOFF", "x"))
                .unwrap()
                .contains("replication target")
        );
        assert!(
            Power::Start
                .refuse(&vm("RUNNING", ""))
                .unwrap()
                .contains("already running")
        );
        assert!(Power::Start.refuse(&vm("SHUTOFF", "")).is_none());
        assert!(Power::Start.refuse(&vm("PAUSED", "")).is_none());
        assert!(
            Power::Pause
                .refuse(&vm("PAUSED", ""))
                .unwrap()
                .contains("already paused")
        );
        assert!(Power::Stop.refuse(&vm("PAUSED", "")).is_none());
        assert!(
            Power::Shutdown
                .refuse(&vm("SHUTDOWN", ""))
                .unwrap()
                .contains("vm_stop")
        );
        assert!(Power::Migrate.refuse(&vm("SHUTOFF", "")).is_some());
        assert!(Power::Nmi.refuse(&vm("RUNNING", "")).is_none());
    }

    #[test]
    fn fills_placeholders_and_redacts() {
        let p = json!(["smb://u:pw@h/s", "vm1"]);
        let out = fill("Export to %@ of %@ failed", Some(&p));
        assert_eq!(out, "Export to smb://u:[redacted]@h/s of vm1 failed");
    }

    #[test]
    fn uuid_heuristics() {
        assert!(is_uuid("123e4567-e89b-12d3-a456-426614174000"));
        assert!(!is_uuid("web-01"));
        assert!(looks_like_uuid("123e4567-e89b-12d3-a456-42661417400z"));
        assert!(looks_like_uuid("123e4567-e89b-12d3-a456-4266141740"));
        assert!(!looks_like_uuid("web-frontend-01"));
    }
}
