//! `snapshot_list`: VM snapshots newest first, of one VM or all.

use std::collections::HashMap;

use hypercore::model::{VirDomain, VirDomainSnapshot};
use serde_json::{Value, json};

use super::page::{list_output, page, paged_input};
use super::schema::{read_tool, vm_arg};
use super::{ToolCall, ToolResult, ToolSpec};

/// Columns `fields` may select.
const COLUMNS: &[&str] = &[
    "uuid",
    "vm_uuid",
    "vm_name",
    "label",
    "type",
    "state",
    "timestamp",
];

/// `snapshot_list`.
pub(super) const SPEC: ToolSpec = ToolSpec {
    name: "snapshot_list",
    declare: |_| {
        read_tool(
            "snapshot_list",
            "List snapshots",
            "Lists snapshots newest first (label, type, VM, time); vm for one VM's. Their uuids go to vm_clone or snapshot_delete.",
            paged_input(json!({"vm": vm_arg()}), COLUMNS),
            list_output("snapshots", json!({"type": "object"})),
        )
    },
    run: |call| Box::pin(run(call)),
};

async fn run(call: ToolCall<'_>) -> ToolResult {
    let vm = match call.str_arg("vm") {
        Some(key) => Some(call.resolve_vm(key).await?),
        None => None,
    };
    let cluster = &call.state.cluster;
    let (snapshots, vms) = futures::join!(
        cluster.list::<VirDomainSnapshot>(),
        cluster.list::<VirDomain>()
    );
    let snapshots = snapshots.map_err(|e| call.cluster_err(e))?;
    let vms = vms.map_err(|e| call.cluster_err(e))?;
    let names: HashMap<&str, &str> = vms
        .iter()
        .map(|vm| (vm.uuid.as_str(), vm.name.as_str()))
        .collect();
    let mut snapshots: Vec<&VirDomainSnapshot> = snapshots.iter().collect();
    if let Some(vm) = &vm {
        snapshots.retain(|snap| snap.domain_uuid == vm.uuid);
    }
    snapshots.sort_by_key(|snap| std::cmp::Reverse(snap.timestamp));
    let rows: Vec<Value> = snapshots
        .iter()
        .map(|snap| {
            let vm_name = names
                .get(snap.domain_uuid.as_str())
                .map(|name| (*name).to_owned())
                .or_else(|| snap.domain.as_ref().map(|d| d.name.clone()))
                .unwrap_or_default();
            json!({
                "uuid": snap.uuid,
                "vm_uuid": snap.domain_uuid,
                "vm_name": vm_name,
                "label": snap.label,
                "type": snap.kind.as_str(),
                "state": snap.state.as_str(),
                "timestamp": snap.timestamp,
            })
        })
        .collect();
    Ok(Value::Object(page(&call, "snapshots", rows, "vm")?))
}
