//! `capacity`: CPU, memory (total, allocated to VMs holding it, free) and storage per node and
//! for the cluster, VM counts and raised conditions; with requirements, whether a VM fits and
//! the headroom that would remain (per node for memory, since a VM runs on one node).

use hypercore::model::{Condition, Node, NodeNetworkStatus, VirDomain, VmState};
use serde_json::{Value, json};

use super::schema::{input, output, read_tool};
use super::{ToolCall, ToolResult, ToolSpec};

/// `capacity`.
pub(super) const SPEC: ToolSpec = ToolSpec {
    name: "capacity",
    declare: |_| {
        read_tool(
            "capacity",
            "Cluster capacity",
            "Reports CPU cores, memory (total, allocated to VMs holding memory, free) and storage (total, used, free) per node and for the cluster, VM counts and raised conditions. With requirements {vcpus, memory_bytes, disk_bytes}, answers fits and the headroom that would remain (memory per node, since a VM runs on one node).",
            input(
                json!({"requirements": {"type": "object", "properties": {
                    "vcpus": {"type": "integer", "minimum": 1},
                    "memory_bytes": {"type": "integer", "minimum": 0},
                    "disk_bytes": {"type": "integer", "minimum": 0, "description": "Total of the VM's disks."},
                }, "additionalProperties": false, "description": "A VM to check for room."}}),
                &[],
            ),
            output(
                json!({
                    "nodes": {"type": "array", "items": {"type": "object"}},
                    "cluster": {"type": "object"},
                    "vms": {"type": "object", "description": "VM counts: total, running (holding memory), off."},
                    "conditions": {"type": "array", "items": {"type": "object"}, "description": "Raised conditions."},
                    "fits": {"type": "boolean"},
                    "reasons": {"type": "array", "items": {"type": "string"}, "description": "Why the requirements do not fit."},
                    "headroom": {"type": "object"},
                }),
                &["nodes", "cluster", "vms"],
            ),
        )
    },
    run: |call| Box::pin(run(call)),
};

/// Whether a VM in this state holds its memory on its node.
fn holds_memory(vm: &VirDomain) -> bool {
    matches!(
        vm.state,
        VmState::Running | VmState::Paused | VmState::Blocked | VmState::Shutdown
    )
}

/// Whether a node may run VMs (online and not in maintenance).
fn can_run_vms(node: &Node) -> bool {
    node.network_status == NodeNetworkStatus::Online && node.allow_running_vms
}

/// The capacity figures of a cluster from its records.
pub(super) struct Figures {
    /// Per-node rows.
    pub nodes: Vec<Value>,
    /// Cluster row.
    pub cluster: Value,
    /// Free memory per node that can run VMs: (node uuid, lan ip, free bytes).
    pub node_free: Vec<(String, String, u64)>,
    /// Free storage in bytes.
    pub storage_free: u64,
}

