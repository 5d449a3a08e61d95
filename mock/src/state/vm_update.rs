//! Edits of one VM record: a power state with the fields that follow it (disposition, guest
//! addresses, agent, usage), the fields a PATCH body (or a clone template) may change, and a
//! block device's slot and PATCH fields.

use serde_json::{Map, Value};

use crate::model::{BlockDevice, VirDomain};

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

/// Block device types that never occupy a slot (they always report -1).
pub(super) const SLOTLESS_TYPES: &[&str] = &["NVRAM", "VTPM"];

/// The bus a block device type sits on (slots are numbered per bus).
fn bus(kind: &str) -> &'static str {
    match kind {
        "VIRTIO_DISK" => "virtio",
        "SCSI_DISK" => "scsi",
        _ => "ide",
    }
}

/// The slot a new `kind` device gets on a VM with `devices`: -1 for NVRAM and vTPM, the
/// `requested` one when it is free, else the lowest free slot of its bus (IDE has 4).
/// `Err` says why not.
pub(super) fn assign_slot(
    devices: &[BlockDevice],
    kind: &str,
    requested: i64,
) -> Result<i64, String> {
    if SLOTLESS_TYPES.contains(&kind) {
        return Ok(-1);
    }
    let bus = bus(kind);
    let taken: Vec<i64> = devices
        .iter()
        .filter(|d| !SLOTLESS_TYPES.contains(&d.kind.as_str()) && self::bus(&d.kind) == bus)
        .map(|d| d.slot)
        .collect();
    let limit = if bus == "ide" { 4 } else { 64 };
    if requested >= 0 {
        if taken.contains(&requested) {
            return Err(format!("slot {requested} is already in use on this VM"));
        }
        if requested >= limit {
            return Err(format!("slot {requested} does not exist on the {bus} bus"));
        }
        return Ok(requested);
    }
    (0..limit)
        .find(|s| !taken.contains(s))
        .ok_or_else(|| format!("no free slot on the {bus} bus"))
}

/// Applies the writable fields of a validated block-device PATCH body to `disk`
/// (`capacity`, `type`, `cacheMode`, `path`, `name`, `disableSnapshotting`,
/// `tieringPriorityFactor`; `slot` and `virDomainUUID` are create-only and ignored).
pub(super) fn apply_disk_patch(disk: &mut BlockDevice, patch: &Map<String, Value>) {
    for (key, value) in patch {
        match key.as_str() {
            "capacity" => {
                if let Some(c) = value.as_i64() {
                    disk.capacity = c;
                }
            }
            "type" => set_string(&mut disk.kind, value),
            "cacheMode" => set_string(&mut disk.cache_mode, value),
            "path" => set_string(&mut disk.path, value),
            "name" => set_string(&mut disk.name, value),
            "disableSnapshotting" => {
                if let Some(b) = value.as_bool() {
                    disk.disable_snapshotting = b;
                }
            }
            "tieringPriorityFactor" => {
                if let Some(n) = value.as_i64() {
                    disk.tiering_priority_factor = n;
                }
            }
            _ => {}
        }
    }
}
