//! The worker's tool catalog: every tool's name, title, model-facing description, input and
//! output schemas and its four annotations, declared in one place. Safety switches
//! (read-only mode, confirmation) key off these annotations.

use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{Value, json};

/// One tool as the catalog declares it.
#[derive(Debug, Clone)]
pub struct ToolDef {
    /// Snake-case name, `^[a-z0-9_]{1,30}$`.
    pub name: &'static str,
    /// Human title.
    pub title: &'static str,
    /// What it does, when to use it, what it returns.
    pub description: String,
    /// JSON Schema of the arguments.
    pub input: JsonObject,
    /// JSON Schema of the structured result.
    pub output: JsonObject,
    /// Changes nothing.
    pub read_only: bool,
    /// Can destroy state or interrupt a guest; needs a confirmation token.
    pub destructive: bool,
    /// Repeating the call has no further effect.
    pub idempotent: bool,
    /// Talks to systems beyond the cluster.
    pub open_world: bool,
}

impl ToolDef {
    /// The rmcp `Tool` advertised in `tools/list`.
    pub fn to_tool(&self) -> Tool {
        Tool::new(
            self.name,
            self.description.clone(),
            Arc::new(self.input.clone()),
        )
        .with_title(self.title)
        .with_raw_output_schema(Arc::new(self.output.clone()))
        .with_annotations(
            ToolAnnotations::with_title(self.title)
                .read_only(self.read_only)
                .destructive(self.destructive)
                .idempotent(self.idempotent)
                .open_world(self.open_world),
        )
    }
}

fn as_obj(v: Value) -> JsonObject {
    match v {
        Value::Object(m) => m,
        _ => JsonObject::new(),
    }
}

fn input(props: Value, required: &[&str]) -> JsonObject {
    let mut schema = as_obj(json!({
        "type": "object",
        "properties": props,
        "additionalProperties": false,
    }));
    // An empty `required` array is invalid in older JSON Schema drafts some clients use.
    if !required.is_empty() {
        schema.insert("required".into(), json!(required));
    }
    schema
}

fn output(props: Value, required: &[&str]) -> JsonObject {
    let mut schema = as_obj(json!({
        "type": "object",
        "properties": props,
    }));
    if !required.is_empty() {
        schema.insert("required".into(), json!(required));
    }
    schema
}

fn list_output(key: &str, item: Value) -> JsonObject {
    output(
        json!({
            "count": {"type": "integer", "description": "Number of items returned."},
            key: {"type": "array", "items": item},
        }),
        &["count", key],
    )
}

fn vm_arg() -> Value {
    json!({"type": "string", "minLength": 1, "description": "The VM's uuid, or its exact name (an ambiguous name is refused with the candidates)."})
}

fn wait_arg() -> Value {
    json!({"type": "boolean", "description": "Wait (bounded) for the task to finish before returning. Default true; false returns the task tag at once."})
}

fn confirm_arg() -> Value {
    json!({"type": "string", "description": "Token from a previous call's preview. Omit it first: the call then changes nothing and returns a preview and a token; repeat the same call with the token to execute."})
}

fn action_output() -> JsonObject {
    output(
        json!({
            "task_tag": {"type": "string", "description": "HyperCore task tag (empty when the cluster finished synchronously)."},
            "state": {"type": "string", "description": "Final task state (COMPLETE), or the current one when not waiting or when the wait bound passed (QUEUED, RUNNING). A failed task comes back as an error result."},
            "vm": {"type": "object", "description": "The VM after the action: uuid, name, state."},
            "waited_ms": {"type": "integer"},
            "created_uuid": {"type": "string", "description": "New object's uuid (snapshot, clone)."},
            "confirmation_required": {"type": "boolean", "description": "True when this was only a preview of a destructive action."},
            "confirm_token": {"type": "string"},
            "preview": {"type": "object", "description": "Cluster, target, current state and what the action will do."},
            "action": {"type": "string", "description": "The HyperCore actionType sent (power actions)."},
            "timed_out": {"type": "boolean", "description": "True when the wait bound passed before the task finished."},
            "note": {"type": "string", "description": "A caveat, e.g. the VM did not reach the expected state."},
            "message": {"type": "string"},
            "expires_in_s": {"type": "integer", "description": "Lifetime of confirm_token."},
        }),
        &[],
    )
}

