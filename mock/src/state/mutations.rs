//! Mutations of the live cluster, one method per HyperCore request: VM power actions (with
//! HyperCore's state rules), snapshot create and delete, clone, export and PATCH. Each checks
//! its request, then starts a task whose effect applies when it completes.

use std::collections::HashMap;
use std::time::Instant;

use serde_json::{Map, Value};

use super::outcome::{ApiError, TaskResult};
use super::smb::{check_file_name, default_definition_name, describe_vm, share_dir, write_export};
use super::tasks::{Effect, Reservation, ShutdownTimer, SimState, VmAction, unix_now};
use super::validate::{
    PATCHABLE_VM_FIELDS, READ_ONLY_VM_FIELDS, check_keys, check_smb_uri, enum_error, opt_bool,
    opt_number, opt_str, req_str, type_error, validate_patch_types,
};
use super::vm_update::{apply_patch, set_state};
use crate::generate::mac_from;
use crate::model::*;

impl SimState {
    // ----- mutations ------------------------------------------------------------------

    /// `POST /VirDomain/action`: validates the whole batch against the state machine, then
    /// starts one task for it (ACPI SHUTDOWN alone answers an empty tag).
    pub fn vm_actions(
        &mut self,
        actions: Vec<VmAction>,
        session_id: &str,
        now: Instant,
        ignore_acpi: bool,
    ) -> Result<TaskResult, ApiError> {
        if actions.is_empty() {
            return Err(ApiError::Validation(
                "Request has one or more errors\n  In body\n    Expected at least one action"
                    .into(),
            ));
        }
        for a in &actions {
            let vm = self.vm(&a.vm).ok_or(ApiError::Internal)?;
            let state = vm.state.as_str();
            let allowed: &[&str] = match a.action.as_str() {
                // START on a running VM is accepted and changes nothing, as on HyperCore.
                "START" => &["PAUSED", "SHUTOFF", "CRASHED", "RUNNING"],
                "SHUTDOWN" | "REBOOT" | "LIVEMIGRATE" | "PAUSE" | "NMI" => &["RUNNING"],
                "STOP" => &["RUNNING", "SHUTDOWN", "PAUSED", "BLOCKED", "CRASHED"],
                "RESET" => &["RUNNING", "SHUTDOWN"],
                _ => return Err(ApiError::Internal),
            };
            if !allowed.contains(&state) {
                return Err(ApiError::Internal);
            }
            if a.action == "START" && !vm.source_vir_domain_uuid.is_empty() {
                return Err(ApiError::Internal);
            }
            if a.action == "LIVEMIGRATE" {
                match &a.node {
                    Some(n) if n != &vm.node_uuid && self.online_node(n) => {}
                    _ => return Err(ApiError::Internal),
                }
            }
            if matches!(a.action.as_str(), "START" | "REBOOT")
                && let Some(n) = &a.node
                && !self.online_node(n)
            {
                return Err(ApiError::Internal);
            }
        }
        let (actions, failure) = self.place_actions(actions);
        let unix = unix_now();
        let mut queued = Vec::new();
        for a in actions {
            if a.action == "SHUTDOWN" && ignore_acpi {
                // The guest ignores the ACPI request: accepted, nothing happens.
                continue;
            }
            if a.action == "SHUTDOWN" {
                let token = self.next_token;
                self.next_token += 1;
                self.shutdown_tokens.insert(a.vm.clone(), token);
                self.timers.push(ShutdownTimer {
                    due: now + self.shutdown_duration,
                    vm: a.vm.clone(),
                    token,
                });
                self.note_due(now + self.shutdown_duration);
                if let Some(vm) = self.vm_mut(&a.vm) {
                    set_state(vm, "SHUTDOWN", unix);
                    vm.ui_state = "STOPPING".into();
                }
            } else {
                if failure.is_none()
                    && let Some(vm) = self.vm_mut(&a.vm)
                    && !(a.action == "START" && vm.state == "RUNNING")
                {
                    vm.ui_state = match a.action.as_str() {
                        "START" => "STARTING",
                        "STOP" => "STOPPING",
                        "LIVEMIGRATE" => "MIGRATING",
                        "PAUSE" => "PAUSING",
                        _ => vm.state.as_str(),
                    }
                    .to_owned();
                }
                queued.push(a);
            }
        }
        if queued.is_empty() {
            if self.shutdown_duration.is_zero() {
                self.advance(now);
            }
            return Ok(TaskResult {
                task_tag: String::new(),
                created_uuid: String::new(),
            });
        }
        let first = &queued[0];
        let vm_name = self
            .vm(&first.vm)
            .map(|v| v.name.clone())
            .unwrap_or_default();
        let description = format!("{} Virtual Machine %@", title_case(&first.action));
        let object = first.vm.clone();
        let tag = self.start_task(
            now,
            &description,
            vec![vm_name],
            &object,
            session_id,
            failure,
            Effect::Power(queued),
        );
        Ok(TaskResult {
            task_tag: tag,
            created_uuid: String::new(),
        })
    }

