//! The declarations of the hub's own fleet tools (`fleet_status`, `vm_search`,
//! `fleet_conditions`): names, short descriptions and schemas, paging arguments said once.

use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{Value, json};

/// The hub's own fan-out tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FleetTool {
    Status,
    VmSearch,
    Conditions,
}

/// Columns of a `fleet_status` cluster row.
pub(crate) const STATUS_FIELDS: &[&str] = &[
    "cluster",
    "status",
    "health",
    "name",
    "version",
    "nodes",
    "vms",
    "conditions",
    "storage",
    "error",
];
/// Columns of a `vm_search` row (the worker's `vm_list` row plus `cluster`).
pub(crate) const VM_FIELDS: &[&str] = &[
    "cluster",
    "uuid",
    "name",
    "state",
    "node_uuid",
    "tags",
    "vcpus",
    "mem_bytes",
];

fn object(v: Value) -> Arc<JsonObject> {
    Arc::new(v.as_object().cloned().unwrap_or_default())
}

/// An input schema of `props` plus `limit`, `cursor` and (when given columns) `fields`.
fn paged(mut props: Value, fields: &[&str]) -> Arc<JsonObject> {
    if let Value::Object(p) = &mut props {
        p.insert(
            "limit".into(),
            json!({"type": "integer", "minimum": 1, "maximum": 1000, "description": "Rows per page (default: what fits 16 KiB)."}),
        );
        p.insert(
            "cursor".into(),
            json!({"type": "string", "description": "next_cursor of the previous page."}),
        );
        if !fields.is_empty() {
            p.insert(
                "fields".into(),
                json!({"type": "array", "items": {"type": "string", "enum": fields}, "description": "Only these columns."}),
            );
        }
    }
    object(json!({"type": "object", "properties": props, "additionalProperties": false}))
}

/// The fleet tools with what each one is.
pub(crate) fn fleet_tools() -> Vec<(Tool, FleetTool)> {
    let ro = ToolAnnotations::from_raw(None, Some(true), Some(false), Some(true), Some(true));
    let status = Tool::new(
        "fleet_status",
        "Start here. The fleet at a glance: clusters by health, totals (nodes, VMs, conditions, storage) and cluster rows worst first; clusters that did not answer are named.",
        paged(
            json!({"health": {"type": "string", "enum": ["critical", "warning", "ok", "down", "error"], "description": "Only clusters with this health."}}),
            STATUS_FIELDS,
        ),
    )
    .with_title("Fleet status")
    .with_annotations(ro.clone());
    let search = Tool::new(
        "vm_search",
        "Find VMs across clusters by state, name or tag. Counts by state and cluster, then VM rows (each with its `cluster`); use the filters or next_cursor for more.",
        paged(
            json!({
                "state": {"type": "string", "description": "e.g. RUNNING, SHUTOFF, PAUSED."},
                "name": {"type": "string", "description": "Name substring."},
                "tag": {"type": "string", "description": "A tag the VM carries."},
                "cluster": {"type": "string", "description": "Only this cluster alias."}
            }),
            VM_FIELDS,
        ),
    )
    .with_title("Search VMs across clusters")
    .with_annotations(ro.clone());
    let conditions = Tool::new(
        "fleet_conditions",
        "Raised conditions (alerts) of every cluster, most severe first, each with its `cluster`; counts by severity and cluster.",
        paged(
            json!({
                "cluster": {"type": "string", "description": "Only this cluster alias."},
                "severity": {"type": "string", "description": "Minimum severity, e.g. WARNING."}
            }),
            &[],
        ),
    )
    .with_title("Fleet conditions")
    .with_annotations(ro);
    vec![
        (status, FleetTool::Status),
        (search, FleetTool::VmSearch),
        (conditions, FleetTool::Conditions),
    ]
}