const VM_STATES: [&str; 6] = [
    "RUNNING", "BLOCKED", "PAUSED", "SHUTDOWN", "SHUTOFF", "CRASHED",
];
const SEVERITIES: [&str; 8] = [
    "EMERGENCY",
    "ALERT",
    "CRITICAL",
    "ERROR",
    "WARNING",
    "NOTICE",
    "INFO",
    "DEBUG",
];

fn read(
    name: &'static str,
    title: &'static str,
    description: &str,
    input: JsonObject,
    output: JsonObject,
) -> ToolDef {
    ToolDef {
        name,
        title,
        description: description.to_owned(),
        input,
        output,
        read_only: true,
        destructive: false,
        idempotent: true,
        open_world: false,
    }
}

#[allow(clippy::too_many_arguments)]
fn action(
    name: &'static str,
    title: &'static str,
    description: &str,
    input: JsonObject,
    destructive: bool,
    idempotent: bool,
) -> ToolDef {
    ToolDef {
        name,
        title,
        description: description.to_owned(),
        input,
        output: action_output(),
        read_only: false,
        destructive,
        idempotent,
        open_world: false,
    }
}

fn power(
    name: &'static str,
    title: &'static str,
    description: &str,
    destructive: bool,
    idempotent: bool,
) -> ToolDef {
    let mut props = json!({"vm": vm_arg(), "wait": wait_arg()});
    if destructive {
        props["confirm_token"] = confirm_arg();
    }
    action(
        name,
        title,
        description,
        input(props, &["vm"]),
        destructive,
        idempotent,
    )
}

