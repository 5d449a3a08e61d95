//! `snapshot_create`: a labelled disk snapshot of a VM.

use serde_json::json;

use super::rows::vm_brief;
use super::schema::{action_tool, input, vm_arg, wait_arg};
use super::{ToolCall, ToolResult, ToolSpec};

/// `snapshot_create`.
pub(super) const SPEC: ToolSpec = ToolSpec {
    name: "snapshot_create",
    declare: |_| {
        action_tool(
            "snapshot_create",
            "Create snapshot",
            "Takes a labelled disk snapshot of a VM (no RAM); created_uuid is the snapshot.",
            input(
                json!({"vm": vm_arg(), "label": {"type": "string", "minLength": 1, "description": "Snapshot label."}, "wait": wait_arg()}),
                &["vm", "label"],
            ),
            false,
            false,
        )
    },
    run: |call| Box::pin(run(call)),
};

async fn run(call: ToolCall<'_>) -> ToolResult {
    let vm = call.resolve_vm_fresh().await?;
    let label = call.str_arg("label").unwrap_or_default();
    let submit = call.state.cluster.client().create_snapshot(&vm.uuid, label);
    call.run_task(
        submit,
        |e| e,
        |out, task| {
            out["created_uuid"] = json!(task.created_uuid);
            out["snapshot"] = json!({"uuid": task.created_uuid, "label": label});
            out["vm"] = vm_brief(&vm);
        },
    )
    .await
}
