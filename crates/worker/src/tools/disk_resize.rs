//! `disk_resize`: grows a VM's block device (`PATCH /VirDomainBlockDevice/{uuid}`); a smaller
//! size is refused with the current one.

use hypercore::model::{VirDomain, VirDomainBlockDevice};
use serde_json::{Value, json};

use super::rows::{block_row, vm_brief};
use super::schema::{action_tool, input, vm_arg};
use super::{ToolCall, ToolResult, ToolSpec};

/// `disk_resize`.
pub(super) const SPEC: ToolSpec = ToolSpec {
    name: "disk_resize",
    declare: |_| {
        action_tool(
            "disk_resize",
            "Grow VM disk",
            "Grows one of a VM's disks to size_bytes (grow only: a smaller size is refused with the current size). disk is the block device's uuid or its slot number (see vm_get or block_device_list). Returns the capacity before and after.",
            input(
                json!({
                    "vm": vm_arg(),
                    "disk": {"type": ["string", "integer"], "description": "Block device uuid, or slot number."},
                    "size_bytes": {"type": "integer", "minimum": 1048576, "description": "New capacity in bytes (larger than the current one)."},
                }),
                &["vm", "disk", "size_bytes"],
            ),
            false,
            true,
        )
    },
    run: |call| Box::pin(run(call)),
};

/// The VM's disk named by `key` (uuid or slot).
fn find_disk<'v>(vm: &'v VirDomain, key: &Value) -> Result<&'v VirDomainBlockDevice, String> {
    let text = match key {
        Value::String(s) => s.trim().to_owned(),
        other => other.to_string(),
    };
    let by_slot = text.parse::<i64>().ok();
    let found = vm
        .block_devs
        .iter()
        .find(|d| d.uuid == text || (by_slot == Some(d.slot) && d.slot >= 0));
    found.ok_or_else(|| {
        let known: Vec<String> = vm
            .block_devs
            .iter()
            .map(|d| {
                format!(
                    "slot {} {} {} ({} bytes)",
                    d.slot, d.kind, d.uuid, d.capacity
                )
            })
            .collect();
        format!(
            "VM '{}' has no disk '{text}' (give a block device uuid or slot); its devices: {}",
            vm.name,
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        )
    })
}

async fn run(call: ToolCall<'_>) -> ToolResult {
    let vm = call.resolve_vm_fresh().await?;
    let key = call.args.get("disk").cloned().unwrap_or_default();
    let disk = find_disk(&vm, &key)?.clone();
    let size = call
        .args
        .get("size_bytes")
        .and_then(Value::as_u64)
        .unwrap_or_default();
    if size < disk.capacity {
        return Err(format!(
            "disk {} (slot {}) of VM '{}' is {} bytes; HyperCore only grows disks, so {size} bytes is refused. Give a size above {} bytes",
            disk.uuid, disk.slot, vm.name, disk.capacity, disk.capacity
        ));
    }
    if size == disk.capacity {
        return Err(format!(
            "disk {} (slot {}) of VM '{}' is already {size} bytes; nothing to change",
            disk.uuid, disk.slot, vm.name
        ));
    }
    let submit = call
        .state
        .cluster
        .client()
        .resize_block_device(&disk.uuid, size);
    let mut out = call.run_task(submit, |e| e, |_, _| {}).await?;
    call.state.cluster.invalidate();
    let after = call
        .state
        .cluster
        .get::<VirDomain>(&vm.uuid)
        .await
        .map_err(|e| call.cluster_err(e))?
        .unwrap_or_else(|| vm.clone());
    let now = after.block_devs.iter().find(|d| d.uuid == disk.uuid);
    let after_bytes = now.map_or(disk.capacity, |d| d.capacity);
    if out["state"] == "COMPLETE" && after_bytes != size {
        out["note"] = json!(format!(
            "the task completed but the disk reports {after_bytes} bytes rather than {size}"
        ));
    }
    out["disk"] = now.map_or_else(|| block_row(&disk), block_row);
    out["before"] = json!({"capacity_bytes": disk.capacity});
    out["after"] = json!({"capacity_bytes": after_bytes});
    out["vm"] = vm_brief(&after);
    Ok(out)
}
