//! `virtual_disk_list`: uploaded virtual disk images not attached to a VM.

use hypercore::model::VirtualDisk;
use serde_json::{Value, json};

use super::page::{list_output, page, paged_input};
use super::schema::read_tool;
use super::{ToolCall, ToolResult, ToolSpec};

/// `virtual_disk_list`.
pub(super) const SPEC: ToolSpec = ToolSpec {
    name: "virtual_disk_list",
    declare: |_| {
        read_tool(
            "virtual_disk_list",
            "List uploaded virtual disks",
            "Lists uploaded virtual disk images not attached to a VM (name, capacity, allocation).",
            paged_input(json!({}), &[]),
            list_output("virtual_disks", json!({"type": "object"})),
        )
    },
    run: |call| Box::pin(run(call)),
};

async fn run(call: ToolCall<'_>) -> ToolResult {
    let disks = call
        .state
        .cluster
        .list::<VirtualDisk>()
        .await
        .map_err(|e| call.cluster_err(e))?;
    let rows: Vec<Value> = disks
        .iter()
        .map(|disk| {
            json!({
                "uuid": disk.uuid,
                "name": disk.name,
                "capacity_bytes": disk.capacity_bytes,
                "allocation_bytes": disk.total_allocation_bytes,
            })
        })
        .collect();
    Ok(Value::Object(page(&call, "virtual_disks", rows, "")?))
}
