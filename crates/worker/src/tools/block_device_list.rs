//! `block_device_list`: VM block devices (disks, CD-ROMs, NVRAM), of one VM or all.

use hypercore::model::VirDomainBlockDevice;
use serde_json::{Value, json};

use super::rows::block_row;
use super::schema::{input, list_output, read_tool, vm_arg};
use super::{ToolCall, ToolResult, ToolSpec};

/// `block_device_list`.
pub(super) const SPEC: ToolSpec = ToolSpec {
    name: "block_device_list",
    declare: |_| {
        read_tool(
            "block_device_list",
            "List VM disks",
            "Lists VM block devices (disks, CD-ROMs, NVRAM) with type, capacity, allocation, cache mode and slot. Give vm for one VM's disks.",
            input(json!({"vm": vm_arg()}), &[]),
            list_output("block_devices", json!({"type": "object"})),
        )
    },
    run: |call| Box::pin(run(call)),
};

async fn run(call: ToolCall<'_>) -> ToolResult {
    let rows: Vec<Value> = match call.str_arg("vm") {
        // One VM's disks come embedded in its record, stamped with its uuid.
        Some(key) => {
            let vm = call.resolve_vm(key).await?;
            vm.block_devs
                .iter()
                .map(|disk| {
                    let mut row = block_row(disk);
                    row["vm_uuid"] = json!(vm.uuid);
                    row
                })
                .collect()
        }
        None => call
            .state
            .cluster
            .list::<VirDomainBlockDevice>()
            .await
            .map_err(|e| call.cluster_err(e))?
            .iter()
            .map(block_row)
            .collect(),
    };
    Ok(json!({"count": rows.len(), "block_devices": rows}))
}
