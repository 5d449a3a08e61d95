//! `drive_list`: the nodes' physical drives with health, errors and temperature.

use hypercore::model::Drive;
use serde_json::{Value, json};

use super::page::{list_output, page, paged_input};
use super::schema::read_tool;
use super::{ToolCall, ToolResult, ToolSpec};

/// Columns `fields` may select.
const COLUMNS: &[&str] = &[
    "uuid",
    "node_uuid",
    "slot",
    "serial_number",
    "type",
    "capacity_bytes",
    "used_bytes",
    "healthy",
    "error_count",
    "reallocated_sectors",
    "temperature",
    "disposition",
];

/// `drive_list`.
pub(super) const SPEC: ToolSpec = ToolSpec {
    name: "drive_list",
    declare: |_| {
        read_tool(
            "drive_list",
            "List physical drives",
            "Lists physical drives (slot, capacity, health, errors, temperature); unhealthy=true for failing ones, e.g. when a condition mentions a disk.",
            paged_input(
                json!({"node": {"type": "string", "description": "Only drives of this node uuid."}, "unhealthy": {"type": "boolean", "description": "Only unhealthy drives. Default false."}}),
                COLUMNS,
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
    Ok(Value::Object(page(
        &call,
        "drives",
        rows,
        "node or unhealthy",
    )?))
}
