//! `vm_update`: a VM's vCPUs, memory, description and tags (`PATCH /VirDomain/{uuid}` with
//! only the fields given); CPU and memory need the VM off, which `shutdown_first` arranges
//! (destructive: shut down, hard stop after a bounded wait, apply, start again).

use hypercore::VmPatch;
use hypercore::model::{VirDomain, VmState, split_tags};
use serde_json::{Value, json};

use super::rows::vm_brief;
use super::schema::{action_tool, confirm_arg, input, vm_arg};
use super::vm_cycle::Steps;
use super::{ToolCall, ToolResult, ToolSpec};

/// `vm_update`.
pub(super) const SPEC: ToolSpec = ToolSpec {
    name: "vm_update",
    declare: |_| {
        action_tool(
            "vm_update",
            "Change VM CPU, memory, description, tags",
            "Changes the given fields of a VM (only those). vCPUs and memory can only change while the VM is off: on a running VM that is refused unless shutdown_first=true, which shuts the guest down (ACPI, bounded wait, then a hard stop), applies the change and starts the VM again (destructive: needs confirm_token from a preview call). Returns before/after values and the steps taken.",
            input(
                json!({
                    "vm": vm_arg(),
                    "vcpus": {"type": "integer", "minimum": 1, "maximum": 512, "description": "New vCPU count."},
                    "memory_bytes": {"type": "integer", "minimum": 1048576, "description": "New memory in bytes."},
                    "description": {"type": "string", "description": "New description."},
                    "tags": {"type": "array", "items": {"type": "string"}, "description": "New tags (replace the current ones)."},
                    "shutdown_first": {"type": "boolean", "description": "For vCPU or memory on a running VM: shut it down, apply, start it again. Default false."},
                    "confirm_token": confirm_arg(),
                }),
                &["vm"],
            ),
            false,
            true,
        )
    },
    run: |call| Box::pin(run(call)),
};

/// The patch the arguments ask for.
fn patch_of(call: &ToolCall<'_>) -> VmPatch {
    VmPatch {
        vcpus: call
            .args
            .get("vcpus")
            .and_then(Value::as_u64)
            .map(|v| v as u32),
        memory_bytes: call.args.get("memory_bytes").and_then(Value::as_u64),
        description: call.str_arg("description").map(str::to_owned),
        tags: call.args.get("tags").and_then(Value::as_array).map(|t| {
            t.iter()
                .filter_map(Value::as_str)
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        }),
    }
}

/// The fields the patch touches, as the VM has them.
fn values(vm: &VirDomain, patch: &VmPatch) -> Value {
    let mut out = json!({});
    if patch.vcpus.is_some() {
        out["vcpus"] = json!(vm.num_vcpu);
    }
    if patch.memory_bytes.is_some() {
        out["memory_bytes"] = json!(vm.mem);
    }
    if patch.description.is_some() {
        out["description"] = json!(vm.description);
    }
    if patch.tags.is_some() {
        out["tags"] = json!(split_tags(&vm.tags));
    }
    out
}

fn is_off(vm: &VirDomain) -> bool {
    matches!(vm.state, VmState::Shutoff | VmState::Crashed)
}

async fn run(call: ToolCall<'_>) -> ToolResult {
    let vm = call.resolve_vm_fresh().await?;
    let patch = patch_of(&call);
    if patch.is_empty() {
        return Err(
            "nothing to change: give at least one of vcpus, memory_bytes, description, tags".into(),
        );
    }
    let cycle = patch.needs_off() && !is_off(&vm);
    if cycle && !call.bool_arg("shutdown_first", false) {
        return Err(format!(
            "VM '{}' is {}; vCPUs and memory can only change while it is off (SHUTOFF). Call again with shutdown_first=true to shut it down, apply the change and start it again (needs confirmation), or shut it down first with vm_shutdown",
            vm.name, vm.state
        ));
    }
    let bound = call.state.wait_timeout / 2;
    let before = values(&vm, &patch);
    let mut wanted = before.clone();
    if let Value::Object(w) = patch_values(&patch) {
        for (k, v) in w {
            wanted[k] = v;
        }
    }
    if let Some(preview) = call.confirm_when(cycle, &vm.uuid, || {
        json!({
            "vm": vm_brief(&vm),
            "current_state": vm.state.as_str(),
            "before": before,
            "after": wanted,
            "effect": format!("will ask the guest to shut down (ACPI), wait up to {} s and then cut its power (unsaved guest data is lost), apply the change, and start the VM again", bound.as_secs()),
        })
    })? {
        return Ok(preview);
    }
    let (guard, _) = call.state.begin_action().await?;
    let mut steps = Steps::new(call, if cycle { 5 } else { 1 });
    let mut vm = vm;
    if cycle {
        // Judge against the VM as it is now (another action may have run meanwhile).
        vm = call.resolve_vm_fresh().await?;
        call.power_off(&vm, bound, true, &mut steps).await?;
    }
    let client = call.state.cluster.client();
    let task = client.patch_vm(&vm.uuid, &patch).await.map_err(|e| match e {
        hypercore::Error::InvalidState { message } => format!(
            "HyperCore refused the change to VM '{}' ({message}); vCPUs and memory need the VM SHUTOFF",
            vm.name
        ),
        e => call.cluster_err(e),
    });
    let applied = match task {
        Ok(task) => call.wait_step(&task.task_tag).await.map(|()| task.task_tag),
        Err(e) => Err(e),
    };
    let restart = cycle
        && matches!(
            vm.state,
            VmState::Running | VmState::Blocked | VmState::Shutdown
        );
    let tag = match applied {
        Ok(tag) => {
            steps
                .record(
                    "apply",
                    json!({"task_tag": tag, "changed": patch_values(&patch)}),
                )
                .await;
            tag
        }
        Err(e) => {
            // Leave the VM as found: start it again before reporting the failure.
            if restart {
                let _ = call.power_on(&vm.uuid, &mut steps).await;
            }
            return Err(format!(
                "{e}{}",
                if restart {
                    " (the VM was started again)"
                } else {
                    ""
                }
            ));
        }
    };
    if restart {
        call.power_on(&vm.uuid, &mut steps).await?;
    }
    drop(guard);
    call.state.cluster.invalidate();
    let after_vm = call
        .state
        .cluster
        .get::<VirDomain>(&vm.uuid)
        .await
        .map_err(|e| call.cluster_err(e))?
        .ok_or_else(|| format!("VM {} no longer exists on this cluster", vm.uuid))?;
    let after = values(&after_vm, &patch);
    let mut out = json!({
        "task_tag": tag,
        "state": "COMPLETE",
        "vm": vm_brief(&after_vm),
        "before": before,
        "after": after,
        "steps": steps.list,
    });
    if after != wanted {
        out["note"] = json!(format!(
            "the cluster reports {after} rather than the requested {wanted}"
        ));
    }
    Ok(out)
}

/// The requested values, in the tool's terms.
fn patch_values(patch: &VmPatch) -> Value {
    let mut out = json!({});
    if let Some(v) = patch.vcpus {
        out["vcpus"] = json!(v);
    }
    if let Some(m) = patch.memory_bytes {
        out["memory_bytes"] = json!(m);
    }
    if let Some(d) = &patch.description {
        out["description"] = json!(d);
    }
    if let Some(t) = &patch.tags {
        out["tags"] = json!(t);
    }
    out
}
