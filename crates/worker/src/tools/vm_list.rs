//! `vm_list`: VMs as compact rows, filtered by power state, name substring or tag. Also
//! `GET /v1/vms` and the `hypercore://vms` resource.

use std::collections::BTreeMap;

use hypercore::model::{VirDomain, VmState};
use serde_json::{Value, json};

use super::page::{list_output, page, paged_input};
use super::rows::vm_row;
use super::schema::read_tool;
use super::{ToolCall, ToolResult, ToolSpec};

/// Columns of a VM row (`details` adds the last seven).
const VM_COLUMNS: &[&str] = &[
    "uuid",
    "name",
    "state",
    "node_uuid",
    "tags",
    "vcpus",
    "mem_bytes",
    "description",
    "operating_system",
    "machine_type",
    "disks",
    "nics",
    "snapshots",
    "replication_target",
];

/// `vm_list`.
pub(super) const SPEC: ToolSpec = ToolSpec {
    name: "vm_list",
    declare: |_| {
        let vm_row = json!({"type": "object", "properties": {
            "uuid": {"type": "string"}, "name": {"type": "string"}, "state": {"type": "string"},
            "node_uuid": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}},
            "vcpus": {"type": "integer"}, "mem_bytes": {"type": "integer"}
        }});
        let states: Vec<&str> = VmState::ALL.iter().map(VmState::as_str).collect();
        read_tool(
            "vm_list",
            "List VMs",
            "Lists VMs with counts by state; filter by state, name substring or tag. details=true adds OS, disk, NIC and snapshot counts; vm_get gives one VM's full record.",
            paged_input(
                json!({
                    "state": {"type": "string", "enum": states},
                    "name": {"type": "string", "description": "Name substring (any case)."},
                    "tag": {"type": "string", "description": "Exact tag (any case)."},
                    "details": {"type": "boolean", "description": "More columns."}
                }),
                VM_COLUMNS,
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
    let mut by_state: BTreeMap<&str, u64> = BTreeMap::new();
    for row in &rows {
        let state = row.get("state").and_then(Value::as_str).unwrap_or("");
        *by_state.entry(state).or_default() += 1;
    }
    let by_state = json!(by_state);
    let mut out = page(&call, "vms", rows, "state, name or tag")?;
    out.insert("by_state".into(), by_state);
    Ok(Value::Object(out))
}
