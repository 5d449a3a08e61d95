//! Edits of one VM record: a power state with the fields that follow it (disposition, guest
//! addresses, agent, usage), and the fields a PATCH body (or a clone template) may change.

use serde_json::{Map, Value};

use crate::model::VirDomain;

/// Sets `state` and everything that follows from it; `unix` becomes `modified`.
pub(super) fn set_state(vm: &mut VirDomain, state: &str, unix: i64) {
    vm.state = state.to_owned();
    vm.ui_state = state.to_owned();
    vm.desired_disposition = match state {
        "RUNNING" | "SHUTDOWN" => "RUNNING",
        "PAUSED" => "PAUSED",
        _ => "SHUTOFF",
    }
    .to_owned();
    let running = state == "RUNNING";
    if !running {
        for nic in &mut vm.net_devs {
            nic.ipv4_addresses.clear();
        }
        vm.guest_agent_state = "UNKNOWN".into();
    }
    for s in &mut vm.deprecated_stats {
        match s.kind.as_str() {
            "VIR_DOMAIN_MEM_CURRENT" => s.current_value = if running { vm.mem } else { 0 },
            "VIR_DOMAIN_CPU" | "VIR_DOMAIN_UPTIME" if !running => s.current_value = 0,
            _ => {}
        }
    }
    vm.modified = unix;
}

/// Applies the writable fields of a validated PATCH body (or clone template) to `vm`.
pub(super) fn apply_patch(vm: &mut VirDomain, patch: &Map<String, Value>) {
    for (key, value) in patch {
        match key.as_str() {
            "name" => set_string(&mut vm.name, value),
            "description" => set_string(&mut vm.description, value),
            "operatingSystem" => set_string(&mut vm.operating_system, value),
            "tags" => set_string(&mut vm.tags, value),
            "machineType" => set_string(&mut vm.machine_type, value),
            "cpuType" => set_string(&mut vm.cpu_type, value),
            "snapshotScheduleUUID" => set_string(&mut vm.snapshot_schedule_uuid, value),
            "mem" => {
                if let Some(m) = value.as_i64() {
                    vm.mem = m;
                }
            }
            "numVCPU" => {
                if let Some(n) = value.as_i64() {
                    vm.num_vcpu = n;
                }
            }
            "bootDevices" => {
                if let Some(list) = value.as_array() {
                    vm.boot_devices = list
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect();
                }
            }
            "affinityStrategy" => {
                if let Some(o) = value.as_object() {
                    if let Some(b) = o.get("strictAffinity").and_then(Value::as_bool) {
                        vm.affinity_strategy.strict_affinity = b;
                    }
                    if let Some(s) = o.get("preferredNodeUUID").and_then(Value::as_str) {
                        vm.affinity_strategy.preferred_node_uuid = s.to_owned();
                    }
                    if let Some(s) = o.get("backupNodeUUID").and_then(Value::as_str) {
                        vm.affinity_strategy.backup_node_uuid = s.to_owned();
                    }
                }
            }
            "cloudInitData" => {
                if let Some(o) = value.as_object() {
                    if let Some(s) = o.get("userData").and_then(Value::as_str) {
                        vm.cloud_init_data.user_data = s.to_owned();
                    }
                    if let Some(s) = o.get("metaData").and_then(Value::as_str) {
                        vm.cloud_init_data.meta_data = s.to_owned();
                    }
                }
            }
            _ => {}
        }
    }
}

fn set_string(field: &mut String, value: &Value) {
    if let Some(s) = value.as_str() {
        *field = s.to_owned();
    }
}
