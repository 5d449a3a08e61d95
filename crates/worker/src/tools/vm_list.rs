//! `vm_list`: VMs as compact rows, filtered by power state, name substring or tag. Also
//! `GET /v1/vms` and the `hypercore://vms` resource.

use hypercore::model::{VirDomain, VmState};
use serde_json::{Value, json};

use super::rows::vm_row;
use super::schema::{input, list_output, read_tool};
use super::{ToolCall, ToolResult, ToolSpec};

/// `vm_list`.
pub(super) const SPEC: ToolSpec = ToolSpec {
    name: "vm_list",
    declare: |_| {
        let vm_row = json!({"type": "object", "properties": {
            "uuid": {"type": "string"}, "name": {"type": "string"}, "state": {"type": "string"},
            "node_uuid": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}},
            "vcpus": {"type": "integer"}, "mem_bytes": {"type": "integer"}
        }, "required": ["uuid", "name", "state", "node_uuid", "tags"]});
        let states: Vec<&str> = VmState::ALL.iter().map(VmState::as_str).collect();
        read_tool(
            "vm_list",
            "List VMs",
            "Lists virtual machines, optionally filtered by power state (e.g. RUNNING, SHUTOFF), a case-insensitive name substring, or a tag. Returns compact rows (uuid, name, state, node_uuid, tags, vcpus, mem_bytes); set details=true for description, OS, disks, NICs and snapshot counts. Use vm_get for one VM's full record. Data may be up to 1 s old.",
            input(
                json!({
                    "state": {"type": "string", "enum": states, "description": "Only VMs in this state."},
                    "name": {"type": "string", "description": "Case-insensitive substring of the VM name."},
                    "tag": {"type": "string", "description": "Only VMs carrying this tag (exact, case-insensitive)."},
                    "details": {"type": "boolean", "description": "Include description, OS, disks, NICs, snapshot count. Default false."}
                }),
                &[],
            ),
            list_output("vms", vm_row),
        )
    },
    run: |call| Box::pin(run(call)),
};

async fn run(call: ToolCall<'_>) -> ToolResult {
    let vms = call
        .state
        .cluster
        .list::<VirDomain>()
        .await
        .map_err(|e| call.cluster_err(e))?;
    let state = call.str_arg("state").map(str::to_ascii_uppercase);
    let name = call.str_arg("name").map(str::to_lowercase);
    let tag = call.str_arg("tag").map(str::to_lowercase);
    let details = call.bool_arg("details", false);
    let rows: Vec<Value> = vms
        .iter()
        .filter(|vm| state.as_deref().is_none_or(|st| vm.state.as_str() == st))
        .filter(|vm| {
            name.as_deref()
                .is_none_or(|q| vm.name.to_lowercase().contains(q))
        })
        .filter(|vm| {
            tag.as_deref()
                .is_none_or(|t| vm.tag_list().iter().any(|x| x.to_lowercase() == t))
        })
        .map(|vm| vm_row(vm, details))
        .collect();
    Ok(json!({"count": rows.len(), "vms": rows}))
}
