//! `iso_list`: ISO images on the cluster, whether they can be inserted, and where they are.

use hypercore::model::Iso;
use serde_json::{Value, json};

use super::page::{list_output, page, paged_input};
use super::schema::read_tool;
use super::{ToolCall, ToolResult, ToolSpec};

/// Columns `fields` may select.
const COLUMNS: &[&str] = &[
    "uuid",
    "name",
    "size_bytes",
    "ready_for_insert",
    "path",
    "mounts",
    "mount_count",
];

/// Mounting VMs listed per ISO (`mount_count` counts them all).
const MOUNTS_SHOWN: usize = 10;

/// `iso_list`.
pub(super) const SPEC: ToolSpec = ToolSpec {
    name: "iso_list",
    declare: |_| {
        read_tool(
            "iso_list",
            "List ISO images",
            "Lists ISO images (size, ready to insert, the VMs that mount them: the first 10 and a count).",
            paged_input(json!({}), COLUMNS),
            list_output("isos", json!({"type": "object"})),
        )
    },
    run: |call| Box::pin(run(call)),
};

async fn run(call: ToolCall<'_>) -> ToolResult {
    let isos = call
        .state
        .cluster
        .list::<Iso>()
        .await
        .map_err(|e| call.cluster_err(e))?;
    let rows: Vec<Value> = isos
        .iter()
        .map(|iso| {
            json!({
                "uuid": iso.uuid,
                "name": iso.name,
                "size_bytes": iso.size,
                "ready_for_insert": iso.ready_for_insert,
                "path": iso.path,
                // The wire records as they are (vmUUID, vmName), the first few of them.
                "mounts": iso.mounts.iter().take(MOUNTS_SHOWN).collect::<Vec<_>>(),
                "mount_count": iso.mounts.len(),
            })
        })
        .collect();
    Ok(Value::Object(page(&call, "isos", rows, "")?))
}
