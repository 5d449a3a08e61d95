//! `vm_create` and `vm_import`: a new VM from a specification (`POST /VirDomain`) or from an
//! SMB export (`POST /VirDomain/import`), refused when the name is taken (HyperCore does not
//! make names unique) or, for a create, when the cluster lacks the room.

use hypercore::model::{Node, VirDomain};
use hypercore::{CreateSpec, DiskSpec, ImportSpec};
use hyperfed_protocol::redact_uri;
use serde_json::{Value, json};

use super::capacity::figures;
use super::rows::{redact_words, vm_brief};
use super::schema::{action_tool, input};
use super::vm_cycle::Steps;
use super::{ToolCall, ToolResult, ToolSpec};

/// `vm_create`.
pub(super) const VM_CREATE: ToolSpec = ToolSpec {
    name: "vm_create",
    declare: |_| {
        action_tool(
            "vm_create",
            "Create VM",
            "Creates a new VM (SHUTOFF, or started with start=true) with vcpus, memory_bytes and one VIRTIO disk per disk_bytes entry, optionally a NIC on network_vlan. Refused when a VM of that name exists or the cluster lacks storage (or, with start, memory on any node). Returns the new VM's uuid (created_uuid).",
            input(
                json!({
                    "name": {"type": "string", "minLength": 1, "maxLength": 255, "description": "Name (must not be taken on this cluster)."},
                    "vcpus": {"type": "integer", "minimum": 1, "maximum": 512},
                    "memory_bytes": {"type": "integer", "minimum": 1048576},
                    "disk_bytes": {"type": "array", "items": {"type": "integer", "minimum": 1048576}, "description": "Capacity of each disk in bytes, in order."},
                    "network_vlan": {"type": "integer", "minimum": 0, "maximum": 4094, "description": "Add one VIRTIO NIC on this VLAN (0 = untagged)."},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "machine_type": {"type": "string", "enum": ["bios", "uefi", "tpm", "tpm-compatible"], "description": "Firmware; the cluster's default (bios) when omitted."},
                    "start": {"type": "boolean", "description": "Start the VM after creating it. Default false."},
                }),
                &["name", "vcpus", "memory_bytes", "disk_bytes"],
            ),
            false,
            false,
        )
    },
    run: |call| Box::pin(create(call)),
};

/// `vm_import`.
pub(super) const VM_IMPORT: ToolSpec = ToolSpec {
    name: "vm_import",
    declare: |_| {
        action_tool(
            "vm_import",
            "Import VM from SMB",
            "Imports a VM (created SHUTOFF) from an export on an SMB share, e.g. smb://DOMAIN;user:password@server/share/folder; the password is never echoed back or logged. name and tags override the exported ones; a name already taken is refused. Returns the new VM's uuid (created_uuid); a missing export shows up as task state ERROR.",
            input(
                json!({
                    "uri": {"type": "string", "minLength": 1, "description": "Source smb:// URI (the folder vm_export wrote)."},
                    "name": {"type": "string", "minLength": 1, "description": "Name of the imported VM."},
                    "tags": {"type": "array", "items": {"type": "string"}},
                }),
                &["uri"],
            ),
            false,
            false,
        )
    },
    run: |call| Box::pin(import(call)),
};

fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    v.and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    })
}

/// Refuses `name` when a VM of this cluster has it (read fresh).
async fn name_free(call: &ToolCall<'_>, name: &str) -> Result<(), String> {
    call.state.cluster.invalidate();
    let vms = call
        .state
        .cluster
        .list::<VirDomain>()
        .await
        .map_err(|e| call.cluster_err(e))?;
    if let Some(vm) = vms.iter().find(|v| v.name == name) {
        return Err(format!(
            "a VM named '{name}' already exists on this cluster (uuid {}, state {}); HyperCore would accept a duplicate, so pick another name",
            vm.uuid, vm.state
        ));
    }
    Ok(())
}

