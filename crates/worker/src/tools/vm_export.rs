//! `vm_export`: a VM's disks and definition exported to an SMB share; the URI's credentials
//! are never echoed back or logged.

use hypercore::ExportSpec;
use hyperfed_protocol::redact_uri;
use serde_json::json;

use super::rows::{redact_words, vm_brief};
use super::schema::{action_tool, input, vm_arg, wait_arg};
use super::{ToolCall, ToolResult, ToolSpec};

/// `vm_export`.
pub(super) const SPEC: ToolSpec = ToolSpec {
    name: "vm_export",
    declare: |_| {
        action_tool(
            "vm_export",
            "Export VM to SMB",
            "Exports a VM to an SMB share (smb://DOMAIN;user:password@server/share/folder); the password is never echoed.",
            input(
                json!({"vm": vm_arg(), "uri": {"type": "string", "minLength": 1, "description": "Target smb:// URI (the last path element is created as a folder)."}, "snapshot": {"type": "string", "description": "Export this snapshot uuid instead of the current disks."}, "wait": wait_arg()}),
                &["vm", "uri"],
            ),
            false,
            false,
        )
    },
    run: |call| Box::pin(run(call)),
};

async fn run(call: ToolCall<'_>) -> ToolResult {
    let vm = call.resolve_vm_fresh().await?;
    let uri = call.str_arg("uri").unwrap_or_default().trim().to_owned();
    let shown = redact_uri(&uri);
    if !uri.to_ascii_lowercase().starts_with("smb://") {
        return Err(format!(
            "uri '{shown}' must be an smb:// URI, e.g. smb://DOMAIN;user:password@server/share/folder"
        ));
    }
    let after = &uri["smb://".len()..];
    let host_path = after.rsplit_once('@').map_or(after, |(_, hp)| hp);
    if !host_path.contains('/') || host_path.starts_with('/') {
        return Err(format!(
            "uri '{shown}' needs a server and a share path, e.g. smb://user:pass@server/share/folder"
        ));
    }
    let snap = call.snapshot_of(&vm).await?;
    let spec = ExportSpec {
        target_uri: hyperfed_protocol::Secret::new(uri.clone()),
        snap_uuid: snap,
        ..ExportSpec::default()
    };
    let submit = call.state.cluster.client().export_vm(&vm.uuid, spec);
    // The URI may hold SMB credentials: it never appears in an error, only redacted.
    let scrub = |e: String| redact_words(&e).replace(&uri, &shown);
    call.run_task(submit, scrub, |out, _| {
        out["uri"] = json!(shown);
        out["vm"] = vm_brief(&vm);
    })
    .await
}