/// Computes the figures from nodes and VMs.
pub(super) fn figures(nodes: &[Node], vms: &[VirDomain]) -> Figures {
    let (mut mem_total, mut mem_alloc, mut mem_free, mut largest, mut cores) =
        (0u64, 0, 0, 0, 0u64);
    let (mut st_total, mut st_used) = (0u64, 0u64);
    let mut node_free = Vec::new();
    let rows = nodes
        .iter()
        .map(|n| {
            let holding: Vec<&VirDomain> = vms
                .iter()
                .filter(|v| v.node_uuid == n.uuid && holds_memory(v))
                .collect();
            let allocated: u64 = holding.iter().map(|v| v.mem).sum();
            let vcpus: u64 = holding.iter().map(|v| u64::from(v.num_vcpu)).sum();
            let usable = can_run_vms(n);
            let free = if usable {
                n.mem_size
                    .saturating_sub(n.system_mem_usage_bytes)
                    .saturating_sub(allocated)
            } else {
                0
            };
            if usable {
                mem_total += n.mem_size;
                cores += u64::from(n.num_cores);
                node_free.push((n.uuid.clone(), n.lan_ip.clone(), free));
            }
            mem_alloc += allocated;
            mem_free += free;
            largest = largest.max(free);
            let (t, u) = n.drives.iter().fold((0u64, 0u64), |(t, u), d| {
                (t + d.capacity_bytes, u + d.used_bytes)
            });
            st_total += t;
            st_used += u;
            json!({
                "uuid": n.uuid,
                "lan_ip": n.lan_ip,
                "can_run_vms": usable,
                "cpu_cores": n.num_cores,
                "cpu_threads": n.num_threads,
                "vcpus_allocated": vcpus,
                "vms_holding_memory": holding.len(),
                "memory": {"total_bytes": n.mem_size, "system_bytes": n.system_mem_usage_bytes, "allocated_bytes": allocated, "free_bytes": free},
                "storage": {"total_bytes": t, "used_bytes": u, "free_bytes": t.saturating_sub(u)},
            })
        })
        .collect();
    let storage_free = st_total.saturating_sub(st_used);
    Figures {
        nodes: rows,
        cluster: json!({
            "cpu_cores": cores,
            "memory": {"total_bytes": mem_total, "allocated_bytes": mem_alloc, "free_bytes": mem_free, "largest_node_free_bytes": largest},
            "storage": {"total_bytes": st_total, "used_bytes": st_used, "free_bytes": storage_free},
        }),
        node_free,
        storage_free,
    }
}

impl Figures {
    /// Whether a VM of `memory` and `disk` bytes fits, why not, and the headroom after it.
    pub fn fit(&self, memory: u64, disk: u64) -> (bool, Vec<String>, Value) {
        let mut reasons = Vec::new();
        let per_node: Vec<Value> = self
            .node_free
            .iter()
            .map(|(uuid, ip, free)| json!({"node": uuid, "lan_ip": ip, "fits": *free >= memory, "memory_free_after_bytes": free.checked_sub(memory)}))
            .collect();
        let best = self.node_free.iter().map(|n| n.2).max().unwrap_or(0);
        if best < memory {
            reasons.push(format!(
                "not enough free memory on any node (needs {memory} bytes, at most {best} bytes free on one node)"
            ));
        }
        if self.storage_free < disk {
            reasons.push(format!(
                "not enough free storage (needs {disk} bytes, {} bytes free)",
                self.storage_free
            ));
        }
        let headroom = json!({
            "memory_per_node": per_node,
            "storage_free_after_bytes": self.storage_free.checked_sub(disk),
        });
        (reasons.is_empty(), reasons, headroom)
    }
}

async fn run(call: ToolCall<'_>) -> ToolResult {
    let cluster = &call.state.cluster;
    let nodes = cluster
        .list::<Node>()
        .await
        .map_err(|e| call.cluster_err(e))?;
    let vms = cluster
        .list::<VirDomain>()
        .await
        .map_err(|e| call.cluster_err(e))?;
    let conditions = cluster
        .list::<Condition>()
        .await
        .map_err(|e| call.cluster_err(e))?;
    let f = figures(&nodes, &vms);
    let running = vms.iter().filter(|v| holds_memory(v)).count();
    let raised: Vec<Value> = conditions
        .iter()
        .filter(|c| c.value)
        .map(|c| json!({"name": c.name, "severity": c.severity.as_str(), "node": c.node_uuid, "description": c.description}))
        .collect();
    let mut out = json!({
        "nodes": f.nodes,
        "cluster": f.cluster,
        "vms": {"total": vms.len(), "running": running, "off": vms.len() - running},
        "conditions": raised,
    });
    if let Some(req) = call.args.get("requirements") {
        let memory = req.get("memory_bytes").and_then(Value::as_u64).unwrap_or(0);
        let disk = req.get("disk_bytes").and_then(Value::as_u64).unwrap_or(0);
        let (fits, reasons, headroom) = f.fit(memory, disk);
        out["fits"] = json!(fits);
        out["reasons"] = json!(reasons);
        out["headroom"] = headroom;
    }
    Ok(out)
}
