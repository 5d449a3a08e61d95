//! `drive_list`: the nodes' physical drives with health, errors and temperature.

use hypercore::model::Drive;
use serde_json::{Value, json};

use super::schema::{input, list_output, read_tool};
use super::{ToolCall, ToolResult, ToolSpec};

/// `drive_list`.
pub(super) const SPEC: ToolSpec = ToolSpec {
    name: "drive_list",
    declare: |_| {
        read_tool(
            "drive_list",
            "List physical drives",
            "Lists the nodes' physical drives with slot, type, capacity, use, health, error counts and temperature. unhealthy=true returns only drives that report a problem. Use it when a condition mentions a disk.",
            input(
                json!({"node": {"type": "string", "description": "Only drives of this node uuid."}, "unhealthy": {"type": "boolean", "description": "Only unhealthy drives. Default false."}}),
                &[],
            ),
            list_output("drives", json!({"type": "object"})),
        )
    },
    run: |call| Box::pin(run(call)),
};

async fn run(call: ToolCall<'_>) -> ToolResult {
    let drives = call
        .state
        .cluster
        .list::<Drive>()
        .await
        .map_err(|e| call.cluster_err(e))?;
    let node = call.str_arg("node");
    let unhealthy = call.bool_arg("unhealthy", false);
    let rows: Vec<Value> = drives
        .iter()
        .filter(|d| node.is_none_or(|n| d.node_uuid == n))
        .filter(|d| !unhealthy || !d.is_healthy)
        .map(|d| {
            json!({
                "uuid": d.uuid,
                "node_uuid": d.node_uuid,
                "slot": d.slot,
                "serial_number": d.serial_number,
                "type": d.kind.as_str(),
                "capacity_bytes": d.capacity_bytes,
                "used_bytes": d.used_bytes,
                "healthy": d.is_healthy,
                "error_count": d.error_count,
                "reallocated_sectors": d.reallocated_sectors,
                "temperature": d.temperature,
                "disposition": d.current_disposition.as_str(),
            })
        })
        .collect();
    Ok(json!({"count": rows.len(), "drives": rows}))
}
