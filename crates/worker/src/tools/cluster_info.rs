//! `cluster_info`: the cluster at a glance (identity, nodes, VMs, storage, raised conditions
//! by severity) and an overall health verdict. Also `GET /v1/status` and the
//! `hypercore://cluster/status` resource.

use std::collections::BTreeMap;

use hypercore::model::{
    Cluster, Condition, Drive, Node, NodeNetworkStatus, Severity, VirDomain, VmState,
};
use serde_json::json;

use super::schema::{input, output, read_tool};
use super::{ToolCall, ToolResult, ToolSpec};

/// `cluster_info`.
pub(super) const SPEC: ToolSpec = ToolSpec {
    name: "cluster_info",
    declare: |_| {
        read_tool(
            "cluster_info",
            "Cluster summary",
            "Start here: the cluster's identity and version, nodes online, VMs running, storage use, raised conditions by severity and a health verdict (ok, warning, critical).",
            input(json!({}), &[]),
            output(
                json!({
                    "cluster": {"type": "object", "properties": {"uuid": {"type": "string"}, "name": {"type": "string"}, "icos_version": {"type": "string"}}},
                    "nodes": {"type": "object", "properties": {"total": {"type": "integer"}, "online": {"type": "integer"}}},
                    "vms": {"type": "object", "properties": {"total": {"type": "integer"}, "running": {"type": "integer"}}},
                    "storage": {"type": "object", "properties": {"total_bytes": {"type": "integer"}, "used_bytes": {"type": "integer"}}},
                    "conditions": {"type": "object", "properties": {"raised": {"type": "integer"}, "by_severity": {"type": "object"}}},
                    "health": {"type": "string", "enum": ["ok", "warning", "critical"]}
                }),
                &["cluster", "nodes", "vms", "storage", "conditions", "health"],
            ),
        )
    },
    run: |call| Box::pin(run(call)),
};

async fn run(call: ToolCall<'_>) -> ToolResult {
    let cluster = &call.state.cluster;
    let (clusters, nodes, vms, conditions, drives) = futures::join!(
        cluster.list::<Cluster>(),
        cluster.list::<Node>(),
        cluster.list::<VirDomain>(),
        cluster.list::<Condition>(),
        cluster.list::<Drive>(),
    );
    let clusters = clusters.map_err(|e| call.cluster_err(e))?;
    let nodes = nodes.map_err(|e| call.cluster_err(e))?;
    let vms = vms.map_err(|e| call.cluster_err(e))?;
    let conditions = conditions.map_err(|e| call.cluster_err(e))?;
    let drives = drives.unwrap_or_default();
    let identity = clusters.first().cloned().unwrap_or_default();
    let online = nodes
        .iter()
        .filter(|node| node.network_status == NodeNetworkStatus::Online)
        .count();
    let running = vms.iter().filter(|vm| vm.state == VmState::Running).count();
    let (total_bytes, used_bytes) = if drives.is_empty() {
        (nodes.iter().map(|node| node.capacity).sum::<u64>(), 0)
    } else {
        (
            drives.iter().map(|d| d.capacity_bytes).sum::<u64>(),
            drives.iter().map(|d| d.used_bytes).sum::<u64>(),
        )
    };
    let mut by_severity: BTreeMap<&str, u64> = BTreeMap::new();
    let mut raised = 0;
    let mut worst = usize::MAX;
    for condition in conditions.iter().filter(|c| c.value) {
        raised += 1;
        worst = worst.min(condition.severity.rank());
        *by_severity.entry(condition.severity.as_str()).or_default() += 1;
    }
    let health = if online < nodes.len() || worst <= Severity::Error.rank() {
        "critical"
    } else if worst <= Severity::Warning.rank() {
        "warning"
    } else {
        "ok"
    };
    Ok(json!({
        "cluster": {"uuid": identity.uuid, "name": identity.cluster_name, "icos_version": identity.icos_version},
        "nodes": {"total": nodes.len(), "online": online},
        "vms": {"total": vms.len(), "running": running},
        "storage": {"total_bytes": total_bytes, "used_bytes": used_bytes},
        "conditions": {"raised": raised, "by_severity": by_severity},
        "health": health,
    }))
}
