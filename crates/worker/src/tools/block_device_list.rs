//! `block_device_list`: VM block devices (disks, CD-ROMs, NVRAM), of one VM or all.

use hypercore::model::VirDomainBlockDevice;
use serde_json::{Value, json};

use super::page::{list_output, page, paged_input};
use super::rows::block_row;
use super::schema::{read_tool, vm_arg};
use super::{ToolCall, ToolResult, ToolSpec};

/// Columns `fields` may select.
const COLUMNS: &[&str] = &[
    "uuid",
    "vm_uuid",
    "type",
    "name",
    "capacity_bytes",
    "allocation_bytes",
    "cache_mode",
    "slot",
    "path",
    "read_only",
];

/// `block_device_list`.
pub(super) const SPEC: ToolSpec = ToolSpec {
    name: "block_device_list",
    declare: |_| {
        read_tool(
            "block_device_list",
            "List VM disks",
            "Lists VM disks, CD-ROMs and NVRAM (type, capacity, allocation, cache, slot); vm for one VM's.",
            paged_input(json!({"vm": vm_arg()}), COLUMNS),
            list_output("block_devices", json!({"type": "object"})),
        )
    },
    run: |call| Box::pin(run(call)),
};

async fn run(call: ToolCall<'_>) -> ToolResult {
    let rows = call
        .vm_device_rows::<VirDomainBlockDevice>(|vm| &vm.block_devs, block_row)
        .await?;
    Ok(Value::Object(page(&call, "block_devices", rows, "vm")?))
}
