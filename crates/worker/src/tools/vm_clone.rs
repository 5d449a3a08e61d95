//! `vm_clone`: a new (SHUTOFF) VM copied from a VM, from a fresh snapshot or a given one; the
//! way to start a replication target.

use hypercore::CloneSpec;
use serde_json::json;

use super::rows::vm_brief;
use super::schema::{action_tool, input, vm_arg, wait_arg};
use super::{ToolCall, ToolResult, ToolSpec};

/// `vm_clone`.
pub(super) const SPEC: ToolSpec = ToolSpec {
    name: "vm_clone",
    declare: |_| {
        action_tool(
            "vm_clone",
            "Clone VM",
            "Copies a VM (from a fresh snapshot or a given one) into a new SHUTOFF VM; also how to run a replication target. created_uuid is the clone.",
            input(
                json!({"vm": vm_arg(), "name": {"type": "string", "minLength": 1, "description": "Name of the new VM."}, "snapshot": {"type": "string", "description": "Clone from this snapshot uuid instead of a fresh one."}, "wait": wait_arg()}),
                &["vm", "name"],
            ),
            false,
            false,
        )
    },
    run: |call| Box::pin(run(call)),
};

async fn run(call: ToolCall<'_>) -> ToolResult {
    let vm = call.resolve_vm_fresh().await?;
    let name = call.str_arg("name").unwrap_or_default().trim().to_owned();
    let mut snap = call.snapshot_of(&vm).await?;
    if snap.is_none() && vm.is_replication_target() {
        // A replication target is cloned from its latest replicated snapshot.
        snap = vm.snap_uuids.last().cloned();
    }
    let spec = CloneSpec {
        name: name.clone(),
        snap_uuid: snap,
        ..CloneSpec::default()
    };
    let submit = call.state.cluster.client().clone_vm(&vm.uuid, spec);
    call.run_task(
        submit,
        |e| e,
        |out, task| {
            out["created_uuid"] = json!(task.created_uuid);
            out["clone"] = json!({"uuid": task.created_uuid, "name": name});
            out["vm"] = vm_brief(&vm);
        },
    )
    .await
}