    /// Chooses the node of every START (from SHUTOFF or CRASHED) of a batch and reserves the
    /// memory there for the task; the first one that does not fit makes the whole task fail
    /// (returned as the task's failure, nothing reserved). LIVEMIGRATE is not checked: the
    /// worker's tests migrate onto nodes without room (see the README).
    fn place_actions(
        &mut self,
        mut actions: Vec<VmAction>,
    ) -> (Vec<VmAction>, Option<(String, Vec<String>)>) {
        let mut reservation = Reservation::default();
        for a in &mut actions {
            let Some(vm) = self.vm(&a.vm) else {
                continue;
            };
            let starting = a.action == "START" && (vm.state == "SHUTOFF" || vm.state == "CRASHED");
            if !starting {
                continue;
            }
            match self.place_vm(vm, a.node.as_deref(), &reservation) {
                Ok(node) => {
                    reservation.memory.push((node.clone(), vm.mem));
                    a.node = Some(node);
                }
                Err(reason) => {
                    let failure = (
                        "Unable to start Virtual Machine %@: %@".to_owned(),
                        vec![vm.name.clone(), reason],
                    );
                    return (actions, Some(failure));
                }
            }
        }
        self.next_reservation = reservation;
        (actions, None)
    }

    /// `POST /VirDomainSnapshot`: the snapshot appears CREATING at once and CREATED (listed in
    /// the VM's `snapUUIDs`) when its task completes.
    pub fn snapshot_create(
        &mut self,
        body: &Map<String, Value>,
        session_id: &str,
        now: Instant,
    ) -> Result<TaskResult, ApiError> {
        const ALLOWED: &[&str] = &[
            "domainUUID",
            "label",
            "type",
            "automatedTriggerTimestamp",
            "localRetainUntilTimestamp",
            "remoteRetainUntilTimestamp",
            "blockCountDiffFromSerialNumber",
            "replication",
        ];
        check_keys(body, ALLOWED, &[])?;
        let domain_uuid = req_str(body, "domainUUID")?;
        let label = opt_str(body, "label")?.unwrap_or_default();
        let kind = opt_str(body, "type")?.unwrap_or_else(|| "USER".into());
        if !["USER", "AUTOMATED", "SUPPORT"].contains(&kind.as_str()) {
            return Err(enum_error("type", &kind));
        }
        let local = opt_number(body, "localRetainUntilTimestamp")?.unwrap_or(0);
        let remote = opt_number(body, "remoteRetainUntilTimestamp")?.unwrap_or(0);
        let trigger = opt_number(body, "automatedTriggerTimestamp")?.unwrap_or(0);
        let replication = opt_bool(body, "replication")?.unwrap_or(true);
        let serial_from = opt_number(body, "blockCountDiffFromSerialNumber")?.unwrap_or(-1);
        let vm = self.vm(&domain_uuid).ok_or(ApiError::Internal)?.clone();
        let uuid = self.new_uuid();
        let unix = unix_now();
        let serial = vm.snapshot_serial_number + 1;
        let snapshot = Snapshot {
            uuid: uuid.clone(),
            domain_uuid: domain_uuid.clone(),
            timestamp: unix,
            label,
            device_snapshots: vm
                .block_devs
                .iter()
                .filter(|d| d.kind != "IDE_CDROM")
                .map(|d| DeviceSnapshot {
                    uuid: d.uuid.clone(),
                    timestamp: unix,
                    serial_number: serial,
                    block_count_diff: 0,
                    identifier: format!("{}:{serial}", d.uuid),
                    checksum: String::new(),
                })
                .collect(),
            quiesced: vm.guest_agent_state == "AVAILABLE",
            domain: Box::new(vm.clone()),
            unavailable: false,
            kind,
            block_count_diff: 0,
            automated_trigger_timestamp: trigger,
            local_retain_until_timestamp: local,
            state: "CREATING".into(),
            remote_retain_until_timestamp: remote,
            block_count_diff_from_serial_number: serial_from,
            replication,
        };
        self.cluster.snapshots.push(snapshot);
        let tag = self.start_task(
            now,
            "Create snapshot of Virtual Machine %@",
            vec![vm.name.clone()],
            &domain_uuid,
            session_id,
            None,
            Effect::SnapshotCreated(uuid.clone()),
        );
        Ok(TaskResult {
            task_tag: tag,
            created_uuid: uuid,
        })
    }

