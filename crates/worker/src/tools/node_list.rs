//! `node_list`: the physical nodes with addresses, status, maintenance mode, use and the
//! number of VMs each runs.

use hypercore::model::{Node, NodeNetworkStatus, VirDomain, VmState};
use serde_json::{Value, json};

use super::page::{list_output, page, paged_input};
use super::schema::read_tool;
use super::{ToolCall, ToolResult, ToolSpec};

/// Columns `fields` may select.
const COLUMNS: &[&str] = &[
    "uuid",
    "peer_id",
    "lan_ip",
    "backplane_ip",
    "network_status",
    "online",
    "allow_running_vms",
    "disposition",
    "cpu_usage_percent",
    "mem_bytes",
    "mem_usage_percent",
    "capacity_bytes",
    "cpu_threads",
    "running_vms",
];

/// `node_list`.
pub(super) const SPEC: ToolSpec = ToolSpec {
    name: "node_list",
    declare: |_| {
        read_tool(
            "node_list",
            "List nodes",
            "Lists nodes (IP, online, maintenance, CPU and memory use, capacity, running VMs): to pick a migration target or find an unhealthy node.",
            paged_input(json!({}), COLUMNS),
            list_output("nodes", json!({"type": "object"})),
        )
    },
    run: |call| Box::pin(run(call)),
};

async fn run(call: ToolCall<'_>) -> ToolResult {
    let cluster = &call.state.cluster;
    let (nodes, vms) = futures::join!(cluster.list::<Node>(), cluster.list::<VirDomain>());
    let nodes = nodes.map_err(|e| call.cluster_err(e))?;
    let vms = vms.map_err(|e| call.cluster_err(e))?;
    let rows: Vec<Value> = nodes
        .iter()
        .map(|node| {
            let running_vms = vms
                .iter()
                .filter(|vm| vm.node_uuid == node.uuid && vm.state != VmState::Shutoff)
                .count();
            json!({
                "uuid": node.uuid,
                "peer_id": node.peer_id,
                "lan_ip": node.lan_ip,
                "backplane_ip": node.backplane_ip,
                "network_status": node.network_status.as_str(),
                "online": node.network_status == NodeNetworkStatus::Online,
                "allow_running_vms": node.allow_running_vms,
                "disposition": node.current_disposition.as_str(),
                "cpu_usage_percent": node.cpu_usage,
                "mem_bytes": node.mem_size,
                "mem_usage_percent": node.mem_usage_percentage,
                "capacity_bytes": node.capacity,
                "cpu_threads": node.num_threads,
                "running_vms": running_vms,
            })
        })
        .collect();
    Ok(Value::Object(page(&call, "nodes", rows, "")?))
}