/// Every tool the worker knows, in listing order; `allow_raw_writes` shapes `api_request`.
pub fn all_tools(allow_raw_writes: bool) -> Vec<ToolDef> {
    let vm_row = json!({"type": "object", "properties": {
        "uuid": {"type": "string"}, "name": {"type": "string"}, "state": {"type": "string"},
        "node_uuid": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}},
        "vcpus": {"type": "integer"}, "mem_bytes": {"type": "integer"}
    }, "required": ["uuid", "name", "state", "node_uuid", "tags"]});
    let mut tools = vec![
        read(
            "cluster_info",
            "Cluster summary",
            "Summarises the HyperCore cluster this worker wraps: name, uuid and icosVersion, node count (online/total), VM count (running/total), storage capacity and use, raised conditions by severity, and an overall health verdict (ok, warning, critical). Use it first to orient yourself or to answer 'how is the cluster doing'. Data may be up to 1 s old.",
            input(json!({}), &[]),
            output(
                json!({
                    "cluster": {"type": "object", "properties": {"uuid": {"type": "string"}, "name": {"type": "string"}, "icos_version": {"type": "string"}}},
                    "nodes": {"type": "object", "properties": {"total": {"type": "integer"}, "online": {"type": "integer"}}},
                    "vms": {"type": "object", "properties": {"total": {"type": "integer"}, "running": {"type": "integer"}}},
                    "storage": {"type": "object", "properties": {"total_bytes": {"type": "integer"}, "used_bytes": {"type": "integer"}}},
                    "conditions": {"type": "object", "properties": {"raised": {"type": "integer"}, "by_severity": {"type": "object"}}},
                    "health": {"type": "string", "enum": ["ok", "warning", "critical"]}
                }),
                &["cluster", "nodes", "vms", "storage", "conditions", "health"],
            ),
        ),
        read(
            "node_list",
            "List nodes",
            "Lists the cluster's physical nodes with LAN IP, network status (ONLINE/OFFLINE), whether they accept VMs (maintenance mode), CPU and memory use, storage capacity and how many VMs run on each. Use it to pick a live-migration target or to find an unhealthy node.",
            input(json!({}), &[]),
            list_output("nodes", json!({"type": "object"})),
        ),
        read(
            "vm_list",
            "List VMs",
            "Lists virtual machines, optionally filtered by power state (e.g. RUNNING, SHUTOFF), a case-insensitive name substring, or a tag. Returns compact rows (uuid, name, state, node_uuid, tags, vcpus, mem_bytes); set details=true for description, OS, disks, NICs and snapshot counts. Use vm_get for one VM's full record. Data may be up to 1 s old.",
            input(
                json!({
                    "state": {"type": "string", "enum": VM_STATES, "description": "Only VMs in this state."},
                    "name": {"type": "string", "description": "Case-insensitive substring of the VM name."},
                    "tag": {"type": "string", "description": "Only VMs carrying this tag (exact, case-insensitive)."},
                    "details": {"type": "boolean", "description": "Include description, OS, disks, NICs, snapshot count. Default false."}
                }),
                &[],
            ),
            list_output("vms", vm_row.clone()),
        ),
        read(
            "vm_get",
            "VM details",
            "Returns one VM's full record by uuid or exact name: state, node, vCPUs, memory, tags, disks (type, capacity, allocation), NICs (type, VLAN, MAC, IPs), snapshot uuids, replication-target flag, machine type, guest agent state. An ambiguous name is an error listing the candidates.",
            input(json!({"vm": vm_arg()}), &["vm"]),
            output(json!({"vm": {"type": "object"}}), &["vm"]),
        ),
        read(
            "vm_stats",
            "VM performance",
            "Returns live performance figures: CPU use (percent), network receive/transmit bit rates, and per-disk IOPS, throughput (KiB/s) and latency. Give vm for one VM, or omit it for every VM (sorted by CPU use, busiest first).",
            input(
                json!({"vm": vm_arg(), "limit": {"type": "integer", "minimum": 1, "description": "At most this many rows when listing all VMs (default 50)."}}),
                &[],
            ),
            list_output("stats", json!({"type": "object"})),
        ),
        read(
            "snapshot_list",
            "List snapshots",
            "Lists VM snapshots (uuid, VM uuid and name, label, type USER/AUTOMATED/SUPPORT, state, timestamp), newest first. Give vm to see one VM's snapshots, or omit it for all. Use a snapshot uuid with vm_clone or snapshot_delete.",
            input(json!({"vm": vm_arg()}), &[]),
            list_output("snapshots", json!({"type": "object"})),
        ),
        read(
            "condition_list",
            "List conditions (alerts)",
            "Lists the cluster's health conditions (alerts). By default only raised ones; all=true includes cleared ones. Filter by minimum severity (e.g. WARNING returns WARNING and worse). Each has name, description, severity, raised, is_ok and the node it concerns.",
            input(
                json!({
                    "all": {"type": "boolean", "description": "Include conditions that are not raised. Default false."},
                    "severity": {"type": "string", "enum": SEVERITIES, "description": "Minimum severity to include."}
                }),
                &[],
            ),
            list_output("conditions", json!({"type": "object"})),
        ),
        read(
            "drive_list",
            "List physical drives",
            "Lists the nodes' physical drives with slot, type, capacity, use, health, error counts and temperature. unhealthy=true returns only drives that report a problem. Use it when a condition mentions a disk.",
            input(
                json!({"node": {"type": "string", "description": "Only drives of this node uuid."}, "unhealthy": {"type": "boolean", "description": "Only unhealthy drives. Default false."}}),
                &[],
            ),
            list_output("drives", json!({"type": "object"})),
        ),
        read(
            "virtual_disk_list",
            "List uploaded virtual disks",
            "Lists virtual disk images uploaded to the cluster but not attached to a VM (name, capacity, allocation).",
            input(json!({}), &[]),
            list_output("virtual_disks", json!({"type": "object"})),
        ),
        read(
            "iso_list",
            "List ISO images",
            "Lists ISO images stored on the cluster with size, whether they are ready to insert, and which VMs have them mounted.",
            input(json!({}), &[]),
            list_output("isos", json!({"type": "object"})),
        ),
        read(
            "user_list",
            "List users",
            "Lists the cluster's user accounts (username, full name, role names, session limit). Passwords are never returned.",
            input(json!({}), &[]),
            list_output("users", json!({"type": "object"})),
        ),
        read(
            "network_device_list",
            "List VM network interfaces",
            "Lists VM network interfaces (NIC type, VLAN, MAC address, connected, guest-reported IPv4 addresses). Give vm for one VM's NICs.",
            input(json!({"vm": vm_arg()}), &[]),
            list_output("network_devices", json!({"type": "object"})),
        ),
        read(
            "block_device_list",
            "List VM disks",
            "Lists VM block devices (disks, CD-ROMs, NVRAM) with type, capacity, allocation, cache mode and slot. Give vm for one VM's disks.",
            input(json!({"vm": vm_arg()}), &[]),
            list_output("block_devices", json!({"type": "object"})),
        ),
        read(
            "task_status",
            "Task status",
            "Reports a HyperCore task by its tag (as returned by an action called with wait=false): state (QUEUED, RUNNING, COMPLETE, ERROR), progress percent, description and error message.",
            input(
                json!({"task_tag": {"type": "string", "minLength": 1, "description": "The task tag, e.g. \"1234\"."}}),
                &["task_tag"],
            ),
            output(
                json!({"task_tag": {"type": "string"}, "found": {"type": "boolean"}, "state": {"type": "string"}, "progress_percent": {"type": "integer"}, "description": {"type": "string"}, "message": {"type": "string"}}),
                &["task_tag", "found", "state"],
            ),
        ),
        read(
            "ping",
            "Ping the cluster",
            "Checks that the worker can reach the cluster's REST API and measures the round trip. Returns status and latency_ms.",
            input(json!({}), &[]),
            output(
                json!({"status": {"type": "string"}, "cluster_reachable": {"type": "boolean"}, "latency_ms": {"type": "integer"}}),
                &["status", "cluster_reachable"],
            ),
        ),
        read(
            "api_search",
            "Search the HyperCore API",
            "Keyword search over the cluster's own OpenAPI document. Returns matching endpoints (method, path, summary), best first. Use it to discover an endpoint before calling api_request when no dedicated tool fits.",
            input(
                json!({"query": {"type": "string", "minLength": 1, "description": "Keywords, e.g. \"snapshot schedule\"."}, "limit": {"type": "integer", "minimum": 1, "maximum": 50, "description": "At most this many results (default 10)."}}),
                &["query"],
            ),
            list_output(
                "results",
                json!({"type": "object", "properties": {"method": {"type": "string"}, "path": {"type": "string"}, "summary": {"type": "string"}}}),
            ),
        ),
    ];
    let raw_props = if allow_raw_writes {
        json!({
            "method": {"type": "string", "enum": ["GET", "POST", "PATCH", "PUT", "DELETE"], "description": "HTTP method (default GET)."},
            "path": {"type": "string", "minLength": 1, "description": "Path under /rest/v1, e.g. /VirDomainSnapshotSchedule."},
            "body": {"description": "JSON body (object or array) for non-GET requests."},
            "confirm_token": confirm_arg(),
        })
    } else {
        json!({
            "method": {"type": "string", "enum": ["GET"], "description": "Only GET: this worker does not allow raw writes."},
            "path": {"type": "string", "minLength": 1, "description": "Path under /rest/v1, e.g. /VirDomainSnapshotSchedule."},
        })
    };
    tools.push(ToolDef {
        name: "api_request",
        title: "Raw HyperCore API request",
        description: if allow_raw_writes {
            "Escape hatch: sends a raw request to the cluster's REST API (/rest/v1/...) and returns the HTTP status and JSON body. GET changes nothing; any other method is destructive and needs a confirmation token (call without it to get a preview). Prefer the dedicated tools."
        } else {
            "Escape hatch: sends a raw GET to the cluster's REST API (/rest/v1/...) and returns the HTTP status and JSON body. Only GET is allowed on this worker. Prefer the dedicated tools; use api_search to find a path."
        }
        .to_owned(),
        input: input(raw_props, &["path"]),
        output: output(
            json!({"status": {"type": "integer"}, "method": {"type": "string"}, "path": {"type": "string"}, "body": {}, "confirmation_required": {"type": "boolean"}, "confirm_token": {"type": "string"}, "preview": {"type": "object"}}),
            &[],
        ),
        read_only: !allow_raw_writes,
        destructive: allow_raw_writes,
        idempotent: !allow_raw_writes,
        open_world: false,
    });
    tools.extend([
        power("vm_start", "Start VM", "Powers on a VM that is SHUTOFF, CRASHED or PAUSED (resumes a paused VM). Refused with an explanation when the VM already runs or is a replication target (clone it first). Returns the task tag, final task state and the VM's state; waits for completion unless wait=false.", false, true),
        power("vm_shutdown", "Shut down VM (ACPI)", "Asks the guest OS to shut down cleanly (ACPI). Only for RUNNING VMs. The guest may ignore it; then use vm_stop. Waits (bounded) until the VM is SHUTOFF unless wait=false.", false, true),
        power("vm_stop", "Power off VM (hard)", "Cuts power to a RUNNING, PAUSED or shutting-down VM immediately, like pulling the plug: unsaved guest data may be lost. Destructive: the first call returns a preview and confirm_token; repeat with confirm_token to execute.", true, true),
        power("vm_reboot", "Reboot VM (ACPI)", "Asks the guest OS of a RUNNING VM to reboot cleanly (ACPI). Returns the task tag and state.", false, false),
        power("vm_reset", "Reset VM (hard)", "Hard-resets a RUNNING VM, like pressing the reset button: unsaved guest data may be lost. Refused for a SHUTOFF VM. Destructive: needs confirm_token from a preview call.", true, false),
        action(
            "vm_migrate",
            "Live-migrate VM",
            "Moves a RUNNING VM to another node without downtime. node is the target node's uuid (see node_list); refused when it is the VM's current node, unknown, offline or not accepting VMs. Returns the task tag and the VM's node afterwards.",
            input(json!({"vm": vm_arg(), "node": {"type": "string", "minLength": 1, "description": "Target node uuid."}, "wait": wait_arg()}), &["vm", "node"]),
            false,
            true,
        ),
        power("vm_pause", "Pause VM", "Freezes a RUNNING VM in memory (no CPU time); resume it with vm_start. Refused when the VM is not running.", false, true),
        power("vm_nmi", "Send NMI to VM", "Sends a non-maskable interrupt to a RUNNING VM's guest (typically triggers a crash dump for diagnostics). Destructive: needs confirm_token from a preview call.", true, false),
        action(
            "snapshot_create",
            "Create snapshot",
            "Takes a disk snapshot of a VM (no RAM) with a label. Returns the task tag and the new snapshot's uuid (created_uuid).",
            input(json!({"vm": vm_arg(), "label": {"type": "string", "minLength": 1, "description": "Snapshot label."}, "wait": wait_arg()}), &["vm", "label"]),
            false,
            false,
        ),
        action(
            "snapshot_delete",
            "Delete snapshot",
            "Deletes a VM snapshot by uuid (see snapshot_list). Irreversible. Destructive: the first call returns a preview and confirm_token; repeat with confirm_token to execute.",
            input(json!({"snapshot": {"type": "string", "minLength": 1, "description": "Snapshot uuid."}, "wait": wait_arg(), "confirm_token": confirm_arg()}), &["snapshot"]),
            true,
            true,
        ),
        action(
            "vm_clone",
            "Clone VM",
            "Creates a new VM (SHUTOFF) as a copy of a VM, from a fresh snapshot or from a given snapshot uuid. Also the way to start a replication target. Returns the task tag and the clone's uuid (created_uuid).",
            input(json!({"vm": vm_arg(), "name": {"type": "string", "minLength": 1, "description": "Name of the new VM."}, "snapshot": {"type": "string", "description": "Clone from this snapshot uuid instead of a fresh one."}, "wait": wait_arg()}), &["vm", "name"]),
            false,
            false,
        ),
        action(
            "vm_export",
            "Export VM to SMB",
            "Exports a VM's disks and definition to an SMB share, e.g. smb://DOMAIN;user:password@server/share/folder. The password is never echoed back or logged. Returns the task tag and final state; an unreachable share shows up as task state ERROR.",
            input(json!({"vm": vm_arg(), "uri": {"type": "string", "minLength": 1, "description": "Target smb:// URI (the last path element is created as a folder)."}, "snapshot": {"type": "string", "description": "Export this snapshot uuid instead of the current disks."}, "wait": wait_arg()}), &["vm", "uri"]),
            false,
            false,
        ),
    ]);
    tools
}