    /// `DELETE /VirDomainSnapshot/{uuid}`: DELETING at once, gone when the task completes.
    pub fn snapshot_delete(
        &mut self,
        uuid: &str,
        session_id: &str,
        now: Instant,
    ) -> Result<TaskResult, ApiError> {
        let snap = self
            .cluster
            .snapshots
            .iter_mut()
            .find(|s| s.uuid == uuid && s.state == "CREATED")
            .ok_or(ApiError::Internal)?;
        snap.state = "DELETING".into();
        let label = snap.label.clone();
        let vm_name = snap.domain.name.clone();
        let tag = self.start_task(
            now,
            "Delete snapshot %@ of Virtual Machine %@",
            vec![label, vm_name],
            uuid,
            session_id,
            None,
            Effect::SnapshotDeleted(uuid.to_owned()),
        );
        Ok(TaskResult {
            task_tag: tag,
            created_uuid: String::new(),
        })
    }

    /// `POST /VirDomain/{uuid}/clone`: a new SHUTOFF VM with fresh device uuids, visible when
    /// the task completes.
    pub fn vm_clone(
        &mut self,
        source: &str,
        body: &Map<String, Value>,
        session_id: &str,
        now: Instant,
    ) -> Result<TaskResult, ApiError> {
        check_keys(body, &["snapUUID", "template"], &[])?;
        let template = match body.get("template") {
            Some(Value::Object(t)) => t.clone(),
            Some(_) => return Err(type_error("template", "object")),
            None => {
                return Err(ApiError::Validation(
                    "Request has one or more errors\n  In body\n    Missing required property: template".into(),
                ));
            }
        };
        let mut allowed: Vec<&str> = PATCHABLE_VM_FIELDS.to_vec();
        allowed.push("isTransient");
        check_keys(&template, &allowed, READ_ONLY_VM_FIELDS)?;
        let snap_uuid = opt_str(body, "snapUUID")?;
        let src = self.vm(source).ok_or(ApiError::Internal)?.clone();
        let base = match &snap_uuid {
            Some(s) if !s.is_empty() => self
                .cluster
                .snapshots
                .iter()
                .find(|x| &x.uuid == s && x.domain_uuid == source && x.state == "CREATED")
                .map(|x| (*x.domain).clone())
                .ok_or(ApiError::Internal)?,
            _ => src.clone(),
        };
        validate_patch_types(&template)?;
        let unix = unix_now();
        let mut vm = base;
        let new_uuid = self.new_uuid();
        let mut remap: HashMap<String, String> = HashMap::new();
        for d in &mut vm.block_devs {
            let id = self.new_uuid();
            remap.insert(d.uuid.clone(), id.clone());
            if d.kind != "IDE_CDROM" {
                d.path = format!("scribe/{id}");
            }
            d.uuid = id;
            d.vir_domain_uuid = new_uuid.clone();
            d.created_timestamp = unix;
            d.mount_points.clear();
        }
        for d in &mut vm.net_devs {
            let id = self.new_uuid();
            remap.insert(d.uuid.clone(), id.clone());
            d.uuid = id;
            d.vir_domain_uuid = new_uuid.clone();
            d.mac_address = mac_from(&mut self.rng);
            d.ipv4_addresses.clear();
        }
        vm.boot_devices = vm
            .boot_devices
            .iter()
            .filter_map(|b| remap.get(b).cloned())
            .collect();
        vm.uuid = new_uuid.clone();
        vm.name = format!("{}-clone", src.name);
        vm.tags = String::new();
        vm.snap_uuids.clear();
        vm.snapshot_serial_number = 0;
        vm.snapshot_list_serial_number = 0;
        vm.replication_uuids.clear();
        vm.source_vir_domain_uuid = String::new();
        vm.initial_clone_snapshot_uuid = snap_uuid.clone().unwrap_or_default();
        vm.created = unix;
        vm.modified = unix;
        vm.guest_agent_state = "UNKNOWN".into();
        vm.latest_task_tag = TaskTagStatus::idle(&new_uuid, unix);
        vm.state = "SHUTOFF".into();
        vm.ui_state = "SHUTOFF".into();
        vm.desired_disposition = "SHUTOFF".into();
        for s in &mut vm.deprecated_stats {
            if s.kind != "VIR_DOMAIN_MEM_CURRENT" {
                s.current_value = 0;
            }
        }
        // Template netDevs keep requested MACs/VLANs, position by position.
        if let Some(Value::Array(nics)) = template.get("netDevs") {
            for (dev, want) in vm.net_devs.iter_mut().zip(nics) {
                if let Some(mac) = want.get("macAddress").and_then(Value::as_str) {
                    dev.mac_address = mac.to_owned();
                }
                if let Some(vlan) = want.get("vlan").and_then(Value::as_i64) {
                    dev.vlan = vlan;
                }
                if let Some(kind) = want.get("type").and_then(Value::as_str) {
                    dev.kind = kind.to_owned();
                }
            }
        }
        apply_patch(&mut vm, &template);
        let name = vm.name.clone();
        let tag = self.start_task(
            now,
            "Clone Virtual Machine %@ to %@",
            vec![src.name.clone(), name],
            source,
            session_id,
            None,
            Effect::CloneCreated(Box::new(vm)),
        );
        Ok(TaskResult {
            task_tag: tag,
            created_uuid: new_uuid,
        })
    }

