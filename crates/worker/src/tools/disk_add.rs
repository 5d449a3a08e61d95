//! `disk_add`: a new block device on a VM (`POST /VirDomainBlockDevice`), read back after the
//! task to answer its uuid and slot.

use hypercore::DiskSpec;
use hypercore::model::VirDomain;
use serde_json::json;

use super::rows::{block_row, vm_brief};
use super::schema::{action_tool, input, vm_arg};
use super::{ToolCall, ToolResult, ToolSpec};

/// `disk_add`.
pub(super) const SPEC: ToolSpec = ToolSpec {
    name: "disk_add",
    declare: |_| {
        action_tool(
            "disk_add",
            "Add disk to VM",
            "Adds a new empty disk of size_bytes to a VM (type VIRTIO_DISK unless given) and waits for it. Returns the new disk's uuid and slot. Refused by the cluster (task ERROR) when storage lacks room.",
            input(
                json!({
                    "vm": vm_arg(),
                    "size_bytes": {"type": "integer", "minimum": 1048576, "description": "Capacity of the new disk in bytes."},
                    "type": {"type": "string", "enum": ["VIRTIO_DISK", "SCSI_DISK", "IDE_DISK"], "description": "Bus type. Default VIRTIO_DISK."},
                    "cache_mode": {"type": "string", "enum": ["NONE", "WRITEBACK", "WRITETHROUGH"], "description": "Cache mode; the cluster's default when omitted."},
                }),
                &["vm", "size_bytes"],
            ),
            false,
            false,
        )
    },
    run: |call| Box::pin(run(call)),
};

async fn run(call: ToolCall<'_>) -> ToolResult {
    let vm = call.resolve_vm_fresh().await?;
    let before = vm.block_devs.len();
    let disk = DiskSpec {
        kind: call.str_arg("type").unwrap_or("VIRTIO_DISK").to_owned(),
        capacity: call
            .args
            .get("size_bytes")
            .and_then(|v| v.as_u64())
            .unwrap_or_default(),
        cache_mode: call.str_arg("cache_mode").map(str::to_owned),
    };
    let submit = call
        .state
        .cluster
        .client()
        .create_block_device(&vm.uuid, &disk);
    let mut out = call
        .run_task(
            submit,
            |e| e,
            |out, task| {
                out["created_uuid"] = json!(task.created_uuid);
            },
        )
        .await?;
    let uuid = out["created_uuid"].as_str().unwrap_or_default().to_owned();
    call.state.cluster.invalidate();
    let after = call
        .state
        .cluster
        .get::<VirDomain>(&vm.uuid)
        .await
        .map_err(|e| call.cluster_err(e))?
        .unwrap_or(vm);
    match after.block_devs.iter().find(|d| d.uuid == uuid) {
        Some(d) => {
            out["disk"] = block_row(d);
            out["slot"] = json!(d.slot);
        }
        None if out["state"] == "COMPLETE" => {
            out["note"] = json!(format!(
                "the task completed but disk {uuid} is not on the VM yet; check with block_device_list"
            ));
        }
        None => {}
    }
    out["before"] = json!({"disks": before});
    out["after"] = json!({"disks": after.block_devs.len()});
    out["vm"] = vm_brief(&after);
    Ok(out)
}