/// The catalog as served: filtered for read-only mode, converted to rmcp tools once.
pub struct Catalog {
    defs: Vec<ToolDef>,
    tools: Arc<Vec<Tool>>,
}

impl Catalog {
    /// Builds the served catalog for the given safety switches.
    pub fn new(read_only: bool, allow_raw_writes: bool) -> Self {
        let defs: Vec<ToolDef> = all_tools(allow_raw_writes && !read_only)
            .into_iter()
            .filter(|d| !read_only || d.read_only)
            .collect();
        let tools = Arc::new(defs.iter().map(ToolDef::to_tool).collect());
        Catalog { defs, tools }
    }

    /// The rmcp tools, built once.
    pub fn tools(&self) -> Arc<Vec<Tool>> {
        self.tools.clone()
    }

    /// The served definition of `name`.
    pub fn get(&self, name: &str) -> Option<&ToolDef> {
        self.defs.iter().find(|d| d.name == name)
    }

    /// All served definitions.
    pub fn defs(&self) -> &[ToolDef] {
        &self.defs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_annotations_are_sound() {
        let defs = all_tools(false);
        assert!(defs.len() >= 29);
        let mut names = std::collections::HashSet::new();
        for d in &defs {
            assert!(
                !d.name.is_empty()
                    && d.name.len() <= 30
                    && d.name
                        .bytes()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_'),
                "{}",
                d.name
            );
            assert!(names.insert(d.name), "duplicate {}", d.name);
            assert!(
                d.description.len() > 40,
                "{} needs a real description",
                d.name
            );
            assert!(!(d.read_only && d.destructive), "{}", d.name);
            if d.destructive {
                assert!(
                    d.input["properties"].get("confirm_token").is_some(),
                    "{} is destructive but takes no confirm_token",
                    d.name
                );
            }
        }
        let destructive: Vec<&str> = defs
            .iter()
            .filter(|d| d.destructive)
            .map(|d| d.name)
            .collect();
        assert_eq!(
            destructive,
            ["vm_stop", "vm_reset", "vm_nmi", "snapshot_delete"]
        );
    }

    #[test]
    fn read_only_catalog_has_only_reads() {
        let c = Catalog::new(true, true);
        assert!(c.defs().iter().all(|d| d.read_only));
        assert!(c.get("api_request").is_some());
        assert!(c.get("vm_stop").is_none());
        let w = Catalog::new(false, true);
        assert!(w.get("api_request").is_some_and(|d| d.destructive));
    }
}