    /// `POST /VirDomain/{uuid}/export`: validates the request; a bad or unreachable SMB target
    /// makes the task end in ERROR (the URI itself never appears in the task). With an SMB
    /// root, the VM's definition is written to the mapped directory (`definitionFileName`, by
    /// default `<name>.json`).
    pub fn vm_export(
        &mut self,
        uuid: &str,
        body: &Map<String, Value>,
        session_id: &str,
        now: Instant,
    ) -> Result<TaskResult, ApiError> {
        check_keys(body, &["target", "snapUUID", "template"], &[])?;
        let target = match body.get("target") {
            Some(Value::Object(t)) => t,
            Some(_) => return Err(type_error("target", "object")),
            None => {
                return Err(ApiError::Validation(
                    "Request has one or more errors\n  In body\n    Missing required property: target".into(),
                ));
            }
        };
        check_keys(
            target,
            &[
                "pathURI",
                "format",
                "definitionFileName",
                "compress",
                "compat",
                "allowNonSequentialWrites",
                "parallelCountPerTransfer",
            ],
            &[],
        )?;
        let uri = req_str(target, "pathURI")?;
        let vm = self.vm(uuid).ok_or(ApiError::Internal)?.clone();
        if let Some(snap) = opt_str(body, "snapUUID")?
            && !snap.is_empty()
            && !vm.snap_uuids.contains(&snap)
        {
            return Err(ApiError::Internal);
        }
        let snap = opt_str(body, "snapUUID")?.filter(|s| !s.is_empty());
        let file = opt_str(target, "definitionFileName")?.filter(|f| !f.is_empty());
        let outcome = check_smb_uri(&uri).and_then(|()| match &self.smb_root {
            // Without an SMB root the export succeeds without writing anything.
            None => Ok(()),
            Some(root) => {
                let source = snap
                    .as_ref()
                    .and_then(|s| self.cluster.snapshots.iter().find(|x| &x.uuid == s))
                    .map_or(&vm, |x| &*x.domain);
                let file = file.unwrap_or_else(|| default_definition_name(&vm.name));
                check_file_name(&file)?;
                let dir = share_dir(root, &uri)?;
                write_export(
                    &dir,
                    &file,
                    &describe_vm(source, &self.cluster.cluster.cluster_name),
                )
            }
        });
        let failure = outcome.err().map(|reason| {
            (
                "Export of Virtual Machine '%@' failed: %@".to_owned(),
                vec![vm.name.clone(), reason.to_owned()],
            )
        });
        let tag = self.start_task(
            now,
            "Export Virtual Machine %@",
            vec![vm.name.clone()],
            uuid,
            session_id,
            failure,
            Effect::Nothing,
        );
        Ok(TaskResult {
            task_tag: tag,
            created_uuid: String::new(),
        })
    }

