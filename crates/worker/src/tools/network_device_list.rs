//! `network_device_list`: VM network interfaces, of one VM or all.

use hypercore::model::VirDomainNetDevice;
use serde_json::{Value, json};

use super::page::{list_output, page, paged_input};
use super::rows::nic_row;
use super::schema::{read_tool, vm_arg};
use super::{ToolCall, ToolResult, ToolSpec};

/// Columns `fields` may select.
const COLUMNS: &[&str] = &[
    "uuid",
    "vm_uuid",
    "type",
    "mac_address",
    "vlan",
    "connected",
    "ipv4_addresses",
];

/// `network_device_list`.
pub(super) const SPEC: ToolSpec = ToolSpec {
    name: "network_device_list",
    declare: |_| {
        read_tool(
            "network_device_list",
            "List VM network interfaces",
            "Lists VM NICs (type, VLAN, MAC, connected, guest IPv4 addresses); vm for one VM's.",
            paged_input(json!({"vm": vm_arg()}), COLUMNS),
            list_output("network_devices", json!({"type": "object"})),
        )
    },
    run: |call| Box::pin(run(call)),
};

async fn run(call: ToolCall<'_>) -> ToolResult {
    let rows = call
        .vm_device_rows::<VirDomainNetDevice>(|vm| &vm.net_devs, nic_row)
        .await?;
    Ok(Value::Object(page(&call, "network_devices", rows, "vm")?))
}
