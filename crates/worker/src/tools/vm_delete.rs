//! `vm_delete`: removes a SHUTOFF (or CRASHED) VM with its disks and snapshots (destructive).

use hypercore::model::{VirDomain, VmState};
use serde_json::json;

use super::rows::vm_brief;
use super::schema::{action_tool, confirm_arg, input, vm_arg};
use super::{ToolCall, ToolResult, ToolSpec};

/// `vm_delete`.
pub(super) const SPEC: ToolSpec = ToolSpec {
    name: "vm_delete",
    declare: |_| {
        action_tool(
            "vm_delete",
            "Delete VM",
            "Deletes a VM with its disks and snapshots; this cannot be undone. The VM must be SHUTOFF (shut it down first). Destructive: the first call returns a preview and confirm_token; repeat with confirm_token to execute.",
            input(
                json!({"vm": vm_arg(), "confirm_token": confirm_arg()}),
                &["vm"],
            ),
            true,
            false,
        )
    },
    run: |call| Box::pin(run(call)),
};

async fn run(call: ToolCall<'_>) -> ToolResult {
    let vm = call.resolve_vm_fresh().await?;
    if !matches!(vm.state, VmState::Shutoff | VmState::Crashed) {
        return Err(format!(
            "VM '{}' is {}; only a SHUTOFF VM can be deleted. Shut it down first (vm_shutdown, or vm_stop to force it)",
            vm.name, vm.state
        ));
    }
    if let Some(preview) = call.confirm(&vm.uuid, || {
        json!({
            "vm": vm_brief(&vm),
            "current_state": vm.state.as_str(),
            "disks": vm.block_devs.iter().map(|d| json!({"uuid": d.uuid, "type": d.kind.as_str(), "capacity_bytes": d.capacity})).collect::<Vec<_>>(),
            "snapshots": vm.snap_uuids.len(),
            "effect": "will delete the VM, its disks and its snapshots permanently",
        })
    })? {
        return Ok(preview);
    }
    let client = call.state.cluster.client();
    let mut out = call
        .run_task(client.delete_vm(&vm.uuid), |e| e, |_, _| {})
        .await?;
    call.state.cluster.invalidate();
    let gone = matches!(
        call.state.cluster.get::<VirDomain>(&vm.uuid).await,
        Ok(None)
    );
    if out["state"] == "COMPLETE" && !gone {
        out["note"] = json!("the task completed but the VM is still listed; check with vm_get");
    }
    out["deleted"] = json!(gone);
    out["vm"] = vm_brief(&vm);
    Ok(out)
}