    /// `PATCH /VirDomain/{uuid}`: validates keys and types; `mem`/`numVCPU` only while the VM is
    /// SHUTOFF or CRASHED; applied when the task completes.
    pub fn vm_patch(
        &mut self,
        uuid: &str,
        body: &Map<String, Value>,
        session_id: &str,
        now: Instant,
    ) -> Result<TaskResult, ApiError> {
        check_keys(body, PATCHABLE_VM_FIELDS, READ_ONLY_VM_FIELDS)?;
        validate_patch_types(body)?;
        let vm = self.vm(uuid).ok_or(ApiError::Internal)?;
        let off = vm.state == "SHUTOFF" || vm.state == "CRASHED";
        let changes_hw = body
            .get("mem")
            .and_then(Value::as_i64)
            .is_some_and(|m| m != vm.mem)
            || body
                .get("numVCPU")
                .and_then(Value::as_i64)
                .is_some_and(|n| n != vm.num_vcpu);
        if changes_hw && !off {
            return Err(ApiError::Internal);
        }
        if let Some(Value::Array(boot)) = body.get("bootDevices") {
            for b in boot {
                let id = b.as_str().unwrap_or_default();
                let known = vm.block_devs.iter().any(|d| d.uuid == id)
                    || vm.net_devs.iter().any(|d| d.uuid == id);
                if !known {
                    return Err(ApiError::BadRequest(format!(
                        "bootDevices: {id:?} is not a device of this VM"
                    )));
                }
            }
        }
        let name = vm.name.clone();
        let tag = self.start_task(
            now,
            "Update Virtual Machine %@",
            vec![name],
            uuid,
            session_id,
            None,
            Effect::VmPatched(uuid.to_owned(), body.clone()),
        );
        Ok(TaskResult {
            task_tag: tag,
            created_uuid: String::new(),
        })
    }
}

/// "Start", "Live migrate", ...: the verb of a power action's task description.
fn title_case(action: &str) -> String {
    match action {
        "LIVEMIGRATE" => "Live migrate".into(),
        "NMI" => "Send NMI to".into(),
        other => {
            let lower = other.to_ascii_lowercase();
            let mut c = lower.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn task_progresses_and_applies_its_effect_exactly_when_complete() {
        let c = crate::generate(crate::Archetype::Datacenter, 7);
        let vm = c
            .vms
            .iter()
            .find(|v| v.state == "SHUTOFF" && v.source_vir_domain_uuid.is_empty())
            .map(|v| v.uuid.clone())
            .unwrap();
        let mut s = SimState::new(c, Duration::from_secs(10), Duration::from_secs(4));
        let t0 = Instant::now();
        let action = |a: &str| VmAction {
            vm: vm.clone(),
            action: a.into(),
            node: None,
        };
        let r = s
            .vm_actions(vec![action("START")], "sess", t0, false)
            .unwrap();
        let mut at = |secs: u64| {
            let now = t0 + Duration::from_secs(secs);
            s.advance(now);
            let st = s.task_get(&r.task_tag, now).remove(0);
            let state = s.vm(&vm).unwrap().state.clone();
            (st.state, st.progress_percent, state)
        };
        assert_eq!(at(0), ("QUEUED".into(), 0, "SHUTOFF".into()));
        assert_eq!(at(5), ("RUNNING".into(), 50, "SHUTOFF".into()));
        assert_eq!(at(10), ("COMPLETE".into(), 100, "RUNNING".into()));

        // ACPI shutdown: no tag, SHUTDOWN until shutdown_duration has passed, then SHUTOFF.
        let t1 = t0 + Duration::from_secs(20);
        let r = s
            .vm_actions(vec![action("SHUTDOWN")], "sess", t1, false)
            .unwrap();
        assert_eq!(r.task_tag, "");
        s.advance(t1 + Duration::from_secs(3));
        assert_eq!(s.vm(&vm).unwrap().state, "SHUTDOWN");
        s.advance(t1 + Duration::from_secs(4));
        assert_eq!(s.vm(&vm).unwrap().state, "SHUTOFF");
    }
}
