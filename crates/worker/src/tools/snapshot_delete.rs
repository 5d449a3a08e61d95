//! `snapshot_delete`: deletes a VM snapshot; destructive, so previewed and confirmed first.

use hypercore::model::{VirDomain, VirDomainSnapshot};
use serde_json::json;

use super::resolve::is_uuid;
use super::rows::vm_brief;
use super::schema::{action_tool, confirm_arg, input, wait_arg};
use super::{ToolCall, ToolResult, ToolSpec};

/// `snapshot_delete`.
pub(super) const SPEC: ToolSpec = ToolSpec {
    name: "snapshot_delete",
    declare: |_| {
        action_tool(
            "snapshot_delete",
            "Delete snapshot",
            "Deletes a snapshot by uuid (from snapshot_list). Irreversible; needs confirm_token.",
            input(
                json!({"snapshot": {"type": "string", "minLength": 1, "description": "Snapshot uuid."}, "wait": wait_arg(), "confirm_token": confirm_arg()}),
                &["snapshot"],
            ),
            true,
            true,
        )
    },
    run: |call| Box::pin(run(call)),
};

async fn run(call: ToolCall<'_>) -> ToolResult {
    let cluster = &call.state.cluster;
    let snap_id = call.str_arg("snapshot").unwrap_or_default().trim();
    if !is_uuid(snap_id) {
        return Err(format!(
            "'{snap_id}' is not a valid snapshot uuid (expected 8-4-4-4-12 hex digits; see snapshot_list)"
        ));
    }
    let Some(snap) = cluster
        .get::<VirDomainSnapshot>(snap_id)
        .await
        .map_err(|e| call.cluster_err(e))?
    else {
        return Err(format!(
            "no snapshot with uuid {snap_id} on this cluster (see snapshot_list)"
        ));
    };
    let vm = cluster
        .get::<VirDomain>(&snap.domain_uuid)
        .await
        .ok()
        .flatten();
    if let Some(preview) = call.confirm(snap_id, || {
        json!({
            "snapshot": {"uuid": snap_id, "label": snap.label, "type": snap.kind.as_str(), "timestamp": snap.timestamp},
            "vm": vm.as_ref().map(vm_brief).unwrap_or_else(|| json!({"uuid": snap.domain_uuid})),
            "effect": "will permanently delete this snapshot; it cannot be restored afterwards",
        })
    })? {
        return Ok(preview);
    }
    let submit = cluster.client().delete_snapshot(snap_id);
    call.run_task(
        submit,
        |e| e,
        |out, _| {
            out["snapshot"] = json!({"uuid": snap_id, "label": snap.label});
            if let Some(vm) = &vm {
                out["vm"] = vm_brief(vm);
            }
        },
    )
    .await
}