async fn create(call: ToolCall<'_>) -> ToolResult {
    let name = call.str_arg("name").unwrap_or_default().trim().to_owned();
    let memory = call
        .args
        .get("memory_bytes")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let disks: Vec<u64> = call
        .args
        .get("disk_bytes")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    let start = call.bool_arg("start", false);
    name_free(&call, &name).await?;
    let cluster = &call.state.cluster;
    let nodes = cluster
        .list::<Node>()
        .await
        .map_err(|e| call.cluster_err(e))?;
    let vms = cluster
        .list::<VirDomain>()
        .await
        .map_err(|e| call.cluster_err(e))?;
    let (_, reasons, _) =
        figures(&nodes, &vms).fit(if start { memory } else { 0 }, disks.iter().sum());
    if !reasons.is_empty() {
        return Err(format!(
            "cluster '{}' lacks the room for VM '{name}': {}",
            call.state.cluster_label(),
            reasons.join("; ")
        ));
    }
    let spec = CreateSpec {
        name: name.clone(),
        vcpus: call.args.get("vcpus").and_then(Value::as_u64).unwrap_or(1) as u32,
        memory_bytes: memory,
        disks: disks
            .iter()
            .map(|&capacity| DiskSpec {
                kind: "VIRTIO_DISK".into(),
                capacity,
                cache_mode: None,
            })
            .collect(),
        network_vlan: call
            .args
            .get("network_vlan")
            .and_then(Value::as_u64)
            .map(|v| v as u32),
        tags: strings(call.args.get("tags")).unwrap_or_default(),
        machine_type: call.str_arg("machine_type").map(str::to_owned),
        description: None,
    };
    let client = cluster.client();
    let mut out = call
        .run_task(
            client.create_vm(&spec),
            |e| e,
            |out, task| {
                out["created_uuid"] = json!(task.created_uuid);
            },
        )
        .await?;
    let uuid = out["created_uuid"].as_str().unwrap_or_default().to_owned();
    if start && out["state"] == "COMPLETE" && !uuid.is_empty() {
        let (guard, _) = call.state.begin_action().await?;
        let mut steps = Steps::new(call, 1);
        let started = call.power_on(&uuid, &mut steps).await;
        drop(guard);
        if let Err(e) = started {
            out["note"] = json!(format!("the VM was created but did not start: {e}"));
        }
        out["steps"] = json!(steps.list);
    }
    cluster.invalidate();
    if let Ok(Some(vm)) = cluster.get::<VirDomain>(&uuid).await {
        out["vm"] = vm_brief(&vm);
    }
    Ok(out)
}

async fn import(call: ToolCall<'_>) -> ToolResult {
    let uri = call.str_arg("uri").unwrap_or_default().trim().to_owned();
    let shown = redact_uri(&uri);
    if !uri.to_ascii_lowercase().starts_with("smb://") {
        return Err(format!(
            "uri '{shown}' must be an smb:// URI, e.g. smb://DOMAIN;user:password@server/share/folder"
        ));
    }
    let name = call.str_arg("name").map(|n| n.trim().to_owned());
    if let Some(n) = &name {
        name_free(&call, n).await?;
    }
    let spec = ImportSpec {
        source_uri: hyperfed_protocol::Secret::new(uri.clone()),
        name,
        tags: strings(call.args.get("tags")),
    };
    let client = call.state.cluster.client();
    // The URI may hold SMB credentials: it never appears in an error, only redacted.
    let scrub = |e: String| redact_words(&e).replace(&uri, &shown);
    let mut out = call
        .run_task(client.import_vm(&spec), scrub, |out, task| {
            out["created_uuid"] = json!(task.created_uuid);
            out["uri"] = json!(shown);
        })
        .await?;
    let uuid = out["created_uuid"].as_str().unwrap_or_default().to_owned();
    call.state.cluster.invalidate();
    if let Ok(Some(vm)) = call.state.cluster.get::<VirDomain>(&uuid).await {
        out["vm"] = vm_brief(&vm);
    }
    Ok(out)
}
