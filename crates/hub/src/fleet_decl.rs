//! The declarations of the hub's own tools: the fleet reads (`fleet_status`, `vm_search`,
//! `fleet_conditions`) and placement (`placement_ask`, `placement_select`, `vm_place`,
//! `vm_move`): names, short descriptions, schemas and annotations, paging arguments said once.

use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{Value, json};

/// The hub's own fan-out tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FleetTool {
    Status,
    VmSearch,
    Conditions,
    PlacementAsk,
    PlacementSelect,
    VmPlace,
    VmMove,
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
    "trust",
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
    let mut tools = vec![
        (status, FleetTool::Status),
        (search, FleetTool::VmSearch),
        (conditions, FleetTool::Conditions),
    ];
    tools.extend(placement_tools());
    tools
}

/// The policies `placement_select` and `vm_place` rank by.
pub(crate) const POLICIES: &[&str] = &[
    "most-headroom",
    "least-loaded",
    "spread",
    "first-fit",
    "random",
    "model",
];

/// The requirement arguments every placement tool takes.
fn requirement_props() -> Value {
    json!({
        "vcpus": {"type": "integer", "minimum": 1, "maximum": 512},
        "memory_bytes": {"type": "integer", "minimum": 1},
        "disk_bytes": {"description": "Disk capacity in bytes: one total, or one entry per disk.", "oneOf": [
            {"type": "integer", "minimum": 0},
            {"type": "array", "items": {"type": "integer", "minimum": 1}}
        ]},
        "tag": {"type": "string", "description": "The VM's tag (policy spread prefers the cluster with fewest VMs carrying it)."},
        "clusters": {"type": "array", "items": {"type": "string"}, "description": "Only these cluster aliases (first-fit keeps this order)."}
    })
}

fn with_selection(mut props: Value) -> Value {
    if let Value::Object(p) = &mut props {
        p.insert("policy".into(), json!({"type": "string", "enum": POLICIES, "description": "How to rank the clusters that fit (default most-headroom). model asks your model (MCP sampling) to weigh the table against intent."}));
        p.insert("seed".into(), json!({"type": "integer", "minimum": 0, "description": "Seed of policy random (default 0)."}));
        p.insert("intent".into(), json!({"type": "string", "maxLength": 2000, "description": "Free text for policy model, e.g. 'latency-sensitive, keep it off the DR site'."}));
    }
    props
}

fn schema(props: Value, required: &[&str]) -> Arc<JsonObject> {
    object(
        json!({"type": "object", "properties": props, "required": required, "additionalProperties": false}),
    )
}

/// The placement tools with what each one is.
fn placement_tools() -> Vec<(Tool, FleetTool)> {
    let ro = ToolAnnotations::from_raw(None, Some(true), Some(false), Some(false), Some(true));
    let required = ["vcpus", "memory_bytes", "disk_bytes"];
    let ask = Tool::new(
        "placement_ask",
        "Ask every cluster (or the listed ones) whether a VM of vcpus, memory_bytes and disk_bytes fits: per cluster fits or why not, headroom after placement, load, raised conditions and trust; clusters that did not answer are named.",
        schema(requirement_props(), &required),
    )
    .with_title("Ask clusters for room")
    .with_annotations(ro.clone());
    let select = Tool::new(
        "placement_select",
        "Rank the clusters where a VM fits by policy (most-headroom, least-loaded, spread, first-fit, random, model), with the reason for each rank; clusters whose claims did not hold rank last.",
        schema(with_selection(requirement_props()), &required),
    )
    .with_title("Select a cluster for a VM")
    .with_annotations(ro);
    let mut place_props = with_selection(requirement_props());
    if let Value::Object(p) = &mut place_props {
        p.insert("name".into(), json!({"type": "string", "minLength": 1, "maxLength": 255, "description": "The new VM's name."}));
        p.insert(
            "network_vlan".into(),
            json!({"type": "integer", "minimum": 0, "maximum": 4094}),
        );
        p.insert("tags".into(), json!({"type": "array", "items": {"type": "string"}, "description": "Tags of the new VM (tag is added)."}));
        p.insert(
            "start".into(),
            json!({"type": "boolean", "description": "Start it after creating (default false)."}),
        );
    }
    let place = Tool::new(
        "vm_place",
        "Create a VM where it fits best: asks every cluster, ranks them by policy and creates the VM (vm_create) on the first; audited. Returns the cluster, the new uuid and the ranking.",
        schema(place_props, &["name", "vcpus", "memory_bytes", "disk_bytes"]),
    )
    .with_title("Place and create a VM")
    .with_annotations(ToolAnnotations::from_raw(
        None,
        Some(false),
        Some(false),
        Some(false),
        Some(true),
    ));
    let mv = Tool::new(
        "vm_move",
        "Move a VM to another cluster through an SMB share: export, import on to_cluster, verify (name, disks, sizes), then, with delete_source, delete the source after confirmation (the answer carries operation and confirm_token: call again with both). A failed stage leaves the source untouched and is named.",
        schema(
            json!({
                "vm": {"type": "string", "description": "VM uuid or alias/vm-name."},
                "to_cluster": {"type": "string", "description": "Target cluster alias."},
                "share_uri": {"type": "string", "description": "smb:// folder both clusters reach; the password is never echoed."},
                "delete_source": {"type": "boolean", "description": "Delete the source VM once the copy is verified (asks for confirmation)."},
                "operation": {"type": "string", "description": "With confirm_token: the move whose source deletion you confirm."},
                "confirm_token": {"type": "string"}
            }),
            &[],
        ),
    )
    .with_title("Move a VM between clusters")
    .with_annotations(ToolAnnotations::from_raw(
        None,
        Some(false),
        Some(true),
        Some(false),
        Some(true),
    ));
    vec![
        (ask, FleetTool::PlacementAsk),
        (select, FleetTool::PlacementSelect),
        (place, FleetTool::VmPlace),
        (mv, FleetTool::VmMove),
    ]
}
