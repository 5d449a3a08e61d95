//! `vm_get`: one VM's full record by uuid or exact name.

use hypercore::model::VirDomain;
use serde_json::{Value, json};

use super::rows::{block_row, nic_row};
use super::schema::{input, output, read_tool, vm_arg};
use super::{ToolCall, ToolResult, ToolSpec};

/// `vm_get`.
pub(super) const SPEC: ToolSpec = ToolSpec {
    name: "vm_get",
    declare: |_| {
        read_tool(
            "vm_get",
            "VM details",
            "One VM's full record: state, node, CPU, memory, tags, disks, NICs and IPs, snapshots, replication, guest agent.",
            input(json!({"vm": vm_arg()}), &["vm"]),
            output(json!({"vm": {"type": "object"}}), &["vm"]),
        )
    },
    run: |call| Box::pin(run(call)),
};

async fn run(call: ToolCall<'_>) -> ToolResult {
    let vm = call
        .resolve_vm(call.str_arg("vm").unwrap_or_default())
        .await?;
    Ok(json!({"vm": vm_full(&vm)}))
}

/// Everything the model may want to know about one VM.
fn vm_full(vm: &VirDomain) -> Value {
    let disks: Vec<Value> = vm.block_devs.iter().map(block_row).collect();
    let nics: Vec<Value> = vm.net_devs.iter().map(nic_row).collect();
    json!({
        "uuid": vm.uuid,
        "name": vm.name,
        "description": vm.description,
        "state": vm.state.as_str(),
        "ui_state": vm.ui_state.as_ref().map_or("", |s| s.as_str()),
        "node_uuid": vm.node_uuid,
        "last_node_uuid": vm.last_seen_running_on_node_uuid,
        "tags": vm.tag_list(),
        "vcpus": vm.num_vcpu,
        "mem_bytes": vm.mem,
        "operating_system": vm.operating_system,
        "machine_type": vm.machine_type,
        "guest_agent_state": vm.guest_agent_state.as_ref().map_or("", |s| s.as_str()),
        "disks": disks,
        "nics": nics,
        "snapshot_uuids": vm.snap_uuids,
        "snapshot_schedule_uuid": vm.snapshot_schedule_uuid,
        "replication_target": vm.is_replication_target(),
        "source_vm_uuid": vm.source_vir_domain_uuid,
        "created": vm.created,
    })
}
